"""The up-front media check: every record's media opened and probed before a training or batch job starts.

A probe (:func:`probe_media`) opens a file with PyAV and reads what the job will need, without decoding the clip (the
streams it has are the processor's answer, :func:`processing_xemogpt.probe.media_streams`, as at inference; this
check adds the rest):

* the file exists, is not empty and opens as media;
* its streams (video / audio) and duration;
* every packet is present: a file cut short (a copy or download that stopped) holds fewer packets than its header
  declares (mp4: the index's frame counts; other containers: the declared duration; PCM wav: the data chunk size);
* the first video frame and the first audio frame decode.

It costs about one container open plus a demux pass (a few ms for a short clip) and is memoised by path, size and
modification time (in the process, and in a JSON file when :class:`MediaChecker` is given one), so a file that
changes on disk is probed again.

:meth:`MediaChecker.check_records` checks a list of EmoCue records (or samples: anything with ``id``, ``video``,
``audio``, ``modality``) for the media kinds a job uses and returns *every* bad one as a :class:`BadMedia` (record
id, file, reason). :class:`BadMediaError` reports them, one line each::

    training set: 2 of 30 records have unusable media (data.on_bad_media: skip trains on the rest):
      record 'clip_3': /data/clip_3.mp4: not a readable media file (InvalidDataError: Invalid data found when ...)
      record 'clip_7': /data/clip_7.mp4: file not found

:class:`SkippedMediaLog` appends the records a job skipped (``skip`` mode) to a JSON Lines file next to its outputs.
"""

from __future__ import annotations

import json
import logging
import os
import wave
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from processing_xemogpt.media import MediaError, check_path, error_text
from processing_xemogpt.probe import media_streams

logger = logging.getLogger("xemogpt.training")

KINDS = ("video", "audio")
ON_BAD_MEDIA = ("error", "skip")
PROBE_VERSION = 1  # bump when the probe's rules change: cached results of older rules are probed again
REPORT_LINES = 20  # problems shown in an error message (the full list goes to a file)


@dataclass(frozen=True)
class MediaProbe:
    """What a probe found in one file. ``problem``: why the file as a whole cannot be used (None: it opens and is
    complete); ``streams``: for each kind present, None when its first frame decodes, else why not."""

    path: str
    problem: str | None = None
    streams: dict = field(default_factory=dict)
    duration: float | None = None

    def problem_for(self, kind: str) -> str | None:
        """Why the file cannot give a ``kind`` ("video" / "audio") input, or None when it can."""
        if self.problem:
            return self.problem
        if kind not in self.streams:
            return f"no {kind} stream (streams: {', '.join(sorted(self.streams)) or 'none'})"
        return self.streams[kind]

    def has(self, kind: str) -> bool:
        return self.problem is None and kind in self.streams


@dataclass(frozen=True)
class BadMedia:
    """One record whose media cannot be used: the record id, the file and the reason."""

    record_id: str
    file: str
    reason: str

    def line(self) -> str:
        return f"record {self.record_id!r}: {self.file}: {self.reason}"

    def to_dict(self) -> dict:
        return asdict(self)


class BadMediaError(MediaError):
    """Records with unusable media, one line each (the first :data:`REPORT_LINES`, then where the rest are)."""

    def __init__(self, bad: Sequence[BadMedia], header: str = "", full_list: str | os.PathLike | None = None):
        self.bad = list(bad)
        super().__init__(report([b.line() for b in self.bad], header, full_list))


def report(lines: Sequence[str], header: str = "", full_list: str | os.PathLike | None = None) -> str:
    """``header:`` and the first :data:`REPORT_LINES` problem lines (indented), then how many more (and where they
    all are); without a header, the lines alone (one problem: one line)."""
    shown = list(lines[:REPORT_LINES])
    if len(lines) > REPORT_LINES:
        shown.append(f"... and {len(lines) - REPORT_LINES} more" + (f" (all listed in {full_list})" if full_list else ""))
    return header + ":\n" + "\n".join("  " + line for line in shown) if header else "\n".join(shown)


