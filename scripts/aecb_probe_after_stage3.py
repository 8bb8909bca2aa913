"""Linear probe of intonation and pitch on the pooled AECB output of a finished `xemogpt demo`: the stage-2 AECB,
the stage-3 AECB of the exported checkpoint, and the stage-3 AECB + audio projection (what the LLM receives, pooled).
Trained on the demo's training clips, scored on its held-out clips; WAR in %.

    .venv/bin/python scripts/aecb_probe_after_stage3.py demo_output
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from pathlib import Path
from training.data.loaders import load_records
from training.frozen_encoders import FrozenMediaEncoders
from training.probe import ProbeConfig, fit_probe, media_features, pool_features
from modeling_xemogpt import XEmoGPTForConditionalGeneration
from modeling_xemogpt.modeling_aecb import AECBForPretraining
out = Path(sys.argv[1])
cfg = ProbeConfig(base_model=str(out / "untrained"), cache_dir=str(out / "feature_cache"))
enc = FrozenMediaEncoders(cfg)
tr, te = load_records(out/"data/train/emocue.jsonl"), load_records(out/"data/heldout/emocue.jsonl")
trr, trf = media_features(enc, cfg, tr, "audio"); ter, tef = media_features(enc, cfg, te, "audio")
m = XEmoGPTForConditionalGeneration.from_pretrained(out/"checkpoint").eval()
s2 = AECBForPretraining.from_pretrained(out/"stage2_aecb").bridge.eval()
for name, br in (("stage2 AECB", s2), ("stage3 AECB", m.aecb), ("stage3 AECB+proj", lambda x, mk: m.audio_projection(m.aecb(x, mk)))):
    for f in ("intonation", "pitch"):
        ytr=[r["factors"][f] for r in trr]; yte=[r["factors"][f] for r in ter]
        print(name, f, fit_probe(pool_features(trf, br, "audio"), ytr, pool_features(tef, br, "audio"), yte)["war"])
