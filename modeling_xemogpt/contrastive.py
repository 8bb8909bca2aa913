"""InfoNCE between a pooled modality representation and frozen text embeddings (paper eq.3 and eq.6)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init


def info_nce_loss(query: torch.Tensor, keys: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    r"""Eq.3 / eq.6: :math:`-\frac1N\sum_i \log \frac{\exp(\mathrm{sim}(q_i,k_i)/\tau)}{\sum_j \exp(\mathrm{sim}(q_i,k_j)/\tau)}`.

    ``query`` and ``keys`` are ``[N, C]``; ``sim`` is cosine similarity; ``logit_scale`` is ``log(1/tau)`` (learnable).
    Row ``i`` of ``keys`` is the positive of row ``i`` of ``query``; the other rows of the batch are the negatives.
    """
    logits = contrastive_logits(query, keys, logit_scale)
    targets = torch.arange(query.shape[0], device=query.device)
    return F.cross_entropy(logits, targets)


def contrastive_logits(query: torch.Tensor, keys: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Cosine similarities divided by the temperature, ``[N_query, N_keys]``."""
    query = F.normalize(query, dim=-1)
    keys = F.normalize(keys, dim=-1)
    return logit_scale.clamp(max=math.log(100.0)).exp() * query @ keys.t()


class ContrastiveAlignmentHead(nn.Module):
    """Linear maps of the pooled modality representation and of the frozen text embedding into one space of
    ``contrastive_dim``, plus the learnable temperature of InfoNCE (stored as ``log(1/tau)``, CLIP-style)."""

    def __init__(self, modality_dim: int, text_dim: int, contrastive_dim: int, temperature_init: float = 0.07):
        super().__init__()
        self.modality_projection = nn.Linear(modality_dim, contrastive_dim)
        self.text_projection = nn.Linear(text_dim, contrastive_dim)
        self.temperature_init = temperature_init
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature_init)))

    def _init_own_parameters(self):
        init.constant_(self.logit_scale, math.log(1.0 / self.temperature_init))

    def forward(self, pooled: torch.Tensor, text_embeds: torch.Tensor):
        """Returns (loss, normalised modality embeddings, normalised text embeddings)."""
        if pooled.shape[0] != text_embeds.shape[0]:
            raise ValueError(
                f"contrastive alignment needs one text embedding per clip, got {pooled.shape[0]} clips and "
                f"{text_embeds.shape[0]} text embeddings"
            )
        modality_embeds = self.modality_projection(pooled)
        text_embeds = self.text_projection(text_embeds.to(modality_embeds.dtype))
        loss = info_nce_loss(modality_embeds, text_embeds, self.logit_scale)
        return loss, F.normalize(modality_embeds, dim=-1), F.normalize(text_embeds, dim=-1)

    @property
    def temperature(self) -> torch.Tensor:
        return 1.0 / self.logit_scale.exp()
