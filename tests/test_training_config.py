"""Config loading for the training stages: YAML + command-line overrides and clear errors (no model is built)."""

from __future__ import annotations

import json

import pytest
import yaml

from training.config_utils import ConfigError, load_config


def _stage1_defaults():
    from training.stage1_vecb import defaults

    return defaults()


def test_yaml_and_overrides(tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(yaml.safe_dump({"data": {"train": "a.jsonl"}, "training": {"learning_rate": 0.5}}))
    cfg, path = load_config(
        _stage1_defaults(),
        ["--config", str(cfg_file), "--max_steps", "7", "--weight_decay", "1e-2", "--training.seed=3", "--data.caption=cues.visual",
         "--model.config_overrides={vision_feature_select: patch_mean}", "--bf16", "false"],
    )
    assert path == str(cfg_file)
    assert cfg.data.train == "a.jsonl"
    assert cfg.training.learning_rate == 0.5 and cfg.training.max_steps == 7 and cfg.training.seed == 3
    assert cfg.data.caption == "cues.visual"
    assert cfg.model.config_overrides == {"vision_feature_select": "patch_mean"}
    assert cfg.training.bf16 is False
    assert cfg.training.weight_decay == 0.01  # YAML 1.1 would read 1e-2 as a string
    # every TrainingArguments field is a valid key
    cfg, _ = load_config(_stage1_defaults(), ["--gradient_accumulation_steps", "4"])
    assert cfg.training.gradient_accumulation_steps == 4


def test_tiny_and_paper_configs_parse():
    from training.stage2_aecb import defaults as d2
    from training.stage3_sft import defaults as d3

    for defaults, name in ((_stage1_defaults, "stage1"), (d2, "stage2"), (d3, "stage3")):
        for kind in ("tiny", "paper"):
            cfg, _ = load_config(defaults(), ["--config", f"training/configs/{name}_{kind}.yaml"])
            assert cfg.training.output_dir


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--learnin_rate", "1"], "learning_rate"),  # typo: suggestion + list of valid keys
        (["--data.trian=x"], "data.train"),
        (["--nonsense", "1"], "Valid keys"),
    ],
)
def test_unknown_cli_key(argv, fragment):
    with pytest.raises(ConfigError) as err:
        load_config(_stage1_defaults(), argv)
    assert "unknown config key" in str(err.value) and fragment in str(err.value)


def test_unknown_yaml_key(tmp_path):
    cfg_file = tmp_path / "bad.yaml"
    cfg_file.write_text(yaml.safe_dump({"data": {"trian": "x"}}))
    with pytest.raises(ConfigError, match=r"(?s)unknown config key 'data.trian' in .*bad.yaml.*Did you mean 'data.train'"):
        load_config(_stage1_defaults(), ["--config", str(cfg_file)])
    cfg_file.write_text(yaml.safe_dump({"optimizer": {"lr": 1}}))
    with pytest.raises(ConfigError, match="(?s)unknown config key 'optimizer'.*Valid keys:.*cache: .*dir"):
        load_config(_stage1_defaults(), ["--config", str(cfg_file)])


def test_missing_config_file():
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(_stage1_defaults(), ["--config", "no/such.yaml"])


def test_missing_and_empty_dataset(tmp_path):
    from training.stage1_vecb import main

    with pytest.raises(ConfigError, match="training set path .*does not exist"):
        main(["--data.train", str(tmp_path / "nope.jsonl"), "--output_dir", str(tmp_path / "o")])
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(ConfigError, match="is empty"):
        main(["--data.train", str(empty), "--output_dir", str(tmp_path / "o")])
    import numpy as np
    import soundfile as sf

    sf.write(tmp_path / "x.wav", np.zeros(1600, np.float32), 16000)
    no_video = tmp_path / "audio_only.jsonl"  # a valid EmoCue record (the loader validates), but audio only
    no_video.write_text(json.dumps({"id": "a", "video": None, "audio": "x.wav", "modality": "audio", "subtitle": "",
                                    "emotion": "", "cues": {"visual": [], "audio": [], "global": []},
                                    "description": "d", "short_caption": ""}) + "\n")
    with pytest.raises(ConfigError, match="no record with a video"):
        main(["--data.train", str(no_video), "--output_dir", str(tmp_path / "o")])


def test_stage3_missing_bridge_weights(tmp_path):
    from training.stage3_sft import main

    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"id": "a", "video": None, "audio": None, "modality": "multimodal",
                                "description": "d"}) + "\n")
    with pytest.raises(ConfigError, match=r"bridges.vecb .*does not exist: run stage 1"):
        main(["--config", "training/configs/stage3_tiny.yaml", "--data.train", str(data),
              "--bridges.vecb", str(tmp_path / "missing_vecb"), "--output_dir", str(tmp_path / "o")])
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(ConfigError, match=r"bridges.vecb .*holds no VECB weights"):
        main(["--config", "training/configs/stage3_tiny.yaml", "--data.train", str(data),
              "--bridges.vecb", str(tmp_path / "empty_dir"), "--bridges.aecb", str(tmp_path / "empty_dir"),
              "--output_dir", str(tmp_path / "o")])
    with pytest.raises(ConfigError, match=r"bridges.vecb is not set"):
        main(["--data.train", str(data), "--output_dir", str(tmp_path / "o")])
