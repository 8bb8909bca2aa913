"""Stage 1 (paper §III-B, §III-D1): train the Video Emotional Cue Bridge on (video, short caption) pairs.

Frozen CLIP vision tower → per-frame features X_v (cached on disk) → VECB → eq.7
``L = InfoNCE(h_v, h_t) + w1 * L_temp + w2 * L_mfm``, where h_t is the frozen text-encoder embedding of the caption
(CLIP text in the paper config; the offline all-MiniLM-L6-v2 in the tiny config), also cached.

    accelerate launch training/stage1_vecb.py --config training/configs/stage1_paper.yaml
    python -m training.stage1_vecb --config training/configs/stage1_tiny.yaml --max_steps 50

Any YAML field can be overridden: ``--learning_rate 1e-3`` or ``--data.train=DIR``. Rerunning a command continues
from the newest ``checkpoint-*`` of the output folder when it holds a run of the same configuration
(:mod:`training.resume`; ``--overwrite`` starts fresh); ``data.on_bad_media: error | skip`` says what records with
unusable media do (:mod:`training.bad_media`). At the end the VECB (``VECBForPretraining``,
safetensors) is saved in ``training.output_dir``, video→caption retrieval on the held-out set is printed and written
with the loss figures to ``metrics.json``; ``loss_history.json`` holds every logged loss.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:  # `accelerate launch training/stage1_vecb.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "training"

import torch

from .bridge_stage import bridge_stage_defaults
from .config_utils import load_config
from .runtime import stage_entry_point

STAGE = "stage1_vecb"


def defaults() -> dict:
    return bridge_stage_defaults(STAGE, "clip:openai/clip-vit-large-patch14", per_device_train_batch_size=512,
                                 learning_rate=3e-4, num_train_epochs=30, bf16=True)


def pack_frames(features: list[torch.Tensor]) -> dict:
    """Per-clip ``[T, Dv]`` frame features -> the VECB's ``frame_features`` ``[B, T, Dv]``."""
    return {"frame_features": torch.stack(features)}


# ----------------------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> dict:
    cfg, config_path = load_config(defaults(), argv, __doc__)
    return run(cfg)


def run(cfg) -> dict:
    from modeling_xemogpt.modeling_vecb import VECBForPretraining

    from .bridge_stage import BridgeStage, run_bridge_stage

    return run_bridge_stage(cfg, BridgeStage(
        name=STAGE, medium="video", feature_field="frame_features", text_dim_attr="vecb_text_embed_dim",
        model_class=VECBForPretraining, media_path=lambda r: r.get("video"), media_phrase="a video",
        feature_desc="CLIP frame features", pack_features=pack_frames, feed_all_media=True,
    ))


if __name__ == "__main__":
    stage_entry_point(main)
