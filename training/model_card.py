"""The model card (``README.md``) of the checkpoint a stage saves: ``merged/`` of stages 3 and 4.

:func:`write_stage_card(cfg, figures)` fills :func:`hub_cards.write_model_card` from what the run knows: its
configuration (sources of the data as given, learning rates, LoRA, answer format, GRPO settings), its end-of-run
figures (record counts per modality, steps, losses / rewards, held-out results) and the runs it started from — the
stage-1/2 bridge folders and the stage-3 checkpoint, read from their own ``stage_config.yaml`` and ``metrics.json``.
The held-out results a stage measures (stage 3: the held-out answer-token loss; stage 4 with
``reward_before_after``: the held-out rewards, EmoCue-360 cue F1 per dimension and emotion match among them)
become the card's ``model-index``. EmoCue-360 on generated descriptions is measured after training (``xemogpt eval``,
the demo), which writes it into the card of the checkpoint it scored.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

STAGE_LABELS = {"stage1_vecb": "1: VECB pre-training", "stage2_aecb": "2: AECB pre-training",
                "stage3_sft": "3: instruction tuning", "stage4_grpo": "4: GRPO, cue-level rewards"}
STAGE_TITLES = {"stage3_sft": "instruction-tuned (stage 3)", "stage4_grpo": "GRPO-tuned (stage 4)"}
TINY_INTENDED_USE = (
    "Testing and demonstrating the XEmoGPT recipe end to end on a laptop (tiny random backbones); not for describing "
    "real people."
)
DATA_TERMS = (
    "Records derived from licence-gated corpora (MER2025 / MER-Caption+, DFEW, MAFW, EMER, SpeechCraft) carry their "
    "terms (research use only); check them before using or sharing these weights."
)


def _read(path: Path):
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return json.loads(text)
    import yaml

    return yaml.safe_load(text)


def _data_row(stage: str, name: str, records, modalities, source) -> dict:
    row = {"stage": STAGE_LABELS.get(stage, stage), "name": name, "records": records, "source": source}
    if modalities:
        row["modalities"] = {k: v for k, v in modalities.items() if v}
    return row


def bridge_folders(*values) -> list[str]:
    """The stage-1/2 folders among stage 3's ``vecb`` / ``aecb`` values (not ``off``, ``random`` or unset)."""
    from .stage3_config import BRIDGE_WORDS

    return [v for v in values if v and v not in BRIDGE_WORDS]


def earlier_stages(*paths) -> list[dict]:
    """Training-data rows of the stage runs that wrote ``paths`` (a bridge folder, a ``merged/`` checkpoint) and of
    the runs those started from, oldest first; folders without ``stage_config.yaml`` + ``metrics.json`` (an
    untrained base, a downloaded checkpoint) add nothing."""
    rows, seen = [], set()

    def visit(path):
        if not path:
            return
        path = Path(path)
        run = path if (path / "stage_config.yaml").is_file() else path.parent  # merged/ sits in its run's folder
        config, metrics = _read(run / "stage_config.yaml"), _read(run / "metrics.json")
        if not isinstance(config, dict) or not isinstance(metrics, dict) or run.resolve() in seen:
            return
        seen.add(run.resolve())
        for earlier in (*bridge_folders(config.get("vecb"), config.get("aecb")), config.get("base_model")):
            visit(earlier)
        count = next((metrics[k] for k in ("train_samples", "train_prompts", "train_clips") if k in metrics), None)
        rows.append(_data_row(metrics.get("stage", "?"), "training set", count, metrics.get("train_modalities"),
                              config.get("train_file")))

    for p in paths:
        visit(p)
    return rows


def run_settings(run_dir) -> str | None:
    """One line of a finished stage run's key settings, read from its ``stage_config.yaml`` and ``metrics.json``:
    steps, learning rate(s), batch size, LoRA (``None`` when the folder holds no finished run)."""
    run = Path(run_dir)
    config, metrics = _read(run / "stage_config.yaml"), _read(run / "metrics.json")
    if not isinstance(config, dict) or not isinstance(metrics, dict):
        return None
    parts = [f"{metrics.get('global_step')} steps", f"learning rate {config.get('learning_rate')}"]
    bridge_lr = config.get("bridge_learning_rate")
    if bridge_lr is not None:
        parts.append(f"VECB/AECB learning rate {bridge_lr}")
    parts.append(f"batch {config.get('per_device_train_batch_size')} per process")
    if config.get("lora_r"):
        parts.append(f"LoRA r={config['lora_r']}, alpha={config.get('lora_alpha')}")
    return ", ".join(parts)


def _lora(cfg, model_config: dict) -> str:
    r = cfg.lora_r or model_config.get("lora_r")
    alpha = cfg.lora_alpha or model_config.get("lora_alpha")
    targets = cfg.lora_target_modules or model_config.get("lora_target_modules") or []
    return f"r={r}, alpha={alpha}" + (f" on {', '.join(targets)}" if targets else "") + " (merged into the weights)"


