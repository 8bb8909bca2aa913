"""InfoNCE between a pooled modality representation and frozen text embeddings (paper eq.3 and eq.6).

Under data-parallel training (DDP, DeepSpeed, FSDP) every rank holds a slice of the global batch. With
``gather_across_ranks`` the keys (text embeddings) of every rank are gathered with gradients, so each clip is
contrasted with the captions of the whole global batch — the objective of eq.3/eq.6 no longer depends on the number
of processes (CLIP-style training). In one process the gather is a no-op and the loss is exactly eq.3/eq.6.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init


def info_nce_loss(
    query: torch.Tensor, keys: torch.Tensor, logit_scale: torch.Tensor, positive_offset: int = 0
) -> torch.Tensor:
    r"""Eq.3 / eq.6: :math:`-\frac1N\sum_i \log \frac{\exp(\mathrm{sim}(q_i,k_i)/\tau)}{\sum_j \exp(\mathrm{sim}(q_i,k_j)/\tau)}`.

    ``query`` is ``[N, C]`` and ``keys`` ``[M, C]`` (``M = N`` in one process); ``sim`` is cosine similarity;
    ``logit_scale`` is ``log(1/tau)`` (learnable). Row ``positive_offset + i`` of ``keys`` is the positive of row
    ``i`` of ``query`` (the offset of this rank's slice in gathered keys); every other row is a negative.
    """
    logits = contrastive_logits(query, keys, logit_scale)
    targets = torch.arange(query.shape[0], device=query.device) + positive_offset
    return F.cross_entropy(logits, targets)


def contrastive_logits(query: torch.Tensor, keys: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Cosine similarities divided by the temperature, ``[N_query, N_keys]``."""
    query = F.normalize(query, dim=-1)
    keys = F.normalize(keys, dim=-1)
    return logit_scale.clamp(max=math.log(100.0)).exp().reshape(()) * query @ keys.t()


def gather_across_ranks(rows: torch.Tensor) -> tuple[torch.Tensor, int]:
    """The rows of every rank of the default process group, concatenated in rank order, and the offset of this
    rank's rows in them. Returns ``(rows, 0)`` when torch.distributed is not initialised or has one process.

    The gather is torch's functional all-gather, which has autograd (``all_gather_single``, the replacement torch
    names for the deprecated ``torch.distributed.nn.functional.all_gather``; ``all_gather_tensor_autograd`` before
    it existed): the backward pass reduce-scatters, so each rank receives the sum of the gradients every rank
    computed for its slice. Ranks may hold different numbers of rows (a last, shorter batch): the slices are padded
    to the longest for the collective and cut back.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return rows, 0
    try:
        from torch.distributed._functional_collectives import all_gather_single as all_gather
    except ImportError:  # torch releases before all_gather_single
        from torch.distributed._functional_collectives import all_gather_tensor_autograd as all_gather

    world, rank = dist.get_world_size(), dist.get_rank()
    count = torch.tensor([rows.shape[0]], device=rows.device)
    counts = [torch.zeros_like(count) for _ in range(world)]
    dist.all_gather(counts, count)
    counts = [int(c) for c in counts]
    longest = max(counts)
    padded = F.pad(rows, (0, 0, 0, longest - rows.shape[0]))
    gathered = all_gather(padded, 0, dist.group.WORLD)  # [world * longest, C], rank-major
    pieces = [gathered[r * longest : r * longest + n] for r, n in enumerate(counts)]
    return torch.cat(pieces), sum(counts[:rank])


class ContrastiveAlignmentHead(nn.Module):
    """Linear maps of the pooled modality representation and of the frozen text embedding into one space of
    ``contrastive_dim``, plus the learnable temperature of InfoNCE (stored as ``log(1/tau)``, CLIP-style).

    ``gather_across_ranks`` (``XEmoGPTConfig.contrastive_gather_across_ranks``): in training mode, the negatives are
    the text embeddings of every rank (:func:`gather_across_ranks`), so the loss is that of the global batch. In eval
    mode nothing is gathered (held-out retrieval may run on one rank only, which must not wait for the others).
    """

    def __init__(
        self,
        modality_dim: int,
        text_dim: int,
        contrastive_dim: int,
        temperature_init: float = 0.07,
        gather_across_ranks: bool = True,
    ):
        super().__init__()
        self.modality_projection = nn.Linear(modality_dim, contrastive_dim)
        self.text_projection = nn.Linear(text_dim, contrastive_dim)
        self.temperature_init = temperature_init
        self.gather_across_ranks = gather_across_ranks
        # one element, not a 0-dim scalar: FSDP2's fully_shard rejects scalar parameters (and DeepSpeed 0.19.8 cannot
        # broadcast them); a scalar from an older checkpoint loads into it (see _load_from_state_dict)
        self.logit_scale = nn.Parameter(torch.tensor([math.log(1.0 / temperature_init)]))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        key = prefix + "logit_scale"
        if key in state_dict and state_dict[key].dim() == 0:  # checkpoints before the 1-element parameter
            state_dict[key] = state_dict[key].reshape(1)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _init_own_parameters(self):
        init.constant_(self.logit_scale, math.log(1.0 / self.temperature_init))

    def forward(self, pooled: torch.Tensor, text_embeds: torch.Tensor):
        """Returns (loss, normalised modality embeddings, normalised text embeddings) of this rank's clips."""
        if pooled.shape[0] != text_embeds.shape[0]:
            raise ValueError(
                f"contrastive alignment needs one text embedding per clip, got {pooled.shape[0]} clips and "
                f"{text_embeds.shape[0]} text embeddings"
            )
        modality_embeds = self.modality_projection(pooled)
        text_embeds = self.text_projection(text_embeds.to(modality_embeds.dtype))
        keys, offset = text_embeds, 0
        if self.gather_across_ranks and self.training:
            keys, offset = gather_across_ranks(text_embeds)
        loss = info_nce_loss(modality_embeds, keys, self.logit_scale, positive_offset=offset)
        return loss, F.normalize(modality_embeds, dim=-1), F.normalize(text_embeds, dim=-1)

    @property
    def temperature(self) -> torch.Tensor:
        return 1.0 / self.logit_scale.exp()
