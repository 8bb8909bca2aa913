"""Stage 2 (paper §III-C, §III-D2): train the Audio Emotional Cue Bridge on (audio, caption) pairs.

Frozen HuBERT frames X_a (cached on disk) → AECB → masked temporal mean h_a → eq.6/8 ``L = InfoNCE(h_a, h_t)``, where
h_t is the frozen sentence-encoder embedding of the caption (LaBSE in the paper config; the offline
all-MiniLM-L6-v2 in the tiny config), also cached.

    accelerate launch training/stage2_aecb.py --config training/configs/stage2_paper.yaml
    python -m training.stage2_aecb --config training/configs/stage2_tiny.yaml --max_steps 50

Audio comes from a record's ``audio`` file or, when that is empty, from the audio track of its ``video`` (visual-only
records are skipped). Overrides, resume and outputs work as in stage 1 (``metrics.json`` holds audio→caption
retrieval on the held-out set).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

if __name__ == "__main__" and not __package__:  # `accelerate launch training/stage2_aecb.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "training"

import torch

from .bridge_stage import BridgeStageConfig
from .config_utils import parse_config
from .data.sample import audio_source
from .runtime import stage_entry_point
from .stage_arguments import described

STAGE = "stage2_aecb"


@dataclass
class Stage2Config(BridgeStageConfig):
    """Stage 2 settings: :class:`~training.bridge_stage.BridgeStageConfig` with the paper's AECB run
    (§VI-A): batch 448, lr 3e-4, 30 epochs, bf16."""

    output_dir: str | None = described("where checkpoints and outputs go", "outputs/stage2_aecb")
    per_device_train_batch_size: int = described("per process: divide the paper's batch by the number of GPUs", 448)
    text_encoder: str = described("the frozen caption encoder (the paper's LaBSE)",
                                  "sentence-transformers:sentence-transformers/LaBSE")


def record_audio(record: dict) -> str | None:
    """The audio of a multimodal or audio record (its audio file or its video's track); visual records have none."""
    return audio_source(record, feed_all_media=False)


def pad_audio(features: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad ``[La_i, Da]`` frame sequences to ``[B, max La, Da]`` with a ``[B, max La]`` mask (1 = real)."""
    n = max(f.shape[0] for f in features)
    out = features[0].new_zeros(len(features), n, features[0].shape[1])
    mask = torch.zeros(len(features), n, dtype=torch.long)
    for i, f in enumerate(features):
        out[i, : f.shape[0]] = f
        mask[i, : f.shape[0]] = 1
    return out, mask


def pack_audio(features: list[torch.Tensor]) -> dict:
    """Per-clip HuBERT frames -> the AECB's padded ``audio_features`` and their ``attention_mask``."""
    audio_features, attention_mask = pad_audio(features)
    return {"audio_features": audio_features, "attention_mask": attention_mask}


def main(argv: list[str] | None = None) -> dict:
    """``[--config FILE.yaml] [--field value ...]`` parsed into a :class:`Stage2Config`, then :func:`run`."""
    return run(parse_config(Stage2Config, argv))


def run(cfg: Stage2Config) -> dict:
    """Train in this process; returns the figures written to ``metrics.json`` (``output_dir`` included)."""
    from modeling_xemogpt.modeling_aecb import AECBForPretraining

    from .bridge_stage import BridgeStage, run_bridge_stage

    return run_bridge_stage(cfg, BridgeStage(
        name=STAGE, medium="audio", feature_field="audio_features", text_dim_attr="aecb_text_embed_dim",
        model_class=AECBForPretraining, media_path=record_audio, media_phrase="audio",
        feature_desc="HuBERT frames", pack_features=pack_audio, feed_all_media=False,
    ))


if __name__ == "__main__":
    stage_entry_point(main)
