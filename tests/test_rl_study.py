"""`xemogpt rl-study` reduced to a few clips and steps: two seeds of stages 1-3, stage 4 and the control, the held-out
evaluation of the three checkpoints, the tables, the examples, and a rerun that skips everything finished."""

from __future__ import annotations

import json

import pytest

from xemogpt_cli.main import main

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("rl_study")
    argv = ["rl-study", "--out", str(out), "--seeds", "0", "1", "--n-train", "16", "--n-heldout", "4",
            "--stage1-steps", "2", "--stage2-steps", "2", "--stage3-steps", "3", "--stage4-steps", "2",
            "--max-new-tokens", "8", "--num-examples", "2", "--stage4-args=--training.max_completion_length 8"]
    assert main(argv) == 0
    return out, argv


def test_tables_and_examples(study):
    out, _ = study
    table = json.loads((out / "table.json").read_text())
    assert table["seeds"] == [0, 1] and table["num_heldout"] == 4
    for system in ("stage3", "stage4", "control"):
        row = table["systems"][system]
        assert row["emocue360_mean"]["n"] == 2 and 0 <= row["emocue360_mean"]["mean"] <= 1
        assert {"mouth", "pitch"} <= set(row["per_factor"])
        assert row["train_seconds"]["mean"] > 0
    assert table["systems"]["stage4"]["train_steps"]["mean"] == 2
    for seed in ("0", "1"):
        per = table["per_seed"][seed]
        assert per["control"]["steps"] >= 1 and per["stage4"]["train_seconds"] > 0
        gain = per["stage4"]["emocue360_mean"] - max(per["stage3"]["emocue360_mean"], per["control"]["emocue360_mean"])
        assert isinstance(gain, float)
    md = (out / "table.md").read_text()
    assert "after stage 4 (GRPO)" in md and "stage 3 continued (same wall time)" in md and "goal" in md
    examples = (out / "examples.md").read_text()
    assert examples.count("- **reference**") == 2 and "after stage 4 (GRPO)" in examples
    # stage 4 and the control start from the stage-3 checkpoint of their seed
    config = (out / "seed1" / "stage4_grpo" / "stage_config.yaml").read_text()
    assert str(out / "seed1" / "stage3_sft" / "merged") in config


def test_rerun_skips_finished_runs(study, capsys):
    out, argv = study
    before = (out / "seed0" / "eval_stage4.json").stat().st_mtime_ns
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.count("(skipped)") >= 2 * 5
    assert (out / "seed0" / "eval_stage4.json").stat().st_mtime_ns == before
