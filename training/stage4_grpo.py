r"""Stage 4: reinforcement learning with cue-level rewards — GRPO (TRL's ``GRPOTrainer``) from the stage-3 model.

The policy is the stage-3 checkpoint (``merged/``, a plain XEmoGPT) with a fresh PEFT LoRA adapter (the ``lora_*``
settings, as in stage 3; bridges and projections are trained in full by default); the reference model is the stage-3
weights themselves (TRL computes reference log-probabilities with the adapter disabled). Each EmoCue record becomes a
prompt (video, audio, subtitle and the instruction of its modality; no answer); TRL samples ``num_generations``
completions per prompt with the model's KV-cached ``generate``, scores them with the cue-level rewards of
:mod:`training.rewards` (EmoCue-360 cue F1 per dimension, emotion match, format/length), normalises the rewards within
each group and takes clipped policy-gradient steps with a KL penalty ``beta`` towards the reference. Label-only
records (an ``emotion``, no description or cues: DFEW / MAFW / MER label files, ``xemogpt data build --label-only``)
are prompts like any other; only the emotion and format/length rewards apply to them (the cue rewards have no
reference there), and ``label_set`` folds labels and answers into one label set (:mod:`training.data.labels`).
The video and audio path on top of TRL is :mod:`training.grpo_trainer`: frozen CLIP / HuBERT features come from the
feature cache of stages 1-3 (``cache_dir``), and every log-probability is computed with the rows' media.

    python -m training.stage4_grpo --config training/configs/stage4_tiny.yaml \
        --base_model outputs/stage3_sft_tiny/merged
    accelerate launch --config_file training/configs/accelerate/multi_gpu_zero2.yaml training/stage4_grpo.py \
        --config training/configs/stage4_paper.yaml
    # DeepSpeed ZeRO-3: multi_gpu_zero3.yaml (GPUs) or cpu_2proc_zero3.yaml (2 CPU processes); training/zero3.py

Settings: :class:`~training.stage4_config.Stage4Config`, every TRL ``GRPOConfig`` field (``beta``,
``num_generations``, ``temperature``, ``max_completion_length``, ``loss_type``, ...) and XEmoGPT's own; ``rewards``
weighs each reward (``null`` leaves one out, ``0`` logs it without training on it); ``reward_encoder``,
``min_words`` and ``max_words`` set the cue encoder and the format/length bounds. Generation runs on
transformers' ``generate``: ``use_vllm`` and ``use_transformers_continuous_batching`` are refused (docs/training.md).

Outputs in ``output_dir``: ``checkpoint-*`` every ``save_steps`` (``--resume_from_checkpoint PATH|auto``),
``adapter/``, ``merged/`` (LoRA merged: a remote-code checkpoint with its processor), ``metrics.json`` (reward of the
first / last logged steps per reward, held-out reward before / after with ``reward_before_after``),
``loss_history.json`` (every logged step: loss, KL, each reward's mean and std, completion lengths).
"""

from __future__ import annotations

import copy
import dataclasses
import sys
import time
from pathlib import Path

if __name__ == "__main__" and not __package__:  # `accelerate launch training/stage4_grpo.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "training"

from .config_utils import ConfigError, parse_config, save_config
from .data.sample import sample_from_record
from .data.schema import is_label_only
from .model_card import write_stage_card
from .model_loading import build_base_model, build_processor
from .rewards import build_reward_functions
from .runtime import (
    apply_runtime,
    make_callbacks,
    print_figures,
    print_main,
    rank_info,
    resolve_resume,
    stage_entry_point,
    write_run_summary,
)
from .adapter_outputs import output_dirs, save_adapter_and_merged
from .stage3_sft import cached_features, lora_config, select_records, trainable_summary
from .stage4_config import Stage4Config
from .zero3 import check_feature_cache

STAGE = "stage4_grpo"


