"""Stage-3 modality gradient control (§III-D3): per-sample modality codes, detaching the emotion tokens of blocked
samples, and whether DeepSpeed trains this process (every rank must then run both branches)."""

from __future__ import annotations

import torch
from transformers.integrations.deepspeed import deepspeed_config

from .vocabulary import MODALITIES


def modality_codes(modality, batch_size: int, device) -> torch.Tensor | None:
    """``modality`` as a LongTensor of indices into ``MODALITIES`` (``None`` means every sample is multimodal)."""
    if modality is None:
        return None
    if isinstance(modality, str):
        modality = [modality] * batch_size
    if isinstance(modality, torch.Tensor):
        codes = modality.to(device=device, dtype=torch.long).reshape(-1)
    else:
        try:
            codes = torch.tensor([MODALITIES.index(m) for m in modality], device=device)
        except ValueError:
            raise ValueError(f"modality must be one of {MODALITIES} per sample, got {list(modality)}") from None
    if codes.numel() != batch_size:
        raise ValueError(f"got {codes.numel()} modality values for a batch of {batch_size} samples")
    if codes.numel() and (codes.min() < 0 or codes.max() >= len(MODALITIES)):
        raise ValueError(f"modality codes must be in 0..{len(MODALITIES) - 1} ({MODALITIES}), got {codes.tolist()}")
    return codes


def under_deepspeed() -> bool:
    """Whether DeepSpeed trains this process (transformers holds its config): then every rank must run the same
    trainable modules in every step. ZeRO-3 gathers a module's parameters with a collective when it runs, and
    ZeRO-1/2/3 reduce gradients in buckets that must hold the same parameters on every rank (a rank whose batch has
    no video would otherwise give VECB no gradient: "Received data size doesn't match expected size")."""
    return deepspeed_config() is not None


def block_gradient(features: torch.Tensor, token_rows: torch.Tensor, blocked_rows: torch.Tensor | None):
    """Detach the rows of ``features`` (one per placeholder token) whose owner sample is blocked (§III-D3).

    The forward value is unchanged, so a blocked sample still *sees* the modality; only the gradient stops.
    """
    if blocked_rows is None or not blocked_rows.any():
        return features
    blocked = blocked_rows[token_rows].unsqueeze(-1)
    return torch.where(blocked, features.detach(), features)
