"""The run of a bridge pretraining stage, shared by stage 1 (VECB, eq.7) and stage 2 (AECB, eq.6/8).

Both stages do the same thing with a different modality: load records with that medium, fill the frozen-feature
and caption-embedding caches, train the ``*ForPretraining`` model with the transformers ``Trainer``, save it, and
report held-out media→caption retrieval. A :class:`BridgeStage` names the modality-specific pieces.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from transformers import TrainingArguments
from transformers.trainer_utils import SchedulerType

from .bad_media import StageMedia
from .config_utils import ConfigError
from .data.media_check import MediaGuard
from .data.sample import caption_text
from .feature_cache import CachedDataset, FeatureCache, content_keys
from .frozen_encoders import FrozenMediaEncoders
from .resume import prepare_output_dir
from .runtime import (
    apply_runtime,
    load_stage_records,
    make_callbacks,
    print_figures,
    print_main,
    rank_info,
    weights_hash,
    write_run_summary,
)
from .stage_arguments import StageArguments, described, prepare_stage_config
from .text_encoders import extract_text_embeddings


@dataclass(frozen=True)
class BridgeStage:
    name: str  # "stage1_vecb"
    medium: str  # "video" | "audio": names the retrieval figures ("heldout_video_to_text_r1", ...)
    feature_field: str  # the model's input name for the cached features
    text_dim_attr: str  # XEmoGPTConfig field that receives the caption-embedding width
    model_class: type  # VECBForPretraining | AECBForPretraining
    media_path: Callable  # record -> the file whose frozen features are cached (None: the record has no such medium)
    media_phrase: str  # "a video" | "audio", for the error when a dataset has none
    feature_desc: str  # progress-bar label of the feature extraction
    pack_features: Callable  # per-clip feature tensors -> the model's feature inputs (stacked, or padded + mask)
    feed_all_media: bool  # media_path's rule (training.data.sample.audio_source): visual records' audio counts or not


@dataclass
class BridgeStageConfig(StageArguments, TrainingArguments):
    """The settings of a bridge pretraining stage (``Stage1Config``, ``Stage2Config``): the stage's own (model, data,
    cache, caption encoder) and transformers' ``TrainingArguments``, with the paper's defaults (§VI-A)."""

    text_encoder: str = described("the frozen caption encoder: clip:ID, sentence-transformers:ID or "
                                  "sentence-transformers:minilm-offline", "clip:openai/clip-vit-large-patch14")
    encoder_device: str | None = described("device of the frozen encoders while filling the caches (default: the "
                                           "process's)")
    caption: str = described("the record text a clip is paired with: a field (short_caption, description), "
                             "cues.visual, cues.audio, or several joined with +", "short_caption")
    cache_enabled: bool = described("false: decode and encode every clip at every step (the naive way, for the "
                                    "benchmark)", True)
    init_from: str | None = described("a stage-1/2 output to go on from (e.g. a converted release's stage1_vecb/), "
                                      "else fresh weights")
    torch_dtype: str | None = described("dtype of the frozen towers for the feature extraction (null: float32)",
                                        "bfloat16")
    remove_unused_columns: bool | None = described("TrainingArguments.remove_unused_columns", False)
    save_steps: float = described("save a checkpoint every N steps", 1000)
    save_total_limit: int | None = described("checkpoints kept", 3)
    logging_steps: float = described("log every N steps", 50)
    lr_scheduler_type: SchedulerType | str = described("learning-rate schedule", "cosine")
    warmup_steps: float = described("warm-up steps", 500)
    weight_decay: float = described("weight decay", 0.01)
    learning_rate: float = described("the paper's learning rate of stages 1 and 2", 3e-4)
    num_train_epochs: float = described("the paper's epochs of stages 1 and 2", 30)
    bf16: bool | None = described("bf16 mixed precision (the paper's)", True)
    dataloader_num_workers: int = described("data-loading workers", 4)

    def __post_init__(self):
        prepare_stage_config(self)
        super().__post_init__()


def initial_model(stage: BridgeStage, config, init_from: str | None):
    """The ``*ForPretraining`` model a bridge stage starts from: fresh from ``config``, or the weights of an earlier
    stage-1/2 output (``init_from``) whose bridge and caption width fit this run's model and text encoder."""
    if not init_from:
        return stage.model_class(config)
    path = Path(init_from)
    if not (path / "config.json").is_file():
        raise ConfigError(f"init_from {str(path)!r} is not a {stage.name} output (no config.json)")
    saved = type(config).from_pretrained(str(path))
    keys = ("bridge_layer_type", "bridge_num_layers", stage.text_dim_attr)
    differ = [f"{k} {getattr(saved, k)!r} there, {getattr(config, k)!r} here" for k in keys
              if getattr(saved, k) != getattr(config, k)]
    if differ:
        raise ConfigError(f"init_from {str(path)!r} does not fit this run ({'; '.join(differ)}): the text encoder and "
                          "the model must be the ones it was trained with")
    return stage.model_class.from_pretrained(str(path), config=config)


