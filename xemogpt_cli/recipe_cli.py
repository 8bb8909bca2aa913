"""Command-line options shared by the commands that run the recipe on synthetic clips (``xemogpt demo``, ``xemogpt
ablate``, ``xemogpt rl-study``): their defaults come from the command's config dataclass
(:class:`~xemogpt_cli.recipe_runs.RecipeRunConfig` and its subclasses), which also checks the values."""

from __future__ import annotations

import argparse
import shlex


def config_defaults(config_class) -> dict:
    """``{field: default}`` of a config dataclass (``stage_overrides`` left out: it comes from ``--<stage>-args``)."""
    from dataclasses import fields

    return {f.name: f.default for f in fields(config_class) if f.name != "stage_overrides"}


def add_study_options(p: argparse.ArgumentParser, config_class, int_options) -> dict:
    """``--out``, ``--seeds`` and an integer option per name of ``int_options`` (``n_train`` -> ``--n-train``), with
    the defaults of ``config_class``; returns those defaults."""
    d = config_defaults(config_class)
    p.add_argument("--out", default=str(d["out"]), help=f"output folder (default {d['out']})")
    p.add_argument("--seeds", type=int, nargs="+", default=list(d["seeds"]), help="training seeds (default 0 1 2)")
    for name in int_options:
        p.add_argument("--" + name.replace("_", "-"), type=int, default=d[name], help=f"default {d[name]}")
    return d


def add_stage_args(p: argparse.ArgumentParser, names, example: str) -> None:
    """``--<name>-args 'ARGS'`` per run name: extra settings for every run of it (see :func:`stage_overrides`)."""
    for name in names:
        p.add_argument(f"--{name}-args", default="", metavar="'ARGS'",
                       help=f"extra overrides for every {name} run, e.g. '{example}'")


def stage_overrides(args: argparse.Namespace, runs: dict[str, str]) -> dict[str, dict]:
    """The config's ``stage_overrides``: ``{name: the settings --<name>-args gives}`` for each run name of ``runs``
    (name -> the stage it runs, a key of :data:`~xemogpt_cli.recipe_runs.TINY_STAGES`), checked against that
    stage's config (an unknown flag is a one-line error naming ``--<name>-args``)."""
    import importlib

    from training.config_utils import flags_to_dict

    from .recipe_runs import TINY_STAGES

    out = {}
    for name, stage in runs.items():
        module, config_class, _ = TINY_STAGES[stage]
        words = shlex.split(getattr(args, f"{name}_args"))
        flag = f"--{name.replace('_', '-')}-args"
        out[name] = flags_to_dict(getattr(importlib.import_module(module), config_class), words, where=flag)
    return out