# ------------------------------------------------------------------------------------------------------ the probe
def _declared_pcm_frames(path: Path) -> int | None:
    """The frame count a PCM wav header declares (its data chunk size), or None for other files / formats."""
    if path.suffix.lower() != ".wav":
        return None
    try:
        with wave.open(str(path), "rb") as w:
            return w.getnframes()
    except (wave.Error, EOFError, OSError):  # not PCM (e.g. float wav): the check below relies on the duration
        return None


def _short(end: float | None, declared: float | None) -> bool:
    return bool(declared) and end is not None and end < declared - max(0.2, 0.1 * declared)


def _truncation(chosen: dict, counts: dict, ends: dict, duration: float | None, pcm_frames: int | None) -> str | None:
    """Why the packets fall short of what the file's header declares (it was cut short), or None: the index's frame
    count (mp4), a PCM wav's data size, each stream's own declared duration, else the container's duration against
    the last packet of any stream (a cut file loses the end of every stream; one stream may be shorter)."""
    for kind, stream in chosen.items():
        nb = int(stream.frames or 0)
        if kind == "video" and 0 < counts[kind] < nb:
            return f"truncated: {counts[kind]} of the {nb} video frames the file declares are present"
        end = ends.get(kind)
        if kind == "audio" and pcm_frames is not None and stream.rate and end is not None:
            present = int(round(end * stream.rate))
            if present < pcm_frames:
                return (f"truncated: {present} of the {pcm_frames} audio samples the header declares are present "
                        f"({end:.2f} s of {pcm_frames / stream.rate:.2f} s)")
        own = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else None
        if _short(end, own):
            return f"truncated: the {kind} stream ends at {end:.2f} s of the {own:.2f} s it declares"
    last = max(ends.values(), default=None)
    if _short(last, duration):
        return f"truncated: the media end at {last:.2f} s of the {duration:.2f} s the file declares"
    return None


def _probe_uncached(path: str) -> MediaProbe:
    import av

    try:
        p = check_path(path, "media")
    except MediaError as exc:  # "<file>: <cause>"
        return MediaProbe(str(path), problem=str(exc).removeprefix(f"{Path(path)}: "))
    try:
        container = av.open(str(p), mode="r")
    except Exception as exc:  # av.error.InvalidDataError, PermissionError, ...
        return MediaProbe(str(p), problem=f"not a readable media file ({error_text(exc)})")
    try:
        chosen = media_streams(container)  # the processor's stream probe: which streams the file has
        if not chosen:
            kinds = sorted({s.type for s in container.streams}) or ["none"]
            return MediaProbe(str(p), problem=f"no video or audio stream (streams: {', '.join(kinds)})")
        duration = container.duration / 1e6 if container.duration else None
        counts = {kind: 0 for kind in chosen}
        ends: dict[str, float] = {}
        first: dict[str, str | None] = {}  # kind -> None once a frame decoded, else the decode error
        try:
            for packet in container.demux(*chosen.values()):
                if packet.size == 0:
                    continue
                kind = packet.stream.type
                counts[kind] += 1
                if packet.pts is not None and packet.time_base is not None:
                    end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                    ends[kind] = max(ends.get(kind, end), end)
                if kind not in first or first[kind] == "":
                    try:
                        first[kind] = None if packet.decode() else ""  # "" = no frame yet (decoder delay)
                    except Exception as exc:
                        first[kind] = f"cannot decode the first {kind} frame ({error_text(exc)})"
        except Exception as exc:
            return MediaProbe(str(p), problem=f"cannot read the file's packets ({error_text(exc)})", duration=duration)
        for kind, stream in chosen.items():
            if first.get(kind) == "":  # the decoder held frames back: flush it
                try:
                    flushed = stream.codec_context.decode(None)
                    first[kind] = None if flushed else f"the {kind} stream has no decodable frames"
                except Exception as exc:
                    first[kind] = f"cannot decode the first {kind} frame ({error_text(exc)})"
        cut = _truncation(chosen, counts, ends, duration, _declared_pcm_frames(p) if "audio" in chosen else None)
        if cut:
            return MediaProbe(str(p), problem=cut, duration=duration)
        streams = {kind: first.get(kind) if counts[kind] else (
            "zero-length audio (the audio stream has no data)" if kind == "audio" else "the video stream has no frames")
            for kind in chosen}
        return MediaProbe(str(p), streams=streams, duration=duration)
    finally:
        container.close()


