"""XEmoGPT configuration (paper §III-A): CLIP vision + HuBERT + Qwen3 with the two emotional cue bridges."""

from __future__ import annotations

import copy
import math

from transformers import CLIPVisionConfig, HubertConfig, PreTrainedConfig, Qwen3Config

from .vocabulary import CUSTOM_PIPELINES, check_answer_format

try:  # transformers >= 5.2x declares sub-configs with SubConfigSpec and builds them itself
    from transformers.configuration_utils import SubConfigSpec
except ImportError:  # earlier transformers 5 releases (e.g. 5.17): classes only, built in __post_init__ below
    SubConfigSpec = None

# What the bridge layers are (a checkpoint's config says which it has; checkpoints without the field are "pre_norm"):
# "pre_norm": torch pre-norm encoder layers + a final LayerNorm, sized by bridge_num_heads / bridge_intermediate_ratio;
# "backbone": the backbones' own encoder layer classes (CLIPEncoderLayer in VECB, HubertEncoderLayer in AECB, as the
# authors' released model has them) with the authors' stage-1/2 heads (attention pooling, temporal head on the
# projected embedding, frames masked with zeros).
BRIDGE_LAYER_TYPES = ("pre_norm", "backbone")
# Stage-2 (AECB) options beyond the paper's eq.6 (the paper preset keeps the paper's choices, the first of each):
AECB_TEMPORAL_OBJECTIVES = ("none", "reverse_negative", "order")
AECB_POSITION_EMBEDDINGS = (None, "learned")
AECB_POOLINGS = ("mean", "attentive_stats")
SUB_CONFIG_CLASSES = {"vision_config": CLIPVisionConfig, "audio_config": HubertConfig, "text_config": Qwen3Config}

# Backbones named by the paper (§VI-A). Stage-1/2 text encoders are used by the training recipe only.
PAPER_BACKBONES = {
    "vision": "openai/clip-vit-large-patch14",
    "audio": "TencentGameMate/chinese-hubert-large",
    "text": "Qwen/Qwen3-4B",
    "vecb_text_encoder": "openai/clip-vit-large-patch14",
    "aecb_text_encoder": "sentence-transformers/LaBSE",
}

_PAPER_VISION = dict(  # openai/clip-vit-large-patch14 vision tower
    hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
    image_size=224, patch_size=14, projection_dim=768, hidden_act="quick_gelu",
)
_PAPER_AUDIO = dict(  # TencentGameMate/chinese-hubert-large
    hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
    feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True,
)
_PAPER_TEXT = dict(  # Qwen/Qwen3-4B
    vocab_size=151936, hidden_size=2560, intermediate_size=9728, num_hidden_layers=36, num_attention_heads=32,
    num_key_value_heads=8, head_dim=128, max_position_embeddings=40960, tie_word_embeddings=True,
    rope_theta=1000000.0, rms_norm_eps=1e-6, bos_token_id=151643, eos_token_id=151645,
)
_TINY_VISION = dict(
    hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
    image_size=224, patch_size=32, projection_dim=64,
)
_TINY_AUDIO = dict(
    hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
    conv_dim=(32, 32, 32, 32, 32, 32, 32), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
    feat_extract_norm="group", do_stable_layer_norm=False,
)
_TINY_TEXT = dict(
    vocab_size=1024, hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, head_dim=32, max_position_embeddings=2048, tie_word_embeddings=True,
    bos_token_id=None, eos_token_id=2, pad_token_id=0,  # the tiny tokenizer's <|im_end|> and <|endoftext|>
)

PRESETS = {
    "paper": dict(
        vision_config=_PAPER_VISION, audio_config=_PAPER_AUDIO, text_config=_PAPER_TEXT,
        vision_feature_select="cls", video_token_id=151669, audio_token_id=151670, pad_token_id=151643,
        backbones=PAPER_BACKBONES, bridge_layer_type="backbone", contrastive_dim=768,
    ),
    "tiny": dict(
        vision_config=_TINY_VISION, audio_config=_TINY_AUDIO, text_config=_TINY_TEXT,
        bridge_num_heads=4, vision_feature_select="cls", video_token_id=3, audio_token_id=4, pad_token_id=0,
        lora_r=8, lora_alpha=16, backbones=None,
    ),
}


