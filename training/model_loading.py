"""Which XEmoGPT (preset or checkpoint) a stage builds, and its processor, from the model fields every stage config
has (:class:`training.stage_arguments.ModelArguments`: ``preset``, ``model_seed``, ``base_model``,
``config_overrides``, ``torch_dtype``)."""

from __future__ import annotations

from pathlib import Path

import torch

from .config_utils import ConfigError


def _dtype(model_cfg):
    dtype = model_cfg.torch_dtype
    return getattr(torch, dtype) if isinstance(dtype, str) else dtype


def xemogpt_config(model_cfg, **extra):
    """The ``XEmoGPTConfig`` of ``model_cfg``: the base checkpoint's or the preset's, with ``config_overrides`` and
    ``extra`` (e.g. stage 3's ``use_vecb=False`` for ``--vecb off``)."""
    from modeling_xemogpt import XEmoGPTConfig

    overrides = {**dict(model_cfg.config_overrides or {}), **extra}
    if not model_cfg.base_model:
        return XEmoGPTConfig.from_preset(model_cfg.preset, **overrides)
    base = Path(model_cfg.base_model)
    if not (base / "config.json").exists():
        raise ConfigError(f"base_model {str(base)!r} is not an XEmoGPT checkpoint folder (no config.json)")
    config = XEmoGPTConfig.from_pretrained(str(base))
    for key, value in overrides.items():
        sub = getattr(config, key, None)
        if isinstance(value, dict) and hasattr(sub, "to_dict"):  # a sub-config: merge, as from_preset does
            for k, v in value.items():
                setattr(sub, k, v)
        else:
            setattr(config, key, value)
    return config


def build_base_model(model_cfg, **extra):
    """The full XEmoGPT model whose frozen towers the stages use (deterministic for the tiny preset). Under DeepSpeed
    ZeRO-3 it is built whole on every rank, outside ``zero.Init`` (workaround, :mod:`training.zero3`); DeepSpeed
    partitions it when the trainer starts."""
    from .zero3 import without_zero_init

    with without_zero_init():
        return _build_base_model(model_cfg, **extra)


def _build_base_model(model_cfg, **extra):
    from modeling_xemogpt import PAPER_BACKBONES, XEmoGPTForConditionalGeneration

    dtype = _dtype(model_cfg)
    kwargs = {"dtype": dtype} if dtype is not None else {}
    if model_cfg.base_model:
        config = xemogpt_config(model_cfg, **extra)
        model = XEmoGPTForConditionalGeneration.from_pretrained(str(model_cfg.base_model), config=config, **kwargs)
        return model.merge_text_lora()  # unmerged LoRA of a converted release: folded in before a stage adds its own
    if model_cfg.preset == "paper":
        config_kwargs = {**dict(model_cfg.config_overrides or {}), **extra}
        backbones = {**PAPER_BACKBONES, **(config_kwargs.pop("backbones", None) or {})}
        return XEmoGPTForConditionalGeneration.from_components(
            vision=backbones["vision"], audio=backbones["audio"], text=backbones["text"], **config_kwargs, **kwargs
        )
    config = xemogpt_config(model_cfg, **extra)
    torch.manual_seed(int(model_cfg.model_seed or 0))
    model = XEmoGPTForConditionalGeneration(config)
    return model.to(dtype) if dtype is not None else model


def build_processor(model_cfg):
    """The XEmoGPT processor matching ``model_cfg``: the base checkpoint's when it holds one, else the preset's."""
    from processing_xemogpt import XEmoGPTProcessor

    base = model_cfg.base_model
    if base and any((Path(base) / name).exists() for name in
                    ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json")):
        return XEmoGPTProcessor.from_pretrained(str(base))
    return XEmoGPTProcessor.from_preset(model_cfg.preset if not base else "tiny")
