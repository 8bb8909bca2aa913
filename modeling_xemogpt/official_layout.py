"""The key layout of the authors' released XEmoGPT checkpoint (``xemogpt.ckpt``) and its map onto this package.

The release is ``torch.save(model.state_dict())`` of the authors' model: a PEFT-wrapped Qwen3 (``llm_model.``), their
visual-text encoder around a full ``CLIPModel`` (``visual_encoder.``), their audio encoder around ``HubertModel``
(``audio_encoder.``) and the two LLM projections. These facts (key names, shapes) were read off their module layout;
the code here is this package's own.

Where each of their keys goes (``-> model`` is :class:`XEmoGPTForConditionalGeneration`, ``-> stage 1`` / ``-> stage 2``
the stage-1/2 pretraining models, which keep the heads that only those stages use):

====================================================  ==============================================================
authors' key                                          here
====================================================  ==============================================================
``llm_model.base_model.model.model.*``                -> model ``language_model.model.*`` (``*.base_layer.weight`` of a
                                                      LoRA target is its base weight; ``lora_A/B.default`` are merged
                                                      into it or kept as injected LoRA layers)
``llm_model.base_model.model.lm_head.weight``         -> model ``language_model.lm_head.weight`` (dropped when tied)
``visual_encoder.clip.vision_model.*``                -> model ``vision_tower.*`` (the frozen CLIP vision tower)
``visual_encoder.position_embedding`` ``[1, T, H]``   -> model ``vecb.position_embedding`` ``[T, H]`` and stage 1
``visual_encoder.visual_alignment_layer.N.*``         -> model ``vecb.encoder.layers.N.*`` (``CLIPEncoderLayer``), stage 1
``visual_llm_project.*``                              -> model ``video_projection.*``
``audio_encoder.audio_encoder.*``                     -> model ``audio_tower.*`` (the frozen HuBERT)
``audio_encoder.audio_alignment_layer.N.*``           -> model ``aecb.encoder.layers.N.*`` (``HubertEncoderLayer``), stage 2
``audio_llm_project.*``                               -> model ``audio_projection.*``
``visual_encoder.attention_pooling.attn_vector``      -> stage 1 ``attention_pooling.attn_vector``
``visual_encoder.visual_project.*``                   -> stage 1 ``alignment.modality_projection.*``
``visual_encoder.text_project.*``                     -> stage 1 ``alignment.text_projection.*``
``visual_encoder.temporal_disc_head.{0,2}.*``         -> stage 1 ``temporal_head.{0,2}.*``
``visual_encoder.frame_reconstructor.*``              -> stage 1 ``mfm_head.*``
``audio_encoder.audio_project.*``                     -> stage 2 ``alignment.modality_projection.*``
``visual_encoder.clip.{text_model.*, text_projection,  not used: CLIP's text tower is stage 1's frozen text encoder, a
visual_projection, logit_scale}``                     backbone of its own (``--vision`` names it)
====================================================  ==============================================================

Not in the release, so initialised fresh: the InfoNCE temperatures (``alignment.logit_scale``) and stage 2's
``alignment.text_projection`` (the authors' LaBSE-side projection belongs to a text encoder their model does not hold).
"""

from __future__ import annotations

import re

LLM_PREFIX = "llm_model.base_model.model."
VISION_TOWER_PREFIX = "visual_encoder.clip.vision_model."
AUDIO_TOWER_PREFIX = "audio_encoder.audio_encoder."
# the CLIP text tower and the CLIP heads of their CLIPModel: a stage-1 backbone, not part of the generation model
UNUSED_PREFIXES = (
    "visual_encoder.clip.text_model.",
    "visual_encoder.clip.text_projection.",
    "visual_encoder.clip.visual_projection.",
    "visual_encoder.clip.logit_scale",
)
# prefixes of the frozen backbones: a trainable-only checkpoint leaves them out and they come from --vision/--audio/--text
FROZEN_PREFIXES = (VISION_TOWER_PREFIX, AUDIO_TOWER_PREFIX)

