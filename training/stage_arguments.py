"""The settings every stage config shares, as dataclass mixins: which XEmoGPT the stage builds, its data files, the
frozen-feature cache and the process (threads, resume). ``Stage1Config`` … ``Stage4Config`` combine them with their
trainer's arguments class; :func:`prepare_stage_config` is the shared part of their ``__post_init__``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .config_utils import ConfigError, json_mapping

BRIDGE_SWITCHES = ("use_vecb", "use_aecb")


def described(text: str, default=None, **kwargs):
    """A dataclass field with its ``--help`` text (``default_factory=`` instead of ``default`` for mutable ones)."""
    if "default_factory" not in kwargs:
        kwargs["default"] = default
    return field(metadata={"help": text}, **kwargs)


@dataclass
class ModelArguments:
    """Which XEmoGPT (preset or checkpoint) the stage builds, and its frozen towers."""

    preset: Literal["paper", "tiny"] = described(
        "model preset: paper (CLIP ViT-L/14, chinese-hubert-large, Qwen3-4B) or tiny (random, offline)", "paper")
    model_seed: int = described("tiny preset: its random backbones are built after torch.manual_seed(model_seed)", 0)
    base_model: str | None = described("an XEmoGPT checkpoint folder; its towers (and bridges) replace the preset's")
    config_overrides: dict | str | None = described(
        "XEmoGPTConfig overrides, e.g. {vision_feature_select: patch_mean} (JSON on the command line); the bridges "
        "are switched by --vecb/--aecb (stage 3), not here", default_factory=dict)
    torch_dtype: str | None = described("dtype of the frozen towers, e.g. bfloat16 for the paper preset on GPU")


@dataclass
class DataArguments:
    train_file: str | None = described("training EmoCue records (JSONL/JSON/CSV/parquet, a folder or a saved dataset)")
    eval_file: str | None = described("held-out EmoCue records (null: none)")
    max_train_samples: int | None = described("use the first N training records only")
    max_eval_samples: int | None = described("use the first N held-out records only")
    on_bad_media: Literal["error", "skip"] = described(
        "records whose media cannot be used: error (stop, listing them) or skip (leave them out, "
        "skipped_media.jsonl)", "error")


@dataclass
class CacheArguments:
    """The on-disk cache of frozen CLIP/HuBERT features that stages 1-4 share."""

    cache_dir: str | None = described("frozen-feature cache folder (null: re-encode media every step)",
                                      ".cache/xemogpt-features")
    cache_batch_size: int = described("clips per batch while filling the cache", 64)
    cache_num_workers: int = described("media decoding workers while filling the cache", 8)
    cache_dtype: Literal["float32", "float16", "bfloat16"] = described("dtype of the cached features", "float16")
    cache_preload: bool = described("hold every cached entry in memory (false: read them per batch)", False)


@dataclass
class RunArguments:
    torch_threads: int | None = described("intra-op threads of torch (tiny models on a small CPU: 1)")
    sleep_per_step: float = described("debugging: seconds to sleep after each step (the kill-and-resume test)", 0.0)
    overwrite: bool = described("remove an earlier run's checkpoints and outputs in output_dir instead of resuming",
                                False)


@dataclass
class StageArguments(ModelArguments, DataArguments, CacheArguments, RunArguments):
    """Every stage's own settings (the trainer's arguments come from its ``TrainingArguments`` class)."""


def prepare_stage_config(config) -> None:
    """The checks and normalisation every stage config runs before its trainer arguments' ``__post_init__``: the
    ``config_overrides`` mapping, the bridge switches kept out of it, and the process setup that must precede the
    ``TrainingArguments`` device initialisation (:func:`training.runtime.rank_info`)."""
    import torch

    from .engines import default_ddp_backend
    from .runtime import rank_info

    config.config_overrides = json_mapping(config.config_overrides, "config_overrides")
    switched = [k for k in BRIDGE_SWITCHES if k in config.config_overrides]
    if switched:
        raise ConfigError(f"config_overrides sets {switched[0]}: a bridge is used iff its weights are given; use "
                          f"--{switched[0][4:]} off (stage 3) instead")
    rank_info()  # the process group (gloo on CPU processes) before TrainingArguments sets the device up
    backend = default_ddp_backend({"ddp_backend": getattr(config, "ddp_backend", None)})["ddp_backend"]
    if backend is not None:
        config.ddp_backend = backend
    if not torch.cuda.is_available():
        config.dataloader_pin_memory = False  # nothing to pin to (and torch warns about it)
