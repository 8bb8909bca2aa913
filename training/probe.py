r"""Encoder probe (paper §VI-D, Table IV): a linear classifier on frozen features, raw encoder vs encoder + bridge.

For every labelled EmoCue record (``emotion``), the clip's frozen features are pooled over time:

* ``CLIP`` (raw): mean of the per-frame CLIP features X_v;  ``CLIP+VECB``: mean of the VECB output H_v (eq.1);
* ``HuBERT`` (raw): masked mean of the HuBERT frames X_a;    ``HuBERT+AECB``: masked mean of the AECB output H_a (eq.2).

A multinomial logistic regression (scikit-learn, standardised inputs) is fitted on the training split and scored on
the test split with UAR (mean per-class recall, ``balanced_accuracy_score``) and WAR (accuracy), in percent.

    python -m training.probe --preset tiny --train_file data/synthetic/emocue_train.jsonl \
        --test_file data/synthetic/emocue_test.jsonl --vecb outputs/stage1_vecb_tiny --aecb outputs/stage2_aecb_tiny

Features come from the same on-disk cache as stages 1 and 2 (keyed by file content and encoder). The table is printed
and written to ``output`` (JSON, plus a Markdown twin).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

if __name__ == "__main__" and not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "training"

import numpy as np
import torch

from .config_utils import ConfigError, json_mapping, parse_config
from .data.sample import audio_source
from .frozen_encoders import FrozenMediaEncoders
from .runtime import apply_runtime, load_stage_records, stage_entry_point
from .stage_arguments import CacheArguments, ModelArguments


@dataclass
class ProbeConfig(ModelArguments, CacheArguments):
    """The probe's settings: the model whose frozen towers give the features, the bridges, the labelled data."""

    preset: str = field(default="tiny", metadata={"help": "model preset (tiny or paper)", "choices": ("tiny", "paper")})
    vecb: str | None = field(default=None, metadata={"help": "a stage-1 output: adds the CLIP+VECB rows"})
    aecb: str | None = field(default=None, metadata={"help": "a stage-2 output: adds the HuBERT+AECB rows"})
    train_file: str | None = field(default=None, metadata={"help": "labelled EmoCue records the probe is fitted on"})
    test_file: str | None = field(default=None, metadata={"help": "labelled EmoCue records it is scored on"})
    label_field: list[str] = field(default_factory=lambda: ["emotion"], metadata={
        "help": "record fields to predict, or dotted paths such as factors.mouth (one row each)"})
    max_train_samples: int | None = field(default=None, metadata={"help": "the first N training records only"})
    max_test_samples: int | None = field(default=None, metadata={"help": "the first N test records only"})
    modalities: list[str] = field(default_factory=lambda: ["visual", "audio"], metadata={
        "help": "visual (CLIP rows) and/or audio (HuBERT rows)"})
    C: float = field(default=1.0, metadata={"help": "inverse regularisation strength of the logistic regression"})
    max_iter: int = field(default=2000, metadata={"help": "iterations of the logistic regression"})
    output: str = field(default="outputs/probe/probe.json", metadata={"help": "the JSON table (and a .md twin)"})
    device: str | None = field(default=None, metadata={"help": "device of the frozen encoders (default cpu)"})
    torch_threads: int | None = field(default=None, metadata={"help": "intra-op threads of torch"})
    cache_batch_size: int = field(default=32, metadata={"help": "clips per batch while filling the cache"})
    cache_num_workers: int = field(default=0, metadata={"help": "media decoding workers while filling the cache"})
    cache_dtype: str = field(default="float32", metadata={"help": "dtype of the cached features"})

    def __post_init__(self):
        self.config_overrides = json_mapping(self.config_overrides, "config_overrides")


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
        cache = FeatureCache(cfg.cache_dir, encoders.video_encoder_name, dtype=cfg.cache_dtype)
        keep = [r for r in records if r.get("video")]
        paths = [r["video"] for r in keep]
        load, compute, desc = encoders.load_video, encoders.video_features, "CLIP frame features"
    else:
        cache = FeatureCache(cfg.cache_dir, encoders.audio_encoder_name, dtype=cfg.cache_dtype)
        sources = [(r, audio_source(r, feed_all_media=False)) for r in records]
        keep = [r for r, src in sources if src]
        paths = [src for _, src in sources if src]
        load, compute, desc = encoders.load_audio, encoders.audio_features, "HuBERT frames"
    keys = [file_key(p) for p in paths]
    cache.fill(paths, keys, compute, batch_size=int(cfg.cache_batch_size), desc=desc, load=load,
               num_workers=int(cfg.cache_num_workers))
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
    """``[--config FILE.yaml] [--field value ...]`` parsed into a :class:`ProbeConfig`, then :func:`run`."""
    return run(parse_config(ProbeConfig, argv))


def probe_rows(encoders: FrozenMediaEncoders, cfg, train: list[dict], test: list[dict], label_fields: list[str],
               bridges: dict, kinds=("visual", "audio")) -> list[dict]:
    """Table IV rows: for each modality in ``kinds`` and each label field, a linear probe on the raw frozen features
    and on the output of the bridge in ``bridges`` (``{"vecb": dir, "aecb": dir}``), held-out UAR/WAR."""
    from modeling_xemogpt.modeling_aecb import AECBForPretraining
    from modeling_xemogpt.modeling_vecb import VECBForPretraining

    rows = []
    for kind in kinds:
        if kind not in ("visual", "audio"):
            raise ConfigError(f"modalities: use 'visual' and/or 'audio', got {kind!r}")
        tr_rec, tr_feats = media_features(encoders, cfg, train, kind)
        te_rec, te_feats = media_features(encoders, cfg, test, kind)
        if not tr_rec or not te_rec:
            continue
        raw_name = "CLIP" if kind == "visual" else "HuBERT"
        variants = [(raw_name, None)]
        name = "vecb" if kind == "visual" else "aecb"
        if bridges.get(name):
            if not (Path(bridges[name]) / "config.json").exists():
                raise ConfigError(f"{name} {bridges[name]!r} holds no bridge checkpoint (run stage 1/2 first)")
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
                res = fit_probe(x_tr[tr_idx], y_tr, x_te[te_idx], y_te, C=float(cfg.C),
                                max_iter=int(cfg.max_iter))
                rows.append({"model": variant, "modal": "V" if kind == "visual" else "A", "label": field, **res,
                             "train": len(tr_idx), "test": len(te_idx), "classes": len(set(y_tr) | set(y_te))})
    return rows


def run(cfg: ProbeConfig) -> dict:
    from .metrics import write_json

    t0 = time.perf_counter()
    apply_runtime(cfg)
    fields = list(cfg.label_field)
    train = _labelled(cfg.train_file, "training set", fields, cfg.max_train_samples)
    test = _labelled(cfg.test_file, "test set", fields, cfg.max_test_samples)
    encoders = FrozenMediaEncoders(cfg, device=cfg.device or "cpu")
    rows = probe_rows(encoders, cfg, train, test, fields, {"vecb": cfg.vecb, "aecb": cfg.aecb}, cfg.modalities)
    result = {"rows": rows, "label_field": fields[0] if len(fields) == 1 else fields,
              "wall_time_s": time.perf_counter() - t0}
    out = Path(cfg.output)
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
