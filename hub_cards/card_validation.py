"""Checks of a model or dataset card's metadata before it is written or pushed (:func:`validate_card`)."""

from __future__ import annotations

import math

from .hub_ids import HUB_LICENSES, HUB_PIPELINE_TAGS, HUB_TASK_CATEGORIES, SIZE_CATEGORIES

def validate_card(card, repo_type: str | None = None, online: bool = False) -> dict:
    """Check a card's metadata; returns the metadata dict, raises ValueError with every problem found.

    Offline: the YAML header parses, re-parsing the rendered card gives the same metadata, the licence is a Hub
    licence id (``other`` needs ``license_name``), pipeline/task ids and size categories are Hub ids, and model
    ``eval_results`` convert to a ``model-index`` and back. ``online=True`` also runs the Hub's validator
    (``RepoCard.validate``; needs network).
    """
    import yaml
    from huggingface_hub import DatasetCard, ModelCard, RepoCard

    text = str(card)
    problems = []
    if not text.startswith("---\n"):
        problems.append("card does not start with a YAML metadata block")
    try:
        meta = yaml.safe_load(text.split("---\n", 2)[1]) if text.startswith("---\n") else None
    except yaml.YAMLError as exc:
        meta = None
        problems.append(f"metadata is not valid YAML: {exc}")
    if not isinstance(meta, dict):
        problems.append("metadata is not a mapping")
        raise ValueError("; ".join(problems))
    repo_type = repo_type or getattr(card, "repo_type", "model")
    cls = {"model": ModelCard, "dataset": DatasetCard}.get(repo_type, RepoCard)
    reparsed = cls(text).data.to_dict()
    if reparsed != card.data.to_dict():
        problems.append("metadata does not survive a render/parse round trip")
    lic = meta.get("license")
    for one in (lic if isinstance(lic, list) else [lic]):
        if one is not None and one not in HUB_LICENSES:
            problems.append(f"license {one!r} is not a Hub licence id")
    if lic == "other" and not meta.get("license_name"):
        problems.append("license 'other' needs license_name (and license_link)")
    for key in ("tags", "language", "datasets", "base_model"):
        v = meta.get(key)
        if v is not None and not (isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v))):
            problems.append(f"{key} must be a string or a list of strings")
    if repo_type == "model":
        pt = meta.get("pipeline_tag")
        if pt is not None and pt not in HUB_PIPELINE_TAGS:
            problems.append(f"pipeline_tag {pt!r} is not a Hub task id")
        if "model-index" in meta:
            from huggingface_hub.repocard_data import model_index_to_eval_results

            try:
                name, results = model_index_to_eval_results(meta["model-index"])
                for r in results:
                    if not isinstance(r.metric_value, (int, float)) or (isinstance(r.metric_value, float)
                                                                        and math.isnan(r.metric_value)):
                        problems.append(f"eval result {r.metric_type} has a non-numeric value")
            except Exception as exc:  # malformed model-index
                problems.append(f"model-index does not parse: {exc}")
    if repo_type == "dataset":
        for t in meta.get("task_categories") or []:
            if t not in HUB_TASK_CATEGORIES:
                problems.append(f"task category {t!r} is not a Hub task id")
        for s in meta.get("size_categories") or []:
            if s not in SIZE_CATEGORIES:
                problems.append(f"size category {s!r} is not one of {', '.join(SIZE_CATEGORIES)}")
    if problems:
        raise ValueError("; ".join(problems))
    if online:
        card.validate(repo_type=repo_type)
    return meta
