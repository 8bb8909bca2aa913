"""Audio Emotional Cue Bridge (paper §III-A2, eq.2) and its stage-2 objective (§III-C, eq.6, 8), with the optional
order-aware terms of the tiny recipe (``config.aecb_temporal_objective``; not in the paper)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_xemogpt import XEmoGPTConfig
from .contrastive import ContrastiveAlignmentHead, contrastive_logits
from .modeling_bridge import BridgePreTrainedModel, bridge_encoder, masked_mean


class AudioEmotionalCueBridge(nn.Module):
    r"""Eq.2: :math:`H_a = \mathrm{Transformer}(X_a)` over HuBERT frames.

    The paper adds no positional encoding (HuBERT's convolutional positional embedding is relative and local, so a
    Transformer over its frames barely knows where in the clip a frame is). ``config.aecb_position_embedding =
    "learned"`` adds one learnable vector per frame position, :math:`H_a = \mathrm{Transformer}(X_a + \mathrm{PE})`,
    as eq.1 does for VECB (up to ``max_audio_seconds x audio_frames_per_second`` frames): an order-aware objective
    needs it, since without it the pooled output of a sequence and of its reverse are nearly the same.
    ``config.aecb_segment_context`` (not in the paper) adds to every real frame a learned linear map, zero at
    initialisation, of the clip's first-half and second-half frame means, :math:`H_a = \mathrm{Transformer}(X_a +
    W[\bar x_{1st}; \bar x_{2nd}])`: what changes over the clip (a rising or falling pitch contour) is then in every
    output frame and in their mean, which eq.6 reads and the LLM's audio tokens carry. Padded frames
    are excluded from attention through ``attention_mask``. The Transformer is what ``config.bridge_layer_type`` names
    (``HubertEncoderLayer`` x N for ``"backbone"``).
    """

    def __init__(self, config: XEmoGPTConfig):
        super().__init__()
        self.encoder = bridge_encoder(config, "audio")
        self.position_embedding = None
        if config.aecb_position_embedding == "learned":
            self.max_frames = config.aecb_max_frames
            self.position_embedding = nn.Parameter(torch.zeros(self.max_frames, config.audio_config.hidden_size))
        hidden_size = config.audio_config.hidden_size
        # the segment context: every frame also sees the clip's first-half and second-half means (zero at init)
        self.segment_context = None
        if config.aecb_segment_context:
            self.segment_context = nn.Parameter(torch.zeros(hidden_size, 2 * hidden_size))

    def _init_own_parameters(self):
        if self.position_embedding is not None:
            init.normal_(self.position_embedding, mean=0.0, std=0.02)
        if self.segment_context is not None:
            init.zeros_(self.segment_context)

    @staticmethod
    def segment_means(audio_features: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """``[B, 2 Da]``: the mean of each clip's first half of real frames and of its second half, side by side."""
        batch, length, _ = audio_features.shape
        lengths = (attention_mask.long().sum(1) if attention_mask is not None
                   else torch.full((batch,), length, device=audio_features.device))
        positions = torch.arange(length, device=audio_features.device).unsqueeze(0)
        half = (lengths // 2).clamp(min=1).unsqueeze(1)
        first = positions < half
        second = (positions >= half) & (positions < lengths.unsqueeze(1))
        return torch.cat([masked_mean(audio_features, first), masked_mean(audio_features, second)], dim=-1)

    def forward(self, audio_features: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``audio_features``: ``[B, La, Da]``; ``attention_mask``: ``[B, La]`` (1 = real frame)."""
        if audio_features.dim() != 3:
            raise ValueError(f"AECB expects audio features [batch, frames, dim], got shape {tuple(audio_features.shape)}")
        if self.position_embedding is not None:
            length = audio_features.shape[1]
            if length > self.max_frames:
                raise ValueError(f"AECB was built for at most {self.max_frames} audio frames "
                                 f"(config.aecb_max_frames), got {length}")
            audio_features = audio_features + self.position_embedding[:length].to(audio_features.dtype)
        if self.segment_context is not None:
            context = self.segment_means(audio_features, attention_mask) @ self.segment_context.t().to(audio_features.dtype)
            audio_features = audio_features + context.unsqueeze(1)
        return self.encoder(audio_features, padding_mask=attention_mask)


@dataclass
class AECBPretrainingOutput(ModelOutput):
    loss: torch.FloatTensor | None = None
    loss_contrastive: torch.FloatTensor | None = None
    loss_temporal: torch.FloatTensor | None = None
    audio_embeds: torch.FloatTensor | None = None
    text_embeds: torch.FloatTensor | None = None
    temporal_logits: torch.FloatTensor | None = None


def frame_lengths(audio_features: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """Real frames per clip, ``[B]`` (all frames when there is no mask)."""
    if attention_mask is None:
        return torch.full((audio_features.shape[0],), audio_features.shape[1], device=audio_features.device)
    return attention_mask.long().sum(dim=1)


def reverse_frames(audio_features: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Each clip's real frames in reverse order (padding stays where it is): the time-reversed clip of the
    ``reverse_negative`` objective (reversing the frozen frame sequence, not the waveform, so no re-encoding)."""
    batch, length, _ = audio_features.shape
    lengths = frame_lengths(audio_features, attention_mask).unsqueeze(1)
    positions = torch.arange(length, device=audio_features.device).unsqueeze(0).expand(batch, length)
    index = torch.where(positions < lengths, lengths - 1 - positions, positions)
    return torch.gather(audio_features, 1, index.unsqueeze(-1).expand_as(audio_features))


def random_audio_order(lengths: torch.Tensor, length: int, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq.4's inputs for padded audio: per clip, with probability 1/2 a random non-identity permutation of its real
    frames (label 0) or the identity (label 1); padded positions stay in place. Returns ``(index [B, L], labels [B])``."""
    rows, labels = [], []
    ordered = torch.rand(len(lengths), generator=generator) < 0.5
    for n, is_ordered in zip(lengths.tolist(), ordered.tolist()):
        index = torch.arange(length)
        if is_ordered or n < 2:
            rows.append(index)
            labels.append(1.0)
            continue
        perm = torch.randperm(n, generator=generator)
        while torch.equal(perm, torch.arange(n)):
            perm = torch.randperm(n, generator=generator)
        index[:n] = perm
        rows.append(index)
        labels.append(0.0)
    return torch.stack(rows).to(lengths.device), torch.tensor(labels, device=lengths.device)


def reverse_negative_loss(audio_embeds: torch.Tensor, reversed_embeds: torch.Tensor, text_embeds: torch.Tensor,
                          logit_scale: torch.Tensor) -> torch.Tensor:
    r"""Time-reversed audio as a hard negative of its own caption (T-CLAP's temporal contrast; not in the paper):

    :math:`L_{rev} = -\frac1N\sum_i \log \frac{\exp(\mathrm{sim}(a_i,t_i)/\tau)}{\exp(\mathrm{sim}(a_i,t_i)/\tau) +
    \exp(\mathrm{sim}(\tilde a_i,t_i)/\tau)}`, with :math:`\tilde a_i` the embedding of clip ``i`` played backwards
    and :math:`\tau` eq.6's temperature. The forward and reversed clip hold the same frames, so only their order
    can tell them apart: the pooled ``h_a`` has to carry the pitch contour (rising vs falling intonation).
    """
    positive = (contrastive_logits(audio_embeds, text_embeds, logit_scale)).diagonal()
    negative = (contrastive_logits(reversed_embeds, text_embeds, logit_scale)).diagonal()
    logits = torch.stack([positive, negative], dim=1).float()
    return F.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device))


class AttentiveStatisticsPooling(nn.Module):
    r"""Attentive statistics pooling (Okabe et al., 2018): frame weights :math:`w_t = \mathrm{softmax}_t(v^\top
    \tanh(W h_t))` over real frames, output :math:`W_o[\sum_t w_t h_t ; \sqrt{\sum_t w_t h_t^2 - \mu^2}]` back to the
    hidden size (``config.aecb_pooling = "attentive_stats"``; the paper pools by the mean)."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.attention = nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.Tanh(), nn.Linear(hidden_size, 1))
        self.output = nn.Linear(2 * hidden_size, hidden_size)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        scores = self.attention(hidden).squeeze(-1)
        if mask is not None:
            scores = scores.masked_fill(~mask.bool(), torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=1).unsqueeze(-1)
        mean = (weights * hidden).sum(dim=1)
        std = ((weights * hidden.pow(2)).sum(dim=1) - mean.pow(2)).clamp(min=1e-6).sqrt()
        return self.output(torch.cat([mean, std], dim=-1))


class AECBForPretraining(BridgePreTrainedModel):
    r"""Stage 2 (§III-D2): Contrastive Audio Emotion-Cue Alignment, ``L_AECB = L_cl^at`` (eq.6, eq.8), optionally
    plus an order-aware term, ``L = L_cl^at + w * L_temp`` (``config.aecb_temporal_objective``, ``w =
    config.aecb_temporal_loss_weight``; not in the paper, which gives AECB no temporal task):

    * ``"none"`` (the paper): eq.6 alone;
    * ``"reverse_negative"``: :func:`reverse_negative_loss`, the clip played backwards as a hard negative of its own
      caption;
    * ``"order"``: frame-order discrimination mirroring VECB's eq.4 — an MLP on the pooled output of a shuffled or
      ordered copy of the real frames predicts whether they are in order (BCE).

    ``h_a`` is the masked temporal mean of ``H_a`` (``config.aecb_pooling = "mean"``, the paper) or attentive
    statistics pooling; ``h_t`` is the frozen sentence-encoder embedding of the caption (LaBSE in the paper). The
    frozen HuBERT is not part of this model: it takes its frames, so they can be cached.
    """

    main_input_name = "audio_features"

    def __init__(self, config: XEmoGPTConfig):
        super().__init__(config)
        hidden_size = config.audio_config.hidden_size
        self.bridge = AudioEmotionalCueBridge(config)
        self.alignment = ContrastiveAlignmentHead(
            hidden_size, config.aecb_text_embed_dim, config.contrastive_dim, config.temperature_init,
            gather_across_ranks=config.contrastive_gather_across_ranks,
        )
        self.attentive_pooling = (AttentiveStatisticsPooling(hidden_size) if config.aecb_pooling == "attentive_stats"
                                  else None)
        self.temporal_head = None
        if config.aecb_temporal_objective == "order":
            self.temporal_head = nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.GELU(), nn.Linear(hidden_size, 1))
        self.post_init()

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """``h_a``: the masked mean of ``H_a`` (or attentive statistics pooling)."""
        if self.attentive_pooling is not None:
            return self.attentive_pooling(hidden, attention_mask)
        return masked_mean(hidden, attention_mask)

    def forward(
        self,
        audio_features: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        text_embeds: torch.Tensor | None = None,
        return_loss: bool = True,
        frame_order: torch.Tensor | None = None,
        order_labels: torch.Tensor | None = None,
        **kwargs,
    ) -> AECBPretrainingOutput:
        r"""
        audio_features (`[B, La, Da]`) / attention_mask (`[B, La]`): frozen HuBERT frames ``X_a`` and their mask.
        text_embeds (`[B, Dt]`): frozen sentence embeddings ``h_t`` of the clips' captions.
        frame_order / order_labels (`[B, La]` / `[B]`, optional): the permutations and labels of the ``"order"``
            objective (random if None).
        """
        pooled = self.pool(self.bridge(audio_features, attention_mask), attention_mask)  # h_a
        if text_embeds is None:
            audio_embeds = F.normalize(self.alignment.modality_projection(pooled), dim=-1)
            return AECBPretrainingOutput(audio_embeds=audio_embeds)
        loss_cl, audio_embeds, text_out = self.alignment(pooled, text_embeds)
        objective = self.config.aecb_temporal_objective
        if not return_loss or objective == "none":
            return AECBPretrainingOutput(loss=loss_cl if return_loss else None, loss_contrastive=loss_cl.detach(),
                                         audio_embeds=audio_embeds, text_embeds=text_out)
        temporal_logits = None
        if objective == "reverse_negative":
            reversed_hidden = self.bridge(reverse_frames(audio_features, attention_mask), attention_mask)
            reversed_embeds = self.alignment.modality_projection(self.pool(reversed_hidden, attention_mask))
            text_keys = self.alignment.text_projection(text_embeds.to(reversed_embeds.dtype))
            audio_keys = self.alignment.modality_projection(pooled)
            loss_temp = reverse_negative_loss(audio_keys, reversed_embeds, text_keys, self.alignment.logit_scale)
        else:  # "order": eq.4 mirrored
            if frame_order is None:
                lengths = frame_lengths(audio_features, attention_mask).cpu()
                frame_order, order_labels = random_audio_order(lengths, audio_features.shape[1])
            elif order_labels is None:
                identity = torch.arange(audio_features.shape[1], device=frame_order.device)
                order_labels = (frame_order == identity).all(dim=1).float()
            frame_order = frame_order.to(audio_features.device)
            reordered = torch.gather(audio_features, 1, frame_order.unsqueeze(-1).expand_as(audio_features))
            hidden = self.bridge(reordered, attention_mask)
            temporal_logits = self.temporal_head(self.pool(hidden, attention_mask)).squeeze(-1)
            loss_temp = F.binary_cross_entropy_with_logits(temporal_logits.float(),
                                                           order_labels.to(temporal_logits.device).float())
        loss = loss_cl + self.config.aecb_temporal_loss_weight * loss_temp
        return AECBPretrainingOutput(loss=loss, loss_contrastive=loss_cl.detach(), loss_temporal=loss_temp.detach(),
                                     audio_embeds=audio_embeds, text_embeds=text_out, temporal_logits=temporal_logits)


__all__ = ["AudioEmotionalCueBridge", "AECBForPretraining", "AECBPretrainingOutput", "AttentiveStatisticsPooling",
           "reverse_negative_loss", "reverse_frames"]
