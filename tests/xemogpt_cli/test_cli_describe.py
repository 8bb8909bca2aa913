"""`xemogpt describe`: real generated media through the real tiny model, JSON output, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from training.data.media_writer import write_mp4
from xemogpt_cli import inference
from xemogpt_cli.main import main
from xemogpt_cli.predictions import FIELDS

ROOT = Path(__file__).resolve().parents[2]
JSON_KEYS = set(FIELDS)  # --json prints the line the predictions file would hold (xemogpt_cli/predictions.py)


@pytest.fixture(autouse=True)
def _no_default_checkpoint(monkeypatch, tmp_path):
    """Run from an empty directory with no $XEMOGPT_MODEL, so the default model is the tiny preset."""
    monkeypatch.delenv(inference.MODEL_ENV, raising=False)
    monkeypatch.chdir(tmp_path)


def describe(capsys, *argv) -> tuple[int, str, str]:
    rc = main(["describe", *map(str, argv), "--max-new-tokens", "8"])
    out, err = capsys.readouterr()
    return rc, out, err


def describe_json(capsys, *argv) -> dict:
    rc, out, err = describe(capsys, *argv, "--json")
    assert rc == 0, err
    data = json.loads(out)
    assert set(data) == JSON_KEYS
    # a text-format model has no cue lists of its own: `xemogpt eval` extracts them from the explanation
    assert data["answer_format"] == "text" and data["cues"] is None and data["raw"] is None
    assert isinstance(data["explanation"], str) and data["error"] is None and data["invalid_json"] is False
    assert data["start"] is None and data["end"] is None and data["id"] == data["clip"] or data["id"] != ""
    return data


def test_plain_output_on_mp4_with_audio(capsys, mp4_with_audio):
    rc, out, err = describe(capsys, mp4_with_audio)
    assert rc == 0, err
    assert "untrained tiny preset" in err  # the user is told the default model is random
    assert out.endswith("\n")


def test_json_modalities(capsys, mp4_with_audio, mp4_no_audio, wav_file, flac_file):
    assert describe_json(capsys, mp4_with_audio)["modality"] == "multimodal"
    assert describe_json(capsys, mp4_with_audio, "--modality", "visual")["modality"] == "visual"
    assert describe_json(capsys, mp4_with_audio, "--modality", "audio")["modality"] == "audio"
    assert describe_json(capsys, mp4_no_audio)["modality"] == "visual"  # an audio-less video is described visually
    data = describe_json(capsys, wav_file, "--subtitle", "It is finally over now.")
    assert data["modality"] == "audio" and data["clip"] == str(wav_file) and data["model"] == "tiny"
    assert describe_json(capsys, flac_file, "--modality", "audio")["modality"] == "audio"


@pytest.mark.parametrize("suffix", [".mkv", ".avi"])
def test_other_containers(capsys, tmp_path, indexed_frames, suffix):
    t = np.arange(16000) / 16000
    clip = write_mp4(tmp_path / f"clip{suffix}", indexed_frames, fps=16,
                     audio=(0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32))
    assert describe_json(capsys, clip)["modality"] == "multimodal"


def test_saved_checkpoint_loads_through_auto_classes(capsys, tmp_path, mp4_with_audio):
    model, processor = inference.build_tiny(seed=0)
    ckpt = tmp_path / "ckpt"
    model.save_pretrained(ckpt)
    processor.save_pretrained(ckpt)
    data = describe_json(capsys, mp4_with_audio, "--model", ckpt)
    assert data["model"] == str(ckpt)
    # --model beats $XEMOGPT_MODEL, which beats ./demo_output/checkpoint, which beats the tiny preset
    os.environ[inference.MODEL_ENV] = str(ckpt)
    try:
        assert inference.resolve_model(None) == str(ckpt)
        assert inference.resolve_model("other") == "other"
    finally:
        del os.environ[inference.MODEL_ENV]
    assert inference.resolve_model(None) == "tiny"
    (tmp_path / "demo_output" / "checkpoint").mkdir(parents=True)
    (tmp_path / "demo_output" / "checkpoint" / "config.json").write_text("{}")
    assert inference.resolve_model(None) == str(Path("demo_output") / "checkpoint")


def bad(capsys, *argv) -> str:
    rc, out, err = describe(capsys, *argv)
    assert rc == 1, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("xemogpt describe: error: ")
    return lines[0]


def test_bad_inputs_give_one_line_errors(capsys, tmp_path, mp4_no_audio, wav_file, not_media_file,
                                         zero_length_wav):
    missing = tmp_path / "missing.mp4"
    assert str(missing) in bad(capsys, missing) and "not found" in bad(capsys, missing)
    assert str(not_media_file) in bad(capsys, not_media_file)
    line = bad(capsys, mp4_no_audio, "--modality", "audio")
    assert str(mp4_no_audio) in line and "no audio stream" in line
    line = bad(capsys, wav_file, "--modality", "visual")
    assert str(wav_file) in line and "no video stream" in line
    assert str(zero_length_wav) in bad(capsys, zero_length_wav)
    assert "no clips in this folder" in bad(capsys, tmp_path)  # a folder is an input: of clips, here none
    assert "model directory not found" in bad(capsys, wav_file, "--model", tmp_path / "no_such_model")
    empty_dir = tmp_path / "empty_model"
    empty_dir.mkdir()
    assert "no config.json" in bad(capsys, wav_file, "--model", empty_dir)


def test_console_script_error_has_no_traceback(not_media_file):
    proc = subprocess.run([sys.executable, "-m", "xemogpt_cli", "describe", str(not_media_file)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert str(not_media_file) in proc.stderr


def test_emotion_and_cues_from_an_explanation():
    text = ("In the video, the person shows a broad smile, raised eyebrows and nodding head. "
            "In the audio, the speaker has high-pitched voice and rising intonation. "
            "Overall, the person is most likely happy.")
    cues = inference.extract_cues(text)
    assert cues["visual"] and cues["audio"]
    assert inference.emotion_from_cues(cues) == "happy"
    assert inference.emotion_from_cues({"global": ["ir ir"]}) is None
