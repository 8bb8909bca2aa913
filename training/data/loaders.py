"""Load EmoCue records from JSONL / JSON / CSV / parquet files or ``save_to_disk`` folders.

``load_emocue(path)`` returns a ``datasets.Dataset`` (or a ``DatasetDict`` for a ``save_to_disk`` folder holding
several splits when no ``split`` is given) with the schema's columns typed as in
:data:`training.data.schema.EMOCUE_FEATURES` (extra columns are kept) and media paths made absolute: a relative path
is resolved against the folder of the data file (or the ``save_to_disk`` folder).

File formats:

* JSONL (``.jsonl``): one record per line, ``cues`` a JSON object. JSON (``.json``): a list of records.
* CSV (``.csv``): one record per row; ``cues`` a JSON object, or three columns ``cues_visual``, ``cues_audio``,
  ``cues_global`` each a JSON list or a ``;``-separated string; empty ``video``/``audio`` cells mean None.
* parquet (``.parquet``): the schema's columns (``datasets``' ``to_parquet`` output).

A folder: a ``save_to_disk`` dataset, else its ``emocue.jsonl`` (or ``emocue_<split>.jsonl`` / ``<split>.jsonl`` /
``.csv`` / ``.parquet`` when ``split`` is given), else its only data file.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from .schema import COLUMNS, CUE_KEYS, EMOCUE_FEATURES, MEDIA_COLUMNS, SPANS_FEATURE
from .validate import EmoCueValidationError, check_columns, media_path, resolve_media, validate_records

DATA_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")


class EmoCueDataError(ValueError):
    """A data file or folder that cannot be read as EmoCue records."""


class EmptyDatasetError(EmoCueDataError):
    """A data file or folder that holds no records."""


def _read_jsonl(path: Path) -> list[dict]:
    from emocue360.jsonl import read_jsonl

    return read_jsonl(path, error=EmoCueDataError)


def _read_json(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise EmoCueDataError(f"{path}: invalid JSON: {err.msg} (line {err.lineno})") from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise EmoCueDataError(f"{path}: expected a JSON list of records, got {type(data).__name__}")
    return data


def _cue_list(value: str, where: str) -> list[str]:
    value = (value or "").strip()
    if not value:
        return []
    if value.startswith("["):
        try:
            items = json.loads(value)
        except json.JSONDecodeError as err:
            raise EmoCueDataError(f"{where}: invalid JSON list: {err.msg}") from None
        return items
    return [c.strip() for c in value.split(";") if c.strip()]


def _read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        rows = list(reader)
    split_cues = all(f"cues_{k}" in header for k in CUE_KEYS)
    records = []
    for lineno, row in enumerate(rows, 2):
        record: dict[str, Any] = dict(row)
        if split_cues:
            record["cues"] = {k: _cue_list(record.pop(f"cues_{k}"), f"{path}:{lineno}: cues_{k}") for k in CUE_KEYS}
        elif "cues" in record:
            try:
                record["cues"] = json.loads(record["cues"]) if record["cues"].strip() else {k: [] for k in CUE_KEYS}
            except json.JSONDecodeError as err:
                raise EmoCueDataError(f"{path}:{lineno}: cues is not valid JSON: {err.msg}") from None
        for col in MEDIA_COLUMNS:
            if col in record and isinstance(record[col], str) and not record[col].strip():
                record[col] = None
        records.append(record)
    return records


def _read_parquet(path: Path) -> list[dict]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises several error types for broken files
        raise EmoCueDataError(f"{path}: cannot read parquet: {err}") from None
    return table.to_pylist()


READERS = {".jsonl": _read_jsonl, ".json": _read_json, ".csv": _read_csv, ".parquet": _read_parquet}


def read_records(path: str | os.PathLike) -> list[dict]:
    """Raw records of one data file (no validation, paths untouched)."""
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise EmoCueDataError(f"{path}: unsupported file type {path.suffix!r} (expected one of {', '.join(READERS)})")
    return reader(path)


def _find_data_file(folder: Path, split: str | None) -> Path:
    if split is None:
        candidates = [folder / "emocue.jsonl"]
    else:
        candidates = [folder / f"{stem}{suffix}" for stem in (f"emocue_{split}", split) for suffix in DATA_SUFFIXES]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    if split is None:
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in DATA_SUFFIXES)
        if len(files) == 1:
            return files[0]
        if len(files) > 1:
            names = ", ".join(p.name for p in files)
            raise EmoCueDataError(f"{folder}: several data files ({names}); pass one of them or a split")
    wanted = ", ".join(c.name for c in candidates)
    raise EmoCueDataError(f"{folder}: no EmoCue data file found (looked for {wanted})")


def _absolute(record: dict, base_dir: Path) -> dict:
    for col in MEDIA_COLUMNS:
        path = media_path(record.get(col))
        if path is not None and isinstance(record.get(col), (str, os.PathLike)):
            record[col] = str(resolve_media(path, base_dir))
    return record


def _to_dataset(records: list[dict]):
    import datasets

    extra = [c for c in records[0] if c not in COLUMNS] if records else []
    if any(r.get("spans") for r in records):  # optional per-cue spans: every record gets the column
        records = [{**r, "spans": {key: list((r.get("spans") or {}).get(key) or []) for key in CUE_KEYS}}
                   for r in records]
        extra = [*[c for c in extra if c != "spans"], "spans"]
    ds = datasets.Dataset.from_list(records)
    features = ds.features.copy()
    for col in COLUMNS:
        features[col] = EMOCUE_FEATURES[col]
    if "spans" in features and any(r.get("spans") for r in records):
        features["spans"] = SPANS_FEATURE
    ds = ds.cast(features)
    return ds.select_columns([*COLUMNS, *extra])


def is_saved_dataset(folder: Path) -> bool:
    return (folder / "dataset_info.json").is_file() or (folder / "dataset_dict.json").is_file() or (
        folder / "state.json"
    ).is_file()


def _load_saved(folder: Path, split: str | None, validate: bool, check_media: bool):
    import datasets

    loaded = datasets.load_from_disk(str(folder))
    if isinstance(loaded, datasets.DatasetDict):
        if split is not None:
            if split not in loaded:
                raise EmoCueDataError(f"{folder}: no split {split!r} (available: {', '.join(loaded)})")
            loaded = loaded[split]
        else:
            return datasets.DatasetDict(
                {name: _finish_saved(part, folder, f"{folder}[{name}]", validate, check_media)
                 for name, part in loaded.items()}
            )
    elif split is not None:
        raise EmoCueDataError(f"{folder}: a single saved dataset has no split {split!r}")
    return _finish_saved(loaded, folder, str(folder), validate, check_media)


def _finish_saved(ds, folder: Path, source: str, validate: bool, check_media: bool):
    problems = check_columns(ds.column_names, source)
    if problems:
        raise EmoCueValidationError(problems)
    if len(ds) == 0:
        raise EmptyDatasetError(f"{source}: empty dataset (no records)")
    if all(ds.features[c] == EMOCUE_FEATURES[c] for c in MEDIA_COLUMNS):  # path columns (not Video/Audio)
        ds = ds.map(lambda r: _absolute(r, folder), keep_in_memory=True)
    if validate:
        validate_records(ds, check_media=check_media, source=source)
    return ds


def load_emocue(
    path_or_dir: str | os.PathLike,
    split: str | None = None,
    validate: bool = True,
    check_media: bool = True,
):
    """Load EmoCue records as a ``datasets.Dataset`` (see the module doc for formats and path resolution).

    ``validate`` runs :func:`training.data.validate.validate_records` (``check_media``: the media files must exist)
    and raises :class:`~training.data.validate.EmoCueValidationError` listing the problems.
    Raises ``FileNotFoundError`` for a missing path and :class:`EmoCueDataError` for an unreadable or empty file.
    """
    path = Path(os.path.expanduser(str(path_or_dir)))
    if not path.exists():
        raise FileNotFoundError(f"EmoCue data not found: {path}")
    if path.is_dir():
        if is_saved_dataset(path):
            return _load_saved(path, split, validate, check_media)
        path = _find_data_file(path, split)
    source = str(path)
    records = read_records(path)
    if not records:
        raise EmptyDatasetError(f"{source}: empty dataset (no records)")
    columns = list(dict.fromkeys(c for r in records[:1] for c in r))
    problems = check_columns(columns, source)
    if problems:
        raise EmoCueValidationError(problems)
    base_dir = path.parent
    records = [_absolute(dict(r), base_dir) if isinstance(r, dict) else r for r in records]
    if validate:
        validate_records(records, check_media=check_media, source=source)
    try:
        return _to_dataset(records)
    except (TypeError, ValueError) as err:
        if validate:
            raise
        raise EmoCueDataError(
            f"{source}: records do not fit the EmoCue schema ({err}); run with validate=True"
        ) from err


def write_jsonl(records, path: str | os.PathLike, relative_to: str | os.PathLike | None = None) -> Path:
    """Write records (a ``Dataset`` or dicts) as JSONL; media paths under ``relative_to`` are made relative to it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    root = Path(relative_to).resolve() if relative_to is not None else None
    with open(path, "w", encoding="utf-8") as f:
        for record in records:
            record = dict(record)
            if root is not None:
                for col in MEDIA_COLUMNS:
                    value = record.get(col)
                    if isinstance(value, str):
                        try:
                            record[col] = str(Path(value).resolve().relative_to(root))
                        except ValueError:
                            pass
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def load_records(
    path_or_dir: str | os.PathLike,
    split: str | None = None,
    validate: bool = True,
    check_media: bool = True,
) -> list[dict]:
    """:func:`load_emocue` as a list of plain dicts (absolute media paths).

    Without ``split``: a folder with no ``emocue.jsonl`` but an ``emocue_train.jsonl`` gives the train split, and a
    saved ``DatasetDict`` gives its ``train`` split (else its first one).
    """
    import datasets

    path = Path(os.path.expanduser(str(path_or_dir)))
    if (
        split is None
        and path.is_dir()
        and not is_saved_dataset(path)
        and not (path / "emocue.jsonl").is_file()
        and (path / "emocue_train.jsonl").is_file()
    ):
        split = "train"
    ds = load_emocue(path, split=split, validate=validate, check_media=check_media)
    if isinstance(ds, datasets.DatasetDict):
        ds = ds["train"] if "train" in ds else next(iter(ds.values()))
    return [dict(r) for r in ds]
