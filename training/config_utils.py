"""YAML configs for the training stages, with command-line overrides and clear errors.

Every stage declares its defaults as a nested dict (sections such as ``model``, ``data``, ``cache``, ``training``).
A YAML file may only set keys that exist there; the ``training`` section accepts every field of the stage's
``TrainingArguments``/``SFTConfig`` dataclass. On the command line, after ``--config FILE``:

* ``--section.key value`` or ``--section.key=value`` sets one field (values are parsed as YAML: ``3e-4``, ``true``,
  ``null``, ``[1, 2]``);
* ``--key value`` works when ``key`` names a field of exactly one section (``--max_steps 20``,
  ``--learning_rate=1e-3``);
* an unknown key raises :class:`ConfigError` listing the valid keys.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import os
from pathlib import Path
from typing import Any, Iterable

import yaml


class ConfigError(ValueError):
    """A configuration problem the user must fix (unknown key, missing path, ...)."""




def _parse_value(text: str) -> Any:
    try:
        return _numeric(yaml.safe_load(text))
    except yaml.YAMLError:
        return text


_NUM = __import__("re").compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _numeric(value: Any) -> Any:
    """YAML 1.1 reads ``1e-5`` (no dot) as a string; turn such strings (also nested) into numbers."""
    if isinstance(value, str) and _NUM.fullmatch(value.strip()):
        try:
            return int(value) if value.strip().lstrip("+-").isdigit() else float(value)
        except ValueError:
            return value
    if isinstance(value, dict):
        return {k: _numeric(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numeric(v) for v in value]
    return value


def dataclass_defaults(cls) -> dict[str, Any]:
    """Defaults of a dataclass (e.g. ``TrainingArguments``) as a dict; fields without a default map to ``None``."""
    out = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            out[f.name] = f.default_factory()  # type: ignore[misc]
        else:
            out[f.name] = None
    return out


def _valid_keys(schema: dict) -> list[str]:
    """The dotted keys of ``schema``'s leaves (``training.learning_rate``), in schema order."""
    return list(_flatten_schema(schema))


def _is_section(value: dict) -> bool:
    return value.get("__section__", False) is True


def section(**fields) -> dict:
    """Declare a config section (a dict of defaults) whose keys are validated."""
    return {"__section__": True, **fields}


