"""What ``xemogpt describe INPUT`` reads (the time windows of long clips are the pipeline's:
:func:`processing_xemogpt.pipeline_xemogpt.plan_windows`).

INPUT is one of:

* a **clip** — a video (mp4/mkv/webm/avi/mov/m4v, with or without audio) or an audio file (wav/flac/ogg/mp3/m4a);
  its id is the path as given;
* a **folder** of clips — every clip under it, recursively, in path order; ids are the paths inside the folder. A
  folder that holds an EmoCue data file (``emocue.jsonl``, ``emocue_<split>.jsonl``, a ``save_to_disk`` dataset) is
  read as records instead;
* a **list file** (``.txt`` / ``.lst`` / ``.list``) — one clip path per line (relative to the list file's folder;
  blank lines and ``#`` comments skipped); ids are the paths as written;
* an **EmoCue records file** (``.jsonl`` / ``.json`` / ``.csv`` / ``.parquet``, :mod:`training.data.loaders`) — ids,
  subtitles and modalities are the records'; media that are missing fail their record only.

Resolving the input opens no media file: a clip that cannot be used fails when it is described, in its own record.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from processing_xemogpt.vocabulary import MEDIA_EXTENSIONS

LIST_SUFFIXES = {".txt", ".lst", ".list"}
RECORD_SUFFIXES = {".jsonl", ".json", ".csv", ".parquet"}


@dataclass(frozen=True)
class InputItem:
    """One clip to describe: its id, its media file, its subtitle and, for records files, the EmoCue record."""

    id: str
    clip: str
    subtitle: str = ""
    record: dict | None = None


def _is_records_folder(folder: Path) -> bool:
    from training.data.loaders import is_saved_dataset

    return is_saved_dataset(folder) or any(folder.glob("emocue*.jsonl"))


def resolve_inputs(path: str | os.PathLike, subtitle: str = "") -> tuple[list[InputItem], str]:
    """``(items, kind)`` of INPUT, ``kind`` one of ``"clip"``, ``"folder"``, ``"list"``, ``"records"``."""
    p = Path(os.path.expanduser(str(path)))
    if not p.exists():
        raise FileNotFoundError(f"{path}: not found")
    if p.is_dir():
        if _is_records_folder(p):
            return _records(p), "records"
        clips = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in MEDIA_EXTENSIONS)
        if not clips:
            raise ValueError(f"{path}: no clips in this folder (looked for {', '.join(sorted(MEDIA_EXTENSIONS))})")
        return [InputItem(f.relative_to(p).as_posix(), str(f), subtitle) for f in clips], "folder"
    suffix = p.suffix.lower()
    if suffix in RECORD_SUFFIXES:
        return _records(p), "records"
    if suffix in LIST_SUFFIXES:
        return _list_file(p, subtitle), "list"
    if suffix in MEDIA_EXTENSIONS:
        return [InputItem(str(path), str(p), subtitle)], "clip"
    raise ValueError(f"{path}: not a clip ({', '.join(sorted(MEDIA_EXTENSIONS))}), a folder of clips, a list file "
                     f"({', '.join(sorted(LIST_SUFFIXES))}) or an EmoCue records file "
                     f"({', '.join(sorted(RECORD_SUFFIXES))})")


def _records(path: Path) -> list[InputItem]:
    from datasets.utils import logging as datasets_logging

    from training.data.loaders import load_records

    shown = datasets_logging.is_progress_bar_enabled()
    datasets_logging.disable_progress_bar()  # the loader's column casting is instant: no bar on the user's terminal
    try:
        records = load_records(path, check_media=False)  # a missing clip fails its own record, not the run
    finally:
        if shown:
            datasets_logging.enable_progress_bar()
    return [InputItem(str(r["id"]), r.get("video") or r.get("audio") or "", r.get("subtitle") or "", r)
            for r in records]


def _list_file(path: Path, subtitle: str) -> list[InputItem]:
    items, seen = [], {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if entry in seen:
            raise ValueError(f"{path}:{lineno}: {entry!r} is listed twice (first on line {seen[entry]})")
        seen[entry] = lineno
        clip = Path(os.path.expanduser(entry))
        items.append(InputItem(entry, str(clip if clip.is_absolute() else path.parent / clip), subtitle))
    if not items:
        raise ValueError(f"{path}: the list file names no clip")
    return items