class OnTheFlyDataset(torch.utils.data.Dataset):
    """``cache.enabled: false``: decode and encode every clip at every step (the naive way; for the benchmark)."""

    def __init__(self, paths, tcache, tkeys, ids):
        self.paths, self.tcache, self.tkeys, self.ids = paths, tcache, tkeys, ids

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return {"media_path": self.paths[i], "record_id": self.ids[i],
                "text_embeds": self.tcache.get(self.tkeys[i])["embedding"].float()}


def make_bridge_collator(stage: BridgeStage, encoders: FrozenMediaEncoders | None = None,
                         guard: MediaGuard | None = None):
    """The collate function of a bridge stage's rows: cached features (:class:`CachedDataset`) or, with ``encoders``,
    the clips of :class:`OnTheFlyDataset` rows decoded and encoded here."""

    def collate(rows):
        if stage.feature_field in rows[0]:
            feats = [r[stage.feature_field] for r in rows]
        else:  # on the fly; a clip that fails to decode: one line naming its record, or dropped (data.on_bad_media)
            load = getattr(encoders, f"load_{stage.medium}")
            loaded = (guard or MediaGuard()).load(rows, lambda r: (r["record_id"], [(stage.medium, r["media_path"])]),
                                                  lambda kind, path: load(path))
            rows = [r for r, _ in loaded]
            encode = getattr(encoders, f"{stage.medium}_features")
            feats = [f["features"] for f in encode([m[stage.medium] for _, m in loaded])]
        return {**stage.pack_features(feats), "text_embeds": torch.stack([r["text_embeds"] for r in rows])}

    return collate


def bridge_records(stage: BridgeStage, path, what: str, limit=None, caption_spec: str = "short_caption",
                   media: StageMedia | None = None):
    """The records of ``path`` that have the stage's medium (the first ``limit``) and their captions; with
    ``media``, the records whose media fail the up-front check are reported (or skipped)."""
    from .data.schema import is_label_only

    records = load_stage_records(path, what, check_media=media is None)
    if media is not None:
        records = media.check(records, what, (stage.medium,), stage.feed_all_media)
    # a label-only record (emotion, no description or cues) has a caption only when the spec takes the emotion
    records = [r for r in records if stage.media_path(r) and ("emotion" in caption_spec or not is_label_only(r))]
    if limit:
        records = records[: int(limit)]
    if not records:
        raise ConfigError(f"{what} {str(path)!r} has no record with {stage.media_phrase}")
    try:
        captions = [caption_text(r, caption_spec) for r in records]
    except ValueError as exc:
        raise ConfigError(f"caption: {exc}") from None
    return records, captions


def make_bridge_trainer_class():
    """A ``transformers.Trainer`` that also logs the sub-losses a bridge model returns (eq.7's three terms)."""
    from transformers import Trainer

    class BridgeTrainer(Trainer):
        SUB_LOSSES = ("loss_contrastive", "loss_temporal", "loss_mfm")

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._sub_losses: dict[str, list[float]] = {}

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            outputs = model(**inputs)
            loss = outputs["loss"]
            if model.training:
                for name in self.SUB_LOSSES:
                    value = outputs.get(name) if hasattr(outputs, "get") else None
                    if value is not None:
                        self._sub_losses.setdefault(name, []).append(float(value))
            return (loss, outputs) if return_outputs else loss

        def log(self, logs, start_time=None):
            if "loss" in logs and self._sub_losses:
                for name, values in self._sub_losses.items():
                    logs[name] = round(sum(values) / len(values), 6)
                self._sub_losses = {}
            return super().log(logs, start_time)

    return BridgeTrainer


def prepare_features(cfg, encoders: FrozenMediaEncoders, stage: BridgeStage, media: StageMedia, records, captions,
                     state, rank, world, what="training set", extract: bool = True):
    """Fill the media-feature cache for ``records`` (each rank extracts its share; a clip that fails to decode is
    reported or skipped as ``data.on_bad_media`` says) and the caption-embedding cache, then return ``(records,
    captions, media cache, media keys, text cache, text keys, text dim)`` of the records kept."""
    from processing_xemogpt.media import MediaError

    cache = FeatureCache(cfg.cache_dir, getattr(encoders, f"{stage.medium}_encoder_name"), dtype=cfg.cache_dtype)
    paths = [stage.media_path(r) for r in records]
    keys, failed = content_keys(paths)
    if extract:
        mine = [p for i, p in enumerate(keys) if i % world == rank]
        stats = cache.fill(
            mine, [keys[p] for p in mine], getattr(encoders, f"{stage.medium}_features"),
            batch_size=int(cfg.cache_batch_size), desc=f"{stage.feature_desc} ({what})",
            load=getattr(encoders, f"load_{stage.medium}"), num_workers=int(cfg.cache_num_workers),
            disable_progress=not state.is_local_main_process, load_errors=(MediaError,),
        )
        failed.update(stats["failed"])
        state.wait_for_everyone()
    missing = set(failed) | ({p for p, k in keys.items() if k not in cache} if extract else set())
    if missing:  # every rank sees every rank's failures: the entries are missing
        kind = stage.medium
        kept = media.fill_failures(records, lambda r: [(kind, stage.media_path(r))],
                                   {(kind, p): m for p, m in failed.items()}, {(kind, p) for p in missing}, what)
        kept = {r["id"] for r in kept}
        captions = [c for r, c in zip(records, captions) if r["id"] in kept]
        records = [r for r in records if r["id"] in kept]
    tcache, tkeys, tdim = extract_text_embeddings(
        cfg.text_encoder, captions, cfg.cache_dir, encoders.device, int(cfg.cache_batch_size), cfg.cache_dtype,
        rank, world, disable_progress=not state.is_local_main_process,
    )
    state.wait_for_everyone()
    return records, captions, cache, [keys[stage.media_path(r)] for r in records], tcache, tkeys, tdim


