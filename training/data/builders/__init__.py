"""Builders that turn public emotion-dataset formats into EmoCue records (paper §IV, Table I).

``build(format, **options) -> BuildResult`` dispatches on the registry below; every builder takes the annotation
file(s) as ``csv`` plus ``media_dir`` / ``audio_dir`` / ``skip_missing`` / ``require_media`` and format-specific
options (documented on each function). :func:`write_built` stores records as JSON Lines plus a ``datasets`` folder
(``save_to_disk``) typed with the EmoCue schema.

Supported formats (see each module's docstring -- and ``docs/data.md`` -- for the layouts read, what was confirmed
against public files and what is assumed; CSV tables may also be given as ``.xlsx``):

=================  =====================================================================================
``emer``           EMER-V2 ``name,chinese,english`` and EMER-V1 ``names,emotions,subtitles,reasons``
``mer-caption``    MER-Caption+ / MER2025: ``name,reason``; ``name,openset`` label lists (alone or not); subtitles
``dfew``           DFEW split files ``video_name,label`` (1-7); DFER-CLIP lists ``path frames label`` (0-based)
``mafw``           MAFW single-set/multi-set/descriptive_text ``.xlsx``, ``clip label`` splits, tab-separated caption
                   splits (GBK), DFER-CLIP lists; captions from any of the caption layouts
``speechcraft``    SpeechCraft annotation JSON/JSONL (labels + description, e.g. ``text_style_target``), audio only
=================  =====================================================================================
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from .common import BuildResult, FormatError, MissingMediaError
from .dfew import DFEW_LABELS, build_dfew
from .emer import build_emer
from .mafw import MAFW_LABELS, build_mafw
from .mer_caption import build_mer_caption
from .speechcraft import build_speechcraft

__all__ = ["BUILDERS", "ALIASES", "BuildResult", "FormatError", "MissingMediaError", "build", "get_builder",
           "list_formats", "write_built", "DFEW_LABELS", "MAFW_LABELS"]

BUILDERS: dict[str, Callable[..., BuildResult]] = {
    "emer": build_emer,
    "mer-caption": build_mer_caption,
    "dfew": build_dfew,
    "mafw": build_mafw,
    "speechcraft": build_speechcraft,
}
ALIASES = {"mercaption": "mer-caption", "mer-caption+": "mer-caption", "mercaption+": "mer-caption",
           "mer_caption": "mer-caption", "mer2025": "mer-caption", "mer-2025": "mer-caption"}


def list_formats() -> list[str]:
    return sorted(BUILDERS)


def get_builder(fmt: str) -> Callable[..., BuildResult]:
    key = (fmt or "").strip().lower()
    key = ALIASES.get(key, key)
    if key not in BUILDERS:
        raise ValueError(f"unknown data format {fmt!r}; expected one of {', '.join(list_formats())} "
                         f"(aliases: {', '.join(sorted(ALIASES))})")
    return BUILDERS[key]


def build(fmt: str, **options) -> BuildResult:
    """Run the builder of ``fmt`` (see :data:`BUILDERS`) with ``options``."""
    return get_builder(fmt)(**options)


def write_built(records: list[dict], out_dir: str | Path, jsonl_name: str = "emocue.jsonl",
                dataset_dirname: str = "dataset", meta: dict | None = None) -> dict:
    """Write ``records`` to ``out_dir/emocue.jsonl`` and ``out_dir/dataset`` (``Dataset.save_to_disk``).

    The ``datasets`` features come from ``training.data.schema`` (paths kept as strings so the folder loads without
    media decoding). Returns the paths written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jsonl = out / jsonl_name
    with open(jsonl, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    ds = records_to_dataset(records)
    ds_dir = out / dataset_dirname
    ds.save_to_disk(str(ds_dir))
    paths = {"jsonl": str(jsonl), "dataset": str(ds_dir), "num_records": len(records)}
    if meta is not None:
        (out / "build_info.json").write_text(json.dumps({**meta, **paths}, indent=2, ensure_ascii=False) + "\n",
                                             encoding="utf-8")
    return paths


def records_to_dataset(records: list[dict]):
    """A ``datasets.Dataset`` of EmoCue records typed with the schema's (path-valued) features."""
    from datasets import Dataset, Features

    features = _schema_features()
    records = list(records)
    extra = sorted({k for r in records for k in r} - set(features))
    if not extra:
        return Dataset.from_list(records, features=features)
    # extra columns (e.g. the synthetic generator's ``factors``) keep their inferred types
    ds = Dataset.from_list([{**{k: r.get(k) for k in features}, **{k: r.get(k) for k in extra}} for r in records])
    return ds.cast(Features({**features, **{k: ds.features[k] for k in extra}}))


def _schema_features():
    from ..schema import EMOCUE_FEATURES

    return EMOCUE_FEATURES
