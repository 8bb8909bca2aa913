"""Which streams a media file has, and how long one of them lasts: the one media probe of this project.

:func:`probe_streams` answers "does this file have a video stream, an audio stream?" (inference picks the modality
of a clip with it; the training side's up-front check, :mod:`training.data.media_check`, reads the same streams
through :func:`media_streams` and adds its deeper checks); :func:`media_duration` gives the seconds of a stream (time
windows of long clips, :mod:`.pipeline_xemogpt`). Neither decodes a frame.

Remote code: copied flat into checkpoints; numpy-free, PyAV and soundfile only. Problems raise the one-line
:class:`~.media.MediaError` ``"<file>: <cause>"``.
"""

from __future__ import annotations

import os

from .media import MediaError, check_path, first_stream, error_text, open_container

# audio files soundfile reads by itself (header only, no decoding); others go through PyAV
_SOUNDFILE_HEADERS = {".wav", ".flac", ".ogg"}


def media_streams(container) -> dict:
    """``{"video": stream, "audio": stream}``: the first stream of each kind an open PyAV container has (a kind it
    lacks is absent)."""
    return {kind: getattr(container.streams, kind)[0] for kind in ("video", "audio") if getattr(container.streams, kind)}


def _soundfile_info(p):
    import soundfile as sf

    try:
        info = sf.info(str(p))
    except Exception as exc:
        raise MediaError(f"{p}: not a readable audio file ({error_text(exc)})") from None
    if info.frames == 0:
        raise MediaError(f"{p}: zero-length audio (the file has no samples)")
    return info


def probe_streams(path: str | os.PathLike) -> tuple[bool, bool]:
    """``(has_video, has_audio)`` of a media file; a one-line ``MediaError`` when it is missing, unreadable or holds
    neither."""
    p = check_path(path, "clip")
    if p.suffix.lower() in {".wav", ".flac"}:
        _soundfile_info(p)
        return False, True
    container = open_container(p)
    try:
        streams = media_streams(container)
    finally:
        container.close()
    if not streams:
        raise MediaError(f"{p}: no video or audio stream")
    return "video" in streams, "audio" in streams


def media_duration(path: str | os.PathLike, kind: str = "video") -> float:
    """Seconds of a file's ``kind`` stream ("video" or "audio"; audio files: their length); one-line MediaError."""
    p = check_path(path, kind)
    if kind == "audio" and p.suffix.lower() in _SOUNDFILE_HEADERS:
        return float(_soundfile_info(p).duration)
    container = open_container(p)
    try:
        stream = first_stream(container, p, kind)
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        if container.duration is not None:
            return container.duration / 1_000_000
        end = 0.0  # no duration in the header: the last packet's end (demuxing only)
        for packet in container.demux(stream):
            if packet.pts is not None and packet.time_base is not None:
                end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
        return end
    finally:
        container.close()


__all__ = ["media_duration", "media_streams", "probe_streams"]