# (authors' prefix, target, our prefix) for the parts that move as they are
_RENAMES = (
    ("visual_encoder.visual_alignment_layer.", "model", "vecb.encoder.layers."),
    ("visual_llm_project.", "model", "video_projection."),
    ("audio_encoder.audio_alignment_layer.", "model", "aecb.encoder.layers."),
    ("audio_llm_project.", "model", "audio_projection."),
    ("visual_encoder.attention_pooling.", "stage1", "attention_pooling."),
    ("visual_encoder.visual_project.", "stage1", "alignment.modality_projection."),
    ("visual_encoder.text_project.", "stage1", "alignment.text_projection."),
    ("visual_encoder.temporal_disc_head.", "stage1", "temporal_head."),
    ("visual_encoder.frame_reconstructor.", "stage1", "mfm_head."),
    ("audio_encoder.audio_project.", "stage2", "alignment.modality_projection."),
)
# torch's weight-norm parametrisation of HuBERT's positional convolution, under its two historical names
_WEIGHT_NORM = {".weight_g": ".parametrizations.weight.original0", ".weight_v": ".parametrizations.weight.original1"}
_LORA = re.compile(r"^(?P<module>.+)\.lora_(?P<factor>[AB])\.default\.weight$")


def _our_weight_norm_name(key: str) -> str:
    for old, new in _WEIGHT_NORM.items():
        if key.endswith(old):
            return key[: -len(old)] + new
    return key


def route_key(key: str, vision_prefix: str = "vision_tower.", keep_lora: bool = False) -> tuple[str, str] | None:
    """``(target, our key)`` for one of the authors' keys, ``("unused", key)`` for the known keys this package does not
    keep, ``("lora", key)`` for a LoRA factor (see :func:`lora_factors`), or ``None`` for a key not in their layout.

    ``target`` is ``"model"``, ``"stage1"`` or ``"stage2"``. ``vision_prefix`` is where this transformers release puts
    the CLIP vision tower's own keys inside the model (``vision_tower.`` or ``vision_tower.vision_model.``).
    ``keep_lora``: the model keeps the LoRA layers (``config.text_lora``), so base weights stay ``*.base_layer.*`` and
    the factors are model keys; otherwise the factors are returned as ``"lora"`` to be merged.
    """
    if key.startswith(UNUSED_PREFIXES):
        return "unused", key
    if key.startswith(LLM_PREFIX):
        rest = key[len(LLM_PREFIX):]
        if keep_lora:
            return "model", "language_model." + rest
        if _LORA.match(rest):
            return "lora", rest
        return "model", "language_model." + rest.replace(".base_layer.", ".")
    if key.startswith(VISION_TOWER_PREFIX):
        return "model", vision_prefix + key[len(VISION_TOWER_PREFIX):]
    if key.startswith(AUDIO_TOWER_PREFIX):
        return "model", "audio_tower." + _our_weight_norm_name(key[len(AUDIO_TOWER_PREFIX):])
    if key == "visual_encoder.position_embedding":
        return "model", "vecb.position_embedding"
    for prefix, target, ours in _RENAMES:
        if key.startswith(prefix):
            return target, ours + key[len(prefix):]
    return None


def bridge_copy(our_key: str) -> tuple[str, str] | None:
    """A bridge weight of the generation model is also the stage-1 (VECB) or stage-2 (AECB) model's ``bridge.``."""
    for prefix, stage in (("vecb.", "stage1"), ("aecb.", "stage2")):
        if our_key.startswith(prefix):
            return stage, "bridge." + our_key[len(prefix):]
    return None


def lora_factors(lora_keys: dict[str, "object"]) -> dict[str, dict[str, "object"]]:
    """Group LoRA tensors by module: ``{"model.layers.0.self_attn.q_proj": {"A": tensor, "B": tensor}}``."""
    modules: dict[str, dict] = {}
    for rest, tensor in lora_keys.items():
        match = _LORA.match(rest)
        modules.setdefault(match["module"], {})[match["factor"]] = tensor
    return modules


def lora_rank_and_targets(modules: dict[str, dict]) -> tuple[int, list[str]]:
    """The LoRA rank (rows of every A factor; they must agree) and the target module names (``q_proj`` ...)."""
    ranks = {int(f["A"].shape[0]) for f in modules.values() if "A" in f}
    if len(ranks) != 1:
        raise ValueError(f"the LoRA factors disagree on the rank: {sorted(ranks)}")
    targets = sorted({name.rsplit(".", 1)[-1] for name in modules})
    return ranks.pop(), targets


__all__ = ["route_key", "bridge_copy", "lora_factors", "lora_rank_and_targets", "FROZEN_PREFIXES", "LLM_PREFIX"]
