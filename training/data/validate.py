"""Validate EmoCue records (``training/data/schema.py``) with one clear line per problem.

Every message names where the problem is (the data file and/or the record id, or its row number when the id itself
is bad) and the cause, e.g.::

    data/emocue.jsonl: record 'clip_7': video file not found: /data/clips/clip_7.mp4
    data/emocue.jsonl: missing column(s): description, modality
    data/emocue.jsonl: record 'clip_9': unknown modality 'audiovisual' (expected one of: multimodal, visual, audio)
    data/emocue.jsonl: record 'clip_4': spans.visual[0] (cue 'a broad smile'): end 0.5 is not after start 1.0
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from .schema import COLUMNS, CUE_KEYS, MEDIA_COLUMNS, MODALITIES, MODALITY_AUDIO, STRING_COLUMNS, has_cues
from .spans import span_problems


class EmoCueValidationError(ValueError):
    """Raised with every problem found (one per line, the first ``max_errors`` of them)."""

    def __init__(self, problems: list[str], total: int | None = None):
        self.problems = list(problems)
        total = len(problems) if total is None else total
        more = f"\n... and {total - len(problems)} more problem(s)" if total > len(problems) else ""
        super().__init__("\n".join(self.problems) + more)


def _where(source: str | None, record: Mapping[str, Any] | None, row: int | None) -> str:
    parts = []
    if source:
        parts.append(str(source))
    rid = record.get("id") if isinstance(record, Mapping) else None
    if isinstance(rid, str) and rid:
        parts.append(f"record {rid!r}")
    elif row is not None:
        parts.append(f"row {row}")
    return ": ".join(parts) + ": " if parts else ""


def media_path(value: Any) -> str | None:
    """The path of a media cell: a string, a ``Video``/``Audio`` feature dict ``{"path", "bytes"}`` or None."""
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        return str(value) or None
    if isinstance(value, Mapping):
        return value.get("path") or None
    return None


def resolve_media(path: str, base_dir: str | os.PathLike | None) -> Path:
    """``path`` as is when absolute (or no ``base_dir``), else relative to ``base_dir``."""
    p = Path(os.path.expanduser(path))
    return p if p.is_absolute() or base_dir is None else Path(base_dir) / p


def check_columns(columns: Iterable[str], source: str | None = None) -> list[str]:
    missing = [c for c in COLUMNS if c not in set(columns)]
    return [f"{_where(source, None, None)}missing column(s): {', '.join(missing)}"] if missing else []


def validate_record(
    record: Mapping[str, Any],
    base_dir: str | os.PathLike | None = None,
    check_media: bool = True,
    source: str | None = None,
    row: int | None = None,
) -> list[str]:
    """Problems of one record (empty list when it is valid)."""
    if not isinstance(record, Mapping):
        return [f"{_where(source, None, row)}record is a {type(record).__name__}, expected a mapping"]
    where = _where(source, record, row)
    problems = []
    missing = [c for c in COLUMNS if c not in record]
    if missing:
        problems.append(f"{where}missing field(s): {', '.join(missing)}")
    for col in STRING_COLUMNS:
        if col in record and not isinstance(record[col], str):
            problems.append(f"{where}{col} must be a string, got {type(record[col]).__name__}")
    if isinstance(record.get("id"), str) and not record["id"].strip():
        problems.append(f"{where}empty id")
    if isinstance(record.get("description"), str) and not record["description"].strip():
        # a label-only record (emotion, no description, no cues: stage 4's label data) is valid
        if not (isinstance(record.get("emotion"), str) and record["emotion"].strip()):
            problems.append(f"{where}empty description and no emotion label (a record needs a description, or an "
                            "emotion label for a label-only record)")
        elif isinstance(record.get("cues"), Mapping) and has_cues(record):
            problems.append(f"{where}empty description but cues listed (a label-only record has an emotion and no "
                            "cues; a described one needs its description)")
    modality = record.get("modality")
    if isinstance(modality, str) and modality not in MODALITIES:
        problems.append(f"{where}unknown modality {modality!r} (expected one of: {', '.join(MODALITIES)})")
    if "cues" in record:
        cues = record["cues"]
        if not isinstance(cues, Mapping):
            problems.append(f"{where}cues must be a mapping with keys {', '.join(CUE_KEYS)}, got {type(cues).__name__}")
        else:
            unknown = sorted(set(cues) - set(CUE_KEYS))
            if unknown:
                expected = ", ".join(CUE_KEYS)
                problems.append(f"{where}cues has unknown key(s): {', '.join(unknown)} (expected {expected})")
            for key in CUE_KEYS:
                value = cues.get(key)
                if value is None:
                    problems.append(f"{where}cues.{key} is missing")
                elif not isinstance(value, (list, tuple)) or not all(isinstance(c, str) for c in value):
                    problems.append(f"{where}cues.{key} must be a list of strings, got {value!r:.60}")
    problems += [f"{where}{problem}" for problem in span_problems(record)]
    for col in MEDIA_COLUMNS:
        value = record.get(col)
        if value is not None and media_path(value) is None and not (isinstance(value, Mapping) and value.get("bytes")):
            problems.append(f"{where}{col} must be a path string or None, got {type(value).__name__}")
    video, audio = media_path(record.get("video")), media_path(record.get("audio"))
    if "video" in record and record["video"] is None and modality in MODALITIES and modality != MODALITY_AUDIO:
        problems.append(f"{where}{modality} record has no video")
    if modality == MODALITY_AUDIO and "video" in record and "audio" in record and record["video"] is None \
            and record["audio"] is None:
        problems.append(f"{where}audio record has neither an audio nor a video file")
    if check_media:
        for col, path in (("video", video), ("audio", audio)):
            if path is not None:
                full = resolve_media(path, base_dir)
                if not full.is_file():
                    problems.append(f"{where}{col} file not found: {full}")
    return problems


def validate_records(
    records: Iterable[Mapping[str, Any]] | Any,
    base_dir: str | os.PathLike | None = None,
    check_media: bool = True,
    source: str | None = None,
    raise_on_error: bool = True,
    max_errors: int = 20,
) -> list[str]:
    """Validate a ``datasets.Dataset`` or an iterable of records: columns, every record, unique ids.

    Raises :class:`EmoCueValidationError` (unless ``raise_on_error=False``) with the first ``max_errors`` problems;
    returns the list of problems otherwise (empty when valid).
    """
    problems: list[str] = []
    column_names = getattr(records, "column_names", None)
    if column_names is not None:
        problems += check_columns(column_names, source)
        if problems:  # a missing column would otherwise be reported once per record
            if raise_on_error:
                raise EmoCueValidationError(problems)
            return problems
    seen: dict[str, int] = {}
    count = 0
    for row, record in enumerate(records):
        count += 1
        problems += validate_record(record, base_dir, check_media, source, row)
        rid = record.get("id") if isinstance(record, Mapping) else None
        if isinstance(rid, str) and rid:
            if rid in seen:
                problems.append(f"{_where(source, record, row)}duplicate id (first at row {seen[rid]})")
            else:
                seen[rid] = row
    if count == 0:
        problems.append(f"{_where(source, None, None)}no records")
    if problems and raise_on_error:
        raise EmoCueValidationError(problems[:max_errors], total=len(problems))
    return problems
