"""The model card of an XEmoGPT checkpoint: its YAML metadata (``ModelCardData``: base models, licence, tags,
``eval_results``) and its sections (usage, architecture, training data and recipe, evaluations, intended use,
limitations), rendered from ``templates/model_card.md``.

* :func:`write_model_card` writes the ``README.md`` every checkpoint the project saves carries (stages 3 and 4, the
  demo, the official-checkpoint converter); :func:`render_model_card` is the same card without writing it.
* :func:`refresh_model_card` makes a checkpoint's card ready to publish (``xemogpt push``): usage and licence blocks.
* :func:`build_model_card` builds a card from a config and an evaluation file (``xemogpt data push --kind model``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping, Sequence

from .card_inputs import CITATION, TEMPLATES, flatten_eval_results, format_value, load_mapping
from .card_validation import validate_card
from .hub_ids import HUB_LICENSES

MODEL_CARD_FILE = "README.md"
# the card's blocks that :func:`refresh_model_card` rewrites, between these markers
USAGE_BEGIN, USAGE_END = "<!-- xemogpt:usage -->", "<!-- /xemogpt:usage -->"
LICENSE_BEGIN, LICENSE_END = "<!-- xemogpt:license -->", "<!-- /xemogpt:license -->"
DEFAULT_TAGS = ("xemogpt", "emotion-recognition", "explainable-ai", "multimodal", "custom_code")

DEFAULT_INTENDED_USE = (
    "Research on explainable multimodal emotion recognition: describing the visual and audio emotional cues of a "
    "short clip and the emotion they suggest, for studies, prototypes and evaluation with EmoCue-360."
)
DEFAULT_LIMITATIONS = (
    "Descriptions are model generated and can name cues that are not in the clip or miss subtle ones; emotion is "
    "inferred from observable behaviour only and must not be used to make decisions about people (hiring, "
    "policing, health, education). Performance outside the training data's languages, cultures and recording "
    "conditions is unknown."
)
TINY_LIMITATIONS = (
    "This is a **tiny** demonstration checkpoint with small random backbones; it is not a model of real human "
    "emotion."
)

# labels of the roles in ``base_models``
BASE_MODEL_LABELS = {
    "vision": "vision encoder (frozen)", "audio": "audio encoder (frozen)", "text": "language model",
    "aecb_text_encoder": "stage-2 caption encoder", "vecb_text_encoder": "stage-1 caption encoder",
    "vecb": "VECB initialised from", "aecb": "AECB initialised from", "base_model": "initialised from",
}
# column labels of the ``training_data`` table, in this order; other keys follow in the rows' order
TRAINING_COLUMNS = {"stage": "stage", "trained": "trained", "name": "data", "records": "records",
                    "modalities": "modalities", "datasets": "datasets", "source": "source", "steps": "steps",
                    "final_loss": "final loss"}
# readable names of the metrics the package reports (``model-index`` ``name``); other keys are shown as they are
METRIC_NAMES = {
    **{f"{d}_{m}": f"EmoCue-360 {d} {'F1' if m == 'f1' else m}" for d in ("visual", "audio", "global")
       for m in ("precision", "recall", "f1")},
    "mean": "EmoCue-360 mean", "bleu_1": "BLEU-1", "bleu_4": "BLEU-4", "cider": "CIDEr",
    "cue_accuracy": "actual cues named", "emotion_accuracy": "emotion accuracy",
    "heldout_loss": "held-out loss (answer tokens)", "reward": "held-out reward (weighted sum)",
}


def is_hub_id(value) -> bool:
    """Whether ``value`` names a Hub repo (``owner/name``) rather than a local path or a description."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if not isinstance(value, str) or value.count("/") != 1 or Path(value).exists():
        return False
    try:
        validate_repo_id(value)
    except HFValidationError:
        return False
    return True


def _cell(v) -> str:
    """A table cell: dicts as ``key value, ...``, lists joined, floats to 4 significant digits, ``|`` escaped."""
    if isinstance(v, Mapping):
        text = ", ".join(f"{k} {_cell(x)}" for k, x in v.items())
    elif isinstance(v, (list, tuple)):
        text = ", ".join(_cell(x) for x in v)
    else:
        text = format_value(v)
    return text.replace("|", "\\|").replace("\n", " ")


