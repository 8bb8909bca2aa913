"""Shared machinery of the format builders: media lookup, record assembly, build results.

Every builder turns one public annotation format into EmoCue records (``DESIGN.md`` "Data"): ``id``, ``video``,
``audio``, ``subtitle``, ``emotion``, ``cues`` (``visual``/``audio``/``global`` lists), ``description``,
``short_caption``, ``modality``. The record schema, its ``datasets.Features`` and the validator live in
``training/data/schema.py`` / ``validate.py``; this module only produces plain dicts of that shape. Reading the
annotation files lives in :mod:`.readers`, turning descriptions into cue lists in :mod:`.cues` (both re-exported
here).

Rules shared by all builders:

* Media are looked up anywhere under ``media_dir`` (recursively) by the clip name with the usual extensions (a name
  that already carries an extension is tried as is first; numeric DFEW names are also tried zero-padded).
* Every media file found is probed (:func:`training.data.media_check.probe_media`: it opens, holds the stream it is
  used for, is not cut short, its first frame decodes).
* A record whose media file is missing or unusable is reported in :class:`MissingMediaError` once the whole source is
  read — *every* such record, one line each naming the clip and the directory searched (missing) or the file and the
  reason (unusable) — unless ``skip_missing=True``: then the record is dropped and counted in
  :attr:`BuildResult.skipped_missing` / :attr:`BuildResult.skipped_bad_media`.
* Every problem with an annotation file is a one-line :class:`FormatError` naming the file, the line (or spreadsheet
  row) and the layout that was expected.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from processing_xemogpt.vocabulary import CUE_DIMENSIONS

from .cues import cues_by_content, cues_from_description, sections_from_description, split_sentences  # noqa: F401
from .readers import (FormatError, Table, clean_name, clean_text, iter_jsonish, pick_column,  # noqa: F401
                      read_csv_rows, read_name_table, read_table, read_text)

from processing_xemogpt.vocabulary import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS
from processing_xemogpt.vocabulary import check_modality

class MissingMediaError(FileNotFoundError):
    """Records whose media file is not under ``--media-dir`` or cannot be used (``--skip-missing`` drops them)."""


@dataclass
class BuildResult:
    """Records built from one source plus what was dropped on the way."""

    records: list[dict]
    format: str
    skipped_missing: int = 0
    skipped_empty: int = 0
    missing_examples: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    bad_media: list[str] = field(default_factory=list)  # one line per dropped clip whose file cannot be used

    @property
    def skipped_bad_media(self) -> int:
        return len(self.bad_media)

    def summary(self) -> str:
        parts = [f"{len(self.records)} records ({self.format})"]
        if self.skipped_missing:
            ex = ", ".join(self.missing_examples[:3])
            parts.append(f"{self.skipped_missing} skipped for missing media (e.g. {ex})")
        if self.bad_media:
            parts.append(f"{len(self.bad_media)} skipped for unusable media (e.g. {self.bad_media[0]})")
        if self.skipped_empty:
            parts.append(f"{self.skipped_empty} skipped for an empty description/label")
        return "; ".join(parts)


def parse_label_list(value) -> list[str]:
    """MER2025 open-set labels: a Python/JSON list literal (``['happy', 'relieved']``) or a comma/semicolon list."""
    if isinstance(value, (list, tuple)):
        return [clean_text(v) for v in value if clean_text(v)]
    s = clean_text(value)
    if not s:
        return []
    if s.startswith("[") and s.endswith("]"):
        import ast

        try:
            parsed = ast.literal_eval(s)
        except (ValueError, SyntaxError):
            try:
                parsed = json.loads(s)
            except json.JSONDecodeError:
                parsed = None
        if isinstance(parsed, (list, tuple)):
            return [clean_text(v) for v in parsed if clean_text(v)]
        s = s[1:-1]
    parts = re.split(r"[,;，、；]", s)
    return [p.strip().strip("'\"").strip() for p in parts if p.strip().strip("'\"").strip()]


# ------------------------------------------------------------------------------------------------------------------
# media
# ------------------------------------------------------------------------------------------------------------------
class MediaResolver:
    """Find ``<name><ext>`` anywhere under a media directory (one recursive scan, then dictionary lookups)."""

    def __init__(self, media_dir: str | os.PathLike | None, exts: Sequence[str]):
        self.media_dir = Path(media_dir).resolve() if media_dir else None  # records carry absolute paths
        if self.media_dir is not None and not self.media_dir.is_dir():
            raise FileNotFoundError(f"{media_dir}: media directory not found")
        self.exts = tuple(exts)
        self._index: dict[str, Path] | None = None

    def _build_index(self):
        """One recursive scan: file name -> path (shallowest first, then sorted, so the choice is deterministic)."""
        index: dict[str, Path] = {}
        for dirpath, dirnames, filenames in sorted(os.walk(self.media_dir), key=lambda t: (t[0].count(os.sep), t[0])):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for fn in sorted(filenames):
                p = Path(dirpath) / fn
                index.setdefault(fn, p)
                index.setdefault(fn.lower(), p)
        self._index = index

    def find(self, name: str) -> Path | None:
        if self.media_dir is None:
            return None
        if self._index is None:
            self._build_index()
        candidates = []
        base = Path(name).name
        if Path(base).suffix.lower() in self.exts:
            candidates.append(base)
            stem = Path(base).stem
        else:
            stem = base
        candidates += [stem + e for e in self.exts] + [stem + e.upper() for e in self.exts]
        for c in candidates:
            hit = self._index.get(c) or self._index.get(c.lower())
            if hit is not None:
                return hit
        # DFEW-style numeric names: 1 -> 00001
        if stem.isdigit():
            for width in (5, 6, 8):
                z = stem.zfill(width)
                for e in self.exts:
                    hit = self._index.get(z + e)
                    if hit is not None:
                        return hit
        return None

    def describe(self) -> str:
        return f"{self.media_dir} (tried {', '.join(self.exts)})"


@dataclass
class MediaPolicy:
    """How a builder resolves media: video and/or audio directories and what to do when a file is missing."""

    media_dir: str | None = None
    audio_dir: str | None = None
    skip_missing: bool = False
    require_media: bool = True  # False: keep names as paths without checking (dry runs / remote storage)

    def resolvers(self):
        video = MediaResolver(self.media_dir, VIDEO_EXTENSIONS) if self.media_dir else None
        audio_root = self.audio_dir or self.media_dir
        audio = MediaResolver(audio_root, AUDIO_EXTENSIONS) if audio_root else None
        return video, audio


class RecordSink:
    """Collects records, applying the media policy; ``result()`` gives the :class:`BuildResult` (or raises
    :class:`MissingMediaError` listing every record whose media is missing or unusable)."""

    def __init__(self, fmt: str, policy: MediaPolicy, source: str):
        self.fmt = fmt
        self.policy = policy
        self.source = source
        self.video_resolver, self.audio_resolver = policy.resolvers()
        self.result_ = BuildResult(records=[], format=fmt)
        self._ids: set[str] = set()
        self.problems: list[str] = []  # without skip_missing: every missing / unusable clip, reported at the end

    def video(self, name: str) -> str | None:
        """Path of the clip's video, ``None`` when missing and skipping (after counting)."""
        return self._lookup(name, self.video_resolver, "video")

    def audio(self, name: str, required: bool) -> str | None:
        """Path of a separate audio file; when not ``required`` a missing file just means 'use the video's track'."""
        if self.audio_resolver is None:
            if required and self.policy.require_media:
                raise FormatError(f"{self.source}: audio records need --media-dir (or --audio-dir)")
            return None if not required else name
        hit = self.audio_resolver.find(name)
        if hit is not None:
            return self.checked(name, hit, "audio")
        if not required:
            return None
        return self.missing(name, "audio", f"in {self.audio_resolver.describe()}")

    def _lookup(self, name, resolver, kind):
        if resolver is None:
            if self.policy.require_media:
                raise FormatError(f"{self.source}: pass --media-dir to resolve {kind} files")
            return name
        hit = resolver.find(name)
        if hit is not None:
            return self.checked(name, hit, kind)
        return self.missing(name, kind, f"in {resolver.describe()}")

    def missing(self, name: str, kind: str, where: str):
        """A clip whose ``kind`` file was not found ``where``: ``None`` (dropped and counted, or reported at the
        end), or the name itself when media are not required."""
        if not self.policy.require_media:
            return name
        if self.policy.skip_missing:
            self.result_.skipped_missing += 1
            if len(self.result_.missing_examples) < 5:
                self.result_.missing_examples.append(name)
            return None
        self.problems.append(f"{kind} for clip {name!r} not found {where}")
        return None

    def checked(self, name: str, path, kind: str) -> str | None:
        """``path`` when its ``kind`` stream is usable (the file is probed), else ``None`` (dropped and listed, or
        reported at the end)."""
        from ..media_check import probe_media

        reason = probe_media(path).problem_for(kind) if self.policy.require_media else None
        if reason is None:
            return str(path)
        line = f"{kind} for clip {name!r}: {path}: {reason}"
        (self.result_.bad_media if self.policy.skip_missing else self.problems).append(line)
        return None

    def add(self, record: dict) -> None:
        rid = record["id"]
        if rid in self._ids:
            self.result_.warnings.append(f"duplicate id {rid!r} in {self.source}: kept the first")
            return
        self._ids.add(rid)
        self.result_.records.append(record)

    def empty(self):
        self.result_.skipped_empty += 1

    def result(self) -> BuildResult:
        hint = "(pass --skip-missing to drop such records)"
        if len(self.problems) == 1:
            raise MissingMediaError(f"{self.source}: {self.problems[0]} {hint}")
        if self.problems:
            from ..media_check import report

            raise MissingMediaError(report(self.problems, f"{self.source}: {len(self.problems)} clips have missing or "
                                                          f"unusable media {hint}"))
        return self.result_


def label_placeholder(emotion: str, modality: str = "visual") -> str:
    """The description of a label-only record (the schema wants a non-empty description): states the label only.

    EmoCue-ShortCaption / EmoCue-Instruct generation replaces it; nothing beyond the label is asserted.
    """
    where = {"visual": "video", "audio": "speech", "multimodal": "clip"}.get(modality, "clip")
    return f"The emotion expressed in this {where} is {emotion}."


def make_record(id: str, *, video=None, audio=None, subtitle="", emotion="", cues=None, description="",
                short_caption="", modality="multimodal") -> dict:
    check_modality(modality)
    cues = cues or {}
    return {
        "id": str(id),
        "video": None if video is None else str(video),
        "audio": None if audio is None else str(audio),
        "subtitle": clean_text(subtitle),
        "emotion": clean_text(emotion),
        "cues": {k: [clean_text(c) for c in cues.get(k, []) if clean_text(c)] for k in CUE_DIMENSIONS},
        "description": clean_text(description),
        "short_caption": clean_text(short_caption),
        "modality": modality,
    }


def as_path_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        return [str(value)]
    return [str(v) for v in value]
