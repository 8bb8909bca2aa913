"""Typed stage configurations: built from their defaults, a YAML file of overrides and command-line flags.

Each stage's settings are one dataclass (``Stage1Config`` … ``Stage4Config``; stages 1/2 extend transformers'
``TrainingArguments``, stage 3 TRL's ``SFTConfig``, stage 4 ``GRPOConfig``), parsed with TRL's ``TrlParser`` (an
``HfArgumentParser``)::

    python -m training.stage3_sft --config training/configs/stage3_tiny.yaml --max_steps 20 --vecb DIR

The YAML file is a flat mapping of field names to values (the stage's paper defaults live in Python; a file holds
what it changes). Flags override the file. An unknown key, a value of the wrong type or an inconsistent setting raises
:class:`ConfigError` with one line naming the file (or the command line), the key and close matches. On the command
line ``null`` sets an optional field to None, and mapping fields take JSON (``--config_overrides
'{"use_vecb": false}'``).
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import os
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

OLD_SECTIONS = ("model", "encoders", "data", "cache", "bridges", "lora", "output", "eval", "training", "runtime",
                "debug")  # the nested layout of the stage YAML files before the typed configs
NULL_WORDS = ("null", "~")  # YAML's spellings of None ("none" is a value of some fields, e.g. report_to)


class ConfigError(ValueError):
    """A configuration problem the user must fix (unknown key, wrong type, missing path, ...)."""


def _parser_class():
    from trl import TrlParser

    class StageConfigParser(TrlParser):
        """``TrlParser`` whose errors raise :class:`ConfigError` (one line) instead of printing usage and exiting."""

        def error(self, message):
            raise ConfigError(f"command line: {message}")

    return StageConfigParser


def _parser(cls):
    return _parser_class()(cls, allow_abbrev=False)


def config_fields(cls) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls) if f.init}


def _suggest(key: str, names: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(names), n=3, cutoff=0.6)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def optional_fields(cls) -> set[str]:
    """The fields of ``cls`` that may be None (typed ``X | None``, or None by default)."""
    import typing

    hints = typing.get_type_hints(cls)
    return {name for name, f in config_fields(cls).items()
            if type(None) in getattr(hints.get(name), "__args__", ()) or f.default is None}


def _check_value(parser, f: dataclasses.Field, value: Any, where: str, optional: set[str]) -> Any:
    """``value`` of field ``f`` as the parser would take it, or a :class:`ConfigError` naming ``where`` and the key."""
    if value is None:
        if f.name in optional:
            return None
        raise ConfigError(f"{where}: {f.name} cannot be null")
    action = parser._option_string_actions[f"--{f.name}"]
    convert = action.type
    if isinstance(value, Mapping):
        if convert is not str:  # mapping fields are typed ``dict | str | None`` (JSON on the command line)
            raise ConfigError(f"{where}: {f.name} takes a single value, got a mapping")
        return dict(value)
    if isinstance(value, (list, tuple)):
        if action.nargs not in ("+", "*"):
            raise ConfigError(f"{where}: {f.name} takes a single value, got a list")
        values = list(value)
    else:
        values = [value]
    out = []
    for v in values:
        if isinstance(v, bool) and convert in (int, float):
            raise ConfigError(f"{where}: {f.name} must be a number, got {v!r}")
        boolean = getattr(convert, "__name__", "") == "string_to_bool"
        if isinstance(v, str) or convert in (int, float):
            try:
                v = convert(v) if convert is not None else v
            except (TypeError, ValueError, argparse.ArgumentTypeError):
                kind = "true or false" if boolean else {"int": "an int"}.get(convert.__name__, f"a {convert.__name__}")
                raise ConfigError(f"{where}: {f.name} must be {kind}, got {v!r}") from None
        elif boolean and not isinstance(v, bool):
            raise ConfigError(f"{where}: {f.name} must be true or false, got {v!r}")
        if action.choices is not None and v not in action.choices:
            raise ConfigError(f"{where}: {f.name} must be one of {', '.join(map(str, action.choices))}, got {v!r}")
        out.append(v)
    return out if action.nargs in ("+", "*") else out[0]


def _checked(cls, parser, values: Mapping, where: str) -> dict:
    fields, optional = config_fields(cls), optional_fields(cls)
    out = {}
    for key, value in values.items():
        if key not in fields:
            hint = (" The stage configs are flat: write this section's keys at the top level (docs/training.md, "
                    "\"Configs and overrides\")." if key in OLD_SECTIONS and isinstance(value, Mapping) else
                    _suggest(key, fields))
            raise ConfigError(f"{where}: unknown key {key!r} for {cls.__name__}.{hint} "
                              f"(`python -m training.<stage> --help` lists every key)")
        out[key] = _check_value(parser, fields[key], value, where, optional)
    return out


def read_config_file(path: str | os.PathLike) -> dict:
    """The flat mapping of a stage YAML file (a missing file or another shape: :class:`ConfigError`)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of setting names to values")
    return data