def _recipe(cfg, figures: dict, model_config: dict) -> dict:
    recipe = {"stage": STAGE_LABELS.get(figures["stage"], figures["stage"]),
              "optimizer steps": figures.get("global_step"), "learning rate": cfg.learning_rate,
              "batch size per process": cfg.per_device_train_batch_size, "processes": figures.get("world_size"),
              "LoRA on the language model": _lora(cfg, model_config), "answer format": cfg.answer_format,
              "seed": cfg.seed}
    if figures["stage"] == "stage3_sft":
        bridge_lr = cfg.bridge_learning_rate
        recipe["VECB / AECB learning rate"] = bridge_lr if bridge_lr is not None else cfg.learning_rate
        if "loss_first" in figures:
            recipe["training loss (first → last logged)"] = \
                f"{figures['loss_first']:.4g} → {figures['loss_last']:.4g}"
        if "heldout_loss_after" in figures:
            before = figures.get("heldout_loss_before")
            recipe["held-out loss (before → after)"] = (f"{before:.4g} → " if before is not None else "") + \
                f"{figures['heldout_loss_after']:.4g}"
    else:
        recipe.update({"generations per prompt": figures.get("num_generations"),
                       "KL weight (beta)": figures.get("beta"), "temperature": figures.get("temperature"),
                       "max completion length": cfg.max_completion_length,
                       "reward weights": figures.get("reward_weights")})
        if "reward_first" in figures:
            recipe["training reward (first → last logged)"] = \
                f"{figures['reward_first']:.4g} → {figures['reward_last']:.4g}"
    return recipe


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _results(cfg, figures: dict):
    """The held-out results the stage measured (finite values only), or ``None``."""
    source = cfg.eval_file
    if figures["stage"] == "stage3_sft" and _finite(figures.get("heldout_loss_after")):
        return {"dataset": f"held-out set {source}", "dataset_type": "emocue", "split": "heldout",
                "metrics": {"heldout_loss": figures["heldout_loss_after"]},
                "notes": f"Mean answer-token loss over the {figures.get('heldout_samples', 'held-out')} held-out "
                         "samples after training (lower is better)."}
    after = figures.get("heldout_after") or {}
    metrics = {"reward" if k == "reward" else "reward_" + k.split("/")[1]: v for k, v in after.items()
               if _finite(v) and (k == "reward" or (k.startswith("rewards/") and k.endswith("/mean")))}
    if figures["stage"] == "stage4_grpo" and metrics:
        return {"dataset": f"held-out set {source}", "dataset_type": "emocue", "split": "heldout", "metrics": metrics,
                "notes": f"Mean rewards of completions sampled for the {figures.get('heldout_prompts')} held-out "
                         "prompts after training (TRL's evaluation): EmoCue-360 cue F1 per dimension, emotion match, "
                         "format/length."}
    return None


def write_stage_card(cfg, figures: dict) -> Path | None:
    """Write the card of ``figures["merged_dir"]`` (nothing when the stage saved no merged checkpoint)."""
    from hub_cards.model_card import (DEFAULT_INTENDED_USE, DEFAULT_LIMITATIONS, TINY_LIMITATIONS, tiny_backbones,
                                      write_model_card)

    merged = figures.get("merged_dir")
    if not merged:
        return None
    stage = figures["stage"]
    model_config = _read(Path(merged) / "config.json") or {}
    backbones = {k: v for k, v in (model_config.get("backbones") or {}).items() if k in ("vision", "audio", "text")}
    tiny = not backbones and (model_config.get("text_config") or {}).get("hidden_size", 1 << 30) <= 256
    bases = dict(backbones or tiny_backbones(tiny))
    if stage == "stage3_sft":
        vecb, aecb = bridge_folders(cfg.vecb), bridge_folders(cfg.aecb)
        bases.update(vecb=vecb[0] if vecb else None, aecb=aecb[0] if aecb else None, base_model=cfg.base_model)
        earlier = earlier_stages(*vecb, *aecb)
        own_count, own_modalities = figures.get("train_samples"), figures.get("train_modalities")
        heldout = figures.get("heldout_samples")
    else:
        bases["base_model"] = cfg.base_model
        earlier = earlier_stages(cfg.base_model)
        own_count, own_modalities = figures.get("train_prompts"), figures.get("train_modalities")
        heldout = figures.get("heldout_prompts")
    data = [*earlier, _data_row(stage, "training set", own_count, own_modalities, cfg.train_file)]
    if cfg.eval_file:
        data.append(_data_row(stage, "held-out set", heldout, None, cfg.eval_file))
    preset = "tiny" if tiny else ("paper" if backbones else "custom")
    limitations = DEFAULT_LIMITATIONS + "\n\n" + (TINY_LIMITATIONS if tiny else DATA_TERMS)
    return write_model_card(
        merged, model_name=f"XEmoGPT-{preset}, {STAGE_TITLES.get(stage, stage)}", base_models=bases,
        training_data=data, recipe=_recipe(cfg, figures, model_config), results=_results(cfg, figures),
        intended_use=TINY_INTENDED_USE if tiny else DEFAULT_INTENDED_USE, limitations=limitations,
        license="apache-2.0" if tiny else "unknown",
        source=f"trained by `training/{stage}.py` (output folder {cfg.output_dir})")
