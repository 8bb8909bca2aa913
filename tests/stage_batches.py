"""Deterministic global batches and models for the 1-process vs N-process comparisons of the three stages' models
(tests/test_contrastive_across_ranks.py, tests/fsdp_cpu_worker.py). Every process builds the same ones."""

from __future__ import annotations

import torch

from modeling_xemogpt import AECBForPretraining, VECBForPretraining, XEmoGPTConfig, XEmoGPTForConditionalGeneration
from modeling_xemogpt.modeling_vecb import random_frame_mask

GLOBAL_BATCH = 8


def tiny_config(gather: bool = True) -> XEmoGPTConfig:
    return XEmoGPTConfig.from_preset(
        "tiny", vecb_text_embed_dim=12, aecb_text_embed_dim=10, bridge_dropout=0.0,
        contrastive_gather_across_ranks=gather,
    )


def make_model(kind: str, gather: bool = True):
    """``vecb`` / ``aecb`` (stage 1 / 2) or ``xemogpt`` (stage 3, before LoRA) with the same weights everywhere."""
    torch.manual_seed(0)
    cls = {"vecb": VECBForPretraining, "aecb": AECBForPretraining, "xemogpt": XEmoGPTForConditionalGeneration}[kind]
    return cls(tiny_config(gather)).train()


def make_batch(kind: str, size: int = GLOBAL_BATCH) -> dict:
    """One global batch fixed by the seed (eq.4 permutations and eq.5 masks given, so every rank agrees)."""
    g = torch.Generator().manual_seed(1)
    if kind == "vecb":
        order = torch.stack([torch.randperm(16, generator=g) if i % 2 else torch.arange(16) for i in range(size)])
        mask = random_frame_mask(size, 16, 0.25, generator=g)  # the same count per clip, as in training
        return {"frame_features": torch.randn(size, 16, 64, generator=g),
                "text_embeds": torch.randn(size, 12, generator=g), "frame_order": order, "mfm_mask": mask}
    if kind == "aecb":
        lengths = torch.randint(5, 21, (size,), generator=g)
        attention_mask = (torch.arange(20)[None, :] < lengths[:, None]).long()
        return {"audio_features": torch.randn(size, 20, 64, generator=g), "attention_mask": attention_mask,
                "text_embeds": torch.randn(size, 10, generator=g)}
    # stage 3: 16 video tokens, 10 audio tokens, 12 answer tokens per sample (the same count, so that the mean
    # answer-token loss of each rank averages to the global one); frozen-tower features given directly
    config = tiny_config()
    media = [config.video_token_id] * 16 + [config.audio_token_id] * 10
    answer = torch.randint(5, config.text_config.vocab_size, (size, 12), generator=g)
    input_ids = torch.cat([torch.tensor(media).expand(size, -1), answer], dim=1)
    labels = torch.cat([torch.full((size, len(media)), -100), answer], dim=1)
    modality = torch.tensor([i % 3 for i in range(size)])  # multimodal / visual / audio: gradient blocking per sample
    return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids), "labels": labels,
            "video_frame_features": torch.randn(size, 16, 64, generator=g),
            "audio_frame_features": torch.randn(size, 10, 64, generator=g), "modality": modality}


def rows(batch: dict, start: int, stop: int) -> dict:
    return {k: v[start:stop] for k, v in batch.items()}