def _strip_markers(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if k in ("__section__", "__leaf__"):
            continue
        out[k] = _strip_markers(v) if isinstance(v, dict) and _is_section(v) else copy.deepcopy(v)
    return out


class Config(dict):
    """Nested dict with attribute access (``cfg.training.learning_rate``)."""

    def __getattr__(self, name):
        try:
            value = self[name]
        except KeyError as e:
            raise AttributeError(name) from e
        return value

    def __setattr__(self, name, value):
        self[name] = value

    @classmethod
    def wrap(cls, d: dict) -> "Config":
        return cls({k: cls.wrap(v) if isinstance(v, dict) and not isinstance(v, Config) else v for k, v in d.items()})

    def to_dict(self) -> dict:
        return {k: v.to_dict() if isinstance(v, Config) else v for k, v in self.items()}


def _keys_listing(valid: Iterable[str]) -> str:
    """Valid keys grouped by section, one line per section."""
    groups: dict[str, list[str]] = {}
    for k in sorted(valid):
        sec, _, name = k.rpartition(".")
        groups.setdefault(sec or "(top level)", []).append(name)
    return "Valid keys:\n" + "\n".join(f"  {sec}: {', '.join(names)}" for sec, names in groups.items())


def _suggest(key: str, valid: Iterable[str]) -> str:
    valid = list(valid)
    close = difflib.get_close_matches(key, valid, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return hint


def _merge(schema: dict, values: dict, where: str, path: str = "") -> None:
    """Merge ``values`` into ``schema`` (in place), validating keys against it."""
    for key, value in values.items():
        full = f"{path}{key}"
        if key not in schema or key in ("__section__", "__leaf__"):
            valid = _valid_keys(schema) if not path else [f"{path}{k}" for k in _valid_keys(schema)]
            raise ConfigError(
                f"unknown config key {full!r} in {where}.{_suggest(full, valid)}\n{_keys_listing(valid)}"
            )
        target = schema[key]
        if isinstance(target, dict) and _is_section(target):
            if value is None:
                continue
            if not isinstance(value, dict):
                raise ConfigError(f"config key {full!r} in {where} is a section; give a mapping, got {value!r}")
            _merge(target, value, where, f"{full}.")
        else:
            schema[key] = value


def apply_overrides(schema: dict, overrides: list[str]) -> None:
    """Apply ``--key value`` / ``--section.key=value`` overrides (validated) to ``schema`` in place."""
    flat_index: dict[str, list[str]] = {}
    for full in _valid_keys(schema):
        flat_index.setdefault(full.rsplit(".", 1)[-1], []).append(full)
    all_keys = _valid_keys(schema)
    i = 0
    while i < len(overrides):
        token = overrides[i]
        if not token.startswith("--"):
            raise ConfigError(f"unexpected command-line argument {token!r}: overrides look like --key value or --section.key=value")
        body = token[2:].replace("-", "_") if "=" not in token else token[2:].split("=", 1)[0].replace("-", "_")
        if "=" in token:
            raw = token.split("=", 1)[1]
            i += 1
        else:
            if i + 1 >= len(overrides) or (overrides[i + 1].startswith("--") and not _looks_numeric(overrides[i + 1])):
                raw = "true"  # a bare flag: --bf16
                i += 1
            else:
                raw = overrides[i + 1]
                i += 2
        if "." in body:
            full = body
            if full not in all_keys:
                raise ConfigError(
                    f"unknown config key {full!r} on the command line.{_suggest(full, all_keys)}\n"
                    f"{_keys_listing(all_keys)}"
                )
        else:
            matches = flat_index.get(body, [])
            if not matches:
                raise ConfigError(
                    f"unknown config key {body!r} on the command line.{_suggest(body, list(flat_index) + all_keys)}\n"
                    f"{_keys_listing(all_keys)}"
                )
            if len(matches) > 1:
                raise ConfigError(f"config key {body!r} is ambiguous; write one of: {', '.join(matches)}")
            full = matches[0]
        node = schema
        parts = full.split(".")
        for p in parts[:-1]:
            node = node[p]
        node[parts[-1]] = _parse_value(raw)


def _looks_numeric(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def load_config(defaults: dict, argv: list[str] | None, description: str = "") -> tuple[Config, str | None]:
    """Parse ``[--config FILE] [overrides...]`` against ``defaults``; return the merged config and the YAML path."""
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        print(description.strip() + "\n")
        print("usage: [--config FILE.yaml] [--key value | --section.key=value ...]\n\nvalid keys and defaults:")
        flat = _flatten_schema(defaults)
        for k in sorted(flat):
            if k.startswith("training.") and len(flat) > 60 and k not in _COMMON_TRAINING_KEYS:
                continue
            print(f"  --{k} {flat[k]!r}")
        print("  (plus every TrainingArguments/SFTConfig field under training.)")
        raise SystemExit(0)
    config_path = None
    rest: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--config":
            if i + 1 >= len(argv):
                raise ConfigError("--config needs a YAML file path")
            config_path = argv[i + 1]
            i += 2
        elif a.startswith("--config="):
            config_path = a.split("=", 1)[1]
            i += 1
        else:
            rest.append(a)
            i += 1
    schema = copy.deepcopy(defaults)
    if config_path is not None:
        p = Path(config_path)
        if not p.is_file():
            raise ConfigError(f"config file {config_path!r} does not exist")
        loaded = _numeric(yaml.safe_load(p.read_text()) or {})
        if not isinstance(loaded, dict):
            raise ConfigError(f"{config_path}: the top level must be a mapping of sections")
        _merge(schema, loaded, str(config_path))
    apply_overrides(schema, rest)
    return Config.wrap(_strip_markers(schema)), config_path


_COMMON_TRAINING_KEYS = {
    f"training.{k}"
    for k in (
        "output_dir", "per_device_train_batch_size", "per_device_eval_batch_size", "learning_rate", "num_train_epochs",
        "max_steps", "save_steps", "save_total_limit", "logging_steps", "bf16", "seed", "report_to",
        "resume_from_checkpoint", "gradient_accumulation_steps", "warmup_steps", "lr_scheduler_type", "weight_decay",
        "dataloader_num_workers", "eval_steps", "eval_strategy", "save_strategy", "disable_tqdm", "max_length",
        "gradient_checkpointing", "loss_type",
    )
}


def _flatten_schema(schema: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in schema.items():
        if k in ("__section__", "__leaf__"):
            continue
        if isinstance(v, dict) and _is_section(v):
            out.update(_flatten_schema(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def training_section(cls, **overrides) -> dict:
    """A ``training`` section accepting every field of ``cls`` (a TrainingArguments dataclass), with our defaults."""
    d = dataclass_defaults(cls)
    d.update(overrides)
    return section(**d)


def require_path(path: str | os.PathLike | None, what: str) -> Path:
    if path is None or str(path) == "":
        raise ConfigError(f"{what} is not set")
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{what} {str(path)!r} does not exist")
    return p


def save_config(cfg: Config, path: str | os.PathLike) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        yaml.safe_dump(_jsonable(cfg.to_dict()), f, sort_keys=False)


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return str(x)