def _stat_key(path: str) -> tuple[str, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return os.path.abspath(path), st.st_size, st.st_mtime_ns


_MEMO: dict[tuple[str, int, int], MediaProbe] = {}


def probe_media(path: str | os.PathLike) -> MediaProbe:
    """Probe one file (memoised in this process by path, size and modification time)."""
    key = _stat_key(str(path))
    if key is None:
        return _probe_uncached(str(path))
    if key not in _MEMO:
        _MEMO[key] = _probe_uncached(str(path))
    return _MEMO[key]


# ------------------------------------------------------------------------------------------------------ records
def _field(record, name: str):
    return record.get(name) if isinstance(record, Mapping) else getattr(record, name, None)


def media_uses(record, kinds: Sequence[str] = KINDS, feed_all_media: bool = True) -> list[tuple[str, str, bool]]:
    """The media a job reads from a record: ``(path, kind, required)`` — the rule of :mod:`training.data.sample`:
    the ``video`` (unless an audio sample with ``feed_all_media`` off), the ``audio`` file, else the video's own
    audio track (required only for an audio sample; used when present otherwise)."""
    modality = _field(record, "modality") or "multimodal"
    video, audio = _field(record, "video"), _field(record, "audio")
    uses = []
    if "video" in kinds and video and (modality != "audio" or feed_all_media):
        uses.append((str(video), "video", True))
    if "audio" in kinds and (modality != "visual" or feed_all_media):
        if audio:
            uses.append((str(audio), "audio", True))
        elif video:
            uses.append((str(video), "audio", modality == "audio"))
    return uses


class MediaChecker:
    """Probes media files, with an optional on-disk memo (``cache_file``, JSON: path -> size, mtime, result)."""

    def __init__(self, cache_file: str | os.PathLike | None = None):
        self.cache_file = Path(cache_file) if cache_file else None
        self._disk: dict[str, dict] = {}
        self._dirty = False
        if self.cache_file is not None and self.cache_file.is_file():
            try:
                self._disk = json.loads(self.cache_file.read_text())
            except (OSError, json.JSONDecodeError):  # a damaged memo is only a memo: probe again
                self._disk = {}

    def probe(self, path: str | os.PathLike) -> MediaProbe:
        key = _stat_key(str(path))
        if key is None or self.cache_file is None:
            return probe_media(path)
        entry = self._disk.get(key[0])
        if entry and entry.get("v") == PROBE_VERSION and [entry.get("size"), entry.get("mtime_ns")] == list(key[1:]):
            return MediaProbe(**entry["probe"])
        result = probe_media(path)
        self._disk[key[0]] = {"v": PROBE_VERSION, "size": key[1], "mtime_ns": key[2], "probe": asdict(result)}
        self._dirty = True
        return result

    def save(self) -> None:
        """Write the on-disk memo (atomically) when new probes were added."""
        if self.cache_file is None or not self._dirty:
            return
        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_file.with_name(f".{self.cache_file.name}.tmp{os.getpid()}")
        tmp.write_text(json.dumps(self._disk))
        os.replace(tmp, self.cache_file)
        self._dirty = False

    def check_records(self, records: Iterable, kinds: Sequence[str] = KINDS, feed_all_media: bool = True,
                      progress: bool = False, desc: str = "checking media") -> list[BadMedia]:
        """Every bad (record, file) of ``records`` for the media ``kinds`` a job reads (see :func:`media_uses`)."""
        records = list(records)
        if progress and len(records) > 200:
            from tqdm.auto import tqdm

            records_iter = tqdm(records, desc=desc, unit="record")
        else:
            records_iter = records
        bad: list[BadMedia] = []
        for record in records_iter:
            rid = str(_field(record, "id") or "")
            seen: set[str] = set()
            for path, kind, required in media_uses(record, kinds, feed_all_media):
                found = self.probe(path)
                reason = found.problem_for(kind) if (required or found.problem or kind in found.streams) else None
                if kind == "audio" and not required and reason and not found.problem:
                    reason = f"its audio track: {reason}"
                if reason is not None and path not in seen:
                    seen.add(path)
                    bad.append(BadMedia(rid, path, reason))
        self.save()
        return bad


def check_records(records: Iterable, kinds: Sequence[str] = KINDS, feed_all_media: bool = True,
                  cache_file: str | os.PathLike | None = None, progress: bool = False) -> list[BadMedia]:
    """:meth:`MediaChecker.check_records` with a checker of its own (``cache_file``: its on-disk memo)."""
    return MediaChecker(cache_file).check_records(records, kinds, feed_all_media, progress=progress)


def without_bad(records: Sequence, bad: Iterable[BadMedia]) -> list:
    """``records`` less those named in ``bad`` (by id)."""
    ids = {b.record_id for b in bad}
    return [r for r in records if str(_field(r, "id") or "") not in ids]


# ------------------------------------------------------------------------------------------------------ skip mode
def check_on_bad_media(value) -> str:
    """The ``data.on_bad_media`` setting, or a one-line error."""
    if value not in ON_BAD_MEDIA:
        from ..config_utils import ConfigError

        raise ConfigError(f"data.on_bad_media must be one of {', '.join(ON_BAD_MEDIA)}, got {value!r}")
    return value


class SkippedMediaLog:
    """The records a job skipped for their media, appended as JSON lines (``{"split", "stage", "record_id", "file",
    "reason"}``) to ``path``; appending is safe from several processes (DataLoader workers, ranks)."""

    def __init__(self, path: str | os.PathLike | None):
        self.path = Path(path) if path else None

    def reset(self) -> None:
        if self.path is not None and self.path.exists():
            self.path.unlink()

    def add(self, bad: Iterable[BadMedia], split: str, stage: str) -> None:
        if self.path is None:
            return
        rows = [json.dumps({"split": split, "stage": stage, **b.to_dict()}, ensure_ascii=False) + "\n" for b in bad]
        if rows:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write("".join(rows))


# ------------------------------------------------------------------------------------------------------ later decoding
def bad_from_error(record_id: str, path: str, exc: BaseException) -> BadMedia:
    """The :class:`BadMedia` of a loader's one-line error (``MediaError``: ``"<file>: <cause>"``)."""
    text = " ".join(str(exc).split())
    return BadMedia(str(record_id), str(path), text.removeprefix(f"{Path(path)}: ").removeprefix(f"{path}: "))


@dataclass
class MediaGuard:
    """Media loaded while a job runs (a clip can change on disk after the up-front check): a file that fails stops
    the job with a one-line :class:`BadMediaError` naming the record (``mode="error"``), or its sample is dropped
    and listed in ``log`` (``mode="skip"``). Picklable, so it works in DataLoader worker processes."""

    mode: str = "error"
    log: SkippedMediaLog | None = None
    stage: str = ""
    split: str = "while running"

    def load(self, items: Sequence, media_of, load) -> list[tuple]:
        """``[(item, {kind: load(kind, path)})]`` for the items whose media all load; ``media_of(item)`` gives
        ``(record_id, [(kind, path), ...])``. Raises when an item fails in ``error`` mode, or when none is left."""
        kept, bad = [], []
        for item in items:
            rid, media = media_of(item)
            loaded = {}
            for kind, path in media:
                try:
                    loaded[kind] = load(kind, path)
                except MediaError as exc:
                    problem = bad_from_error(rid, path, exc)
                    if self.mode != "skip":
                        raise BadMediaError([problem]) from None
                    bad.append(problem)
                    break
            else:
                kept.append((item, loaded))
        if bad:
            if self.log is not None:
                self.log.add(bad, self.split, self.stage)
            for b in bad:
                logger.warning("skipped (data.on_bad_media: skip): %s", b.line())
        if not kept:
            raise BadMediaError(bad, header="no sample of this batch has usable media")
        return kept
