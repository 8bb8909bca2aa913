"""Media loading for XEmoGPT: uniformly spaced video frames (paper §VI-A); the input checks and errors that the
audio loader (:mod:`.audio`) shares.

Remote code: this file is copied flat into checkpoints next to ``processing_xemogpt.py``. It imports only numpy and
PyAV. Every problem with an input raises :class:`MediaError` (a ``ValueError``) with a one-line message
``"<file>: <cause>"``; no PyAV or soundfile exception escapes.

Frame sampling
--------------
``load_video_frames(path, num_frames=16)`` splits the clip's time span ``[start, end)`` (``end`` = last frame's
timestamp + its duration) into ``num_frames`` equal segments and takes, for the middle ``t_i`` of each segment, the
frame on screen at ``t_i`` (the last frame whose presentation timestamp is ``<= t_i``). For a constant frame rate
clip of ``T`` frames this is frame ``floor((i + 0.5) * T / num_frames)``; for variable frame rate clips it follows the
timestamps, not the frame count. A clip with fewer frames than ``num_frames`` repeats frames; a 1-frame video gives
its only frame ``num_frames`` times.

The sampler never decodes more than it must and never converts a frame it does not return:

1. a packet scan (demuxing only, no decoding: about 1 ms for 250 frames) gives every frame's timestamp and which
   packets are keyframes, whatever the container says (or does not say) about its duration;
2. the wanted frames are decoded in timestamp order; before each one the decoder seeks to the keyframe preceding it
   only if that keyframe lies beyond the current decoding position (with long GOPs one seek serves several targets,
   with short ones every target costs at most one GOP), with threaded decoding (``thread_type="AUTO"``);
3. packets that are not wanted are decoded with ``skip_frame="NONREF"``, so frames that no other frame references
   (most B-frames) are not reconstructed at all;
4. only the chosen frames are converted to RGB, with one swscale context per thread (PyAV's
   ``frame.to_ndarray(format="rgb24")`` builds a new one for every frame: about 10x slower on small frames).

Streams whose packets carry no timestamps (e.g. raw ``.h264``) fall back to decoding everything (two passes: count,
then pick), still converting only the chosen frames.

Time windows (``start`` / ``end``, seconds from the stream's first frame): the same rule on ``[start, min(end, clip
end))``, with the same seeking; ``load_audio`` takes the same window (soundfile reads only it, PyAV seeks to it).

The authors' rule (``frame_sampling="uniform_all_frames"``, what ``utils/video_processor.py`` of the XEmoGPT release
does with decord): number the clip's ``n`` frames in presentation order and take frames
``np.linspace(0, n - 1, num_frames, dtype=int)`` (the first and the last frame included, indices truncated). ``n`` is
the number of frames in the stream's packet index (as decord counts them); the chosen frames are decoded with the same
seeking as above, so the result equals decoding every frame and picking those indices, without decoding every frame.
With a time window, ``n`` counts the frames whose timestamps lie in the window.

Audio: :mod:`.audio` (``load_audio``, ``resample_audio``), with the input checks and errors of this module.
"""

from __future__ import annotations

import os
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np

__all__ = ["MediaError", "load_video_frames", "sample_frame_indices", "FRAME_SAMPLING_RULES"]

# How ``num_frames`` frames are picked from a clip (module docstring): the middles of equal time segments (this
# package's default), or the XEmoGPT authors' ``linspace(0, n - 1)`` over the frame indices.
FRAME_SAMPLING_RULES = ("segment_middle", "uniform_all_frames")


class MediaError(ValueError):
    """A media input that cannot be used; the message names the file (or input) and the cause on one line."""


