"""Shared pytest fixtures: real media files generated once per session with training/data/media_writer.

Fixtures (all session-scoped paths, cheap: ~0.3 s in total):

* ``mp4_with_audio``  2 s, 16 fps (32 frames), 96x96 H.264 + AAC 440 Hz sine at 16 kHz; frame ``i`` encodes ``i`` in
  its brightness (see ``frame_index_of``) so tests can tell which frames were sampled.
* ``mp4_no_audio``    the same frames, no audio stream.
* ``mp4_short_gop``   the same frames with a keyframe every 4 frames.
* ``one_frame_mp4``   a 1-frame video.
* ``wav_file``        1.5 s 16 kHz mono 440 Hz sine (wav); ``flac_file`` the same as flac.
* ``wav_44k``         1 s 44.1 kHz mono 1 kHz sine (resampling check).
* ``long_wav``        14 s 16 kHz (truncation at 12 s).
* ``zero_length_wav`` a valid wav header with no samples.
* ``not_media_file``  a text file named ``not_media.mp4``.
* ``long_mp4``        60 s, 4 fps (240 indexed frames), 64x64 H.264 + AAC: a chirp from 200 to 800 Hz at 16 kHz
                      (``chirp(seconds)``), so every instant of the audio is distinct; ``long_wav_60`` that chirp.
* ``frame_index_of``  function: decoded RGB frame -> the index encoded by ``make_indexed_frames``.
* ``ckpt``            a saved tiny checkpoint (model + processor) whose untrained LM (init std 0.5, seed 1) writes
                      varied, input-dependent text; ``json_ckpt`` the same weights with ``answer_format: json``.

``tiny_media(path)`` writes a small real clip (or wav, by suffix) where a test needs media files to exist and decode;
``cut_file(src, dst, fraction)`` copies the first part of a file (a clip cut short); ``synthetic_split(folder, n,
n_train, ...)`` generates synthetic EmoCue clips split into ``train.jsonl`` / ``test.jsonl``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
# helpers shared by tests of several packages (tests/fixtures: layouts, launchers, fake servers) import by name
sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from processing_xemogpt.vocabulary import media_kind  # noqa: E402
from training.data.media_writer import write_audio, write_mp4  # noqa: E402
from training.runtime import quiet_deepspeed  # noqa: E402

quiet_deepspeed()  # as the CLI and the stages do: DeepSpeed (when installed) must not print into captured stdout

SR = 16000
FPS = 16
NUM_FRAMES_IN_CLIP = 32
SINE_HZ = 440.0


def make_indexed_frames(n: int, size: int = 96) -> np.ndarray:
    """uint8 [n, size, size, 3]; frame i: left half grey (i // 16) * 15, right half grey (i % 16) * 15 (i < 256),
    plus a moving white square in the top band so the content visibly changes."""
    frames = np.zeros((n, size, size, 3), np.uint8)
    half = size // 2
    for i in range(n):
        frames[i, :, :half] = (i // 16) * 15
        frames[i, :, half:] = (i % 16) * 15
        x = (i * 5) % (size - 12)
        frames[i, 2:10, x : x + 10] = 255
    return frames


def frame_index_of(frame: np.ndarray) -> int:
    """Inverse of ``make_indexed_frames`` for a decoded RGB frame (reads the lower 3/4, away from the square)."""
    h, w = frame.shape[:2]
    body = frame[h // 4 :].astype(np.float32)
    hi = int(round(body[:, : w // 2 - 4].mean() / 15))
    lo = int(round(body[:, w // 2 + 4 :].mean() / 15))
    return hi * 16 + lo


_TINY_MEDIA: dict[str, bytes] = {}


def tiny_media(path: Path) -> Path:
    """A small real media file at ``path``: 0.5 s of 8 fps 32x32 H.264 + AAC for a video name (any suffix: FFmpeg
    reads the content), 0.5 s of 16 kHz wav for an audio name. The bytes are made once per session and copied."""
    kind = media_kind(path) or "video"
    if kind not in _TINY_MEDIA:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            made = (write_audio(Path(tmp) / "a.wav", sine(0.5), SR) if kind == "audio" else
                    write_mp4(Path(tmp) / "v.mp4", make_indexed_frames(4, size=32), fps=8, audio=sine(0.5),
                              sample_rate=SR))
            _TINY_MEDIA[kind] = made.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_TINY_MEDIA[kind])
    return path


def cut_file(src: Path, dst: Path, fraction: float) -> Path:
    """``dst``: the first ``fraction`` of ``src``'s bytes (a copy or download that stopped)."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: int(len(data) * fraction)])
    return Path(dst)


def synthetic_split(folder: Path, n: int, n_train: int, **kwargs) -> list[dict]:
    """``n`` synthetic EmoCue clips in ``folder`` (``make_synthetic(folder, n, **kwargs)``), their records written
    again as ``train.jsonl`` (the first ``n_train``) and ``test.jsonl`` (the rest); returns all the records."""
    import json

    from training.data.synthetic import make_synthetic

    make_synthetic(folder, n, **kwargs)
    records = [json.loads(line) for line in open(folder / "emocue.jsonl")]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records[:n_train]))
    (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records[n_train:]))
    return records


