"""The dataset card of an EmoCue dataset (paper §IV, Fig. 10): its YAML metadata (``DatasetCardData``: licence,
task category, size category, parquet configs) and its sections (splits, modality counts, sources, construction,
quality summary, licence note), rendered from ``templates/dataset_card.md``."""

from __future__ import annotations

from typing import Mapping, Sequence

from .card_inputs import CITATION, TEMPLATES, format_value, load_mapping
from .hub_ids import size_category

DEFAULT_CONSTRUCTION = (
    "EmoCue-Instruct rewrites source descriptions through a model-led, human-assisted pipeline (paper §IV): a chat "
    "model infers modality-specific cues from the clip's description, subtitle and emotion label, a second pass "
    "consolidates them into visual / audio / global cue lists and a rewritten description, and experts score a "
    "random sample. EmoCue-ShortCaption holds concise model-generated cue lists."
)
DEFAULT_LICENSE_NOTE = (
    "Records derived from licence-gated corpora (MER2025 / MER-Caption+, DFEW, MAFW, EMER, SpeechCraft) inherit "
    "their terms: research use only, no redistribution of the media. Media paths refer to files you obtain from "
    "the original providers."
)


def build_dataset_card(*, repo_id: str, records: Sequence[dict] | None = None, dataset=None,
                       pretty_name: str = "EmoCue", summary: str = "", sources: Sequence[str] = (), quality=None,
                       license: str = "other", license_note: str = DEFAULT_LICENSE_NOTE,
                       construction: str = DEFAULT_CONSTRUCTION, tags: Sequence[str] = (),
                       splits: Mapping | None = None):
    """Render the dataset card from the records (or a ``Dataset``/``DatasetDict``) and the Fig. 10 summary."""
    from huggingface_hub import DatasetCard, DatasetCardData

    counts: dict[str, int] = {}
    split_sizes: dict[str, int] = dict(splits or {})
    rows: list = []
    if dataset is not None:
        if hasattr(dataset, "keys") and not hasattr(dataset, "column_names") or isinstance(dataset, Mapping):
            for k in dataset.keys():
                split_sizes.setdefault(k, len(dataset[k]))
                rows.extend(dataset[k]["modality"])
        else:
            split_sizes.setdefault("train", len(dataset))
            rows.extend(dataset["modality"])
    elif records is not None:
        rows = [r.get("modality") or "multimodal" for r in records]
        split_sizes.setdefault("train", len(rows))
    for m in rows:
        counts[m] = counts.get(m, 0) + 1
    n = sum(split_sizes.values()) if split_sizes else len(rows)
    q = load_mapping(quality, "quality summary") if quality is not None and not isinstance(quality, Mapping) \
        else quality
    if q:
        q = {**q, "dimensions": {k: {kk: format_value(vv) for kk, vv in d.items() if kk in ("mean", "std", "n")}
                                 for k, d in q.get("dimensions", {}).items()}}
    license_meta = license
    extra = {}
    if license == "other":
        extra = {"license_name": "source-dataset-terms"}
    card_data = DatasetCardData(
        language=["en", "zh"], license=license_meta, pretty_name=pretty_name,
        task_categories=["video-text-to-text"], size_categories=[size_category(n)],
        tags=list(dict.fromkeys(["emotion-recognition", "explainable-ai", "multimodal", "emocue", *tags])),
        configs=[{"config_name": "default", "data_files": [{"split": s, "path": f"data/{s}-*.parquet"}
                                                           for s in (split_sizes or {"train": 0})]}],
        **extra,
    )
    card = DatasetCard.from_template(
        card_data, template_path=str(TEMPLATES / "dataset_card.md"),
        pretty_name=pretty_name, repo_id=repo_id,
        summary=summary or f"{pretty_name}: emotional descriptions with cue-level (visual / audio / global) "
                           "supervision for explainable multimodal emotion recognition (XEmoGPT, paper §IV).",
        num_records=n, splits=split_sizes, modality_counts=counts, sources=list(sources),
        construction=construction, quality=q, license_note=license_note, citation=CITATION,
    )
    return card
