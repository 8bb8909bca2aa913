r"""Stage 3 (paper §III-D3): emotional instruction fine-tuning with TRL's ``SFTTrainer`` and PEFT LoRA.

CLIP and HuBERT stay frozen; VECB and AECB start from the stage-1/2 outputs and are trained fully with both linear
projections; the LLM gets LoRA on q/k/v (paper: r=512, lr 1e-5, batch 8). Training mixes visual-only, audio-only and
multimodal instruction samples, each carrying its ``modality``: the model blocks gradients per sample (a visual
sample trains nothing in the audio branch and vice versa). The loss covers the answer tokens only.

    accelerate launch training/stage3_sft.py --config training/configs/stage3_paper.yaml
    # DeepSpeed ZeRO-3: --config_file training/configs/accelerate/multi_gpu_zero3.yaml (training/zero3.py)
    python -m training.stage3_sft --config training/configs/stage3_tiny.yaml \
        --vecb outputs/stage1_vecb_tiny --aecb outputs/stage2_aecb_tiny

Settings: :class:`~training.stage3_config.Stage3Config` (TRL's ``SFTConfig`` + XEmoGPT's fields; ``--help`` lists
them); ``run(config)`` trains in-process. Outputs in ``output_dir``: ``checkpoint-*`` every ``save_steps``
(safetensors; rerunning the command resumes from the last one, :mod:`training.resume`), ``adapter/`` (the PEFT
adapter, bridges and projections included), ``merged/`` (LoRA merged into the LLM: a full remote-code checkpoint with
the processor, loadable with ``AutoModel``/``AutoProcessor.from_pretrained(..., trust_remote_code=True)``; its
``generation_config.max_new_tokens`` covers the longest training answer), ``metrics.json`` (loss drop, held-out loss
before/after) and ``loss_history.json``. Records whose media cannot be used: ``on_bad_media``
(:mod:`training.bad_media`).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

if __name__ == "__main__" and not __package__:  # `accelerate launch training/stage3_sft.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "training"

import torch

from .bad_media import StageMedia
from .config_utils import ConfigError, parse_config
from .data.sample import sample_from_record
from .model_card import write_stage_card
from .adapter_outputs import answer_budget, output_dirs, save_adapter_and_merged
from .model_loading import build_base_model, build_processor, xemogpt_config
from .resume import prepare_output_dir
from .runtime import (
    apply_runtime,
    load_stage_records,
    logger,
    make_callbacks,
    print_figures,
    print_main,
    rank_info,
    stage_entry_point,
    write_run_summary,
)
from .stage3_config import BRIDGE_WORDS, Stage3Config
from .zero3 import check_feature_cache, full_numel, without_zero_init

STAGE = "stage3_sft"
BRANCHES = {
    "video": ("vecb", "video_projection"),
    "audio": ("aecb", "audio_projection"),
}


# ----------------------------------------------------------------------------------------------------------- data
def select_records(path, what, cfg, media: StageMedia | None = None, label_only: bool = False) -> list[dict]:
    """The validated records of ``path`` that the config keeps (``modalities``, ``max_*_samples``); with
    ``media``, the records whose media fail the up-front check are reported (or skipped). Label-only records
    (emotion, no description or cues) have no answer to imitate: left out (and counted) unless ``label_only``
    (stage 4 keeps them)."""
    records = load_stage_records(path, what, check_media=media is None)
    if not label_only:
        from .data.schema import is_label_only

        described = [r for r in records if not is_label_only(r)]
        if not described:
            raise ConfigError(f"{what} {str(path)!r} holds only label-only records (emotion, no description or cues): "
                              "instruction tuning needs descriptions; train stage 4 on them (training/stage4_grpo.py)")
        if len(described) < len(records):
            print(f"{what}: left out {len(records) - len(described)} label-only record(s) (emotion, no description; "
                  "stage 4 trains on them)", flush=True)
        records = described
    if cfg.modalities:
        records = [r for r in records if r["modality"] in cfg.modalities]
    limit = cfg.max_train_samples if what == "training set" else cfg.max_eval_samples
    if limit:
        records = records[: int(limit)]
    if media is not None:
        records = media.check(records, what, ("video", "audio"), bool(cfg.feed_all_media))
    return records


def build_samples(path, what, cfg, media: StageMedia | None = None) -> list[dict]:
    """The instruction samples of ``path`` (:mod:`training.data.sample`), as dicts for a ``datasets.Dataset``."""
    records = select_records(path, what, cfg, media)
    try:
        samples = [sample_from_record(r, feed_all_media=bool(cfg.feed_all_media),
                                      answer_format=cfg.answer_format, answer_field=cfg.answer_field)
                   for r in records]
    except ValueError as exc:
        raise ConfigError(f"{what}: {exc}") from None
    if not samples:
        raise ConfigError(f"{what} {str(path)!r} has no usable instruction sample")
    return [s.to_dict() for s in samples]


def cached_features(cfg, model, processor, sample_sets, state, rank, world, media: StageMedia | None = None):
    """Fill the frozen-feature cache for every video / audio file of ``sample_sets`` (training, held-out; each rank
    its share) and return the collator's :class:`~training.collators.CachedMediaFeatures`; ``None`` when
    ``cache_dir`` is null. Samples whose media fail to decode stop the run with their records, or (``media`` in
    ``skip`` mode) are removed from their list in place."""
    if not cfg.cache_dir:
        return None
    from processing_xemogpt.media import MediaError

    from .collators import CachedMediaFeatures
    from .feature_cache import FeatureCache, content_keys
    from .frozen_encoders import FrozenMediaEncoders

    encoders = FrozenMediaEncoders(cfg, device=state.device, model=model, processor=processor)
    caches, keys, failed = {}, {}, {}
    for kind, desc in (("video", "CLIP frame features"), ("audio", "HuBERT frames")):
        cache = caches[kind] = FeatureCache(cfg.cache_dir, getattr(encoders, f"{kind}_encoder_name"),
                                            dtype=cfg.cache_dtype)
        kind_keys, kind_failed = content_keys(sorted({s[kind] for samples in sample_sets for s in samples if s[kind]}))
        mine = [p for i, p in enumerate(kind_keys) if i % world == rank]
        stats = cache.fill(mine, [kind_keys[p] for p in mine], getattr(encoders, f"{kind}_features"),
                           batch_size=int(cfg.cache_batch_size), desc=f"{desc} (stage 3)",
                           load=getattr(encoders, f"load_{kind}"), num_workers=int(cfg.cache_num_workers),
                           disable_progress=not state.is_local_main_process, load_errors=(MediaError,))
        keys.update({(kind, p): k for p, k in kind_keys.items()})
        failed.update({(kind, p): m for p, m in [*kind_failed.items(), *stats["failed"]]})
    state.wait_for_everyone()
    missing = set(failed) | {(kind, p) for (kind, p), k in keys.items() if k not in caches[kind]}
    if missing:  # every rank sees every rank's failures: the entries are missing
        def media_of(sample):
            return [(kind, sample[kind]) for kind in ("video", "audio") if sample[kind]]

        media = media or StageMedia()
        for samples, what in zip(sample_sets, ("training set", "held-out set")):
            samples[:] = media.fill_failures(samples, media_of, failed, missing, what)
    return CachedMediaFeatures(caches["video"], caches["audio"], keep_in_memory=bool(cfg.cache_preload),
                               keys={path: k for (_, path), k in keys.items()})


def check_bridges(cfg: Stage3Config) -> dict:
    """The stage-1/2 folders (config.json + model.safetensors) that ``vecb`` / ``aecb`` name, or a clear error;
    ``random`` and ``off`` name none, and an unset bridge keeps ``base_model``'s."""
    found = {}
    for name, stage in (("vecb", "stage 1 (training/stage1_vecb.py)"), ("aecb", "stage 2 (training/stage2_aecb.py)")):
        path = getattr(cfg, name)
        if path in BRIDGE_WORDS:
            continue
        if not path:
            if cfg.base_model:
                continue  # the trained bridges of base_model (e.g. a converted release, a stage-3 checkpoint)
            raise ConfigError(
                f"{name} is not set: stage 3 starts {name.upper()} from the output of {stage}; pass --{name} DIR, "
                f"--base_model CHECKPOINT (its own bridges), --{name} random (random weights) or --{name} off "
                f"(no {name.upper()})"
            )
        p = Path(path)
        if not p.is_dir():
            raise ConfigError(f"{name} {str(path)!r} does not exist: run {stage} first, or fix the path")
        if not (p / "config.json").exists() or not any(p.glob("*.safetensors")):
            raise ConfigError(
                f"{name} {str(path)!r} holds no {name.upper()} weights (config.json + model.safetensors, "
                f"as written by {stage})"
            )
        found[name] = str(p)
    return found


