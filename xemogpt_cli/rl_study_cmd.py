"""``xemogpt rl-study``: stage 4 (GRPO) against stage 3 and against stage 3 continued for the same wall time, on the
synthetic benchmark, several seeds (mean ± std). See :mod:`xemogpt_cli.rl_study`.

``xemogpt rl-study --labels``: stage 4 on emotion-label-only clips against SFT on the described clips alone and
against SFT on the label-only clips with templated answers. See :mod:`xemogpt_cli.rl_labels_study`."""

from __future__ import annotations

import argparse

INT_OPTIONS = ("n_train", "n_heldout", "stage1_steps", "stage2_steps", "stage3_steps", "stage4_steps",
               "max_new_tokens", "num_examples")
LABEL_INT_OPTIONS = ("n_labels", "sft_labels_steps")
RUNS = {"stage3": "stage3", "stage4": "stage4", "control": "stage3"}  # run name -> the stage it runs
LABEL_RUNS = {"stage1": "stage1", "stage2": "stage2", "sft": "stage3", "sft_labels": "stage3",
              "grpo_labels": "stage4"}


def add_parser(subparsers) -> argparse.ArgumentParser:
    from .recipe_cli import config_defaults
    from .rl_labels_study import LabelStudyConfig
    from .rl_study import RLStudyConfig

    p = subparsers.add_parser(
        "rl-study",
        help="stage 4 (GRPO) vs stage 3 vs stage 3 continued (default), or with --labels: GRPO on label-only clips "
             "vs SFT, several seeds",
        description="Default: train stages 1-3 per seed, then stage 4 (GRPO) and the control (stage 3 continued for "
        "stage 4's training time) from the stage-3 checkpoint; describe the held-out clips with the three checkpoints "
        "and score them (EmoCue-360, cue naming per factor, emotion accuracy, explanation length). With --labels: "
        "(a) SFT on a small described set, (b) (a) + SFT on label-only clips with templated answers, (c) (a) + GRPO "
        "on the label-only clips; scored on held-out described clips and an out-of-distribution split (cue pairs "
        "never seen in training). Writes table.json, table.md (mean ± std over seeds) and examples.md. Finished runs "
        "are kept; a rerun continues.",
    )
    cues, labels = config_defaults(RLStudyConfig), config_defaults(LabelStudyConfig)
    p.add_argument("--labels", action="store_true",
                   help="the label-only study: (a) SFT, (b) + SFT on templated labels, (c) + GRPO on labels")
    p.add_argument("--out", default=None, help=f"output folder (default {cues['out']}; --labels: {labels['out']})")
    p.add_argument("--seeds", type=int, nargs="+", default=list(cues["seeds"]), help="training seeds (default 0 1 2)")
    for name in INT_OPTIONS + LABEL_INT_OPTIONS:
        shown = (f"default {cues[name]}; --labels: {labels[name]}" if name in cues
                 else f"--labels only; default {labels[name]}")
        if name == "sft_labels_steps":
            shown += " = as many as fit in (c)'s training time"
        p.add_argument("--" + name.replace("_", "-"), type=int, default=None, help=shown)
    p.add_argument("--control-seconds", type=float, default=None,
                   help="training time of the control (default: stage 4's measured training time; not --labels)")
    p.add_argument("--force", action="store_true", help="redo every step even when its outputs exist")
    for name in {**RUNS, **LABEL_RUNS}:
        p.add_argument(f"--{name.replace('_', '-')}-args", default="", metavar="'ARGS'",
                       help=f"extra settings for every {name} run, e.g. '--learning_rate 1e-4'"
                            + (" (--labels)" if name not in RUNS else ""))
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from .recipe_cli import stage_overrides

    chosen = {name: getattr(args, name) for name in INT_OPTIONS + LABEL_INT_OPTIONS if getattr(args, name) is not None}
    common = dict(seeds=tuple(args.seeds), force=args.force)
    if args.out:
        common["out"] = args.out
    if args.labels:
        from .rl_labels_study import LabelStudyConfig, run_study

        if args.control_seconds is not None:
            raise ValueError("--control-seconds belongs to the default study; with --labels use --sft-labels-steps")
        cfg = LabelStudyConfig(stage_overrides=stage_overrides(args, LABEL_RUNS), **common, **chosen)
    else:
        from .rl_study import RLStudyConfig, run_study

        extra = sorted(n for n in LABEL_INT_OPTIONS if n in chosen)
        if extra:
            raise ValueError(f"--{extra[0].replace('_', '-')} belongs to the --labels study")
        cfg = RLStudyConfig(control_seconds=args.control_seconds, stage_overrides=stage_overrides(args, RUNS),
                            **common, **chosen)
    run_study(cfg)
    return 0
