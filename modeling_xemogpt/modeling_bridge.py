"""Shared pieces of the two emotional cue bridges: the transformer stack and the pretrained-model base class."""

from __future__ import annotations

import torch
from torch import nn
from transformers import PreTrainedModel

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
