"""Audio loading for XEmoGPT: 16 kHz mono audio of a sound file or of a video's audio stream (paper §VI-A).

Remote code: this file is copied flat into checkpoints next to ``processing_xemogpt.py``; it imports only numpy,
PyAV and soundfile, and shares the input checks and :class:`~.media.MediaError` of :mod:`.media` (every problem with
an input raises it, with a one-line message ``"<file>: <cause>"``).

``load_audio(path, sampling_rate=16000, max_seconds=12)`` reads wav/flac/ogg with soundfile and anything else
(the audio stream of mp4/mkv/webm/m4a/mp3...) with PyAV, downmixes to mono, resamples with FFmpeg's swresample
(``av.AudioResampler``) and truncates to ``max_seconds``; ``start`` / ``end`` cut a time window first (soundfile
reads only it, PyAV seeks to it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .media import (
    MediaError,
    check_path,
    check_window,
    first_stream,
    error_text,
    open_container,
)

__all__ = ["load_audio", "resample_audio"]

_SOUNDFILE_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".au", ".w64", ".caf"}


def resample_audio(audio: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Resample mono float32 audio with FFmpeg's swresample (through PyAV); returns float32 mono."""
    audio = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
    if orig_rate == new_rate or audio.size == 0:
        return audio
    import av

    resampler = av.AudioResampler(format="flt", layout="mono", rate=int(new_rate))
    out = []
    chunk = 1 << 16
    for start in range(0, audio.size, chunk):
        frame = av.AudioFrame.from_ndarray(audio[None, start : start + chunk], format="flt", layout="mono")
        frame.sample_rate = int(orig_rate)
        frame.pts = start
        out += [o.to_ndarray().reshape(-1) for o in resampler.resample(frame)]
    out += [o.to_ndarray().reshape(-1) for o in resampler.resample(None)]
    res = np.concatenate(out).astype(np.float32, copy=False) if out else np.zeros(0, np.float32)
    expected = int(round(audio.size * new_rate / orig_rate))
    if res.size > expected:
        res = res[:expected]
    elif res.size < expected:
        res = np.pad(res, (0, expected - res.size))
    return res


def load_audio(path, sampling_rate: int = 16000, max_seconds: float | None = 12, start: float | None = None,
               end: float | None = None) -> np.ndarray:
    """Load a file's audio as float32 mono at ``sampling_rate``, truncated to ``max_seconds`` (None: no limit).

    wav/flac/ogg are read with soundfile, other files (mp4/mkv/webm/m4a/mp3...) through their first audio stream with
    PyAV; ``start`` / ``end`` (seconds) cut a time window first. :class:`MediaError` for a missing file, a non-media
    file, a file without an audio stream and audio (or a window) with zero samples."""
    p = check_path(path, "audio")
    if not isinstance(sampling_rate, (int, np.integer)) or sampling_rate <= 0:
        raise ValueError(f"sampling_rate must be a positive int, got {sampling_rate!r}")
    start, end = check_window(start, end)
    if end is not None:  # max_seconds applies to the window
        max_seconds = min(end - start, max_seconds if max_seconds is not None else end)
    audio = None
    if p.suffix.lower() in _SOUNDFILE_SUFFIXES:
        audio = _load_soundfile(p, sampling_rate, max_seconds, start)
    if audio is None:
        audio = _load_pyav(p, sampling_rate, max_seconds, start)
    if audio.size == 0:
        after = f" after {start:g} s" if start else ""
        raise MediaError(f"{p}: zero-length audio (the audio stream has no samples{after})")
    if max_seconds is not None:
        audio = audio[: int(round(max_seconds * sampling_rate))]
    if not np.all(np.isfinite(audio)):
        raise MediaError(f"{p}: audio contains NaN or infinite samples")
    return np.ascontiguousarray(audio, dtype=np.float32)


def _load_soundfile(p: Path, sampling_rate: int, max_seconds, start: float = 0.0):
    """Read the window's samples with soundfile; None when soundfile does not know the format (PyAV then tries)."""
    import soundfile as sf

    try:
        info = sf.info(str(p))
    except Exception:
        return None
    if info.frames == 0:
        raise MediaError(f"{p}: zero-length audio (the file has no samples)")
    first = int(round(start * info.samplerate))
    stop = None
    if max_seconds is not None:
        stop = first + int(np.ceil(max_seconds * info.samplerate)) + 1
    try:
        data, rate = sf.read(str(p), dtype="float32", always_2d=True, start=min(first, info.frames), stop=stop)
    except Exception as exc:
        raise MediaError(f"{p}: cannot read audio ({error_text(exc)})") from None
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    return resample_audio(mono, int(rate), sampling_rate)


def _load_pyav(p: Path, sampling_rate: int, max_seconds, start: float = 0.0) -> np.ndarray:
    import av

    container = open_container(p)
    try:
        stream = first_stream(container, p, "audio")
        limit = None if max_seconds is None else int(round(max_seconds * sampling_rate))
        resampler = av.AudioResampler(format="flt", layout="mono", rate=int(sampling_rate))
        chunks, n, skip = [], 0, 0
        try:
            if start > 0:  # seek 0.2 s before the window (decoder pre-roll: AAC's first frame after a seek is not
                origin = stream.start_time or 0  # clean), the samples before the window are dropped below
                container.seek(origin + int(max(start - 0.2, 0) / stream.time_base), stream=stream, backward=True)
                skip = None
            for frame in container.decode(stream):
                if skip is None:  # samples between the frame the seek landed on and the window start
                    t0 = 0.0 if frame.pts is None else float((frame.pts - origin) * frame.time_base)
                    skip = max(0, int(round((start - t0) * sampling_rate)))
                frame.pts = None  # let the resampler count samples; avoids gaps from AAC priming offsets
                out = [o.to_ndarray().reshape(-1) for o in resampler.resample(frame)]
                chunks += out
                n += sum(a.size for a in out)
                if limit is not None and n >= limit + (skip or 0):
                    break
            else:
                chunks += [o.to_ndarray().reshape(-1) for o in resampler.resample(None)]
        except MediaError:
            raise
        except Exception as exc:
            raise MediaError(f"{p}: cannot decode the audio stream ({error_text(exc)})") from None
        if not chunks:
            return np.zeros(0, np.float32)
        return np.concatenate(chunks).astype(np.float32, copy=False)[skip or 0:]
    finally:
        container.close()