# ------------------------------------------------------------------------------------------------------- trainer
def make_trainer_class():
    from transformers import Trainer
    from trl import SFTTrainer

    from modeling_xemogpt.modeling_xemogpt import loss_positions

    class XEmoGPTSFTTrainer(SFTTrainer):
        """``SFTTrainer`` whose loss is XEmoGPT's own forward (media scattered into the prompt, per-sample gradient
        blocking, cross-entropy on the answer tokens normalised by the batch's answer-token count), with the LM head
        run on the answer positions only (``logits_to_keep=loss_positions(labels)``).

        TRL 1.x computes the loss through a fused LM head that calls the backbone of a plain causal LM; XEmoGPT's
        forward must run instead (the placeholders are replaced by emotion tokens inside it), so ``compute_loss``
        goes back to ``transformers.Trainer.compute_loss`` and adds TRL's token-accuracy metric.
        """

        bridge_learning_rate: float | None = None

        def create_optimizer(self, model=None):
            """transformers' optimizer, with VECB's and AECB's parameters in groups of their own at
            ``bridge_learning_rate`` (the scheduler then scales every group alike)."""
            optimizer = super().create_optimizer(model) if model is not None else super().create_optimizer()
            if self.bridge_learning_rate is None:
                return optimizer
            bridge = {id(p) for n, p in self.model.named_parameters() if is_bridge_parameter(n)}
            groups = []
            for group in optimizer.param_groups:
                for members, lr in (([p for p in group["params"] if id(p) not in bridge], group["lr"]),
                                    ([p for p in group["params"] if id(p) in bridge], self.bridge_learning_rate)):
                    if members:
                        groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": members,
                                       "lr": lr})
            optimizer.param_groups = []
            for group in groups:
                optimizer.add_param_group(group)
            return optimizer

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            mode = "train" if self.model.training else "eval"
            inputs["use_cache"] = False
            labels = inputs.get("labels")
            # the LM head runs on the answer positions only (loss_positions: the same loss without the
            # [batch, length, vocab] logits); label smoothing and compute_loss_func read full logits
            answer_only = labels is not None and self.label_smoother is None and self.compute_loss_func is None
            if answer_only:
                inputs["logits_to_keep"] = loss_positions(labels)
            loss, outputs = Trainer.compute_loss(self, model, inputs, return_outputs=True,
                                                 num_items_in_batch=num_items_in_batch)
            if labels is not None and outputs.logits is not None:
                with torch.no_grad():
                    shift_labels = torch.nn.functional.pad(labels, (0, 1), value=-100)[:, 1:]
                    if answer_only:  # outputs.logits: [answer positions, vocab]
                        targets = shift_labels[inputs["logits_to_keep"]]
                        correct = (outputs.logits.argmax(-1) == targets).sum()
                        total = torch.tensor(targets.numel(), device=targets.device)
                    else:
                        mask = shift_labels != -100
                        correct = ((outputs.logits.argmax(-1) == shift_labels) & mask).sum()
                        total = mask.sum()
                    correct = self.accelerator.gather_for_metrics(correct).sum()
                    total = self.accelerator.gather_for_metrics(total).sum()
                    self._metrics[mode]["mean_token_accuracy"].append((correct / total).item() if total > 0 else 0.0)
            return (loss, outputs) if return_outputs else loss

    return XEmoGPTSFTTrainer


