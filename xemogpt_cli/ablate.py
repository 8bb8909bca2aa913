"""``xemogpt ablate``: Table V (bridges on/off, several seeds) and Table IV (linear probes, encoder vs encoder +
bridge) of the paper, trained and measured offline on the tiny preset by default. See :mod:`xemogpt_cli.ablation`."""

from __future__ import annotations

import argparse

INT_OPTIONS = ("n_train", "n_heldout", "stage1_steps", "stage2_steps", "stage3_steps", "max_new_tokens")
STAGES = {"stage1": "stage1", "stage2": "stage2", "stage3": "stage3"}  # run name -> the stage it runs


def add_parser(subparsers) -> argparse.ArgumentParser:
    from .ablation import VARIANTS, AblationConfig
    from .recipe_cli import add_stage_args, add_study_options

    p = subparsers.add_parser(
        "ablate",
        help="bridge ablation (Table V: no bridge / VECB / AECB / both, several seeds; the AECB objective: eq.6 alone "
        "vs + the temporal term) and encoder probes (Table IV)",
        description="Train the Table V variants (and both bridges with an AECB of eq.6 alone: both_eq6; aecb_eq6 on "
        "request) from the same data, towers and seeds, score them on held-out "
        "clips (EmoCue-360 F1 per dimension, cue naming, emotion) and probe the encoders with and without the "
        "trained bridges (Table IV). Tables are mean ± std over seeds. Finished runs are kept; a rerun continues.",
    )
    d = add_study_options(p, AblationConfig, INT_OPTIONS)
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(d["variants"]))
    p.add_argument("--stage3-lr", type=float, default=None, help="stage-3 learning rate (default: the tiny config's)")
    p.add_argument("--jobs", type=int, default=d["jobs"],
                   help=f"stage runs side by side, each one process on one thread (default {d['jobs']})")
    p.add_argument("--no-probe", action="store_true", help="skip Table IV")
    p.add_argument("--force", action="store_true", help="redo every step even when its outputs exist")
    add_stage_args(p, STAGES, "--learning_rate 1e-3")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from .ablation import AblationConfig, run_ablation
    from .recipe_cli import stage_overrides

    cfg = AblationConfig(out=args.out, seeds=tuple(args.seeds), variants=tuple(args.variants), stage3_lr=args.stage3_lr,
                         jobs=args.jobs, probe=not args.no_probe, force=args.force,
                         stage_overrides=stage_overrides(args, STAGES), **{name: getattr(args, name) for name in INT_OPTIONS})
    run_ablation(cfg)
    return 0
