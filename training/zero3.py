"""DeepSpeed ZeRO-3 in the training stages: what the stages do where ZeRO-3 partitions the weights.

Under ZeRO-3 (``accelerate launch`` with ``zero_stage: 3``; transformers then reports
``is_deepspeed_zero3_enabled()``) every parameter lives as one slice per rank once DeepSpeed has wrapped the model.
The stages:

* **build their models whole on every rank, outside ``deepspeed.zero.Init``** (:func:`without_zero_init`, a
  workaround, below); DeepSpeed partitions the model when the trainer starts its engine, so training memory is
  ZeRO-3's. The build itself holds the whole model once per process in host memory (the paper's model in bf16: 9.4 GB);
* **run every branch on every rank** (under any DeepSpeed stage): a rank whose batch has no video still runs VECB and
  the video projection on a blank feature, times zero (``XEmoGPTForConditionalGeneration._idle_branch``), since
  ZeRO-3 gathers each module's parameters with a collective when it runs and ZeRO-1/2/3 reduce gradients in buckets
  that must match across ranks; for the same reason stages 3 and 4 need the frozen-feature cache under ZeRO-3
  (:func:`check_feature_cache`: the towers never run in training);
* **save adapters, bridges and the merged checkpoint from gathered trainable weights** (:func:`trainable_state`):
  ordinary safetensors; the merge runs on rank 0 in the base model built again (its frozen weights did not change);
* resume from a ZeRO-3 checkpoint as the Trainer does (``checkpoint-N/global_stepN/`` holds each rank's slice).

Workaround, transformers 5.23.0 with DeepSpeed 0.19.7: building HuBERT under ``zero.Init`` with random weights fails.
``initialize_weights_zero3`` gathers each module's parameters with ``deepspeed.zero.GatheredParameters(...,
modifier_rank=0)`` and calls ``HubertPreTrainedModel._init_weights``, which gathers the same convolution weight again;
DeepSpeed 0.19.7 refuses nested gathers of one parameter. Minimal reproduction (one process, no GPU)::

    import os; os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT="29561", RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")
    import deepspeed; from transformers import AutoModel, HubertConfig
    from transformers.integrations import HfDeepSpeedConfig
    deepspeed.init_distributed(dist_backend="gloo")
    keep = HfDeepSpeedConfig({"zero_optimization": {"stage": 3}, "train_micro_batch_size_per_gpu": 1})
    AutoModel.from_config(HubertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2))
    # RuntimeError: Nested GatheredParameters contexts cannot overlap parameters; parameter ds_ids already gathered
    # by an outer context: [0]

Letting the inner gather skip what the outer one holds gets one step further, to the base ``_init_weights`` of the
weight-normed positional convolution, whose parametrisation tensors (grand-children of the module)
``initialize_weights_zero3`` does not gather: ``IndexError: Dimension out of range`` in ``torch._weight_norm``. A
random initialisation under ``zero.Init`` would also follow another order of the random stream than one process (the
tiny preset's weights are defined by its seed). Loading pretrained weights under ``zero.Init`` does build (the stage-3
checkpoint loads with every tensor equal), but in a 2-process stage-3 run the frozen towers, gathered to fill the
feature cache, gave wrong features (NaN video features, audio features off by ~1e-3; a standalone 2-process check of
the same gather was exact), so the stages build whole in every case.
"""

from __future__ import annotations

import contextlib

import torch


def zero3_enabled() -> bool:
    """Whether DeepSpeed ZeRO-3 is configured for this process (transformers' own test)."""
    from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled

    return is_deepspeed_zero3_enabled()


def check_feature_cache(cfg, stage: str) -> None:
    """Under ZeRO-3, stages 3 and 4 need the frozen-feature cache: a rank whose batch has no video would skip the
    vision tower while another rank runs it, and every rank must run the same modules (the model runs a bridge
    without its modality on a blank feature, but cannot run a tower on pixels another rank may not have)."""
    if zero3_enabled() and not cfg.cache_dir:
        from .config_utils import ConfigError

        raise ConfigError(f"{stage} under DeepSpeed ZeRO-3 needs the frozen-feature cache: set cache_dir (the default "
                          "is .cache/xemogpt-features), or use ZeRO-2 / DDP to re-encode media every step")


def full_numel(param: torch.Tensor) -> int:
    """The number of elements of a parameter, partitioned (ZeRO-3) or not."""
    return int(getattr(param, "ds_numel", param.numel()))


@contextlib.contextmanager
def without_zero_init():
    """Workaround (transformers 5.23.0, DeepSpeed 0.19.7; module doc): models built in this context are whole on every
    rank although ZeRO-3 is configured (transformers builds under ``deepspeed.zero.Init`` while its DeepSpeed config
    is registered, so it is unregistered meanwhile). A no-op without ZeRO-3."""
    from transformers.integrations import deepspeed as hf_deepspeed

    ref = hf_deepspeed._hf_deepspeed_config_weak_ref
    config_object = ref() if ref is not None else None
    if config_object is None:
        yield
        return
    hf_deepspeed.unset_hf_deepspeed_config()
    try:
        yield
    finally:
        hf_deepspeed.set_hf_deepspeed_config(config_object)


@contextlib.contextmanager
def gathered(*modules_or_params, modifier_rank: int | None = None):
    """The full parameters of ``modules_or_params`` on every rank while the context lasts (a collective: every rank
    enters it); a no-op for parameters that are not partitioned. ``modifier_rank``: the rank whose changes are kept."""
    params = []
    for item in modules_or_params:
        params.extend(item.parameters() if isinstance(item, torch.nn.Module) else [item])
    params = [p for p in params if hasattr(p, "ds_id")]
    if not params:
        yield
        return
    import deepspeed

    with deepspeed.zero.GatheredParameters(params, modifier_rank=modifier_rank):
        yield


def trainable_state(model) -> dict[str, torch.Tensor]:
    """The trainable parameters of ``model`` (LoRA, bridges, projections: what an adapter holds), whole, on CPU, by
    their names in ``model`` (a collective under ZeRO-3: every rank calls it)."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    with gathered(*(p for _, p in named)):
        return {name: p.detach().to("cpu").clone() for name, p in named}


__all__ = ["zero3_enabled", "check_feature_cache", "full_numel", "without_zero_init", "gathered", "trainable_state"]
