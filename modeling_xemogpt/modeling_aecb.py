"""Audio Emotional Cue Bridge (paper §III-A2, eq.2) and its stage-2 objective (§III-C, eq.6, 8)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers.utils import ModelOutput

from .configuration_xemogpt import XEmoGPTConfig
from .contrastive import ContrastiveAlignmentHead
from .modeling_bridge import BridgePreTrainedModel, bridge_encoder, masked_mean


class AudioEmotionalCueBridge(nn.Module):
    r"""Eq.2: :math:`H_a = \mathrm{Transformer}(X_a)` over HuBERT frames.

    No extra positional encoding: HuBERT already encodes position (convolutional positional embedding). Padded
    frames are excluded from attention through ``attention_mask``. The Transformer is what
    ``config.bridge_layer_type`` names (``HubertEncoderLayer`` x N for ``"backbone"``).
    """

    def __init__(self, config: XEmoGPTConfig):
        super().__init__()
        self.encoder = bridge_encoder(config, "audio")

    def forward(self, audio_features: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``audio_features``: ``[B, La, Da]``; ``attention_mask``: ``[B, La]`` (1 = real frame)."""
        if audio_features.dim() != 3:
            raise ValueError(f"AECB expects audio features [batch, frames, dim], got shape {tuple(audio_features.shape)}")
        return self.encoder(audio_features, padding_mask=attention_mask)


@dataclass
class AECBPretrainingOutput(ModelOutput):
    loss: torch.FloatTensor | None = None
    audio_embeds: torch.FloatTensor | None = None
    text_embeds: torch.FloatTensor | None = None


class AECBForPretraining(BridgePreTrainedModel):
    r"""Stage 2 (§III-D2): Contrastive Audio Emotion-Cue Alignment, ``L_AECB = L_cl^at`` (eq.6, eq.8).

    ``h_a`` is the masked temporal mean of ``H_a``; ``h_t`` is the frozen sentence-encoder embedding of the caption
    (LaBSE in the paper). The frozen HuBERT is not part of this model: it takes its frames, so they can be cached.
    """

    main_input_name = "audio_features"

    def __init__(self, config: XEmoGPTConfig):
        super().__init__(config)
        self.bridge = AudioEmotionalCueBridge(config)
        self.alignment = ContrastiveAlignmentHead(
            config.audio_config.hidden_size, config.aecb_text_embed_dim, config.contrastive_dim, config.temperature_init,
            gather_across_ranks=config.contrastive_gather_across_ranks,
        )
        self.post_init()

    def forward(
        self,
        audio_features: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        text_embeds: torch.Tensor | None = None,
        return_loss: bool = True,
        **kwargs,
    ) -> AECBPretrainingOutput:
        pooled = masked_mean(self.bridge(audio_features, attention_mask), attention_mask)  # h_a
        if text_embeds is None:
            audio_embeds = nn.functional.normalize(self.alignment.modality_projection(pooled), dim=-1)
            return AECBPretrainingOutput(audio_embeds=audio_embeds)
        loss, audio_embeds, text_out = self.alignment(pooled, text_embeds)
        return AECBPretrainingOutput(loss=loss if return_loss else None, audio_embeds=audio_embeds, text_embeds=text_out)


__all__ = ["AudioEmotionalCueBridge", "AECBForPretraining", "AECBPretrainingOutput"]