# ----------------------------------------------------------------------------------------------------------- data
def build_prompts(path, what, cfg, processor) -> list[dict]:
    """One prompt row per record: the prompt-only EmoCue sample (media, subtitle, instruction of the answer format),
    its rendered ``prompt`` (for logs; the trainer tokenises with the media), and what the rewards read (``cues``,
    ``description``, ``emotion``). Label-only records (emotion, no description or cues) are prompts like any other;
    their labels must be known to the label tables (:mod:`training.data.labels`)."""
    from .data.labels import LabelError, check_labels

    rows = []
    records = select_records(path, what, cfg, label_only=True)
    try:
        check_labels(records, cfg.label_set, where=f"{what} {str(path)!r}")
    except LabelError as exc:
        raise ConfigError(str(exc)) from None
    for record in records:
        try:
            sample = sample_from_record(record, feed_all_media=bool(cfg.feed_all_media),
                                        answer_format=cfg.answer_format, answer_field=cfg.answer_field)
        except ValueError as exc:
            raise ConfigError(f"{what}: {exc}") from None
        sample = dataclasses.replace(sample, answer=None)
        cues = record.get("cues") or {}
        rows.append({**sample.to_dict(), "cues": {d: list(cues.get(d) or []) for d in ("visual", "audio", "global")},
                     "description": record.get(cfg.answer_field) or record.get("description") or "",
                     "emotion": record.get("emotion") or ""})
    if not rows:
        raise ConfigError(f"{what} {str(path)!r} has no usable prompt")
    texts = processor.apply_chat_template([_messages(r, processor) for r in rows], add_generation_prompt=True,
                                          tokenize=False)
    return [{**r, "prompt": t} for r, t in zip(rows, texts)]


def _messages(row: dict, processor=None) -> list[dict]:
    from .grpo_trainer import rollout_sample

    return rollout_sample(row).messages(with_answer=False, processor=processor)


# ------------------------------------------------------------------------------------------------------- checks
def check_config(cfg: Stage4Config) -> None:
    base = cfg.base_model
    if not base:
        raise ConfigError("base_model is not set: stage 4 starts from the stage-3 checkpoint; pass "
                          "--base_model DIR (the merged/ folder training/stage3_sft.py writes)")
    if not (Path(base) / "config.json").is_file():
        raise ConfigError(f"base_model {str(base)!r} is not an XEmoGPT checkpoint folder (no config.json); "
                          "give the merged/ folder of a stage-3 run")


def suppressed_tokens(model, tokenizer, eos_token_ids) -> list[int]:
    """Tokens a completion never contains: the media placeholders and the chat markers (all special tokens but the
    end-of-turn / end-of-sequence ones)."""
    special = set(tokenizer.all_special_ids) | {model.config.video_token_id, model.config.audio_token_id}
    return sorted(special - set(eos_token_ids))