def run_bridge_stage(cfg: BridgeStageConfig, stage: BridgeStage) -> dict:
    from transformers import set_seed

    from .metrics import embed_pairs, loss_drop, retrieval_metrics

    t0 = time.perf_counter()
    apply_runtime(cfg)
    state, rank, world = rank_info()
    out_dir = cfg.output_dir
    resume = prepare_output_dir(cfg, stage.name, state)
    media = StageMedia.from_config(cfg, stage.name, state.is_main_process)
    device = cfg.encoder_device or state.device
    train_records, train_captions = bridge_records(stage, cfg.train_file, "training set", cfg.max_train_samples,
                                                   cfg.caption, media)
    eval_records, eval_captions = ([], [])
    if cfg.eval_file:
        eval_records, eval_captions = bridge_records(stage, cfg.eval_file, "held-out set", cfg.max_eval_samples,
                                                     cfg.caption, media)
    encoders = FrozenMediaEncoders(cfg, device=device)
    bridge = {"video": "vecb", "audio": "aecb"}[stage.medium]
    if not getattr(encoders.config, f"use_{bridge}"):
        raise ConfigError(f"the base model has no {bridge.upper()} (use_{bridge}: false), so there is nothing to "
                          f"train in {stage.name}")
    print_main(state, f"[{stage.name}] {len(train_records)} training clips, {len(eval_records)} held-out clips; "
                      f"frozen features cached under {cfg.cache_dir}")
    t_extract = time.perf_counter()
    train_records, train_captions, mcache, mkeys, tcache, tkeys, tdim = prepare_features(
        cfg, encoders, stage, media, train_records, train_captions, state, rank, world, "training set",
        extract=bool(cfg.cache_enabled))
    extract_seconds = time.perf_counter() - t_extract
    if cfg.cache_enabled:
        train_ds = CachedDataset(
            {stage.feature_field: (mcache, mkeys, "features"), "text_embeds": (tcache, tkeys, "embedding")},
            preload=bool(cfg.cache_preload),
        )
        collator = make_bridge_collator(stage)
    else:
        train_ds = OnTheFlyDataset([stage.media_path(r) for r in train_records], tcache, tkeys,
                                   [r["id"] for r in train_records])
        collator = make_bridge_collator(stage, encoders, media.guard())

    args = cfg
    set_seed(args.seed)
    config = encoders.config
    setattr(config, stage.text_dim_attr, tdim)
    model = initial_model(stage, config, cfg.init_from)
    Trainer = make_bridge_trainer_class()
    trainer = Trainer(model=model, args=args, train_dataset=train_ds, data_collator=collator,
                      callbacks=make_callbacks(out_dir, cfg.sleep_per_step))
    train_result = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(out_dir)  # the *ForPretraining model: config.json + model.safetensors (rank 0 writes)
    unwrapped = trainer.accelerator.unwrap_model(trainer.model)
    fingerprint = weights_hash(unwrapped)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    (Path(out_dir) / f"weights_fingerprint_rank{rank}.txt").write_text(fingerprint + "\n")

    figures = {"stage": stage.name, "output_dir": out_dir, "train_clips": len(train_records), "world_size": world,
               "train_runtime_s": float(train_result.metrics.get("train_runtime", 0.0)),
               "feature_extraction_s": extract_seconds, "weights_fingerprint": fingerprint}
    figures.update(loss_drop(trainer.state.log_history))
    if eval_records:
        eval_records, eval_captions, ev_mcache, ev_mkeys, ev_tcache, ev_tkeys, _ = prepare_features(
            cfg, encoders, stage, media, eval_records, eval_captions, state, rank, world, "held-out set")
        if state.is_main_process:
            eval_ds = CachedDataset({stage.feature_field: (ev_mcache, ev_mkeys, "features"),
                                     "text_embeds": (ev_tcache, ev_tkeys, "embedding")}, preload=True)
            media, text = embed_pairs(unwrapped, eval_ds, make_bridge_collator(stage), f"{stage.medium}_embeds",
                                      device=unwrapped.device)
            ret = retrieval_metrics(media, text, eval_captions)
            figures.update({f"heldout_{stage.medium}_to_text_{k}": v for k, v in ret.items()})
    figures["wall_time_s"] = time.perf_counter() - t0
    figures["global_step"] = int(trainer.state.global_step)
    if state.is_main_process:
        write_run_summary(out_dir, figures, trainer)
        print_figures(figures)
    state.wait_for_everyone()
    return figures