def build_config(cls, values: Mapping | None = None, *, config_file: str | os.PathLike | None = None,
                 argv: Iterable[str] = (), where: str = "overrides"):
    """An instance of ``cls``: its defaults, then ``config_file`` (YAML), then ``values`` (a dict of field ->
    value, e.g. a recipe's overrides), then ``argv`` (command-line flags). Every source is checked key by key."""
    parser = _parser(cls)
    merged: dict = {}
    if config_file is not None:
        merged.update(_checked(cls, parser, read_config_file(config_file), str(config_file)))
    merged.update(_checked(cls, parser, dict(values or {}), where))
    parser.set_defaults_with_config(**merged)
    namespace, remaining = parser.parse_known_args(args=list(argv))
    if remaining:
        flags = [a for a in remaining if a.startswith("--")]
        bad = (flags or remaining)[0]
        key = bad[2:].split("=", 1)[0].replace("-", "_")
        hint = _suggest(key, config_fields(cls)) if flags else ""
        raise ConfigError(f"command line: unknown option {bad!r} for {cls.__name__}.{hint}")
    fields, optional = config_fields(cls), optional_fields(cls)
    kwargs = {}
    for key, value in vars(namespace).items():
        if key not in fields:
            continue
        if isinstance(value, str) and value in NULL_WORDS and key in optional:
            value = None
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{cls.__name__}: {str(exc).splitlines()[0]}") from None


def flags_to_dict(cls, argv: Iterable[str], where: str = "command line") -> dict:
    """The settings that the flags ``argv`` give (``--learning_rate 1e-3`` -> ``{"learning_rate": 0.001}``), checked
    against ``cls`` like :func:`build_config`'s, for a later ``build_config(cls, values)``."""
    parser = _parser(cls)
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    try:
        namespace, remaining = parser.parse_known_args(args=list(argv))
    except ConfigError as exc:
        raise ConfigError(f"{where}: {str(exc).removeprefix('command line: ')}") from None
    if remaining:
        key = remaining[0][2:].split("=", 1)[0].replace("-", "_")
        raise ConfigError(f"{where}: unknown option {remaining[0]!r} for {cls.__name__}."
                          f"{_suggest(key, config_fields(cls))}")
    optional = optional_fields(cls)
    return {k: None if isinstance(v, str) and v in NULL_WORDS and k in optional else v
            for k, v in vars(namespace).items()}


def parse_config(cls, argv: Iterable[str] | None = None):
    """``[--config FILE.yaml] [--field value ...]`` (``sys.argv[1:]`` by default) as an instance of ``cls``;
    ``-h``/``--help`` prints every field with its help and default."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        _parser(cls).print_help()
        raise SystemExit(0)
    config_file, rest, i = None, [], 0
    while i < len(argv):
        if argv[i] == "--config":
            if i + 1 >= len(argv):
                raise ConfigError("--config needs a YAML file path")
            config_file, i = argv[i + 1], i + 2
        elif argv[i].startswith("--config="):
            config_file, i = argv[i].split("=", 1)[1], i + 1
        else:
            rest.append(argv[i])
            i += 1
    return build_config(cls, config_file=config_file, argv=rest)


def config_values(config) -> dict:
    """The fields of a stage config as plain YAML/JSON values (enums as their values, tokens hidden)."""
    d = config.to_dict() if hasattr(config, "to_dict") else dataclasses.asdict(config)
    names = config_fields(type(config))
    return {k: _jsonable(v) for k, v in d.items() if k in names}


def save_config(config, path: str | os.PathLike) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        yaml.safe_dump(config_values(config), f, sort_keys=False)


def json_mapping(value, name: str) -> dict:
    """A mapping field's value: a dict, JSON / YAML text (from the command line) or None (an empty mapping)."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):  # JSON, or YAML's flow style ({vision_feature_select: patch_mean})
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ConfigError(f"{name} must be a mapping in JSON or YAML, got {value!r}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a mapping, got {value!r}")
    return dict(value)


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return str(getattr(x, "value", x))