def usage_block(model_ref: str) -> str:
    """The card's "How to use" text for ``model_ref`` (a Hub repo id or a folder), between the markers that
    :func:`refresh_model_card` rewrites."""
    return f"""{USAGE_BEGIN}
```python
from transformers import AutoModel, AutoProcessor

model = AutoModel.from_pretrained("{model_ref}", trust_remote_code=True)
processor = AutoProcessor.from_pretrained("{model_ref}", trust_remote_code=True)
messages = processor.build_messages(video="clip.mp4", audio="clip.mp4", subtitle="I can't believe it.")
inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                       return_tensors="pt")
out = model.generate(**inputs, max_new_tokens=256)
print(processor.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)[0])
```

Leave out `video` or `audio` for audio-only / visual-only explanations. With the `xemogpt` package installed:
`xemogpt describe clip.mp4 --model {model_ref}`.
{USAGE_END}"""


def license_block(license: str, license_name: str | None = None, license_link: str | None = None) -> str:
    """The card's "License" text, between the markers that :func:`refresh_model_card` rewrites."""
    if license == "unknown":
        body = ("The licence of these weights has not been set (`unknown`): the terms of the base models and of the "
                "training data apply. Set one when publishing: `xemogpt push CHECKPOINT REPO_ID --license ID`.")
    elif license == "other":
        body = f"`{license_name}`" + (f" ({license_link})" if license_link else "") + \
            ". The terms of the base models and of the training data apply as well."
    else:
        body = f"`{license}` (Hub licence id). The terms of the base models and of the training data apply as well."
    return f"{LICENSE_BEGIN}\n{body}\n{LICENSE_END}"


def _replace_block(text: str, begin: str, end: str, block: str) -> str:
    """``text`` with the block from ``begin`` to ``end`` replaced by ``block`` (unchanged when it has none)."""
    if begin not in text or end not in text.split(begin, 1)[1]:
        return text
    head, rest = text.split(begin, 1)
    return head + block + rest.split(end, 1)[1]


def _architecture_rows(cfg: Mapping) -> list[dict]:
    rows = []
    if not cfg:
        return rows
    layers = cfg.get("bridge_num_layers", 2)
    for key, name, over in (("use_vecb", "Video Emotional Cue Bridge (VECB)", "per-frame features"),
                            ("use_aecb", "Audio Emotional Cue Bridge (AECB)", "HuBERT frames")):
        rows.append({"label": name, "value": f"{layers} transformer encoder layers over the {over}"
                     if cfg.get(key, True) else "off (features go straight to the projection)"})
    rows.append({"label": "frames per clip", "value": _cell(cfg.get("num_frames", 16))})
    if cfg.get("answer_format"):
        rows.append({"label": "answer format", "value": f"`{cfg['answer_format']}`"})
    return rows


def _metric_rows(metrics: Mapping[str, float]) -> list[dict]:
    def name(key):
        if key in METRIC_NAMES:
            return METRIC_NAMES[key]
        if key.startswith("per_factor_"):
            return f"cues named: {key[len('per_factor_'):]}"
        if key.startswith("reward_"):
            return f"held-out mean reward: {key[len('reward_'):]}"
        return key.replace("_", " ")

    return [{"key": k, "name": name(k), "value": format_value(v)} for k, v in metrics.items()]


def _evaluations(results) -> list[dict]:
    """``results`` (one mapping or a list) as ``[{"dataset", "dataset_type", "split", "task", "metrics" (flat),
    "notes", "title"}]``; refuses an entry without numeric metrics."""
    if results is None:
        return []
    if isinstance(results, Mapping):
        results = [results]
    out = []
    for i, r in enumerate(results):
        if not isinstance(r, Mapping) or not r.get("dataset") or not isinstance(r.get("metrics"), Mapping):
            raise ValueError(f"results[{i}] must be a dict with 'dataset' (a name) and 'metrics' ({{name: value}})")
        metrics = flatten_eval_results(r["metrics"])
        if not metrics:
            raise ValueError(f"results[{i}] ({r['dataset']}): no numeric metric")
        split = r.get("split")
        out.append({"dataset": str(r["dataset"]), "dataset_type": str(r.get("dataset_type") or r["dataset"]),
                    "split": split, "task": r.get("task") or "video-text-to-text", "metrics": metrics,
                    "notes": r.get("notes") or "", "rows": _metric_rows(metrics),
                    "title": str(r["dataset"]) + (f" ({split} split)" if split else "")})
    return out


