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
    "serve": "serve",
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
    for name, module_name in SUBCOMMANDS.items():
        try:
            module = importlib.import_module(f"{__package__}.{module_name}")
        except ModuleNotFoundError as exc:  # a subcommand whose module is not part of this install
            if exc.name != f"{__package__}.{module_name}":
                raise
            continue
        module.add_parser(subparsers)
    return parser


def _stdout_chatter_to_stderr() -> None:
    """DeepSpeed, when installed, is imported on the way by accelerate/transformers (e.g. in ``save_pretrained``) and
    logs to stdout; its accelerator auto-detection warns "Setting accelerator to CPU" on every CPU run. Machine-readable
    output (``--json``) must stay clean and a user error must stay one line: DeepSpeed's log goes to stderr and that
    one warning (about DeepSpeed, which these commands do not use) is dropped."""
    import contextlib
    import importlib.util
    import logging

    if importlib.util.find_spec("deepspeed") is None:
        return
    ds_logger = logging.getLogger("DeepSpeed")  # the logger DeepSpeed configures (and warns through) on import
    if not ds_logger.filters:
        ds_logger.addFilter(lambda record: "Setting accelerator to CPU" not in record.getMessage())
    with contextlib.redirect_stdout(sys.stderr):  # its log handler binds to the sys.stdout of import time
        import deepspeed  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        _stdout_chatter_to_stderr()
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