def is_bridge_parameter(name: str) -> bool:
    """Whether a (possibly PEFT-wrapped) parameter name belongs to VECB or AECB."""
    return any(part in ("vecb", "aecb") for part in name.split("."))


def make_branch_grad_callback(output_dir: str):
    """``record_branch_grads``: after each backward, the largest |grad| of the video and audio branches
    (VECB + video projection / AECB + audio projection) goes to ``branch_grads.json``."""
    from transformers import TrainerCallback

    class BranchGradCallback(TrainerCallback):
        def __init__(self):
            self.rows = []

        def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
            row = {"step": state.global_step + 1}
            for branch, prefixes in BRANCHES.items():
                grads, count = [], 0
                for name, p in model.named_parameters():
                    if not p.requires_grad or not any(f".{pre}." in f".{name}" for pre in prefixes):
                        continue
                    count += 1
                    if p.grad is not None:
                        grads.append(float(p.grad.detach().abs().max()))
                row[f"{branch}_max_abs_grad"] = max(grads) if grads else 0.0
                row[f"{branch}_params_with_grad"] = len(grads)
                row[f"{branch}_trainable_params"] = count
            self.rows.append(row)
            if state.is_world_process_zero:
                Path(output_dir).mkdir(parents=True, exist_ok=True)
                (Path(output_dir) / "branch_grads.json").write_text(json.dumps(self.rows, indent=1))

    return BranchGradCallback()