def chirp(seconds: float = 60.0, sr: int = SR) -> np.ndarray:
    """0.3 * sin(2 pi (200 t + 5 t^2)): instantaneous frequency 200 + 10 t Hz, never periodic."""
    t = np.arange(int(round(seconds * sr))) / sr
    return (0.3 * np.sin(2 * np.pi * (200 * t + 5 * t**2))).astype(np.float32)


def sine(seconds: float, hz: float = SINE_HZ, sr: int = SR, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * hz * t)).astype(np.float32)


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def frame_index_decoder():
    return frame_index_of


@pytest.fixture(scope="session")
def indexed_frames() -> np.ndarray:
    return make_indexed_frames(NUM_FRAMES_IN_CLIP)


@pytest.fixture(scope="session")
def mp4_with_audio(media_dir, indexed_frames) -> Path:
    return write_mp4(media_dir / "with_audio.mp4", indexed_frames, fps=FPS, audio=sine(2.0), sample_rate=SR)


@pytest.fixture(scope="session")
def mp4_no_audio(media_dir, indexed_frames) -> Path:
    return write_mp4(media_dir / "no_audio.mp4", indexed_frames, fps=FPS)


@pytest.fixture(scope="session")
def mp4_short_gop(media_dir, indexed_frames) -> Path:
    return write_mp4(media_dir / "short_gop.mp4", indexed_frames, fps=FPS, gop_size=4)


@pytest.fixture(scope="session")
def one_frame_mp4(media_dir) -> Path:
    return write_mp4(media_dir / "one_frame.mp4", make_indexed_frames(1), fps=FPS)


@pytest.fixture(scope="session")
def wav_file(media_dir) -> Path:
    return write_audio(media_dir / "tone.wav", sine(1.5), SR)


@pytest.fixture(scope="session")
def flac_file(media_dir) -> Path:
    return write_audio(media_dir / "tone.flac", sine(1.5), SR)


@pytest.fixture(scope="session")
def wav_44k(media_dir) -> Path:
    return write_audio(media_dir / "tone_44k.wav", sine(1.0, hz=1000.0, sr=44100), 44100)


@pytest.fixture(scope="session")
def long_wav(media_dir) -> Path:
    return write_audio(media_dir / "long.wav", sine(14.0), SR)


@pytest.fixture(scope="session")
def zero_length_wav(media_dir) -> Path:
    return write_audio(media_dir / "empty.wav", np.zeros(0, np.float32), SR)


@pytest.fixture(scope="session")
def not_media_file(media_dir) -> Path:
    path = media_dir / "not_media.mp4"
    path.write_text("this is a text file, not a video\n" * 20)
    return path


@pytest.fixture(scope="session")
def long_mp4(media_dir) -> Path:
    return write_mp4(media_dir / "long_60s.mp4", make_indexed_frames(240, size=64), fps=4, audio=chirp(60.0),
                     sample_rate=SR)


@pytest.fixture(scope="session")
def long_wav_60(media_dir) -> Path:
    return write_audio(media_dir / "long_60s.wav", chirp(60.0), SR)


@pytest.fixture(scope="module")
def torch_single_thread():
    """Run a module's tests with one torch thread (small tensors; avoids oversubscription on busy CI machines)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_processor():
    from processing_xemogpt import XEmoGPTProcessor

    return XEmoGPTProcessor.from_preset("tiny")


@pytest.fixture(scope="session")
def ckpt(tmp_path_factory):
    """A tiny checkpoint whose untrained LM (init std 0.5) writes varied, input-dependent text."""
    import torch

    from modeling_xemogpt import XEmoGPTConfig, XEmoGPTForConditionalGeneration
    from processing_xemogpt import XEmoGPTProcessor

    torch.manual_seed(1)
    model = XEmoGPTForConditionalGeneration(XEmoGPTConfig.from_preset("tiny", text_config={"initializer_range": 0.5}))
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    model.save_pretrained(path)
    XEmoGPTProcessor.from_preset("tiny").save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def json_ckpt(ckpt, tmp_path_factory):
    """The same weights with ``config.answer_format = "json"`` (as stage 3 records it)."""
    path = tmp_path_factory.mktemp("ckpt_json") / "tiny_json"
    shutil.copytree(ckpt, path)
    config = json.loads((path / "config.json").read_text())
    config["answer_format"] = "json"
    (path / "config.json").write_text(json.dumps(config))
    return path
