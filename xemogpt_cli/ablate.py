"""``xemogpt ablate``: Table V (bridges on/off, several seeds) and Table IV (linear probes, encoder vs encoder +
bridge) of the paper, trained and measured offline on the tiny preset by default. See :mod:`xemogpt_cli.ablation`."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    from dataclasses import fields

    from .ablation import VARIANTS, AblationConfig

    d = {f.name: f.default for f in fields(AblationConfig) if f.name != "stage_overrides"}
    p = subparsers.add_parser(
        "ablate",
        help="bridge ablation (Table V: no bridge / VECB / AECB / both, several seeds) and encoder probes (Table IV)",
        description="Train the four Table V variants from the same data, towers and seeds, score them on held-out "
        "clips (EmoCue-360 F1 per dimension, cue naming, emotion) and probe the encoders with and without the "
        "trained bridges (Table IV). Tables are mean ± std over seeds. Finished runs are kept; a rerun continues.",
    )
    p.add_argument("--out", default=str(d["out"]), help=f"output folder (default {d['out']})")
    p.add_argument("--seeds", type=int, nargs="+", default=list(d["seeds"]), help="training seeds (default 0 1 2)")
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(d["variants"]))
    for name in ("n_train", "n_heldout", "stage1_steps", "stage2_steps", "stage3_steps", "max_new_tokens"):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=d[name], help=f"default {d[name]}")
    p.add_argument("--stage3-lr", type=float, default=None, help="stage-3 learning rate (default: the tiny config's)")
    p.add_argument("--jobs", type=int, default=d["jobs"],
                   help=f"stage runs side by side, each one process on one thread (default {d['jobs']})")
    p.add_argument("--no-probe", action="store_true", help="skip Table IV")
    p.add_argument("--force", action="store_true", help="redo every step even when its outputs exist")
    for stage in (1, 2, 3):
        p.add_argument(f"--stage{stage}-args", default="", metavar="'ARGS'",
                       help=f"extra overrides for every stage-{stage} run, e.g. '--training.learning_rate 1e-3'")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    import shlex

    from .ablation import AblationConfig, run_ablation

    for name in ("n_train", "n_heldout", "stage1_steps", "stage2_steps", "stage3_steps", "max_new_tokens", "jobs"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.n_heldout < 2:
        raise ValueError("--n-heldout must be at least 2")
    overrides = {f"stage{i}": shlex.split(getattr(args, f"stage{i}_args")) for i in (1, 2, 3)}
    cfg = AblationConfig(out=args.out, seeds=tuple(args.seeds), variants=tuple(args.variants), n_train=args.n_train,
                         n_heldout=args.n_heldout, stage1_steps=args.stage1_steps, stage2_steps=args.stage2_steps,
                         stage3_steps=args.stage3_steps, stage3_lr=args.stage3_lr, max_new_tokens=args.max_new_tokens,
                         jobs=args.jobs, probe=not args.no_probe, force=args.force, stage_overrides=overrides)
    run_ablation(cfg)
    return 0
