"""``xemogpt rl-study``: stage 4 (GRPO) against stage 3 and against stage 3 continued for the same wall time, on the
synthetic benchmark, several seeds (mean ± std). See :mod:`xemogpt_cli.rl_study`."""

from __future__ import annotations

import argparse

INT_OPTIONS = ("n_train", "n_heldout", "stage1_steps", "stage2_steps", "stage3_steps", "stage4_steps",
               "max_new_tokens", "num_examples")
RUNS = ("stage3", "stage4", "control")


def add_parser(subparsers) -> argparse.ArgumentParser:
    from .recipe_cli import add_stage_args, add_study_options
    from .rl_study import RLStudyConfig

    p = subparsers.add_parser(
        "rl-study",
        help="stage 4 (GRPO, cue-level rewards) vs stage 3 vs stage 3 continued for the same wall time, several seeds",
        description="Train stages 1-3 per seed, then stage 4 (GRPO) and the control (stage 3 continued for stage 4's "
        "training time) from the stage-3 checkpoint; describe the held-out clips with the three checkpoints and "
        "score them (EmoCue-360, cue naming per factor, emotion accuracy, explanation length). Writes table.json, "
        "table.md (mean ± std over seeds) and examples.md. Finished runs are kept; a rerun continues.",
    )
    add_study_options(p, RLStudyConfig, INT_OPTIONS)
    p.add_argument("--control-seconds", type=float, default=None,
                   help="training time of the control (default: stage 4's measured training time)")
    p.add_argument("--force", action="store_true", help="redo every step even when its outputs exist")
    add_stage_args(p, RUNS, "--training.learning_rate 1e-4")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from .recipe_cli import stage_overrides
    from .rl_study import RLStudyConfig, run_study

    cfg = RLStudyConfig(out=args.out, seeds=tuple(args.seeds), control_seconds=args.control_seconds, force=args.force,
                        stage_overrides=stage_overrides(args, RUNS),
                        **{name: getattr(args, name) for name in INT_OPTIONS})
    run_study(cfg)
    return 0
