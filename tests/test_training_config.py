"""Stage configs: typed dataclasses parsed from a YAML file of overrides + command-line flags, one-line errors, and
the paper's defaults in Python (no model is built)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
import yaml

from training.config_utils import ConfigError, build_config, flags_to_dict, parse_config

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("stage1", "stage2", "stage3", "stage4")


def _config_class(stage: str):
    from xemogpt_cli.recipe_runs import TINY_STAGES

    import importlib

    module, name, _ = TINY_STAGES[stage]
    return getattr(importlib.import_module(module), name)


def _defaults(cls) -> dict:
    return {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
            for f in dataclasses.fields(cls) if f.init}


def test_yaml_then_flags(tmp_path):
    from training.stage1_vecb import Stage1Config

    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(yaml.safe_dump({"train_file": "a.jsonl", "learning_rate": 0.5, "weight_decay": "1e-2",
                                        "bf16": False, "max_steps": 3}))
    cfg = parse_config(Stage1Config, ["--config", str(cfg_file), "--max_steps", "7", "--seed=3",
                                      "--caption", "cues.visual", "--config_overrides={vision_feature_select: "
                                      "patch_mean}", "--eval_file", "null", "--gradient_accumulation_steps", "4"])
    assert isinstance(cfg, Stage1Config)
    assert cfg.train_file == "a.jsonl" and cfg.eval_file is None
    assert cfg.learning_rate == 0.5 and cfg.max_steps == 7 and cfg.seed == 3  # the flag wins over the file
    assert cfg.caption == "cues.visual" and cfg.gradient_accumulation_steps == 4  # any TrainingArguments field
    assert cfg.config_overrides == {"vision_feature_select": "patch_mean"}
    assert cfg.bf16 is False and cfg.weight_decay == 0.01  # YAML 1.1 reads 1e-2 as a string: typed here
    assert cfg.per_device_train_batch_size == 512 and cfg.num_train_epochs == 30  # the paper's, from Python


def test_dict_settings_as_the_recipes_give_them():
    from training.stage3_config import Stage3Config

    cfg = build_config(Stage3Config, {"vecb": "off", "aecb": "some/dir", "max_steps": 5, "eval_file": None},
                       config_file=ROOT / "training/configs/stage3_tiny.yaml")
    assert cfg.bridge_switches() == {"use_vecb": False} and cfg.aecb == "some/dir" and cfg.eval_file is None
    assert cfg.learning_rate == 5e-3 and cfg.lora_r == 64 and cfg.max_length is None  # the tiny file's
    assert flags_to_dict(Stage3Config, ["--learning_rate", "1e-3", "--lora_target_modules", "q_proj", "v_proj",
                                        "--vecb", "null"]) == {"learning_rate": 1e-3, "vecb": None,
                                                               "lora_target_modules": ["q_proj", "v_proj"]}


@pytest.mark.parametrize("stage", STAGES)
def test_tiny_and_paper_configs_parse(stage):
    cls = _config_class(stage)
    for kind in ("tiny", "paper"):
        path = ROOT / f"training/configs/{stage}_{kind}.yaml"
        cfg = parse_config(cls, ["--config", str(path), "--bf16", "false"])  # (bf16 needs a GPU)
        assert cfg.output_dir and cfg.train_file
        # the files hold overrides only: no key repeats the Python default
        defaults = _defaults(cls)
        repeated = [k for k, v in yaml.safe_load(path.read_text()).items() if k in defaults and defaults[k] == v]
        assert repeated == [], f"{path.name} repeats the defaults of {repeated}"


def test_paper_defaults_are_the_ones_docs_training_states():
    """The table of docs/training.md ("paper config") against the dataclass defaults."""
    from modeling_xemogpt import XEmoGPTConfig

    table = (ROOT / "docs/training.md").read_text()
    for stage in ("stage1", "stage2", "stage3"):
        row = next(line for line in table.splitlines() if line.startswith(f"| {stage[-1]} | `training/{stage}"))
        d = _defaults(_config_class(stage))
        assert f"batch {d['per_device_train_batch_size']}," in row, row
        assert f"lr {d['learning_rate']:.0e}".replace("e-0", "e-") in row, row
        if stage != "stage3":
            assert f"{int(d['num_train_epochs'])} epochs" in row and "bf16" in row and d["bf16"] is True
            assert d["preset"] == "paper"
        else:
            lora = re.search(r"LoRA r=(\d+)", row).group(1)
            assert d["lora_r"] is None and XEmoGPTConfig.from_preset("paper").lora_r == int(lora)
    assert _defaults(_config_class("stage2"))["text_encoder"].endswith("LaBSE")


@pytest.mark.parametrize("argv, message", [
    (["--learnin_rate", "1"], "command line: unknown option '--learnin_rate' for Stage1Config. Did you mean "
                              "'learning_rate'"),
    (["--learning", "1"], "unknown option '--learning'"),  # no abbreviations
    (["--trian_file", "x"], "Did you mean 'train_file'"),
    (["--max_steps", "ten"], "command line: argument --max_steps/--max-steps: invalid int value: 'ten'"),
    (["--on_bad_media", "ignore"], "invalid choice: 'ignore'"),
    (["--config_overrides", '{"use_vecb": false}'], "config_overrides sets use_vecb: a bridge is used iff its "
                                                   "weights are given"),
])
def test_command_line_mistakes_are_one_line_errors(argv, message):
    from training.stage1_vecb import Stage1Config

    with pytest.raises(ConfigError) as err:
        parse_config(Stage1Config, ["--bf16", "false", *argv])
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("content, message", [
    ({"trian_file": "x"}, "bad.yaml: unknown key 'trian_file' for Stage3Config. Did you mean 'train_file'"),
    ({"data": {"train": "x"}}, "bad.yaml: unknown key 'data' for Stage3Config. The stage configs are flat"),
    ({"max_steps": "ten"}, "bad.yaml: max_steps must be an int, got 'ten'"),
    ({"learning_rate": True}, "bad.yaml: learning_rate must be a number, got True"),
    ({"save_merged": "maybe"}, "bad.yaml: save_merged must be true or false"),
    ({"answer_format": "xml"}, "bad.yaml: answer_format must be one of text, json, got 'xml'"),
    ({"per_device_train_batch_size": None}, "bad.yaml: per_device_train_batch_size cannot be null"),
    ({"lora_r": [1, 2]}, "bad.yaml: lora_r takes a single value, got a list"),
    ({"modalities": ["both"]}, "modalities: unknown 'both'; choose from multimodal, visual, audio"),
])
def test_yaml_mistakes_name_the_file_and_the_key(tmp_path, content, message):
    from training.stage3_config import Stage3Config

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(content))
    with pytest.raises(ConfigError) as err:
        parse_config(Stage3Config, ["--config", str(bad), "--bf16", "false"])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_missing_or_malformed_config_file(tmp_path):
    from training.stage1_vecb import Stage1Config

    with pytest.raises(ConfigError, match="config file 'no/such.yaml' does not exist"):
        parse_config(Stage1Config, ["--config", "no/such.yaml"])
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="the top level must be a mapping"):
        parse_config(Stage1Config, ["--config", str(tmp_path / "list.yaml")])


def test_missing_and_empty_dataset(tmp_path):
    from training.stage1_vecb import main

    tiny = ["--config", "training/configs/stage1_tiny.yaml", "--output_dir", str(tmp_path / "o")]
    with pytest.raises(ConfigError, match="training set path .*does not exist"):
        main([*tiny, "--train_file", str(tmp_path / "nope.jsonl")])
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(ConfigError, match="is empty"):
        main([*tiny, "--train_file", str(empty)])
    import numpy as np
    import soundfile as sf

    sf.write(tmp_path / "x.wav", np.zeros(1600, np.float32), 16000)
    no_video = tmp_path / "audio_only.jsonl"  # a valid EmoCue record (the loader validates), but audio only
    no_video.write_text(json.dumps({"id": "a", "video": None, "audio": "x.wav", "modality": "audio", "subtitle": "",
                                    "emotion": "", "cues": {"visual": [], "audio": [], "global": []},
                                    "description": "d", "short_caption": ""}) + "\n")
    with pytest.raises(ConfigError, match="no record with a video"):
        main([*tiny, "--train_file", str(no_video), "--eval_file", "null"])


def test_stage3_bridges_are_given_or_an_error(tmp_path):
    from training.stage3_sft import main

    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"id": "a", "video": None, "audio": None, "modality": "multimodal",
                                "description": "d"}) + "\n")
    tiny = ["--config", "training/configs/stage3_tiny.yaml", "--train_file", str(data), "--output_dir",
            str(tmp_path / "o")]
    with pytest.raises(ConfigError, match=r"^vecb .*does not exist: run stage 1"):
        main([*tiny, "--vecb", str(tmp_path / "missing_vecb")])
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(ConfigError, match=r"^vecb .*holds no VECB weights"):
        main([*tiny, "--vecb", str(tmp_path / "empty_dir"), "--aecb", str(tmp_path / "empty_dir")])
    with pytest.raises(ConfigError, match=r"^vecb is not set: .*--vecb random .*--vecb off"):
        main([*tiny, "--vecb", "null"])


def test_a_run_can_go_to_a_worker_process_as_its_config():
    """The recipes hand configs to worker processes pickled: the copy is the same config."""
    import pickle

    from training.stage3_config import Stage3Config
    from training.config_utils import config_values

    cfg = build_config(Stage3Config, {"max_steps": 3}, config_file=ROOT / "training/configs/stage3_tiny.yaml")
    copy = pickle.loads(pickle.dumps(cfg))
    assert type(copy) is Stage3Config and config_values(copy) == config_values(cfg)


def test_stage_args_of_the_recipe_commands_become_config_settings():
    """``xemogpt ablate --stage3-args '...'`` (and rl-study's) become per-run dicts of the stage config's fields."""
    import argparse

    from xemogpt_cli.recipe_cli import stage_overrides

    args = argparse.Namespace(stage3_args="--learning_rate 1e-3 --vecb off", control_args="")
    assert stage_overrides(args, {"stage3": "stage3", "control": "stage3"}) == {
        "stage3": {"learning_rate": 1e-3, "vecb": "off"}, "control": {}}
    with pytest.raises(ConfigError, match="^--grpo-labels-args: unknown option '--max_completion_lenght' for "
                                          "Stage4Config. Did you mean 'max_completion_length'"):
        stage_overrides(argparse.Namespace(grpo_labels_args="--max_completion_lenght 8"), {"grpo_labels": "stage4"})
