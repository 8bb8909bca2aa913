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

from .bridge_stage import bridge_training_defaults
from .config_utils import load_config, section
from .data.media_check import MediaGuard
from .frozen_encoders import FrozenMediaEncoders
from .model_loading import model_section
from .runtime import debug_section, runtime_section, stage_entry_point

STAGE = "stage1_vecb"


def defaults() -> dict:
    return dict(
        model=model_section(),
        encoders=section(text="clip:openai/clip-vit-large-patch14", device=None),
        data=section(train=None, eval=None, caption="short_caption", max_train_samples=None, max_eval_samples=None,
                     on_bad_media="error"),
        cache=section(dir=".cache/xemogpt-features", enabled=True, batch_size=32, num_workers=0, dtype="float32",
                      preload=True),
        training=bridge_training_defaults("outputs/stage1_vecb", per_device_train_batch_size=512, learning_rate=3e-4,
                                          num_train_epochs=30, bf16=True),
        runtime=runtime_section(),
        debug=debug_section(),
        overwrite=False,
    )


# ----------------------------------------------------------------------------------------------------------- data
class OnTheFlyVideoDataset(torch.utils.data.Dataset):
    """``cache.enabled: false``: decode and encode every clip at every step (the naive way; for the benchmark)."""

    def __init__(self, paths, tcache, tkeys, ids):
        self.paths, self.tcache, self.tkeys, self.ids = paths, tcache, tkeys, ids

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return {"video_path": self.paths[i], "record_id": self.ids[i],
                "text_embeds": self.tcache.get(self.tkeys[i])["embedding"].float()}


def make_collator(encoders: FrozenMediaEncoders | None = None, guard: MediaGuard | None = None):
    def collate(rows):
        if "frame_features" in rows[0]:
            frames = torch.stack([r["frame_features"] for r in rows])
        else:  # on the fly; a clip that fails to decode: one line naming its record, or dropped (data.on_bad_media)
            loaded = (guard or MediaGuard()).load(rows, lambda r: (r["record_id"], [("video", r["video_path"])]),
                                                  lambda kind, path: encoders.load_video(path))
            rows = [r for r, _ in loaded]
            frames = torch.stack([f["features"] for f in encoders.video_features([m["video"] for _, m in loaded])])
        return {"text_embeds": torch.stack([r["text_embeds"] for r in rows]), "frame_features": frames}

    return collate


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
        feature_desc="CLIP frame features", on_the_fly_dataset=OnTheFlyVideoDataset, make_collator=make_collator,
        feed_all_media=True,
    ))


if __name__ == "__main__":
    stage_entry_point(main)
