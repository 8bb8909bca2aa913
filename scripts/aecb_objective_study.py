"""Stage 2 alone with each AECB objective variant: the pooled linear probe of every audio cue (and of the emotion)
on the AECB output, and held-out audio->caption retrieval (issue #23, step a).

    .venv/bin/python scripts/aecb_objective_study.py --out aecb_study --seeds 0 1 2

Per variant and training seed: stage 2 (``training.stage2_aecb`` with its tiny config, ``--steps`` steps) on
``--n-train`` synthetic clips of data seed 0, then a logistic-regression probe on the *masked mean* of the AECB
output over time (the representation a mean-pooled objective sees; the LLM of stage 3 gets every frame) trained on
the training clips and scored on ``--n-tune`` tuning clips of seed ``--tune-seed`` (a seed used for tuning only: the
demo's held-out clips and the final evaluation use other seeds). Writes ``OUT/table.json`` and ``OUT/table.md``
(mean ± std over the seeds).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# name -> XEmoGPTConfig overrides of stage 2 (and of the AECB architecture)
VARIANTS = {
    "eq6": {},
    "eq6+pe": {"aecb_position_embedding": "learned"},
    "eq6+pe+reverse": {"aecb_position_embedding": "learned", "aecb_temporal_objective": "reverse_negative"},
    "eq6+pe+order": {"aecb_position_embedding": "learned", "aecb_temporal_objective": "order"},
    "eq6+pe+attstats": {"aecb_position_embedding": "learned", "aecb_pooling": "attentive_stats"},
    "eq6+pe+attstats+reverse": {"aecb_position_embedding": "learned", "aecb_pooling": "attentive_stats",
                                "aecb_temporal_objective": "reverse_negative"},
    "eq6+reverse (no pe)": {"aecb_temporal_objective": "reverse_negative"},
    "eq6+segctx": {"aecb_segment_context": True},
    "eq6+pe+segctx": {"aecb_position_embedding": "learned", "aecb_segment_context": True},
}
LABELS = ["emotion", "factors.intonation", "factors.pitch", "factors.loudness", "factors.rhythm"]


def _mean_std(values):
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def main(argv=None) -> int:
    from training.data.loaders import load_records
    from training.frozen_encoders import FrozenMediaEncoders
    from training.probe import ProbeConfig, probe_rows
    from xemogpt_cli import recipe_runs

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="aecb_objective_study")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--n-tune", type=int, default=200)
    ap.add_argument("--tune-seed", type=int, default=4242)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--weight", type=float, default=None, help="aecb_temporal_loss_weight (default: the config's)")
    args = ap.parse_args(argv)
    out = Path(args.out).absolute()
    t0 = time.perf_counter()
    data = out / "data"
    for split, n, seed in (("train", args.n_train, 0), ("heldout", args.n_tune, args.tune_seed)):
        marker = data / split / "DONE.json"
        if not marker.is_file():
            from training.data.synthetic import make_synthetic

            make_synthetic(data / split, n, seed)
            recipe_runs.mark_done(marker, {"n": n, "seed": seed})
    base = recipe_runs.save_base(out / "untrained", 0)
    runs = []
    for name in args.variants:
        overrides = dict(VARIANTS[name])
        if args.weight is not None and overrides.get("aecb_temporal_objective"):
            overrides["aecb_temporal_loss_weight"] = args.weight
        for seed in args.seeds:
            run_dir = out / name.replace(" ", "_").replace("(", "").replace(")", "") / f"seed{seed}"
            settings = recipe_runs.stage_settings(base, data, out / "feature_cache", run_dir, args.steps, seed=seed)
            settings.update(save_strategy="no", config_overrides=overrides)
            runs.append((name, seed, recipe_runs.StageRun(f"{name} seed {seed}", "stage2",
                                                          recipe_runs.stage_config("stage2", settings))))
    # the first run fills the shared HuBERT-frame cache alone
    recipe_runs.run_stages_parallel([runs[0][2]], 1)
    recipe_runs.run_stages_parallel([r for _, _, r in runs[1:]], args.jobs)

    probe_cfg = ProbeConfig(base_model=str(base), cache_dir=str(out / "feature_cache"))
    encoders = FrozenMediaEncoders(probe_cfg)
    train = load_records(data / "train" / "emocue.jsonl")
    tune = load_records(data / "heldout" / "emocue.jsonl")
    per_run, raw = {}, None
    for name, seed, run in runs:
        run_dir = run.out_dir
        probe_file = run_dir / "probe.json"
        if probe_file.is_file():
            rows = json.loads(probe_file.read_text())
        else:
            rows = probe_rows(encoders, probe_cfg, train, tune, LABELS, {"aecb": str(run_dir)}, kinds=("audio",))
            probe_file.write_text(json.dumps(rows, indent=1))
        metrics = json.loads((run_dir / "metrics.json").read_text())
        raw = raw or {r["label"]: r["war"] for r in rows if r["model"] == "HuBERT"}
        per_run.setdefault(name, []).append({
            "seed": seed, "probe_war": {r["label"]: r["war"] for r in rows if r["model"] != "HuBERT"},
            "r1": metrics.get("heldout_audio_to_text_r1"), "r5": metrics.get("heldout_audio_to_text_r5"),
            "chance_r1": metrics.get("heldout_audio_to_text_chance_r1")})
    table = {"raw_hubert_probe_war": raw, "variants": {}, "overrides": {n: VARIANTS[n] for n in args.variants},
             "steps": args.steps, "n_train": args.n_train, "n_tune": args.n_tune, "tune_seed": args.tune_seed,
             "seeds": args.seeds, "weight": args.weight, "wall_time_s": time.perf_counter() - t0}
    lines = [f"Stage 2 alone, {args.steps} steps, {args.n_train} training clips (seed 0); probe (accuracy, %) on the "
             f"masked time-mean of the AECB output and audio->caption retrieval on {args.n_tune} tuning clips "
             f"(seed {args.tune_seed}); mean ± std over training seeds {args.seeds}.", "",
             "| variant | intonation | pitch | loudness | rhythm | emotion | R@1 | R@5 |", "|---|" + "---:|" * 7]
    lines.append("| raw HuBERT (no bridge) | " + " | ".join(f"{raw[f'factors.{f}']:.1f}" for f in
                                                           ("intonation", "pitch", "loudness", "rhythm"))
                 + f" | {raw['emotion']:.1f} | - | - |")
    for name, seed_runs in per_run.items():
        row = {label: _mean_std([r["probe_war"][label] for r in seed_runs]) for label in LABELS}
        row["r1"] = _mean_std([100 * r["r1"] for r in seed_runs])
        row["r5"] = _mean_std([100 * r["r5"] for r in seed_runs])
        table["variants"][name] = {"summary": row, "runs": seed_runs}
        cells = [row[f"factors.{f}"] for f in ("intonation", "pitch", "loudness", "rhythm")] + [row["emotion"],
                                                                                               row["r1"], row["r5"]]
        lines.append(f"| {name} | " + " | ".join(f"{c['mean']:.1f} ± {c['std']:.1f}" for c in cells) + " |")
    lines.append(f"\nchance R@1: {100 * per_run[next(iter(per_run))][0]['chance_r1']:.1f}%")
    (out / "table.json").write_text(json.dumps(table, indent=2) + "\n")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
