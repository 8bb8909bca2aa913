"""Video Emotional Cue Bridge (paper §III-A1, eq.1) and its stage-1 pretraining objectives (§III-B, eq.3, 4, 5, 7)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_xemogpt import XEmoGPTConfig
from .contrastive import ContrastiveAlignmentHead
from .modeling_bridge import AttentionPooling, BridgePreTrainedModel, bridge_encoder


class VideoEmotionalCueBridge(nn.Module):
    r"""Eq.1: :math:`H_v = \mathrm{Transformer}(X_v + \mathrm{PE}(X_v))` over the per-frame CLIP features.

    ``PE`` is a learnable positional encoding, one vector per frame position (up to ``config.num_frames``). The
    Transformer is what ``config.bridge_layer_type`` names (``CLIPEncoderLayer`` x N for ``"backbone"``).
    """

    def __init__(self, config: XEmoGPTConfig):
        super().__init__()
        hidden_size = config.vision_config.hidden_size
        self.num_frames = config.num_frames
        self.position_embedding = nn.Parameter(torch.zeros(config.num_frames, hidden_size))
        self.encoder = bridge_encoder(config, "vision")

    def forward(self, frame_features: torch.Tensor) -> torch.Tensor:
        """``frame_features``: ``[B, T, Dv]`` with ``T <= num_frames``; returns ``H_v`` of the same shape."""
        if frame_features.dim() != 3:
            raise ValueError(f"VECB expects frame features [batch, frames, dim], got shape {tuple(frame_features.shape)}")
        num_frames = frame_features.shape[1]
        if num_frames > self.num_frames:
            raise ValueError(
                f"VECB was built for at most {self.num_frames} frames (config.num_frames), got {num_frames}"
            )
        hidden = frame_features + self.position_embedding[:num_frames].to(frame_features.dtype)
        return self.encoder(hidden)

    def _init_own_parameters(self):
        init.normal_(self.position_embedding, mean=0.0, std=0.02)


@dataclass
class VECBPretrainingOutput(ModelOutput):
    """Losses of eq.7 and the normalised embeddings used for video-caption retrieval."""

    loss: torch.FloatTensor | None = None
    loss_contrastive: torch.FloatTensor | None = None
    loss_temporal: torch.FloatTensor | None = None
    loss_mfm: torch.FloatTensor | None = None
    video_embeds: torch.FloatTensor | None = None
    text_embeds: torch.FloatTensor | None = None
    temporal_logits: torch.FloatTensor | None = None


def random_frame_order(batch_size: int, num_frames: int, device=None, generator=None):
    """Eq.4 inputs: for every clip, with probability 1/2 a random non-identity permutation (label 0, shuffled),
    otherwise the identity (label 1, ordered). Returns ``(permutations [B, T], labels [B])``."""
    identity = torch.arange(num_frames, device=device)
    perms, labels = [], []
    ordered = torch.rand(batch_size, generator=generator, device="cpu") < 0.5
    for is_ordered in ordered.tolist():
        if is_ordered or num_frames < 2:
            perms.append(identity)
            labels.append(1.0)
            continue
        perm = torch.randperm(num_frames, generator=generator).to(device)
        while torch.equal(perm, identity):
            perm = torch.randperm(num_frames, generator=generator).to(device)
        perms.append(perm)
        labels.append(0.0)
    return torch.stack(perms), torch.tensor(labels, device=device)


def random_frame_mask(batch_size: int, num_frames: int, ratio: float, device=None, generator=None) -> torch.Tensor:
    """Eq.5's set M: ``max(1, round(ratio * T))`` masked positions per clip, chosen uniformly. Bool ``[B, T]``."""
    num_masked = max(1, int(round(ratio * num_frames)))
    scores = torch.rand(batch_size, num_frames, generator=generator)
    idx = scores.argsort(dim=1)[:, :num_masked]
    mask = torch.zeros(batch_size, num_frames, dtype=torch.bool)
    mask.scatter_(1, idx, True)
    return mask.to(device)


