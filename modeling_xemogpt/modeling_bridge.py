"""Shared pieces of the two emotional cue bridges: the transformer stacks (``config.bridge_layer_type``) and the
pretrained-model base class."""

from __future__ import annotations

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.masking_utils import create_bidirectional_mask
from transformers.models.clip.modeling_clip import CLIPEncoderLayer
from transformers.models.hubert.modeling_hubert import HubertEncoderLayer

from .configuration_xemogpt import XEmoGPTConfig


class BridgeTransformer(nn.Module):
    """Pre-norm transformer encoder layers followed by a final LayerNorm, over ``[B, L, D]`` sequences.

    This is the "Transformer" of eq.1 (VECB) and eq.2 (AECB).
    """

    def __init__(self, hidden_size: int, num_layers: int, num_heads: int, intermediate_ratio: float, dropout: float):
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"bridge hidden size {hidden_size} is not divisible by bridge_num_heads={num_heads}")
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                d_model=hidden_size,
                nhead=num_heads,
                dim_feedforward=int(hidden_size * intermediate_ratio),
                dropout=dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(hidden_size)

    def forward(self, hidden_states: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``padding_mask`` is ``[B, L]`` with True/1 on real positions (transformers convention)."""
        key_padding_mask = None if padding_mask is None else ~padding_mask.bool()
        for layer in self.layers:
            hidden_states = layer(hidden_states, src_key_padding_mask=key_padding_mask)
        return self.norm(hidden_states)

    @classmethod
    def from_config(cls, config: XEmoGPTConfig, hidden_size: int) -> "BridgeTransformer":
        return cls(
            hidden_size,
            config.bridge_num_layers,
            config.bridge_num_heads,
            config.bridge_intermediate_ratio,
            config.bridge_dropout,
        )


class BackboneLayerStack(nn.Module):
    """The "Transformer" of eq.1 / eq.2 built from the backbone's own encoder layer class, as the authors' released
    model has it (``bridge_layer_type="backbone"``): ``CLIPEncoderLayer`` of the vision config in VECB (pre-norm),
    ``HubertEncoderLayer`` of the audio config in AECB (post-norm); no final norm.

    With a padding mask, padded positions are zeroed before and after the layers and masked out of attention (the
    bidirectional mask transformers' own encoders build), so a clip's real positions do not depend on the padding.
    """

    LAYER_CLASSES = {"vision": CLIPEncoderLayer, "audio": HubertEncoderLayer}

    def __init__(self, backbone_config, kind: str, num_layers: int):
        super().__init__()
        self.config = backbone_config
        self.layers = nn.ModuleList(self.LAYER_CLASSES[kind](backbone_config) for _ in range(num_layers))

    def forward(self, hidden_states: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``padding_mask`` is ``[B, L]`` with True/1 on real positions (transformers convention)."""
        attention_mask = None
        if padding_mask is not None:
            keep = padding_mask.bool().unsqueeze(-1)
            hidden_states = hidden_states * keep
            attention_mask = create_bidirectional_mask(
                config=self.config, inputs_embeds=hidden_states, attention_mask=padding_mask.bool()
            )
        for layer in self.layers:
            hidden_states = layer(hidden_states, attention_mask=attention_mask)
        if padding_mask is not None:
            hidden_states = hidden_states * keep
        return hidden_states


def bridge_encoder(config: XEmoGPTConfig, kind: str) -> nn.Module:
    """The layer stack of VECB (``kind="vision"``) or AECB (``kind="audio"``) that ``config.bridge_layer_type`` names."""
    backbone_config = config.vision_config if kind == "vision" else config.audio_config
    if config.bridge_layer_type == "backbone":
        return BackboneLayerStack(backbone_config, kind, config.bridge_num_layers)
    return BridgeTransformer.from_config(config, backbone_config.hidden_size)


class AttentionPooling(nn.Module):
    """Softmax attention over time with one learnable query vector: ``sum_t softmax_t(h_t . w) h_t`` (the VECB
    pooling of the authors' release, ``bridge_layer_type="backbone"``; ``"pre_norm"`` bridges pool by the mean)."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.attn_vector = nn.Parameter(torch.zeros(hidden_size))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(hidden_states @ self.attn_vector, dim=1)
        return (weights.unsqueeze(-1) * hidden_states).sum(dim=1)

    def _init_own_parameters(self):
        init.normal_(self.attn_vector, mean=0.0, std=1.0)  # a standard normal vector, as the release initialises it


def masked_mean(hidden_states: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean over the sequence dimension of ``[B, L, D]``, counting only positions where ``mask`` is 1."""
    if mask is None:
        return hidden_states.mean(dim=1)
    mask = mask.to(hidden_states.dtype).unsqueeze(-1)
    return (hidden_states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


class BridgePreTrainedModel(PreTrainedModel):
    """Base class of every XEmoGPT model: config class, weight init of the bridges' own parameters."""

    config_class = XEmoGPTConfig
    base_model_prefix = "xemogpt"
    supports_gradient_checkpointing = True
    _supports_sdpa = True

    def __init__(self, config: XEmoGPTConfig, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        # transformers sets the attention implementation on this config only; "backbone" bridge layers read it from the
        # vision / audio sub-configs (a tower built from them sets it too, the stage-1/2 models have no tower)
        for sub_config in (self.config.vision_config, self.config.audio_config):
            if sub_config._attn_implementation is None:
                sub_config._attn_implementation = self.config._attn_implementation

    def get_input_embeddings(self):
        """The bridge pretraining models read frozen features, not tokens: no input embeddings (``None``, which is
        what accelerate's FSDP2 preparation and other callers of this hook expect from such a model)."""
        return None

    def _init_weights(self, module):
        """transformers' initialisation, plus the bridges' own parameters: a module that owns some (the VECB position
        embedding, the MFM mask token, the InfoNCE temperature) initialises them in ``_init_own_parameters``."""
        own = getattr(module, "_init_own_parameters", None)
        if callable(own):
            own()
        else:
            super()._init_weights(module)
