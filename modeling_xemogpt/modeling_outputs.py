"""What XEmoGPT's ``forward`` returns (the LM outputs plus the emotion tokens) and the positions its loss reads
(``loss_positions``, for ``logits_to_keep``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers.cache_utils import Cache
from transformers.utils import ModelOutput


@dataclass
class XEmoGPTCausalLMOutputWithPast(ModelOutput):
    """Language-model outputs plus the emotion tokens that were scattered into the prompt."""

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    past_key_values: Cache | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    video_hidden_states: torch.FloatTensor | None = None
    audio_hidden_states: torch.FloatTensor | None = None


def loss_positions(labels: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """The positions whose logits a next-token loss on ``labels`` reads: a ``[B, L]`` bool mask, true at position
    ``t`` when ``labels[:, t + 1]`` is not ``ignore_index`` (in stage 3: the answer tokens' predecessors).

    Give it to ``forward`` as ``logits_to_keep`` together with ``labels``: the LM head then runs on those positions
    only and the loss is the same next-token cross-entropy (transformers' ``ForCausalLMLoss``) as over all positions.
    """
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = labels[:, 1:] != ignore_index
    return keep