class VECBForPretraining(BridgePreTrainedModel):
    r"""Stage 1 (§III-D1): VECB trained on frozen per-frame features with

    * Contrastive Video Emotional Cue Alignment (eq.3): InfoNCE between the temporally pooled ``H_v`` and the frozen
      text embedding of the clip's emotional cue caption, with a learnable temperature;
    * Frame Temporal Discrimination (eq.4): an MLP on the pooled output of a shuffled-or-ordered copy predicts
      whether the frames are in order (BCE);
    * Masked Frame Modeling (eq.5): a subset of frame features is replaced by a learnable mask token and VECB
      reconstructs the original features at those positions (squared error on masked positions only, averaged
      over positions and feature dimensions so the scale does not depend on batch size).

    Total loss eq.7: ``L = L_cl + w1 * L_temp + w2 * L_mfm`` with ``w1 = config.temporal_loss_weight`` and
    ``w2 = config.mfm_loss_weight``. The frozen CLIP tower is not part of this model: it takes the features
    (``XEmoGPTForConditionalGeneration.get_frame_features``), so they can be cached on disk.
    """

    main_input_name = "frame_features"

    def __init__(self, config: XEmoGPTConfig):
        super().__init__(config)
        hidden_size = config.vision_config.hidden_size
        self.bridge = VideoEmotionalCueBridge(config)
        self.alignment = ContrastiveAlignmentHead(
            hidden_size, config.vecb_text_embed_dim, config.contrastive_dim, config.temperature_init,
            gather_across_ranks=config.contrastive_gather_across_ranks,
        )
        # bridge_layer_type "backbone" has the authors' heads: attention pooling, the temporal MLP (ReLU) on the
        # projected embedding, masked frames set to zero; "pre_norm" pools by the mean, puts the temporal MLP (GELU)
        # on the pooled bridge output and masks with a learnable token
        self.authors_heads = config.bridge_layer_type == "backbone"
        self.attention_pooling = AttentionPooling(hidden_size) if self.authors_heads else None
        if self.authors_heads:
            width = config.contrastive_dim
            self.temporal_head = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 1))
            self.mask_token = None
        else:
            self.temporal_head = nn.Sequential(
                nn.Linear(hidden_size, hidden_size), nn.GELU(), nn.Linear(hidden_size, 1)
            )
            self.mask_token = nn.Parameter(torch.zeros(hidden_size))
        self.mfm_head = nn.Linear(hidden_size, hidden_size)
        self.post_init()

    def _init_own_parameters(self):
        if self.mask_token is not None:
            init.normal_(self.mask_token, mean=0.0, std=0.02)

    def pool(self, hidden: torch.Tensor) -> torch.Tensor:
        """``h_v``: the temporal pooling of ``H_v`` (attention pooling for ``"backbone"`` bridges, else the mean)."""
        return hidden.mean(dim=1) if self.attention_pooling is None else self.attention_pooling(hidden)

    def temporal_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Eq.4's MLP on a (shuffled or ordered) ``H_v``: one logit per clip."""
        pooled = self.pool(hidden)
        if self.authors_heads:
            pooled = self.alignment.modality_projection(pooled)
        return self.temporal_head(pooled).squeeze(-1)

    # -- the three objectives, usable on their own (and tested against hand computations) ------------------------
    @staticmethod
    def temporal_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Eq.4: BCE between the MLP logit and ``y`` (1 = ordered)."""
        return F.binary_cross_entropy_with_logits(logits.float(), labels.float())

    @staticmethod
    def mfm_loss(predicted: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Eq.5 on masked positions only: mean over masked positions and dims of ``(x_hat - x)^2``."""
        if not mask.any():
            return predicted.sum() * 0.0
        return F.mse_loss(predicted[mask].float(), target[mask].float())

    def forward(
        self,
        frame_features: torch.Tensor,
        text_embeds: torch.Tensor | None = None,
        frame_order: torch.Tensor | None = None,
        order_labels: torch.Tensor | None = None,
        mfm_mask: torch.Tensor | None = None,
        return_loss: bool = True,
        **kwargs,
    ) -> VECBPretrainingOutput:
        r"""
        frame_features (`[B, T, Dv]`): frozen per-frame CLIP features ``X_v``.
        text_embeds (`[B, Dt]`): frozen text embeddings ``h_t`` of the clips' cue captions.
        frame_order / order_labels (`[B, T]` / `[B]`, optional): the permutations and labels of eq.4 (random if None).
        mfm_mask (`[B, T]` bool, optional): the masked positions ``M`` of eq.5 (random if None).
        """
        batch_size, num_frames, _ = frame_features.shape
        device = frame_features.device
        hidden = self.bridge(frame_features)
        pooled = self.pool(hidden)  # h_v
        if text_embeds is None:
            video_embeds = F.normalize(self.alignment.modality_projection(pooled), dim=-1)
            return VECBPretrainingOutput(video_embeds=video_embeds)

        loss_cl, video_embeds, text_out = self.alignment(pooled, text_embeds)
        if not return_loss:
            return VECBPretrainingOutput(video_embeds=video_embeds, text_embeds=text_out)

        # eq.4: shuffled vs ordered copies
        if frame_order is None:
            frame_order, order_labels = random_frame_order(batch_size, num_frames, device=device)
        elif order_labels is None:
            identity = torch.arange(num_frames, device=device)
            order_labels = (frame_order == identity).all(dim=1).float()
        reordered = torch.gather(frame_features, 1, frame_order.unsqueeze(-1).expand_as(frame_features))
        temporal_logits = self.temporal_logits(self.bridge(reordered))
        loss_temp = self.temporal_loss(temporal_logits, order_labels.to(device))

        # eq.5: masked frame modelling
        if mfm_mask is None:
            mfm_mask = random_frame_mask(batch_size, num_frames, self.config.mfm_mask_ratio, device=device)
        mfm_mask = mfm_mask.to(device).bool()
        mask_value = frame_features.new_zeros(()) if self.mask_token is None else self.mask_token.to(frame_features.dtype)
        masked_inputs = torch.where(mfm_mask.unsqueeze(-1), mask_value, frame_features)
        reconstructed = self.mfm_head(self.bridge(masked_inputs))
        loss_mfm = self.mfm_loss(reconstructed, frame_features.detach(), mfm_mask)

        loss = loss_cl + self.config.temporal_loss_weight * loss_temp + self.config.mfm_loss_weight * loss_mfm
        return VECBPretrainingOutput(
            loss=loss,
            loss_contrastive=loss_cl.detach(),
            loss_temporal=loss_temp.detach(),
            loss_mfm=loss_mfm.detach(),
            video_embeds=video_embeds,
            text_embeds=text_out,
            temporal_logits=temporal_logits,
        )


__all__ = ["VideoEmotionalCueBridge", "VECBForPretraining", "VECBPretrainingOutput"]