def reward_summary(history: list[dict], names: list[str], window: int = 5) -> dict:
    """Mean of each reward (and of the weighted total) over the first and the last ``window`` logged steps."""
    out = {}
    for key in ["reward", *(f"rewards/{n}/mean" for n in names)]:
        values = [h[key] for h in history if isinstance(h.get(key), (int, float)) and "step" in h]
        if values:
            w = max(1, min(window, len(values) // 2 or 1))
            name = key.replace("rewards/", "reward_").replace("/mean", "")
            out[f"{name}_first"] = sum(values[:w]) / w
            out[f"{name}_last"] = sum(values[-w:]) / w
    return out


# ----------------------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> dict:
    """``[--config FILE.yaml] [--field value ...]`` parsed into a :class:`Stage4Config`, then :func:`run`."""
    return run(parse_config(Stage4Config, argv))


def build_trainer(cfg, state, rank: int = 0, world: int = 1):
    """``(trainer, processor, figures)``: the stage-4 trainer of ``cfg`` (prompts, policy with its LoRA adapter,
    rewards, feature cache), the processor of the base checkpoint and the figures known before training."""
    import datasets
    from transformers import set_seed

    from .collators import XEmoGPTSFTCollator
    from .grpo_trainer import make_grpo_trainer_class

    check_config(cfg)
    processor = build_processor(cfg)
    train_rows = build_prompts(cfg.train_file, "training set", cfg, processor)
    eval_rows = build_prompts(cfg.eval_file, "held-out set", cfg, processor) if cfg.eval_file else []
    counts = {m: sum(r["modality"] == m for r in train_rows) for m in ("visual", "audio", "multimodal")}
    label_only = sum(is_label_only(r) for r in train_rows)
    print_main(state, f"[{STAGE}] {len(train_rows)} training prompts {counts} ({label_only} label-only), "
                      f"{len(eval_rows)} held-out")

    model = build_base_model(cfg)
    tokenizer = processor.tokenizer
    eos_ids = sorted({processor.end_of_turn_id, tokenizer.eos_token_id} - {None})
    try:
        reward_funcs, reward_weights = build_reward_functions(
            cfg.reward_weights_by_name(), encoder=cfg.reward_encoder, eos_token_ids=eos_ids,
            min_words=int(cfg.min_words), max_words=int(cfg.max_words), answer_format=cfg.answer_format,
            label_set=cfg.label_set)
    except ValueError as exc:
        raise ConfigError(f"rewards: {exc}") from None
    args = copy.copy(cfg)  # the trainer's arguments: the config with what the run derives (the config stays as given)
    args.reward_weights = reward_weights
    args.generation_kwargs = {**(cfg.generation_kwargs or {}),
                              "suppress_tokens": suppressed_tokens(model, tokenizer, eos_ids), "eos_token_id": eos_ids}
    check_feature_cache(cfg, STAGE)
    set_seed(args.seed)
    peft_config = lora_config(model, cfg)

    t_extract = time.perf_counter()
    features = cached_features(cfg, model, processor, (train_rows, eval_rows), state, rank, world)
    extract_seconds = time.perf_counter() - t_extract
    prompt_encoder = XEmoGPTSFTCollator(processor, media_memory_mb=float(cfg.media_memory_mb), features=features)
    trainer = make_grpo_trainer_class()(
        model=model, reward_funcs=reward_funcs, args=args, train_dataset=datasets.Dataset.from_list(train_rows),
        eval_dataset=datasets.Dataset.from_list(eval_rows) if eval_rows else None, processing_class=tokenizer,
        peft_config=peft_config, callbacks=make_callbacks(cfg.output_dir, cfg.sleep_per_step),
        prompt_encoder=prompt_encoder)
    figures = {"stage": STAGE, "train_prompts": len(train_rows), "train_modalities": counts, "world_size": world,
               "train_label_only": label_only,
               "trainable_parameters": trainable_summary(trainer.model), "feature_extraction_s": extract_seconds,
               "reward_weights": dict(zip(trainer.reward_func_names, reward_weights)),
               "num_generations": args.num_generations, "beta": args.beta, "temperature": args.temperature,
               "heldout_prompts": len(eval_rows)}
    print_main(state, f"[{STAGE}] trainable parameters: {figures['trainable_parameters']}; rewards "
                      f"{figures['reward_weights']}")
    return trainer, processor, figures


def run(cfg: Stage4Config) -> dict:
    """Train in this process; returns the figures written to ``metrics.json`` (``adapter_dir`` and ``merged_dir``
    included)."""
    t0 = time.perf_counter()
    apply_runtime(cfg)
    state, rank, world = rank_info()
    out_dir = cfg.output_dir
    resume = resolve_resume(cfg.resume_from_checkpoint, out_dir)
    trainer, processor, figures = build_trainer(cfg, state, rank, world)
    if state.is_main_process:
        save_config(cfg, Path(out_dir) / "stage_config.yaml")
    do_eval = figures["heldout_prompts"] > 0 and cfg.reward_before_after
    if do_eval and not resume:
        figures["heldout_before"] = heldout_rewards(trainer)
    if resume:
        print_main(state, f"[{STAGE}] resuming from {resume}")
    result = trainer.train(resume_from_checkpoint=resume)
    figures["train_runtime_s"] = float(result.metrics.get("train_runtime", 0.0))
    if do_eval:
        figures["heldout_after"] = heldout_rewards(trainer)
    figures.update(reward_summary(trainer.state.log_history, trainer.reward_func_names))

    adapter_dir, merged_dir = output_dirs(cfg)
    save_adapter_and_merged(trainer, processor, state, adapter_dir, merged_dir, lambda: build_base_model(cfg))
    merged_dir = merged_dir if state.is_main_process else None
    if cfg.weights_fingerprint:
        from .runtime import weights_hash
        from .zero3 import gathered

        model = trainer.accelerator.unwrap_model(trainer.model)
        with gathered(model):  # ZeRO-3: every rank hashes the whole weights, not its slice
            figures["weights_fingerprint"] = weights_hash(model)
        (Path(out_dir) / f"weights_fingerprint_rank{rank}.txt").write_text(figures["weights_fingerprint"] + "\n")
    figures.update(adapter_dir=adapter_dir, merged_dir=merged_dir, wall_time_s=time.perf_counter() - t0,
                   global_step=int(trainer.state.global_step))
    if state.is_main_process:
        write_run_summary(out_dir, figures, trainer)
        write_stage_card(cfg, figures)  # merged/README.md
        print_figures(figures)
        for key in [k for k in figures if k.startswith("reward") and k.endswith("_first")]:
            print(f"  {key[:-6]}: {figures[key]:.3f} -> {figures[key[:-6] + '_last']:.3f} (first / last logged steps)")
    return figures


def heldout_rewards(trainer) -> dict:
    """The held-out prompts' mean rewards (TRL's evaluation: sampled groups, scored by every reward)."""
    metrics = trainer.evaluate()
    return {k[len("eval_"):]: v for k, v in metrics.items()
            if k.startswith("eval_reward") and isinstance(v, (int, float))}


if __name__ == "__main__":
    stage_entry_point(main)
