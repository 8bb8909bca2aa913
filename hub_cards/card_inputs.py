"""What every card is filled from: the Jinja templates (``templates/``), the paper's citation, configs / results /
records given as dicts or JSON / YAML files (``load_mapping``), evaluation results flattened to
``{metric_name: value}`` (``flatten_eval_results``) and table cells (``format_value``)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping

TEMPLATES = Path(__file__).parent / "templates"

CITATION = """@article{xemogpt,
  title   = {XEmoGPT: Explainable Multimodal Emotion Recognition with Cue-Level Perception and Reasoning},
  year    = {2025}
}"""


def load_mapping(value, what: str) -> dict:
    """A dict from a dict, an object with ``to_dict()``, or a JSON / YAML file path."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    p = Path(value)
    if p.is_dir() and (p / "config.json").is_file():
        p = p / "config.json"
    if not p.is_file():
        raise FileNotFoundError(f"{p}: {what} file not found")
    text = p.read_text(encoding="utf-8")
    if p.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{p}: {what} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{p}: {what} must be a JSON/YAML object")
    return data


def flatten_eval_results(results: Mapping) -> dict[str, float]:
    """``{"visual": {"precision": .5, ...}, "mean": .4, "bleu_1": ...}`` -> ``{"visual_precision": .5, ...}``.

    Non-numeric leaves are dropped; NaN values are dropped (the Hub rejects them).
    """
    flat: dict[str, float] = {}

    def walk(prefix, obj):
        if isinstance(obj, Mapping):
            for k, v in obj.items():
                walk(f"{prefix}_{k}" if prefix else str(k), v)
        elif isinstance(obj, bool):
            return
        elif isinstance(obj, (int, float)):
            if not (isinstance(obj, float) and math.isnan(obj)):
                flat[prefix] = float(obj)

    walk("", results or {})
    return flat


def format_value(v) -> str:
    if v is None or v == "":
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