def render_model_card(*, model_name: str, base_models: Mapping[str, str] | None = None,
                      training_data: Sequence[Mapping] | None = None, recipe: Mapping | None = None,
                      results=None, intended_use: str = DEFAULT_INTENDED_USE,
                      limitations: str = DEFAULT_LIMITATIONS, license: str = "apache-2.0",
                      license_name: str | None = None, license_link: str | None = None, source: str | None = None,
                      extra_sections: Mapping[str, str] | None = None, model_ref: str = "path/to/checkpoint",
                      config=None, summary: str = "", datasets: Sequence[str] = (), tags: Sequence[str] = (),
                      figures: Sequence = ()):
    """The model card (a ``huggingface_hub.ModelCard``) from what a checkpoint's writer knows; see
    :func:`write_model_card` for the arguments. ``model_ref`` is what the usage snippet loads, ``config`` the
    checkpoint's config (dict, ``config.json`` or folder) for the architecture rows, ``figures`` image paths inside
    the repo (or ``(path, caption)``)."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    if not model_name:
        raise ValueError("model card: model_name is required")
    if license not in HUB_LICENSES:
        raise ValueError(f"license {license!r} is not a Hub licence id (e.g. apache-2.0, mit, cc-by-nc-4.0, other, "
                         "unknown)")
    if license == "other" and not license_name:
        raise ValueError("license 'other' needs license_name (and license_link)")
    cfg = load_mapping(config, "config")
    base_models = {k: v for k, v in dict(base_models or {}).items() if v}
    model_rows = [{"label": BASE_MODEL_LABELS.get(k, k.replace("_", " ")), "value": f"`{v}`"}
                  for k, v in base_models.items()] + _architecture_rows(cfg)
    rows = [dict(r) for r in training_data or []]
    keys = [k for k in TRAINING_COLUMNS if any(k in r for r in rows)]
    keys += [k for k in dict.fromkeys(k for r in rows for k in r) if k not in keys]
    training_columns = [{"key": k, "label": TRAINING_COLUMNS.get(k, k.replace("_", " "))} for k in keys]
    training_rows = [[_cell(r.get(k)) for k in keys] for r in rows]
    recipe_rows = [{"label": str(k), "value": _cell(v)} for k, v in (recipe or {}).items()]
    evaluations = _evaluations(results)
    eval_objs = [EvalResult(task_type=ev["task"], dataset_type=ev["dataset_type"], dataset_name=ev["dataset"],
                            dataset_split=ev["split"], metric_type=k, metric_name=row["name"], metric_value=v)
                 for ev in evaluations for (k, v), row in zip(ev["metrics"].items(), ev["rows"])]
    figs = []
    for f in figures:
        path, cap = (f if isinstance(f, (tuple, list)) else (f, Path(str(f)).stem.replace("_", " ")))
        figs.append({"path": str(path), "caption": cap})
    extra = {"license_name": license_name, "license_link": license_link} if license == "other" else {}
    hub_bases = [v for v in base_models.values() if is_hub_id(v)]
    card_data = ModelCardData(
        language=["en", "zh"], license=license, library_name="transformers", pipeline_tag="video-text-to-text",
        tags=list(dict.fromkeys([*DEFAULT_TAGS, *tags])), base_model=hub_bases or None,
        datasets=list(datasets) or None, model_name=model_name if eval_objs else None,
        eval_results=eval_objs or None, **{k: v for k, v in extra.items() if v},
    )
    card = ModelCard.from_template(
        card_data, template_path=str(TEMPLATES / "model_card.md"), model_name=model_name, summary=summary,
        source=source, model_rows=model_rows, training_columns=training_columns, training_rows=training_rows,
        figures=figs, recipe_rows=recipe_rows, evaluations=evaluations, intended_use=intended_use.strip(),
        limitations=limitations.strip(), usage=usage_block(model_ref),
        license_text=license_block(license, license_name, license_link),
        emocue=any(k.startswith(("visual_", "audio_", "global_")) or k == "mean" for ev in evaluations
                   for k in ev["metrics"]),
        citation=CITATION,
        extra_sections=[{"title": t, "body": str(b).strip()} for t, b in (extra_sections or {}).items()],
    )
    # the template's optional blocks leave runs of blank lines
    return ModelCard(re.sub(r"\n{3,}", "\n\n", str(card)))


def write_model_card(checkpoint_dir: str | Path, *, model_name: str, base_models: Mapping[str, str],
                     training_data: Sequence[Mapping] | None = None, recipe: Mapping | None = None,
                     results=None, intended_use: str, limitations: str, license: str,
                     source: str | None = None, extra_sections: Mapping[str, str] | None = None,
                     repo_id: str | None = None, license_name: str | None = None, license_link: str | None = None,
                     summary: str = "", datasets: Sequence[str] = (), tags: Sequence[str] = ()) -> Path:
    """Write ``checkpoint_dir/README.md``: the checkpoint's model card, checked with :func:`validate_card`.

    Args:
        checkpoint_dir: a saved checkpoint folder (its ``config.json`` adds the bridge / frame rows).
        model_name: the card's title and the ``model-index`` name.
        base_models: role -> Hub id, local path or description, e.g. ``{"vision": "openai/clip-vit-large-patch14",
            "audio": ..., "text": "Qwen/Qwen3-4B"}`` (roles ``vision``, ``audio``, ``text``, ``vecb``, ``aecb``,
            ``base_model`` have labels; others are shown as given). Hub ids become the ``base_model`` metadata.
        training_data: one dict per data set, e.g. ``{"stage": "3 (instruction tuning)", "name": "training set",
            "records": 1000, "modalities": {"multimodal": 600, ...}, "source": "data/train.jsonl"}`` (any keys;
            ``None``: "not recorded").
        recipe: setting -> value (the key settings of the run), shown as a table.
        results: held-out results, one dict or a list: ``{"dataset": "EmoCue-Eval", "dataset_type": "emocue-eval",
            "split": "test", "metrics": {"visual_precision": 0.61, ...} (nested dicts are flattened), "notes": "..."}``;
            they become the card's ``model-index`` (``eval_results``), values as given.
        intended_use, limitations: Markdown paragraphs.
        license: a Hub licence id (``other`` needs ``license_name``; ``unknown`` says it is not set).
        source: where the weights come from (e.g. "converted from the authors' released xemogpt.ckpt (sha256 ...)").
        extra_sections: title -> Markdown body, appended after "How to use".
        repo_id: the Hub repo the usage snippet loads; default: the folder itself.
    Returns:
        the path of the README.md written.
    """
    folder = Path(checkpoint_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: checkpoint folder not found")
    config = folder / "config.json" if (folder / "config.json").is_file() else None
    card = render_model_card(
        model_name=model_name, base_models=base_models, training_data=training_data, recipe=recipe, results=results,
        intended_use=intended_use, limitations=limitations, license=license, license_name=license_name,
        license_link=license_link, source=source, extra_sections=extra_sections, model_ref=repo_id or str(folder),
        config=config, summary=summary, datasets=datasets, tags=tags)
    try:
        validate_card(card, repo_type="model")
    except ValueError as exc:
        raise ValueError(f"{folder / MODEL_CARD_FILE}: model card not written: {exc}") from None
    path = folder / MODEL_CARD_FILE
    path.write_text(str(card), encoding="utf-8")
    return path


def refresh_model_card(checkpoint_dir: str | Path, *, repo_id: str, license: str | None = None,
                       license_name: str | None = None, license_link: str | None = None) -> Path:
    """Make ``checkpoint_dir/README.md`` ready to publish as ``repo_id``.

    A card written by this package gets its usage snippet pointed at ``repo_id`` (and ``license`` when given); a
    folder without a card gets one from its ``config.json`` (backbones, no training data or results, licence
    ``license``, else ``apache-2.0`` for the tiny preset's random weights and ``unknown`` otherwise). A README.md
    that is not a model card (no YAML metadata) or whose metadata is invalid is refused, not overwritten. Returns the
    card's path.
    """
    from huggingface_hub import ModelCard, ModelCardData

    folder = Path(checkpoint_dir)
    path = folder / MODEL_CARD_FILE
    if not path.is_file():
        cfg = load_mapping(folder, "config")
        backbones = {k: v for k, v in (cfg.get("backbones") or {}).items() if k in ("vision", "audio", "text")}
        tiny = not backbones and (cfg.get("text_config") or {}).get("hidden_size", 1 << 30) <= 256
        return write_model_card(
            folder, model_name=repo_id.split("/")[-1], base_models=backbones or tiny_backbones(tiny),
            intended_use=DEFAULT_INTENDED_USE, limitations=DEFAULT_LIMITATIONS + ("\n\n" + TINY_LIMITATIONS
                                                                                  if tiny else ""),
            license=license or ("apache-2.0" if tiny else "unknown"), license_name=license_name,
            license_link=license_link, repo_id=repo_id)
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---"):
        raise ValueError(f"{path}: not a model card (no YAML metadata block); move it away to have a card written")
    card = ModelCard(text)
    card.text = _replace_block(card.text, USAGE_BEGIN, USAGE_END, usage_block(repo_id))
    if license is not None:
        if license not in HUB_LICENSES:
            raise ValueError(f"license {license!r} is not a Hub licence id (e.g. apache-2.0, mit, other)")
        if license == "other" and not license_name:
            raise ValueError("license 'other' needs license_name (and license_link)")
        card.text = _replace_block(card.text, LICENSE_BEGIN, LICENSE_END,
                                   license_block(license, license_name, license_link))
        data = card.data.to_dict()
        data["license"] = license
        for key, value in (("license_name", license_name), ("license_link", license_link)):
            data.pop(key, None)
            if license == "other" and value:
                data[key] = value
        card.data = ModelCardData(**data)
        card = ModelCard(str(card))
    try:
        validate_card(card, repo_type="model")
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    path.write_text(str(card), encoding="utf-8")
    return path


def tiny_backbones(tiny: bool = True) -> dict:
    """``base_models`` of the tiny preset (random backbones, no Hub ids); ``{}`` when ``tiny`` is false."""
    if not tiny:
        return {}
    return {"vision": "CLIP vision (random, tiny)", "audio": "HuBERT (random, tiny)", "text": "Qwen3 (random, tiny)"}


def build_model_card(config=None, *, repo_id: str, eval_results=None, eval_dataset: str = "EmoCue-Eval",
                     eval_dataset_type: str | None = None, training=None, figures: Sequence = (),
                     preset: str | None = None, license: str = "apache-2.0", datasets: Sequence[str] = (),
                     summary: str = "", tags: Sequence[str] = (), model_name: str | None = None):
    """The model card of a checkpoint described by its config and an evaluation file (``xemogpt data push --kind
    model``); :func:`render_model_card` with the fields derived from them.

    Args:
        config: ``XEmoGPTConfig``, its dict, ``config.json`` or a checkpoint folder.
        repo_id: the Hub repo the card is for (used in the usage snippet).
        eval_results: ``{metric: value}`` or nested EmoCue-360 output (or a JSON file); becomes ``eval_results``
            metadata (``model-index``) and the evaluation table.
        training: ``{"stages": [{"stage": 1, "trained": "VECB", "datasets": [...], "steps": 500,
            "final_loss": 1.2}, ...]}`` or such a JSON/YAML file (a list of stages is accepted too).
        figures: paths *inside the repo* of training figures (e.g. ``figures/loss.png``) or ``(path, caption)``.
    """
    cfg = load_mapping(config, "config")
    backbones = cfg.get("backbones") or {}
    text_cfg = cfg.get("text_config") or {}
    if preset is None:
        preset = "paper" if backbones else ("tiny" if (text_cfg.get("hidden_size") or 0) <= 256 and cfg else "custom")
    metrics = load_mapping(eval_results, "evaluation results") if not isinstance(eval_results, Mapping) \
        else eval_results
    stages = training
    if stages is not None and not isinstance(stages, (list, Mapping)):
        stages = load_mapping(stages, "training record")
    if isinstance(stages, Mapping):
        stages = stages.get("stages", [])
    bases = {k: v for k, v in backbones.items() if k in ("vision", "audio", "text") and isinstance(v, str)}
    recipe = {}
    if cfg.get("lora_r"):
        targets = ", ".join(cfg.get("lora_target_modules") or [])
        recipe["LoRA on the language model"] = (f"r={cfg.get('lora_r')}, alpha={cfg.get('lora_alpha')}"
                                                + (f", on {targets}" if targets else ""))
    limitations = DEFAULT_LIMITATIONS + ("\n\n" + TINY_LIMITATIONS if preset == "tiny" else "")
    return render_model_card(
        model_name=model_name or repo_id.split("/")[-1], base_models=bases or tiny_backbones(preset == "tiny"),
        training_data=[dict(st, stage=st.get("stage", i)) for i, st in enumerate(stages or [], 1)] or None,
        recipe=recipe, results={"dataset": eval_dataset, "dataset_type": eval_dataset_type, "metrics": metrics}
        if flatten_eval_results(metrics) else None, limitations=limitations, license=license, model_ref=repo_id,
        config=cfg, summary=summary, datasets=datasets, tags=tags, figures=figures)