def lora_config(model, cfg):
    """The PEFT ``LoraConfig`` of ``cfg`` (``lora_r`` / ``lora_alpha`` / ``lora_dropout`` / ``lora_target_modules`` /
    ``lora_modules_to_save``; unset ones keep the model config's values, ``model.lora_config()``); stages 3 and 4
    build their adapters with it."""
    overrides = {k: v for k, v in {"r": cfg.lora_r, "lora_alpha": cfg.lora_alpha,
                                   "lora_dropout": cfg.lora_dropout}.items() if v is not None}
    if cfg.lora_target_modules:
        model.config.lora_target_modules = list(cfg.lora_target_modules)
    peft_config = model.lora_config(**overrides)
    if cfg.lora_modules_to_save:
        peft_config.modules_to_save = list(peft_config.modules_to_save or []) + list(cfg.lora_modules_to_save)
    return peft_config


def trainable_summary(model) -> dict:
    groups = {"lora": 0, "vecb": 0, "aecb": 0, "video_projection": 0, "audio_projection": 0, "frozen_towers": 0,
              "other_trainable": 0}
    for name, p in model.named_parameters():
        n = full_numel(p)  # (a parameter ZeRO-3 partitioned has numel 0 here)
        if "vision_tower" in name or "audio_tower" in name:
            groups["frozen_towers"] += n if not p.requires_grad else 0
            if p.requires_grad:
                raise RuntimeError(f"encoder parameter {name} is trainable; CLIP and HuBERT must stay frozen")
            continue
        if not p.requires_grad:
            continue
        for key in ("lora_", "vecb", "aecb", "video_projection", "audio_projection"):
            if key in name:
                groups["lora" if key == "lora_" else key] += n
                break
        else:
            groups["other_trainable"] += n
    return groups


# ----------------------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> dict:
    """``[--config FILE.yaml] [--field value ...]`` parsed into a :class:`Stage3Config`, then :func:`run`."""
    return run(parse_config(Stage3Config, argv))


