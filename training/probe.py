r"""Encoder probe (paper §VI-D, Table IV): a linear classifier on frozen features, raw encoder vs encoder + bridge.

For every labelled EmoCue record (``emotion``), the clip's frozen features are pooled over time:

* ``CLIP`` (raw): mean of the per-frame CLIP features X_v;  ``CLIP+VECB``: mean of the VECB output H_v (eq.1);
* ``HuBERT`` (raw): masked mean of the HuBERT frames X_a;    ``HuBERT+AECB``: masked mean of the AECB output H_a (eq.2).

A multinomial logistic regression (scikit-learn, standardised inputs) is fitted on the training split and scored on
the test split with UAR (mean per-class recall, ``balanced_accuracy_score``) and WAR (accuracy), in percent.

    python -m training.probe --model.preset tiny --data.train data/synthetic/emocue_train.jsonl --data.test data/synthetic/emocue_test.jsonl \
        --bridges.vecb outputs/stage1_vecb_tiny --bridges.aecb outputs/stage2_aecb_tiny

Features come from the same on-disk cache as stages 1 and 2 (keyed by file content and encoder). The table is printed
and written to ``probe.output`` (JSON, plus a Markdown twin).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if __name__ == "__main__" and not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "training"

import numpy as np
import torch

from .config_utils import ConfigError, section
from .data.sample import audio_source
from .frozen_encoders import FrozenMediaEncoders
from .model_loading import model_section
from .runtime import apply_runtime, load_stage_records, runtime_section, stage_entry_point


def defaults() -> dict:
    return dict(
        model=model_section(),
        bridges=section(vecb=None, aecb=None),
        # label_field: a record field, or a dotted path such as factors.mouth; or a list of them (one row each)
        data=section(train=None, test=None, label_field="emotion", max_train_samples=None, max_test_samples=None),
        cache=section(dir=".cache/xemogpt-features", batch_size=32, num_workers=0, dtype="float32"),
        runtime=runtime_section(),
        probe=section(modalities=["visual", "audio"], C=1.0, max_iter=2000, output="outputs/probe/probe.json",
                      device=None),
    )


def record_label(record: dict, field: str):
    """The value of ``field`` in a record; a dotted path reads nested dicts (``factors.mouth``)."""
    value = record
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value or None


def _labelled(path, what, label_fields, limit):
    records = [r for r in load_stage_records(path, what) if any(record_label(r, f) for f in label_fields)]
    if limit:
        records = records[: int(limit)]
    if not records:
        raise ConfigError(f"{what} {str(path)!r} has no record with a {' / '.join(label_fields)} label")
    return records


def media_features(encoders: FrozenMediaEncoders, cfg, records, kind: str):
    from .feature_cache import FeatureCache, file_key

    if kind == "visual":
        cache = FeatureCache(cfg.cache.dir, encoders.video_encoder_name, dtype=cfg.cache.dtype)
        keep = [r for r in records if r.get("video")]
        paths = [r["video"] for r in keep]
        load, compute, desc = encoders.load_video, encoders.video_features, "CLIP frame features"
    else:
        cache = FeatureCache(cfg.cache.dir, encoders.audio_encoder_name, dtype=cfg.cache.dtype)
        sources = [(r, audio_source(r, feed_all_media=False)) for r in records]
        keep = [r for r, src in sources if src]
        paths = [src for _, src in sources if src]
        load, compute, desc = encoders.load_audio, encoders.audio_features, "HuBERT frames"
    keys = [file_key(p) for p in paths]
    cache.fill(paths, keys, compute, batch_size=int(cfg.cache.batch_size), desc=desc, load=load,
               num_workers=int(cfg.cache.num_workers))
    return keep, [cache.get(k)["features"].float() for k in keys]


@torch.no_grad()
def pool_features(feats: list[torch.Tensor], bridge=None, kind="visual", batch_size=64) -> np.ndarray:
    from .stage2_aecb import pad_audio

    out = []
    for start in range(0, len(feats), batch_size):
        chunk = feats[start : start + batch_size]
        if kind == "visual":
            x = torch.stack(chunk)
            h = bridge(x) if bridge is not None else x
            out.append(h.mean(1))
        else:
            x, mask = pad_audio(chunk)
            h = bridge(x, mask) if bridge is not None else x
            m = mask.unsqueeze(-1).float()
            out.append((h * m).sum(1) / m.sum(1).clamp(min=1))
    return torch.cat(out).numpy()


def fit_probe(x_train, y_train, x_test, y_test, C=1.0, max_iter=2000) -> dict:
    """UAR/WAR of :func:`training.linear_probe.linear_probe` on the test split."""
    from .linear_probe import linear_probe
    from .metrics import uar_war

    return uar_war(y_test, linear_probe(x_train, y_train, x_test, C=C, max_iter=max_iter))


def main(argv: list[str] | None = None) -> dict:
    from .config_utils import load_config

    cfg, _ = load_config(defaults(), argv, __doc__)
    return run(cfg)


def probe_rows(encoders: FrozenMediaEncoders, cfg, train: list[dict], test: list[dict], label_fields: list[str],
               bridges: dict, kinds=("visual", "audio")) -> list[dict]:
    """Table IV rows: for each modality in ``kinds`` and each label field, a linear probe on the raw frozen features
    and on the output of the bridge in ``bridges`` (``{"vecb": dir, "aecb": dir}``), held-out UAR/WAR."""
    from modeling_xemogpt.modeling_aecb import AECBForPretraining
    from modeling_xemogpt.modeling_vecb import VECBForPretraining

    rows = []
    for kind in kinds:
        if kind not in ("visual", "audio"):
            raise ConfigError(f"probe.modalities: use 'visual' and/or 'audio', got {kind!r}")
        tr_rec, tr_feats = media_features(encoders, cfg, train, kind)
        te_rec, te_feats = media_features(encoders, cfg, test, kind)
        if not tr_rec or not te_rec:
            continue
        raw_name = "CLIP" if kind == "visual" else "HuBERT"
        variants = [(raw_name, None)]
        name = "vecb" if kind == "visual" else "aecb"
        if bridges.get(name):
            if not (Path(bridges[name]) / "config.json").exists():
                raise ConfigError(f"bridges.{name} {bridges[name]!r} holds no bridge checkpoint (run stage 1/2 first)")
            cls = VECBForPretraining if kind == "visual" else AECBForPretraining
            variants.append((f"{raw_name}+{name.upper()}", cls.from_pretrained(bridges[name]).bridge.eval()))
        for variant, bridge in variants:
            x_tr, x_te = pool_features(tr_feats, bridge, kind), pool_features(te_feats, bridge, kind)
            for field in label_fields:
                tr_idx = [i for i, r in enumerate(tr_rec) if record_label(r, field)]
                te_idx = [i for i, r in enumerate(te_rec) if record_label(r, field)]
                y_tr = [record_label(tr_rec[i], field) for i in tr_idx]
                y_te = [record_label(te_rec[i], field) for i in te_idx]
                if len(set(y_tr)) < 2 or not te_idx:
                    continue
                res = fit_probe(x_tr[tr_idx], y_tr, x_te[te_idx], y_te, C=float(cfg.probe.C),
                                max_iter=int(cfg.probe.max_iter))
                rows.append({"model": variant, "modal": "V" if kind == "visual" else "A", "label": field, **res,
                             "train": len(tr_idx), "test": len(te_idx), "classes": len(set(y_tr) | set(y_te))})
    return rows


def run(cfg) -> dict:
    from .metrics import write_json

    t0 = time.perf_counter()
    apply_runtime(cfg)
    fields = cfg.data.label_field
    fields = [fields] if isinstance(fields, str) else list(fields)
    train = _labelled(cfg.data.train, "training set", fields, cfg.data.max_train_samples)
    test = _labelled(cfg.data.test, "test set", fields, cfg.data.max_test_samples)
    encoders = FrozenMediaEncoders(cfg.model, device=cfg.probe.get("device") or "cpu")
    rows = probe_rows(encoders, cfg, train, test, fields, dict(cfg.bridges), cfg.probe.modalities)
    result = {"rows": rows, "label_field": cfg.data.label_field, "wall_time_s": time.perf_counter() - t0}
    out = Path(cfg.probe.output)
    write_json(out, result)
    if len(fields) == 1:
        md = ["| Model | Modal | UAR | WAR |", "|---|---|---|---|"]
        md += [f"| {r['model']} | {r['modal']} | {r['uar']:.1f} | {r['war']:.1f} |" for r in rows]
    else:
        md = ["| Model | Modal | Label | UAR | WAR |", "|---|---|---|---|---|"]
        md += [f"| {r['model']} | {r['modal']} | {r['label']} | {r['uar']:.1f} | {r['war']:.1f} |" for r in rows]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md), flush=True)
    return result


if __name__ == "__main__":
    stage_entry_point(main)
