"""``xemogpt grounding-study``: do trained spans ground the cues? Measured on synthetic clips with partial-clip cues.

For each training seed, on the tiny recipe (stages 1-2 on the default synthetic clips, as ``xemogpt demo``), two
stage-3 runs from the same bridges, both writing JSON answers:

* ``spans``: stage 3 on clips with partial-clip cues (``--partial-cues``, :mod:`training.data.synthetic_spans`) whose
  JSON reference answers carry per-cue spans, so the model learns to write them;
* ``default``: stage 3 on the default clips (no spans), the same texts otherwise: the baseline.

Held out: ``--n-heldout`` clips where every cue that can come and go does (``partial_cues = 1``), and as many default
clips. Reported, mean ± std over the seeds:

* on the partial-cue clips, the mean temporal IoU of matched cues (:mod:`emocue360.grounding`) and the share with
  IoU >= 0.5, for the spans the ``spans`` model writes, for attention spans (:mod:`xemogpt_cli.grounding`) of the
  cues it names, and for the floor: every named cue spans the whole clip;
* on the default clips, cues named and emotion correct (:func:`training.data.cue_naming.cue_accuracy` on the model's
  own cue lists and emotion) of both models: spans must not cost cue naming.

Every finished step is skipped on a rerun (marker files); ``out/table.json`` and ``out/table.md`` hold the results.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from . import recipe_runs

VARIANTS = ("spans", "default")


def make_data(out: Path, n_train: int, n_heldout: int, train_partial: float, workers: int | None) -> None:
    """``out/partial/{train,heldout}`` (partial-clip cues with spans) and ``out/default/{train,heldout}`` (the same
    seeds, default clips): train seed 0, held-out seed 1000."""
    from training.data.synthetic import make_synthetic

    for kind, train_share, held_share in (("default", 0.0, 0.0), ("partial", train_partial, 1.0)):
        for split, n, seed, share in (("train", n_train, 0, train_share), ("heldout", n_heldout, 1000, held_share)):
            folder = out / kind / split
            if recipe_runs.is_done(folder / "DONE.json"):
                continue
            t = time.perf_counter()
            make_synthetic(folder, n, seed, workers=workers, partial_cues=share)
            recipe_runs.mark_done(folder / "DONE.json", {"n": n, "seed": seed, "partial_cues": share,
                                                        "seconds": time.perf_counter() - t})


def stage_runs(args, seed: int) -> tuple[list, list]:
    """The bridge runs and the two stage-3 runs of one seed (:class:`~xemogpt_cli.recipe_runs.StageRun`)."""
    root = Path(args.out) / f"seed{seed}"
    recipe_runs.save_base(root / "untrained", seed, towers_seed=args.seeds[0])
    data, cache = Path(args.out) / "default", Path(args.out) / "feature_cache"
    bridges = []
    for stage, steps in (("stage1", args.stage1_steps), ("stage2", args.stage2_steps)):
        settings = recipe_runs.stage_settings(root / "untrained", data, cache, root / stage, steps, seed=seed)
        bridges.append(recipe_runs.StageRun(f"seed {seed} {stage}", stage,
                                            recipe_runs.stage_config(stage, {**settings, "save_strategy": "no"})))
    finals = []
    for variant in VARIANTS:
        kind = "partial" if variant == "spans" else "default"
        settings = recipe_runs.stage_settings(root / "untrained", Path(args.out) / kind, cache, root / variant,
                                              args.stage3_steps, seed=seed)
        settings.update(save_strategy="no", vecb=str(root / "stage1"), aecb=str(root / "stage2"), answer_format="json",
                        answer_field=args.answer_field, loss_before_after=False)
        finals.append(recipe_runs.StageRun(f"seed {seed} stage3 {variant}", "stage3",
                                           recipe_runs.stage_config("stage3", settings)))
    return bridges, finals


def _stats(values: list) -> dict:
    import numpy as np

    values = [v for v in values if v is not None]
    return {"mean": float(np.mean(values)) if values else None,
            "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0, "n": len(values)}


def aggregate(results: dict) -> dict:
    """mean ± std over seeds of every figure of :func:`xemogpt_cli.grounding_eval.evaluate_model`."""
    keys = sorted({k for r in results.values() for k, v in r.items() if isinstance(v, (int, float))})
    rows = {}
    for variant in VARIANTS:
        runs = [r for (v, _), r in results.items() if v == variant]
        rows[variant] = {k: _stats([r.get(k) for r in runs]) for k in keys}
    return rows


def table_markdown(tables: dict, args) -> str:
    def pm(stat, scale=1.0, digits=3):
        if stat is None or stat.get("mean") is None:
            return "-"
        return f"{scale * stat['mean']:.{digits}f} ± {scale * stat['std']:.{digits}f}"

    seeds = ", ".join(str(s) for s in args.seeds)
    lines = [f"Seeds {seeds}; {args.n_train} training clips (partial-cue share {args.train_partial} for `spans`), "
             f"stage 3 {args.stage3_steps} steps, JSON answers (explanation: `{args.answer_field}`); "
             f"{args.n_heldout} held-out clips of each kind. Mean ± std over seeds.", "",
             "Grounding on held-out clips with partial-clip cues (temporal IoU of matched cues):", "",
             "| model | spans from | mean IoU | IoU >= 0.5 | matched cues |", "|---|---|---:|---:|---:|"]
    for variant in VARIANTS:
        row = tables[variant]
        for method in ("model", "attention", "whole_clip"):
            spanned = row.get(f"{method}_grounding_spanned", {}).get("mean")
            if row.get(f"{method}_grounding_iou", {}).get("mean") is None or not spanned:
                continue  # no spans from this source (the default model writes none)
            lines.append(f"| {variant} | {method.replace('_', ' ')} | {pm(row[f'{method}_grounding_iou'])} | "
                         f"{pm(row[f'{method}_grounding_iou@0.5'], 100, 1)} | "
                         f"{pm(row[f'{method}_grounding_matched'], 1, 0)} |")
    lines += ["", "Default held-out clips (percent):", "",
              "| model | cues named | emotion correct | invalid JSON |", "|---|---:|---:|---:|"]
    for variant in VARIANTS:
        row = tables[variant]
        lines.append(f"| {variant} | {pm(row.get('default_cue_accuracy'), 100, 1)} | "
                     f"{pm(row.get('default_emotion_accuracy'), 100, 1)} | {pm(row.get('default_invalid_json'), 100, 1)} |")
    return "\n".join(lines) + "\n"


def run_study(args) -> dict:
    from training.metrics import write_json

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    recipe_runs.banner(1, 3, "data", f"{args.n_train} train, {args.n_heldout} held-out clips, default and partial")
    make_data(out, args.n_train, args.n_heldout, args.train_partial, args.workers)
    recipe_runs.banner(2, 3, "train", f"seeds {args.seeds}: stages 1-2, then stage 3 {'/'.join(VARIANTS)}")
    runs = {}
    for seed in args.seeds:  # every seed trained first, then every model described and scored
        bridges, finals = stage_runs(args, seed)
        recipe_runs.run_stages_parallel(bridges[:1], 1)
        recipe_runs.run_stages_parallel(bridges[1:], 1)
        recipe_runs.run_stages_parallel(finals, args.jobs)
        runs.update({(variant, seed): run for run, variant in zip(finals, VARIANTS)})
    from .grounding_eval import evaluate_model

    results = {}
    for (variant, seed), run in runs.items():
        label, run_dir = run.label, run.out_dir
        path = run_dir / "grounding_eval.json"
        if not recipe_runs.is_done(path):
            write_json(path, evaluate_model(run_dir / "merged", out, args))
        results[(variant, seed)] = json.loads(path.read_text())
        print(f"  {label}: " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(results[(variant, seed)].items())
                                        if isinstance(v, float)), flush=True)
    recipe_runs.banner(3, 3, "report", str(out))
    tables = {**aggregate(results), **recipe_runs.wall_times(out, time.perf_counter() - t0)}
    write_json(out / "table.json", tables)
    (out / "table.md").write_text(table_markdown(tables, args))
    print(table_markdown(tables, args))
    return tables


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(prog="xemogpt grounding-study", description=__doc__.split("\n")[0])
    p.add_argument("--out", default="grounding_study", help="output folder (default grounding_study)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--n-train", type=int, default=480)
    p.add_argument("--n-heldout", type=int, default=200)
    p.add_argument("--train-partial", type=float, default=0.5, help="partial-cue share of the spans model's training "
                   "clips (default 0.5)")
    p.add_argument("--stage1-steps", type=int, default=150)
    p.add_argument("--stage2-steps", type=int, default=100)
    p.add_argument("--stage3-steps", type=int, default=500)
    p.add_argument("--answer-field", default="description", help="the JSON answer's explanation (description | "
                   "short_caption: shorter answers, faster runs)")
    p.add_argument("--max-new-tokens", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=20, help="clips described at once")
    p.add_argument("--jobs", type=int, default=2, help="stage-3 runs side by side (default 2)")
    p.add_argument("--workers", type=int, default=None)
    return p


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("grounding-study", help="trained per-cue spans vs attention spans vs a whole-clip "
                              "guess on clips with partial-clip cues; cue naming on default clips (several seeds)",
                              description=__doc__.split("\n")[0])
    build_parser(p)
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    run_study(args)
    return 0


def main(argv=None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