def error_text(exc: BaseException) -> str:
    """``"<ExceptionType>: <message>"`` on one line; for FFmpeg errors only FFmpeg's reason (PyAV's own message adds
    an errno and the file name, which the caller's message already gives)."""
    text = getattr(exc, "strerror", None) if type(exc).__module__.startswith("av.") else None
    text = " ".join(str(text or exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def check_path(path, what: str) -> Path:
    if isinstance(path, (bytes, bytearray)):
        path = os.fsdecode(path)
    if not isinstance(path, (str, os.PathLike)):
        raise MediaError(f"{what}: expected a file path (str or os.PathLike), got {type(path).__name__}")
    p = Path(path)
    if not p.exists():
        raise MediaError(f"{p}: file not found")
    if p.is_dir():
        raise MediaError(f"{p}: is a directory, not a media file")
    if p.stat().st_size == 0:
        raise MediaError(f"{p}: empty file (0 bytes), not a media file")
    return p


def open_container(p: Path):
    import av

    try:
        return av.open(str(p), mode="r")
    except Exception as exc:  # av.error.InvalidDataError, FileNotFoundError, PermissionError, ...
        raise MediaError(f"{p}: not a readable media file ({error_text(exc)})") from None


def first_stream(container, p: Path, kind: str):
    """The container's first ``kind`` ("video" / "audio") stream, or a one-line error listing the streams it has."""
    streams = getattr(container.streams, kind)
    if not streams:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        raise MediaError(f"{p}: no {kind} stream (streams: {', '.join(kinds)})")
    return streams[0]


def check_frame_sampling(rule: str) -> str:
    if rule not in FRAME_SAMPLING_RULES:
        raise ValueError(f"frame_sampling must be one of {', '.join(FRAME_SAMPLING_RULES)}, got {rule!r}")
    return rule


def sample_frame_indices(num_total: int, num_frames: int, rule: str = "segment_middle") -> np.ndarray:
    """``num_frames`` indices into ``num_total`` frames. ``"segment_middle"``: ``floor((i + 0.5) * num_total /
    num_frames)``, the middle of equal segments; ``"uniform_all_frames"``: ``linspace(0, num_total - 1, num_frames)``
    truncated to integers (the XEmoGPT authors' rule; first and last frame included)."""
    check_frame_sampling(rule)
    if num_total <= 0:
        raise ValueError("num_total must be positive")
    if rule == "uniform_all_frames":
        return np.linspace(0, num_total - 1, num=num_frames, dtype=np.int64)
    i = np.arange(num_frames, dtype=np.int64)
    return np.minimum(((2 * i + 1) * num_total) // (2 * num_frames), num_total - 1)


# --------------------------------------------------------------------------------------------------------- video

def check_window(start, end) -> tuple[float, float | None]:
    start, end = float(start or 0), None if end is None else float(end)
    if start < 0 or (end is not None and end <= start):
        raise ValueError(f"a time window needs 0 <= start < end, got start={start}, end={end}")
    return start, end


def load_video_frames(path, num_frames: int = 16, stats: dict | None = None, start: float | None = None,
                      end: float | None = None, frame_sampling: str = "segment_middle") -> np.ndarray:
    """Decode ``num_frames`` uniformly spaced frames of a video file as uint8 RGB ``[num_frames, H, W, 3]``.

    See the module docstring for the sampling rules (``frame_sampling``: ``"segment_middle"`` or
    ``"uniform_all_frames"``), the decoding strategy, time windows and the errors raised.
    ``stats``, if a dict is given, receives what the call cost: ``method`` ("seek" or "decode_all"), ``packets`` and
    ``keyframes`` in the stream, ``seeks``, ``decoded`` (frames decoded) and ``converted`` (frames converted to RGB).
    """
    stats = {} if stats is None else stats
    if not isinstance(num_frames, (int, np.integer)) or isinstance(num_frames, bool) or num_frames < 1:
        raise ValueError(f"num_frames must be a positive int, got {num_frames!r}")
    check_frame_sampling(frame_sampling)
    window = None if start is None and end is None else check_window(start, end)
    p = check_path(path, "video")
    container = open_container(p)
    try:
        stream = first_stream(container, p, "video")
        try:
            stream.thread_type = "AUTO"
        except Exception:
            pass
        try:
            frames = _sample_with_seek(container, stream, int(num_frames), stats, window, p, frame_sampling)
            if frames is None and window is not None:
                raise MediaError(f"{p}: the video stream has no timestamps, so no time window can be cut from it")
            if frames is None:  # no packet timestamps (raw streams): decode everything, reopening per pass
                container.close()
                frames = _sample_decode_all(p, int(num_frames), stats, frame_sampling)
        except MediaError as exc:  # the sampler's own messages do not name the file
            if str(exc).startswith(f"{p}: "):
                raise
            raise MediaError(f"{p}: {exc}") from None
        except Exception as exc:
            raise MediaError(f"{p}: cannot decode the video stream ({error_text(exc)})") from None
        if frames is None or len(frames) == 0:
            raise MediaError(f"{p}: the video stream has no decodable frames")
        return np.stack(frames)
    finally:
        container.close()


_RGB = threading.local()  # this thread's VideoReformatter: its swscale context is reused while the frame size holds


def _to_rgb(frame) -> np.ndarray:
    if not hasattr(_RGB, "reformatter"):
        from av.video.reformatter import VideoReformatter

        _RGB.reformatter = VideoReformatter()
    return _RGB.reformatter.reformat(frame, format="rgb24").to_ndarray()


def _scan_packets(container, stream):
    """Timestamps (pts) of every video packet, keyframe flags and the last packet's duration, without decoding."""
    pts, keys, last_duration = [], [], 0
    for packet in container.demux(stream):
        if packet.size == 0:  # flush packet at end of stream
            continue
        if packet.pts is None:
            return None
        pts.append(int(packet.pts))
        keys.append(bool(packet.is_keyframe))
        last_duration = int(packet.duration or 0)
    return pts, keys, last_duration


def _target_pts(pts_sorted: list[int], last_duration: int, num_frames: int, window=None,
                rule: str = "segment_middle") -> list[int]:
    """The pts of the frames to return. ``"segment_middle"``: for each segment middle of the clip (or of ``window``:
    (start, end or None) in pts units, relative to the first frame), the pts of the frame on screen then (exact
    rational arithmetic). ``"uniform_all_frames"``: the frames at ``linspace(0, n - 1)`` of the ``n`` frames (of the
    window; a window between two frames gives the frame on screen at its start)."""
    if rule == "uniform_all_frames":
        chosen = pts_sorted
        if window is not None:
            lo = pts_sorted[0] + window[0]
            hi = None if window[1] is None else pts_sorted[0] + window[1]
            chosen = [t for t in pts_sorted if t >= lo and (hi is None or t < hi)]
            if not chosen:  # no frame starts inside the window: the one on screen at its start
                chosen = [max([t for t in pts_sorted if t <= lo] or pts_sorted[:1])]
        return [int(chosen[i]) for i in sample_frame_indices(len(chosen), num_frames, rule)]
    start = pts_sorted[0]
    if last_duration <= 0:
        diffs = np.diff(pts_sorted)
        last_duration = int(np.median(diffs)) if len(diffs) else 1
        last_duration = max(last_duration, 1)
    span = pts_sorted[-1] + last_duration - start
    if window is not None:
        start, span = start + window[0], (span if window[1] is None else min(window[1], span)) - window[0]
    arr = np.asarray(pts_sorted, dtype=np.int64)
    out = []
    for i in range(num_frames):
        t = start + Fraction((2 * i + 1) * span, 2 * num_frames)
        # last pts <= t (pts are integers, so compare with floor(t))
        k = int(np.searchsorted(arr, int(t // 1), side="right")) - 1
        out.append(int(arr[max(k, 0)]))
    return out


class _NoTimestamps(Exception):
    pass


def _sample_with_seek(container, stream, num_frames: int, stats: dict, window=None, p=None,
                      rule: str = "segment_middle"):
    scan = _scan_packets(container, stream)
    if scan is None or not scan[0]:
        return None
    pts, keys, last_duration = scan
    pts_sorted = sorted(set(pts))
    if window is not None:  # seconds -> pts units of the stream
        tb = stream.time_base
        window = (Fraction(window[0]) / tb, None if window[1] is None else Fraction(window[1]) / tb)
        end_pts = pts_sorted[-1] + max(last_duration, 1)
        if pts_sorted[0] + window[0] >= end_pts:
            raise MediaError(f"{p}: the time window starts at {float(window[0] * tb):g} s, after the end of the "
                             f"video ({float((end_pts - pts_sorted[0]) * tb):g} s)")
    targets = _target_pts(pts_sorted, last_duration, num_frames, window, rule)
    keyframes = sorted({p for p, k in zip(pts, keys) if k}) or [pts_sorted[0]]
    key_arr = np.asarray(keyframes, dtype=np.int64)
    stats.update(method="seek", packets=len(pts), keyframes=len(keyframes), seeks=0, decoded=0, converted=0)

    wanted = frozenset(targets)
    got: dict[int, np.ndarray] = {}
    decoder = None  # generator of decoded frames since the last seek
    position = None  # pts of the last frame taken from the decoder
    lookahead = None  # a decoded frame past the previous target, not used yet
    try:
        for w in sorted(wanted):
            k_idx = max(int(np.searchsorted(key_arr, w, side="right")) - 1, 0)
            if decoder is None or position is None or int(key_arr[k_idx]) > position:
                decoder, lookahead = _seek_decoder(container, stream, key_arr, k_idx, w, wanted, stats)
                position = None if lookahead is None else _pts(lookahead)
            best = None
            while True:
                if lookahead is not None:
                    frame, lookahead = lookahead, None
                else:
                    frame = next(decoder, None)
                    if frame is None:
                        break
                    stats["decoded"] += 1
                    position = _pts(frame)
                if _pts(frame) > w:
                    lookahead = frame
                    break
                best = frame
                if _pts(frame) == w:
                    break
            if best is None:  # the target lies before the first frame decoded: take that frame
                best = lookahead
            if best is None:
                raise MediaError("no frame could be decoded near the requested timestamp")
            got[w] = _to_rgb(best)
            stats["converted"] += 1
    except _NoTimestamps:
        return None
    return [got[t] for t in targets]


def _pts(frame) -> int:
    if frame.pts is None:
        raise _NoTimestamps()
    return int(frame.pts)


def _decode_iter(container, stream, wanted: frozenset | None = None):
    """Decoded frames of ``stream`` from the current position. With ``wanted`` (pts values), packets that are not
    wanted are decoded with ``skip_frame="NONREF"``: frames no other frame references are then dropped by the
    decoder (they are never needed to reconstruct a wanted frame), which saves about a fifth of the work."""
    cc = stream.codec_context
    mode = None
    for packet in container.demux(stream):
        if wanted is not None:
            new = "DEFAULT" if (packet.pts is None or packet.pts in wanted) else "NONREF"
            if new != mode:
                try:
                    cc.skip_frame = new
                except Exception:
                    wanted = None
                mode = new
        yield from packet.decode()
    if mode not in (None, "DEFAULT"):
        cc.skip_frame = "DEFAULT"


def _seek_decoder(container, stream, key_arr: np.ndarray, k_idx: int, want: int, wanted: frozenset, stats: dict):
    """Seek to the keyframe ``key_arr[k_idx]`` (the last one at or before ``want``); return (decoder, first frame).

    If the demuxer lands after ``want`` (index quirks), retry from earlier keyframes, then from the stream start."""
    candidates = [int(x) for x in key_arr[max(k_idx - 2, 0) : k_idx + 1][::-1]] + [None]
    gen, first = None, None
    for k in candidates:
        if k is None:
            container.seek(0)
        else:
            container.seek(k, stream=stream, backward=True, any_frame=False)
        stats["seeks"] += 1
        gen = _decode_iter(container, stream, wanted)
        first = next(gen, None)
        stats["decoded"] += first is not None
        if first is not None and (first.pts is None or first.pts <= want):
            break
    return gen, first


def _sample_decode_all(p: Path, num_frames: int, stats: dict, rule: str = "segment_middle"):
    """Fallback for streams without packet timestamps: count the frames, then decode again (the file is reopened:
    such streams often cannot seek) and convert only the chosen ones."""

    def frames_of():
        container = open_container(p)
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            yield from _decode_iter(container, stream)
        finally:
            container.close()

    total = sum(1 for _ in frames_of())
    stats.update(method="decode_all", packets=total, keyframes=None, seeks=0, decoded=total, converted=0)
    if total == 0:
        return None
    indices = [int(i) for i in sample_frame_indices(total, num_frames, rule)]
    wanted = set(indices)
    got = {}
    for idx, frame in enumerate(frames_of()):
        stats["decoded"] += 1
        if idx in wanted:
            got[idx] = _to_rgb(frame)
            stats["converted"] += 1
            if len(got) == len(wanted):
                break
    if not got:
        return None
    have = sorted(got)
    return [got[i] if i in got else got[max([h for h in have if h <= i] or have[:1])] for i in indices]