class XEmoGPTConfig(PreTrainedConfig):
    r"""
    Configuration of [`XEmoGPTForConditionalGeneration`].

    Args:
        vision_config (`dict` or `CLIPVisionConfig`): the frozen CLIP vision tower.
        audio_config (`dict` or `HubertConfig`): the frozen HuBERT audio encoder.
        text_config (`dict` or `Qwen3Config`): the LLM.
        use_vecb / use_aecb (`bool`, default to `True`): whether the video / audio emotional cue bridge is used. Off,
            the frozen per-frame features go straight to the projection (the "-" rows of the paper's Table V).
        bridge_num_layers (`int`, defaults to 2): transformer encoder layers in VECB and in AECB (eq.1, eq.2).
        bridge_layer_type (`str`, defaults to `"pre_norm"`): what those layers are. `"backbone"` (the `paper`
            preset, and checkpoints converted from the authors' release): the backbones' own encoder layers,
            `CLIPEncoderLayer` in VECB and `HubertEncoderLayer` in AECB, sized by the vision / audio configs, with the
            authors' stage-1/2 heads (attention pooling of VECB, temporal head on the projected embedding, frames
            masked with zeros in eq.5). `"pre_norm"` (the `tiny` preset and every checkpoint saved before this field
            existed): torch pre-norm encoder layers plus a final LayerNorm, sized by the three settings below.
        aecb_position_embedding (`str`, optional): `None` (the paper, eq.2: no positional encoding beyond HuBERT's own)
            or `"learned"`: one learnable vector per audio frame position added to AECB's input, as eq.1 has for
            VECB (up to `aecb_max_frames` frames).
        aecb_segment_context (`bool`, defaults to `False`): every audio frame entering AECB also receives a learned
            linear map (zero at initialisation) of the clip's first-half and second-half frame means — segment-level
            context, the utterance-scale delta of speech front-ends, so that what changes over the clip (a rising
            or falling pitch contour) is in every AECB output frame and in their mean. Not in the paper.
        aecb_temporal_objective (`str`, defaults to `"none"`): stage 2's loss besides eq.6. `"none"` (the paper):
            eq.6 alone; `"reverse_negative"`: the clip's frames played backwards are a hard negative of its own
            caption (T-CLAP's temporal contrast); `"order"`: frame-order discrimination (eq.4 mirrored for audio).
            Not in the paper, which gives AECB no temporal task; only the stage-2 model reads it.
        aecb_temporal_loss_weight (`float`, defaults to 1.0): weight of that term, `L = L_cl + w * L_temp`.
        aecb_pooling (`str`, defaults to `"mean"`): stage 2's `h_a`: the masked temporal mean (the paper) or
            `"attentive_stats"` (attentive statistics pooling).
        bridge_num_heads (`int`, defaults to 16): attention heads of `"pre_norm"` bridge layers.
        bridge_intermediate_ratio (`float`, defaults to 4.0): feed-forward width / hidden size of `"pre_norm"` layers.
        bridge_dropout (`float`, defaults to 0.1): dropout of `"pre_norm"` layers (`"backbone"` layers take the
            backbone config's dropouts).
        num_frames (`int`, defaults to 16): frames sampled per clip; one video token per frame.
        max_audio_seconds (`float`, defaults to 12): audio is truncated to this length.
        audio_sampling_rate (`int`, defaults to 16000).
        vision_feature_select (`str`, defaults to `"cls"`): per-frame feature from CLIP's last hidden state:
            `"cls"` (the paper), `"patch_mean"` (mean of patch tokens) or `"cls_patch_mean"` (their sum).
        contrastive_dim (`int`, defaults to 256): shared space of the stage-1/2 InfoNCE heads (eq.3, eq.6).
        contrastive_gather_across_ranks (`bool`, defaults to `True`): under data-parallel training (DDP, DeepSpeed,
            FSDP), gather the text embeddings of every rank with gradients so that each clip's InfoNCE negatives are
            the whole global batch, as in one process on that batch (CLIP-style); `False` keeps each rank's local
            batch only, so the objective changes with the number of processes. A no-op in one process and in
            eval mode.
        vecb_text_embed_dim / aecb_text_embed_dim (`int`): width of the frozen text embeddings the bridges are
            aligned with in stage 1 (CLIP text, 768) and stage 2 (LaBSE, 768).
        temperature_init (`float`, defaults to 0.07): initial value of the learnable InfoNCE temperature.
        temporal_loss_weight (`float`, `w1` in eq.7) and mfm_loss_weight (`float`, `w2` in eq.7).
        mfm_mask_ratio (`float`, defaults to 0.25): fraction of frames replaced by the mask token (eq.5).
        video_token_id / audio_token_id (`int`): ids of the `<video>` / `<audio>` placeholders.
        lora_r, lora_alpha, lora_dropout, lora_target_modules: LoRA on the LLM in stage 3 (§III-D3).
        text_lora (`dict`, optional): LoRA factors kept unmerged inside the LLM, as PEFT LoRA layers injected at
            construction (`r`, `lora_alpha`, `target_modules`, `lora_dropout`): checkpoints converted from the
            authors' release without `--merge-lora` hold their A/B factors this way. `None` (every other
            checkpoint): the LLM is a plain causal LM. Training stages fold them in first (`merge_text_lora`).
        backbones (`dict`, optional): Hub ids or paths of the pretrained backbones this config describes.
        answer_format (`str`, defaults to `"text"`): the answer the model was instruction-tuned to write (stage 3
            records it): `"text"` (the paper's free-text explanation) or `"json"` (`{"visual": [...], "audio": [...],
            "global": [...], "emotion": ..., "explanation": ...}`). Prompts built for generation ask for it
            (`processing_xemogpt.build_messages(..., answer_format=config.answer_format)`).
        custom_pipelines (`dict`, optional): the inference pipeline saved with the checkpoint; defaults to
            `XEmoGPTPipeline` (task `"video-emotion-explanation"`, file `pipeline_xemogpt.py`, which the processor's
            `save_pretrained` writes), so that `transformers.pipeline(model=DIR, trust_remote_code=True)` finds it.
    """

    model_type = "xemogpt"
    if SubConfigSpec is not None:
        sub_configs_defaults = {key: SubConfigSpec(config_class=cls) for key, cls in SUB_CONFIG_CLASSES.items()}
    else:
        sub_configs = dict(SUB_CONFIG_CLASSES)

    vision_config: dict | PreTrainedConfig | None = None
    audio_config: dict | PreTrainedConfig | None = None
    text_config: dict | PreTrainedConfig | None = None
    use_vecb: bool = True
    use_aecb: bool = True
    bridge_num_layers: int = 2
    bridge_layer_type: str = "pre_norm"
    aecb_position_embedding: str | None = None
    aecb_segment_context: bool = False
    aecb_temporal_objective: str = "none"
    aecb_temporal_loss_weight: float = 1.0
    aecb_pooling: str = "mean"
    bridge_num_heads: int = 16
    bridge_intermediate_ratio: float = 4.0
    bridge_dropout: float = 0.1
    num_frames: int = 16
    max_audio_seconds: float = 12.0
    audio_sampling_rate: int = 16000
    vision_feature_select: str = "cls"
    contrastive_dim: int = 256
    contrastive_gather_across_ranks: bool = True
    vecb_text_embed_dim: int = 768
    aecb_text_embed_dim: int = 768
    temperature_init: float = 0.07
    temporal_loss_weight: float = 1.0
    mfm_loss_weight: float = 1.0
    mfm_mask_ratio: float = 0.25
    video_token_id: int = 151669
    audio_token_id: int = 151670
    pad_token_id: int | None = None
    lora_r: int = 512
    lora_alpha: int = 512
    lora_dropout: float = 0.05
    lora_target_modules: list[str] | None = None
    text_lora: dict | None = None
    backbones: dict | None = None
    answer_format: str = "text"
    custom_pipelines: dict | None = None
    tie_word_embeddings: bool = False

    def __post_init__(self, **kwargs):
        if SubConfigSpec is None:
            for key, cls in SUB_CONFIG_CLASSES.items():
                value = getattr(self, key)
                if value is None or isinstance(value, dict):
                    setattr(self, key, cls(**(value or {})))
        if self.lora_target_modules is None:
            self.lora_target_modules = ["q_proj", "k_proj", "v_proj"]
        if self.vision_feature_select not in ("cls", "patch_mean", "cls_patch_mean"):
            raise ValueError(
                f"vision_feature_select must be 'cls', 'patch_mean' or 'cls_patch_mean', got {self.vision_feature_select!r}"
            )
        if self.bridge_layer_type not in BRIDGE_LAYER_TYPES:
            raise ValueError(
                f"bridge_layer_type must be one of {', '.join(BRIDGE_LAYER_TYPES)}, got {self.bridge_layer_type!r}"
            )
        for name, allowed in (("aecb_temporal_objective", AECB_TEMPORAL_OBJECTIVES),
                              ("aecb_position_embedding", AECB_POSITION_EMBEDDINGS), ("aecb_pooling", AECB_POOLINGS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {getattr(self, name)!r}")
        check_answer_format(self.answer_format)
        if self.custom_pipelines is None:  # every checkpoint carries its inference pipeline (processing_xemogpt)
            self.custom_pipelines = copy.deepcopy(CUSTOM_PIPELINES)
        super().__post_init__(**kwargs)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "XEmoGPTConfig":
        """Build the `"paper"` (CLIP ViT-L/14, chinese-hubert-large, Qwen3-4B) or `"tiny"` (small random) config.

        Keyword overrides replace top-level fields; sub-config overrides are merged, e.g.
        `XEmoGPTConfig.from_preset("tiny", text_config={"num_hidden_layers": 1})`.
        """
        if name not in PRESETS:
            raise ValueError(f"unknown XEmoGPT preset {name!r}; choose one of {sorted(PRESETS)}")
        kwargs = copy.deepcopy(PRESETS[name])
        for key, value in overrides.items():
            if key in SUB_CONFIG_CLASSES and isinstance(value, dict):
                kwargs[key] = {**kwargs.get(key, {}), **value}
            else:
                kwargs[key] = value
        return cls(**kwargs)

    @property
    def audio_frames_per_second(self) -> float:
        """HuBERT frames per second of audio (50 for the standard 320x downsampling conv stack)."""
        stride = 1
        for s in self.audio_config.conv_stride:
            stride *= s
        return self.audio_sampling_rate / stride

    @property
    def aecb_max_frames(self) -> int:
        """Audio frames of the longest clip (``max_audio_seconds``): the size of AECB's learned position embedding."""
        return int(math.ceil(self.max_audio_seconds * self.audio_frames_per_second))


__all__ = ["XEmoGPTConfig", "PRESETS", "PAPER_BACKBONES", "BRIDGE_LAYER_TYPES", "AECB_TEMPORAL_OBJECTIVES"]

XEmoGPTConfig.register_for_auto_class()
