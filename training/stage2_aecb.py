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
from pathlib import Path

if __name__ == "__main__" and not __package__:  # `accelerate launch training/stage2_aecb.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "training"

import torch

from .bridge_stage import bridge_training_defaults
from .config_utils import load_config, section
from .data.media_check import MediaGuard
from .data.sample import audio_source
from .frozen_encoders import FrozenMediaEncoders
from .model_loading import model_section
from .runtime import debug_section, runtime_section, stage_entry_point

STAGE = "stage2_aecb"


def defaults() -> dict:
    return dict(
        model=model_section(),
        encoders=section(text="sentence-transformers:sentence-transformers/LaBSE", device=None),
        data=section(train=None, eval=None, caption="short_caption", max_train_samples=None, max_eval_samples=None,
                     on_bad_media="error"),
        cache=section(dir=".cache/xemogpt-features", enabled=True, batch_size=32, num_workers=0, dtype="float32",
                      preload=True),
        training=bridge_training_defaults("outputs/stage2_aecb", per_device_train_batch_size=448, learning_rate=3e-4,
                                          num_train_epochs=30, bf16=True),
        runtime=runtime_section(),
        debug=debug_section(),
        overwrite=False,
    )


def record_audio(record: dict) -> str | None:
    """The audio of a multimodal or audio record (its audio file or its video's track); visual records have none."""
    return audio_source(record, feed_all_media=False)


class OnTheFlyAudioDataset(torch.utils.data.Dataset):
    """``cache.enabled: false``: decode and encode every clip at every step (the naive way; for the benchmark)."""

    def __init__(self, paths, tcache, tkeys, ids):
        self.paths, self.tcache, self.tkeys, self.ids = paths, tcache, tkeys, ids

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return {"audio_path": self.paths[i], "record_id": self.ids[i],
                "text_embeds": self.tcache.get(self.tkeys[i])["embedding"].float()}


def pad_audio(features: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad ``[La_i, Da]`` frame sequences to ``[B, max La, Da]`` with a ``[B, max La]`` mask (1 = real)."""
    n = max(f.shape[0] for f in features)
    out = features[0].new_zeros(len(features), n, features[0].shape[1])
    mask = torch.zeros(len(features), n, dtype=torch.long)
    for i, f in enumerate(features):
        out[i, : f.shape[0]] = f
        mask[i, : f.shape[0]] = 1
    return out, mask


def make_collator(encoders: FrozenMediaEncoders | None = None, guard: MediaGuard | None = None):
    def collate(rows):
        if "audio_features" in rows[0]:
            feats = [r["audio_features"] for r in rows]
        else:  # on the fly; a clip that fails to decode: one line naming its record, or dropped (data.on_bad_media)
            loaded = (guard or MediaGuard()).load(rows, lambda r: (r["record_id"], [("audio", r["audio_path"])]),
                                                  lambda kind, path: encoders.load_audio(path))
            rows = [r for r, _ in loaded]
            feats = [f["features"] for f in encoders.audio_features([m["audio"] for _, m in loaded])]
        audio_features, attention_mask = pad_audio(feats)
        return {"audio_features": audio_features, "attention_mask": attention_mask,
                "text_embeds": torch.stack([r["text_embeds"] for r in rows])}

    return collate


def main(argv: list[str] | None = None) -> dict:
    cfg, _ = load_config(defaults(), argv, __doc__)
    return run(cfg)


def run(cfg) -> dict:
    from modeling_xemogpt.modeling_aecb import AECBForPretraining

    from .bridge_stage import BridgeStage, run_bridge_stage

    return run_bridge_stage(cfg, BridgeStage(
        name=STAGE, medium="audio", feature_field="audio_features", text_dim_attr="aecb_text_embed_dim",
        model_class=AECBForPretraining, media_path=record_audio, media_phrase="audio",
        feature_desc="HuBERT frames", on_the_fly_dataset=OnTheFlyAudioDataset, make_collator=make_collator,
        feed_all_media=False,
    ))


if __name__ == "__main__":
    stage_entry_point(main)
