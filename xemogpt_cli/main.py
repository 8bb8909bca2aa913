"""Entry point of the ``xemogpt`` console script.

Each subcommand lives in a module of its own in this package that exposes ``add_parser(subparsers)`` and
``run(args) -> int``. Modules keep heavy imports (torch, transformers) inside ``run`` so ``xemogpt --help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand name -> module in this package
SUBCOMMANDS = {
    "describe": "describe",
    "eval": "evaluate_cmd",
    "data": "data",
    "demo": "demo",
    "ablate": "ablate",
    "rl-study": "rl_study_cmd",
    "grounding-study": "grounding_study",
    "serve": "serve",
    "convert-official": "convert_official",
    "push": "push",
}


class CLIError(Exception):
    """An error that is reported to the user as one line, without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xemogpt",
        description="XEmoGPT: explainable multimodal emotion recognition (describe clips, evaluate with EmoCue-360, "
        "build EmoCue data, run the offline demo).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMANDS.values():  # a missing module is a broken install: ImportError, never a skip
        importlib.import_module(f"{__package__}.{module_name}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if getattr(args, "forward_args", False):  # a subcommand whose own parser reads its arguments (convert-official)
        args.argv = rest
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        from training.runtime import quiet_deepspeed

        quiet_deepspeed()
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("xemogpt: interrupted", file=sys.stderr)
        return 130
    except (CLIError, FileNotFoundError, ValueError) as exc:
        # Library errors of this project are written to be read as one line that names the file and the cause.
        print(f"xemogpt {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
