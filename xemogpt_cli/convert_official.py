"""``xemogpt convert-official``: the authors' released checkpoint as an ordinary checkpoint of this package.

The options and the conversion live in :mod:`modeling_xemogpt.convert_official` (also ``python -m
modeling_xemogpt.convert_official``); this subcommand forwards its arguments there when it runs. Building the
``xemogpt`` parser must not import ``modeling_xemogpt``: that registers its Auto classes, and ``xemogpt`` processes
load checkpoints as remote code.
"""

from __future__ import annotations


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "convert-official", add_help=False,
        help="convert the authors' released xemogpt.ckpt into a checkpoint of this package (--help: its options)",
    )
    p.set_defaults(func=run, forward_args=True)  # xemogpt_cli.main hands every further argument over as args.argv


def run(args) -> int:
    from modeling_xemogpt.convert_official import main

    return main(args.argv, prog="xemogpt convert-official")
