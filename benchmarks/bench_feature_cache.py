"""One training epoch of stage 1 (VECB), stage 2 (AECB) and stage 3 (instruction tuning) with and without the
frozen-feature cache, side by side.

Without the cache every step decodes its clips and runs the frozen encoder (CLIP vision / HuBERT) on them, which is
what a naive loop over the frozen encoders does every epoch. With the cache the features were computed once (the
one-off extraction cost is printed too) and the epoch only reads them. Both runs use the same entry points, model,
data, batch size and seed; the times are the Trainer's ``train_runtime`` for exactly one epoch.

    python benchmarks/bench_feature_cache.py                 # tiny preset, synthetic clips (made if missing)
    python benchmarks/bench_feature_cache.py --n 128 --batch 16 --stages 1,3

Prints a table and the ratios (targets: stages 1/2 >= 10x, stage 3 >= 5x) and writes them as JSON to ``--out``.
Stage 3 starts from random bridges (``--vecb random --aecb random``: the timing does not depend on their weights);
without the cache it decodes and re-encodes every clip at every step (``--cache_dir null``).

What bounds the ratio: without the cache an epoch costs decode + frozen encoder forward + bridge forward/backward,
with it only the bridge. Video (16 frames through CLIP per clip) is far above 10x even on the tiny preset (measured
59x on 96 clips). Audio on the tiny preset is ~3x: the tiny HuBERT (2 layers, 2 s synthetic clips) costs about as
much as the AECB it feeds; with the paper's 24-layer HuBERT the per-epoch ratio is bounded by roughly
(24 encoder layers forward) / (2 bridge layers forward + backward), i.e. ~5x, while the schedule-level saving grows
with the number of epochs (30 in the paper) because extraction happens once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def run_stage(stage: int, data: str, work: Path, cache_dir: str, enabled: bool, batch: int, extra: list[str]):
    """One epoch of ``stage`` (its tiny config, these settings, then the bench's extra flags) by ``run(config)``."""
    import importlib

    from training.config_utils import build_config, flags_to_dict

    names = {1: "training.stage1_vecb", 2: "training.stage2_aecb", 3: "training.stage3_sft"}
    module = importlib.import_module(names[stage])
    config_class = getattr(module, f"Stage{stage}Config")
    out = work / f"stage{stage}_{'cache' if enabled else 'nocache'}"
    settings = {"train_file": data, "eval_file": None, "output_dir": str(out), "num_train_epochs": 1, "max_steps": -1,
                "per_device_train_batch_size": batch, "save_strategy": "no", "logging_steps": 1000,
                "disable_tqdm": True, "cache_dir": cache_dir}
    if stage == 3:  # random bridges; without the cache: re-encoded every step
        settings.update(vecb="random", aecb="random", save_merged=False, loss_before_after=False,
                        cache_dir=cache_dir if enabled else None)
    else:
        settings["cache_enabled"] = enabled
    settings.update(flags_to_dict(config_class, extra, where="benchmark flags"))
    config = build_config(config_class, settings, config_file=ROOT / f"training/configs/stage{stage}_tiny.yaml")
    return module.run(config)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=None, help="EmoCue jsonl (default: synthetic clips generated into --work)")
    ap.add_argument("--n", type=int, default=96, help="synthetic clips to generate when --data is not given")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--stages", default="1,2,3")
    ap.add_argument("--work", default=None)
    ap.add_argument("--out", default=None, help="JSON result path (default: WORK/bench_feature_cache.json)")
    args, extra = ap.parse_known_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_cache_"))
    work.mkdir(parents=True, exist_ok=True)
    data = args.data
    if data is None:
        data = str(work / "synthetic" / "emocue.jsonl")
        if not Path(data).exists():
            from training.data.synthetic import make_synthetic

            make_synthetic(work / "synthetic", args.n, seed=0, modality_mix=(1.0, 0.0, 0.0))
    cache_dir = str(work / "feature_cache")
    results = {}
    for stage in [int(s) for s in args.stages.split(",") if s]:
        name = {1: "stage 1 (VECB, video)", 2: "stage 2 (AECB, audio)", 3: "stage 3 (SFT, video + audio)"}[stage]
        # fill the cache once (its one-off cost is reported), then time one epoch each way
        t = time.perf_counter()
        first = run_stage(stage, data, work, cache_dir, True, args.batch, extra)
        fill = first.get("feature_extraction_s", 0.0)
        cached = run_stage(stage, data, work, cache_dir, True, args.batch, extra)
        naive = run_stage(stage, data, work, cache_dir, False, args.batch, extra)
        results[name] = {
            "clips": first.get("train_clips", first.get("train_samples")),
            "epoch_without_cache_s": naive["train_runtime_s"],
            "epoch_with_cache_s": cached["train_runtime_s"],
            "ratio": naive["train_runtime_s"] / max(cached["train_runtime_s"], 1e-9),
            "one_off_extraction_s": fill,
            "bench_wall_s": time.perf_counter() - t,
        }
    print("\n| stage | clips | epoch without cache (s) | epoch with cache (s) | ratio | one-off extraction (s) |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['clips']} | {r['epoch_without_cache_s']:.2f} | {r['epoch_with_cache_s']:.2f} | "
              f"{r['ratio']:.1f}x | {r['one_off_extraction_s']:.1f} |")
    out = Path(args.out or work / "bench_feature_cache.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwritten to {out}")
    return results


if __name__ == "__main__":
    main()
