"""``xemogpt demo``: the main job on the embedded default — train the tiny preset on synthetic EmoCue clips through
stages 1 → 2 → 3, reload it with remote code in a fresh process, and print the Table II-style comparison with the
untrained model. Fully offline; about 10 minutes on 2 CPU cores. See :mod:`xemogpt_cli.demo_pipeline`.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "demo",
        help="train the tiny model offline on synthetic clips and print the Table II comparison (~10 min on CPU)",
        description="Generate synthetic EmoCue clips, train the tiny XEmoGPT through stages 1-3, reload it with "
        "trust_remote_code in a fresh process, describe held-out clips and score them with EmoCue-360 + "
        "BLEU/CIDEr against the untrained model. Finished steps are skipped on a rerun (--force redoes them).",
    )
    from .demo_pipeline import DemoConfig
    from .recipe_cli import config_defaults

    d = config_defaults(DemoConfig)
    p.add_argument("--out", default=str(d["out"]), help=f"output folder (default {d['out']})")
    p.add_argument("--force", action="store_true", help="redo every step even when its outputs exist")
    p.add_argument("--n-train", type=int, default=d["n_train"], help=f"training clips (default {d['n_train']})")
    p.add_argument("--n-heldout", type=int, default=d["n_heldout"],
                   help=f"held-out clips: the trained model and its shuffled-media controls describe them all "
                        f"(default {d['n_heldout']})")
    p.add_argument("--untrained-clips", type=int, default=d["untrained_clips"],
                   help=f"the untrained model describes the first N held-out clips only (default {d['untrained_clips']})")
    for stage in (1, 2, 3):
        key = f"stage{stage}_steps"
        p.add_argument(f"--stage{stage}-steps", type=int, default=d[key], help=f"default {d[key]}")
    p.add_argument("--rl", action="store_true",
                   help="add stage 4 (GRPO with cue-level rewards, training/stage4_grpo.py) after stage 3, and its row "
                   "in the report (a few minutes more)")
    p.add_argument("--stage4-steps", type=int, default=d["stage4_steps"], help=f"with --rl (default {d['stage4_steps']})")
    p.add_argument("--max-new-tokens", type=int, default=d["max_new_tokens"])
    p.add_argument("--format", choices=["text", "json"], default="text", dest="answer_format",
                   help="json: also train stage 3 with JSON answers (cue lists, emotion, explanation) and report it "
                   "beside the text model in report/json_vs_text.md (reuses the text run's finished steps)")
    p.add_argument("--json-max-new-tokens", type=int, default=d["json_max_new_tokens"],
                   help=f"generation limit of the JSON model (default {d['json_max_new_tokens']})")
    p.add_argument("--seed", type=int, default=d["seed"])
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from .demo_pipeline import DemoConfig, run_demo

    # DemoConfig checks the sizes and steps (at least 1)
    cfg = DemoConfig(out=args.out, n_train=args.n_train, n_heldout=args.n_heldout, seed=args.seed,
                     untrained_clips=args.untrained_clips,
                     stage1_steps=args.stage1_steps, stage2_steps=args.stage2_steps,
                     stage3_steps=args.stage3_steps, max_new_tokens=args.max_new_tokens, force=args.force,
                     answer_format=args.answer_format, json_max_new_tokens=args.json_max_new_tokens,
                     rl=args.rl, stage4_steps=args.stage4_steps)
    result = run_demo(cfg)
    if cfg.answer_format == "json":  # the JSON model beside the text one (reuses the text run's finished steps)
        import time

        from .demo_json import run_json_comparison

        start = time.perf_counter()
        run_json_comparison(cfg, result["untrained_checkpoint"], result["trained_predictions"])
        print(f"JSON answer format compared in {(time.perf_counter() - start) / 60:.1f} min: "
              f"{cfg.out / 'report' / 'json_vs_text.md'}", flush=True)
    return 0