def run(cfg: Stage3Config) -> dict:
    """Train in this process; returns the figures written to ``metrics.json`` (``adapter_dir`` and ``merged_dir``
    included)."""
    import datasets
    from transformers import set_seed

    from .collators import XEmoGPTSFTCollator
    from .metrics import loss_drop

    t0 = time.perf_counter()
    apply_runtime(cfg)
    state, rank, world = rank_info()
    out_dir = cfg.output_dir
    resume = prepare_output_dir(cfg, STAGE, state)
    media = StageMedia.from_config(cfg, STAGE, state.is_main_process)
    bridges = check_bridges(cfg)
    xemogpt_config(cfg)  # (a base_model that is no checkpoint: one line before the records are read)
    train_samples = build_samples(cfg.train_file, "training set", cfg, media)
    eval_samples = build_samples(cfg.eval_file, "held-out set", cfg, media) if cfg.eval_file else []
    check_feature_cache(cfg, STAGE)
    set_seed(cfg.seed)

    processor = build_processor(cfg)
    model = build_base_model(cfg, **cfg.bridge_switches())
    model.config.answer_format = cfg.answer_format  # saved with the adapter and the merged checkpoint
    if bridges:
        with without_zero_init():  # the stage-1/2 models whole, as the model they load into (training/zero3.py)
            model.load_bridges(vecb=bridges.get("vecb"), aecb=bridges.get("aecb"))
        print_main(state, f"[{STAGE}] bridges initialised from {bridges}")
    if any(getattr(cfg, name) is None for name in ("vecb", "aecb")) and cfg.base_model:
        print_main(state, f"[{STAGE}] unset bridges from base_model {cfg.base_model}")
    if "random" in (cfg.vecb, cfg.aecb):
        logger.warning("stage 3 starts %s from random weights",
                       " and ".join(n.upper() for n in ("vecb", "aecb") if getattr(cfg, n) == "random"))
    peft_config = lora_config(model, cfg)

    t_extract = time.perf_counter()
    features = cached_features(cfg, model, processor, (train_samples, eval_samples), state, rank, world, media)
    extract_seconds = time.perf_counter() - t_extract
    counts = {m: sum(s["modality"] == m for s in train_samples) for m in ("visual", "audio", "multimodal")}
    print_main(state, f"[{STAGE}] {len(train_samples)} training samples {counts}, {len(eval_samples)} held-out")
    train_ds = datasets.Dataset.from_list(train_samples)
    eval_ds = datasets.Dataset.from_list(eval_samples) if eval_samples else None
    collator = XEmoGPTSFTCollator(processor, max_length=cfg.max_length,
                                  media_memory_mb=float(cfg.media_memory_mb), features=features,
                                  guard=media.guard())
    callbacks = make_callbacks(out_dir, cfg.sleep_per_step)
    if cfg.record_branch_grads:
        callbacks.append(make_branch_grad_callback(out_dir))
    Trainer = make_trainer_class()
    Trainer.bridge_learning_rate = cfg.bridge_learning_rate
    trainer = Trainer(model=model, args=cfg, data_collator=collator, train_dataset=train_ds, eval_dataset=eval_ds,
                      processing_class=processor, peft_config=peft_config, callbacks=callbacks)
    summary = trainable_summary(trainer.model)
    print_main(state, f"[{STAGE}] trainable parameters: {summary}")

    figures = {"stage": STAGE, "train_samples": len(train_samples), "train_modalities": counts, "world_size": world,
               "trainable_parameters": summary, "feature_extraction_s": extract_seconds}
    do_eval = eval_ds is not None and cfg.loss_before_after
    if do_eval:
        figures["heldout_samples"] = len(eval_samples)
    if do_eval and not resume:
        figures["heldout_loss_before"] = float(trainer.evaluate()["eval_loss"])
    result = trainer.train(resume_from_checkpoint=resume)
    figures["train_runtime_s"] = float(result.metrics.get("train_runtime", 0.0))
    if do_eval:
        figures["heldout_loss_after"] = float(trainer.evaluate()["eval_loss"])
    figures.update(loss_drop(trainer.state.log_history))

    adapter_dir, merged_dir = output_dirs(cfg)

    def fresh_base():  # ZeRO-3: the model to merge into, built again whole (its frozen weights did not change)
        base = build_base_model(cfg, **cfg.bridge_switches())
        base.config.answer_format = cfg.answer_format
        return base

    save_adapter_and_merged(trainer, processor, state, adapter_dir, merged_dir, fresh_base,
                            answer_budget(processor, train_samples))
    merged_dir = merged_dir if state.is_main_process else None
    figures["adapter_dir"] = adapter_dir
    figures["merged_dir"] = merged_dir
    figures["wall_time_s"] = time.perf_counter() - t0
    figures["global_step"] = int(trainer.state.global_step)
    if state.is_main_process:
        write_run_summary(out_dir, figures, trainer)
        write_stage_card(cfg, figures)  # merged/README.md
        print_figures(figures)
    return figures


if __name__ == "__main__":
    stage_entry_point(main)
