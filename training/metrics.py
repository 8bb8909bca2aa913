"""Evaluation figures for the training stages: cross-modal retrieval (stages 1/2), probe recalls (Table IV)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch


@torch.no_grad()
def retrieval_metrics(media_embeds: torch.Tensor, text_embeds: torch.Tensor, captions: Sequence[str]) -> dict:
    """Media→caption and caption→media retrieval on a held-out set.

    ``media_embeds[i]`` and ``text_embeds[i]`` are the (normalised or not) embeddings of clip ``i`` and of its caption
    ``captions[i]``. Identical captions are merged first, so a clip retrieving a caption that is textually identical
    to its own counts as correct, and the chance level is ``1 / number_of_distinct_captions``.

    Returns ``r1, r5, r10, median_rank`` (media→text), ``t2m_r1`` (a distinct caption retrieves a clip that carries
    it), ``chance_r1`` and ``t2m_chance_r1``, ``num_queries`` and ``num_captions``.
    """
    media = torch.nn.functional.normalize(media_embeds.float(), dim=-1)
    text = torch.nn.functional.normalize(text_embeds.float(), dim=-1)
    if media.shape[0] != len(captions) or text.shape[0] != len(captions):
        raise ValueError(f"got {media.shape[0]} media, {text.shape[0]} text embeddings and {len(captions)} captions")
    unique: dict[str, int] = {}
    target = []
    for c in captions:
        target.append(unique.setdefault(c, len(unique)))
    target_t = torch.tensor(target)
    first = torch.zeros(len(unique), dtype=torch.long)
    for i in reversed(range(len(captions))):
        first[target[i]] = i
    text_u = text[first]
    sims = media @ text_u.T  # [N, U]
    correct = sims.gather(1, target_t[:, None])
    ranks = (sims > correct).sum(1) + 1  # 1 = best
    out = {
        "r1": float((ranks <= 1).float().mean()),
        "r5": float((ranks <= 5).float().mean()),
        "r10": float((ranks <= 10).float().mean()),
        "median_rank": float(ranks.float().median()),
        "chance_r1": 1.0 / len(unique),
        "num_queries": int(len(captions)),
        "num_captions": int(len(unique)),
    }
    # caption -> media: a distinct caption is correct if the best clip carries that caption
    best = (text_u @ media.T).argmax(1)
    out["t2m_r1"] = float((target_t[best] == torch.arange(len(unique))).float().mean())
    counts = torch.bincount(target_t, minlength=len(unique)).float()
    out["t2m_chance_r1"] = float((counts / len(captions)).mean())
    return out


def uar_war(y_true, y_pred) -> dict:
    """Unweighted average recall (mean per-class recall) and weighted average recall (= accuracy), in percent."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    return {
        "uar": 100.0 * float(balanced_accuracy_score(y_true, y_pred)),
        "war": 100.0 * float(accuracy_score(y_true, y_pred)),
    }


def loss_drop(history: list[dict], window: int = 5) -> dict:
    """First/last training loss (means over ``window`` logged values) and their ratio, from a Trainer log history."""
    losses = [(h["step"], h["loss"]) for h in history if "loss" in h and "step" in h]
    if not losses:
        return {}
    w = max(1, min(window, len(losses) // 2 or 1))
    first = float(np.mean([l for _, l in losses[:w]]))
    last = float(np.mean([l for _, l in losses[-w:]]))
    return {
        "loss_first": first,
        "loss_last": last,
        "loss_window": w,
        "loss_drop": first - last,
        "loss_ratio_last_over_first": last / first if first else math.nan,
    }


def write_json(path: str | Path, obj) -> None:
    """Write ``obj`` as indented JSON, atomically (a reader never sees a half-written file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def loss_history(log_history: list[dict]) -> list[dict]:
    """The loss entries of a Trainer log history (``step``, ``epoch``, ``loss`` and any sub-losses)."""
    keep = []
    for h in log_history:
        if "loss" in h:
            keep.append({k: v for k, v in h.items() if isinstance(v, (int, float))})
    return keep


@torch.no_grad()
def embed_pairs(model, dataset, collate, media_attr: str, batch_size: int = 64, device="cpu"):
    """Normalised (media, caption) embeddings of a whole dataset for retrieval: ``model`` is a
    VECB/AECBForPretraining, ``media_attr`` the output field of the media side (``video_embeds`` / ``audio_embeds``)."""
    model.eval()
    media, text = [], []
    for start in range(0, len(dataset), batch_size):
        rows = [dataset[i] for i in range(start, min(len(dataset), start + batch_size))]
        batch = {k: v.to(device) for k, v in collate(rows).items()}
        out = model(**batch, return_loss=False)
        media.append(getattr(out, media_attr).float().cpu())
        text.append(out.text_embeds.float().cpu())
    return torch.cat(media), torch.cat(text)
