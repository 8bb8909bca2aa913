"""Stage 1 (paper §III-B, §III-D1): train the Video Emotional Cue Bridge on (video, short caption) pairs.

Frozen CLIP vision tower → per-frame features X_v (cached on disk) → VECB → eq.7
``L = InfoNCE(h_v, h_t) + w1 * L_temp + w2 * L_mfm``, where h_t is the frozen text-encoder embedding of the caption
(CLIP text in the paper config; the offline all-MiniLM-L6-v2 in the tiny config), also cached.

    accelerate launch training/stage1_vecb.py --config training/configs/stage1_paper.yaml
    python -m training.stage1_vecb --config training/configs/stage1_tiny.yaml --max_steps 50

Any field of :class:`Stage1Config` can be set in the YAML file or as a flag: ``--learning_rate 1e-3``,
``--train_file DIR`` (``--help`` lists them). Rerunning a command continues
from the newest ``checkpoint-*`` of the output folder when it holds a run of the same configuration
(:mod:`training.resume`; ``--overwrite`` starts fresh); ``--on_bad_media error | skip`` says what records with
unusable media do (:mod:`training.bad_media`). At the end the VECB (``VECBForPretraining``,
safetensors) is saved in ``output_dir``, video→caption retrieval on the held-out set is printed and written
with the loss figures to ``metrics.json``; ``loss_history.json`` holds every logged loss.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

if __name__ == "__main__" and not __package__:  # `accelerate launch training/stage1_vecb.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "training"

import torch

from .bridge_stage import BridgeStageConfig
from .config_utils import parse_config
from .runtime import stage_entry_point
from .stage_arguments import described

STAGE = "stage1_vecb"


@dataclass
class Stage1Config(BridgeStageConfig):
    """Stage 1 settings: :class:`~training.bridge_stage.BridgeStageConfig` with the paper's VECB run
    (§VI-A): batch 512, lr 3e-4, 30 epochs, bf16."""

    output_dir: str | None = described("where checkpoints and outputs go", "outputs/stage1_vecb")
    per_device_train_batch_size: int = described("per process: divide the paper's batch by the number of GPUs", 512)


def pack_frames(features: list[torch.Tensor]) -> dict:
    """Per-clip ``[T, Dv]`` frame features -> the VECB's ``frame_features`` ``[B, T, Dv]``."""
    return {"frame_features": torch.stack(features)}


# ----------------------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> dict:
    """``[--config FILE.yaml] [--field value ...]`` parsed into a :class:`Stage1Config`, then :func:`run`."""
    return run(parse_config(Stage1Config, argv))


def run(cfg: Stage1Config) -> dict:
    """Train in this process; returns the figures written to ``metrics.json`` (``output_dir`` included)."""
    from modeling_xemogpt.modeling_vecb import VECBForPretraining

    from .bridge_stage import BridgeStage, run_bridge_stage

    return run_bridge_stage(cfg, BridgeStage(
        name=STAGE, medium="video", feature_field="frame_features", text_dim_attr="vecb_text_embed_dim",
        model_class=VECBForPretraining, media_path=lambda r: r.get("video"), media_phrase="a video",
        feature_desc="CLIP frame features", pack_features=pack_frames, feed_all_media=True,
    ))


if __name__ == "__main__":
    stage_entry_point(main)
