"""Resume by default (training/resume.py): what a stage run does with an output directory that holds an earlier run —
same configuration: resume from its last complete checkpoint; another configuration: a one-line error naming the
differences and the ways out; --overwrite: start fresh, removing only that run's files. (The kill-and-rerun of real
stage runs is in test_training_stages.py.)"""

from __future__ import annotations

import json

import pytest
import yaml

from training.config_utils import ConfigError, parse_config
from training.resume import CONFIG_FILE, config_differences, prepare_output_dir


@pytest.fixture(scope="module")
def state():
    from accelerate import PartialState

    return PartialState(cpu=True)


def _cfg(out, *argv):
    from training.stage1_vecb import Stage1Config

    return parse_config(Stage1Config, ["--config", "training/configs/stage1_tiny.yaml", "--output_dir", str(out),
                                       "--train_file", "data/train.jsonl", *argv])


def _checkpoint(out, step, complete=True):
    d = out / f"checkpoint-{step}"
    d.mkdir(parents=True)
    if complete:
        (d / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return d


def test_fresh_directory_writes_the_config(tmp_path, state):
    out = tmp_path / "run"
    assert prepare_output_dir(_cfg(out), "stage1_vecb", state) is None
    saved = yaml.safe_load((out / CONFIG_FILE).read_text())
    assert saved["output_dir"] == str(out) and saved["overwrite"] is False


def test_same_configuration_resumes_from_the_last_complete_checkpoint(tmp_path, state, capsys):
    out = tmp_path / "run"
    prepare_output_dir(_cfg(out), "stage1_vecb", state)
    _checkpoint(out, 4)
    _checkpoint(out, 8)
    _checkpoint(out, 12, complete=False)  # killed in the middle of a save
    # fields that do not change the trained weights may differ
    cfg = _cfg(out, "--logging_steps", "3", "--save_steps", "2", "--disable_tqdm", "true", "--cache_dir", "elsewhere",
               "--eval_file", "other.jsonl", "--sleep_per_step", "0.5", "--dataloader_num_workers", "2")
    assert prepare_output_dir(cfg, "stage1_vecb", state) == str(out / "checkpoint-8")
    assert (f"[stage1_vecb] resuming from {out / 'checkpoint-8'}: {out} holds checkpoints of this configuration "
            "(--overwrite starts fresh)") in capsys.readouterr().out
    assert yaml.safe_load((out / CONFIG_FILE).read_text())["logging_steps"] == 3  # the config of now


def test_another_configuration_stops_with_both_values_and_the_way_out(tmp_path, state):
    out = tmp_path / "run"
    prepare_output_dir(_cfg(out), "stage1_vecb", state)
    _checkpoint(out, 4)
    with pytest.raises(ConfigError) as err:
        prepare_output_dir(_cfg(out, "--learning_rate", "0.002", "--caption", "description"), "stage1_vecb",
                           state)
    assert str(err.value) == (
        f"{out} holds results of another configuration (saved in {out / CONFIG_FILE}): caption: "
        "'cues.visual' there, 'description' now; learning_rate: 0.001 there, 0.002 now; rerun with "
        "--overwrite to start fresh there, or choose another --output_dir")
    assert yaml.safe_load((out / CONFIG_FILE).read_text())["learning_rate"] == 0.001  # untouched


def test_overwrite_removes_only_the_earlier_run(tmp_path, state, capsys):
    out = tmp_path / "run"
    prepare_output_dir(_cfg(out), "stage1_vecb", state)
    for step in (4, 8):
        _checkpoint(out, step)
    for name in ("loss_history.json", "metrics.json", "model.safetensors", "skipped_media.jsonl"):
        (out / name).write_text("{}")
    (out / "my_notes.txt").write_text("not the run's")
    assert prepare_output_dir(_cfg(out, "--learning_rate", "0.002", "--overwrite"), "stage1_vecb", state) is None
    assert sorted(p.name for p in out.iterdir()) == ["my_notes.txt", CONFIG_FILE]
    assert "--overwrite: removed 7 checkpoints and outputs of the earlier run" in capsys.readouterr().out
    assert yaml.safe_load((out / CONFIG_FILE).read_text())["learning_rate"] == 0.002


def test_results_without_a_saved_config(tmp_path, state):
    out = tmp_path / "run"
    _checkpoint(out, 4)
    with pytest.raises(ConfigError, match=r"no stage_config.yaml telling which configuration wrote them; "
                                          r"--resume_from_checkpoint auto continues"):
        prepare_output_dir(_cfg(out), "stage1_vecb", state)
    assert prepare_output_dir(_cfg(out, "--resume_from_checkpoint", "auto"), "s", state) == str(out / "checkpoint-4")
    with pytest.raises(ConfigError, match="resume_from_checkpoint is false; rerun with --overwrite"):
        prepare_output_dir(_cfg(out, "--resume_from_checkpoint", "false"), "stage1_vecb", state)


def test_same_configuration_without_a_checkpoint_trains_again_and_says_so(tmp_path, state, capsys):
    out = tmp_path / "run"
    prepare_output_dir(_cfg(out), "stage1_vecb", state)
    (out / "loss_history.json").write_text("[]")  # killed before its first checkpoint
    assert prepare_output_dir(_cfg(out), "stage1_vecb", state) is None
    assert "without a complete checkpoint: training from step 0 again" in capsys.readouterr().out


def test_config_differences_ignore_only_result_neutral_fields():
    saved = {"learning_rate": 1e-3, "logging_steps": 10, "seed": 42, "save_steps": 5, "eval_steps": 3,
             "config_overrides": {"a": 1}, "cache_dir": "x", "cache_dtype": "float32", "eval_file": "a",
             "train_file": "t", "overwrite": False, "sleep_per_step": 0.0}
    same = {**saved, "logging_steps": 1, "save_steps": 50, "eval_steps": 9, "overwrite": True, "sleep_per_step": 1.0,
            "cache_dir": "y", "eval_file": "b"}
    assert config_differences(saved, same) == []
    other = {**saved, "seed": 1, "config_overrides": {"a": 2}, "cache_dtype": "float16", "train_file": "u"}
    assert config_differences(saved, other) == [
        "cache_dtype: 'float32' there, 'float16' now", "config_overrides: {'a': 1} there, {'a': 2} now",
        "seed: 42 there, 1 now", "train_file: 't' there, 'u' now"]


def test_a_config_saved_by_an_older_version_asks_before_resuming(tmp_path, state):
    """A ``stage_config.yaml`` of nested sections (before the typed stage configs) cannot be compared: one line
    asks for ``--resume_from_checkpoint auto`` or ``--overwrite``."""
    out = tmp_path / "run"
    _checkpoint(out, 4)
    (out / CONFIG_FILE).write_text(yaml.safe_dump({"training": {"learning_rate": 0.001}, "data": {"train": "x"}}))
    with pytest.raises(ConfigError, match=r"was written by an older version \(nested sections\).*"
                                          r"--resume_from_checkpoint auto continues"):
        prepare_output_dir(_cfg(out), "stage1_vecb", state)
    assert prepare_output_dir(_cfg(out, "--resume_from_checkpoint", "auto"), "s", state) == str(out / "checkpoint-4")
