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
            "--max-new-tokens", "8", "--num-examples", "2", "--stage4-args=--max_completion_length 8"]
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


# ------------------------------------------------------------------------------------------ --labels (issue 24)
@pytest.fixture(scope="module")
def label_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("rl_labels")
    argv = ["rl-study", "--labels", "--out", str(out), "--seeds", "0", "1", "--n-train", "16", "--n-labels", "12",
            "--n-heldout", "16", "--stage1-steps", "2", "--stage2-steps", "2", "--stage3-steps", "3",
            "--stage4-steps", "2", "--max-new-tokens", "8", "--num-examples", "2",
            "--grpo-labels-args=--max_completion_length 8"]
    assert main(argv) == 0
    return out, argv


def test_label_study_runs_three_systems_on_both_splits(label_study):
    """(a) SFT on described clips, (b) + SFT on templated label-only clips, (c) + GRPO on label-only clips, for two
    seeds: the splits keep the OOD cue pairs out of training, (b) and (c) start from (a), (c) trains on label-only
    prompts only, (b) on described + templated records; the tables carry both splits, the gains and the goal."""
    from training.data.schema import is_label_only
    from xemogpt_cli.rl_labels_study import has_ood_pair

    out, _ = label_study
    data = out / "data"
    splits = {n: [json.loads(x) for x in open(data / n / "emocue.jsonl")] for n in
              ("train", "labels", "sft_labels", "heldout", "heldout_ood")}
    assert not any(has_ood_pair(r) for n in ("train", "labels", "sft_labels", "heldout") for r in splits[n])
    assert splits["heldout_ood"] and all(has_ood_pair(r) for r in splits["heldout_ood"])
    assert all(is_label_only(r) for r in splits["labels"]) and not any(is_label_only(r) for r in splits["train"])
    templated = splits["sft_labels"][len(splits["train"]):]
    assert [r["description"] for r in templated] == [f"Overall, the person is most likely {r['emotion']}." for r in
                                                     splits["labels"]]
    table = json.loads((out / "table.json").read_text())
    assert table["seeds"] == [0, 1] and table["counts"]["labels"] == len(splits["labels"])
    for system in ("sft", "sft_labels", "grpo_labels"):
        row = table["systems"][system]
        for key in ("heldout_emotion", "heldout_cues_named", "heldout_words", "heldout_variety",
                    "heldout_ood_emotion", "heldout_emocue360"):
            assert row[key]["n"] == 2 and row[key]["mean"] is not None, (system, key)
    assert table["systems"]["grpo_labels"]["train_steps"]["mean"] == 2
    assert "heldout_emotion_over_sft_labels" in table["gains"] and isinstance(table["goal_met"], bool)
    assert table["wall_time_s"] > 0
    grpo = json.loads((out / "seed1" / "grpo_labels" / "metrics.json").read_text())
    assert grpo["train_label_only"] == grpo["train_prompts"] == len(splits["labels"])
    for run in ("grpo_labels", "sft_labels"):
        config = (out / "seed1" / run / "stage_config.yaml").read_text()
        assert str(out / "seed1" / "sft" / "merged") in config
    md = (out / "table.md").read_text()
    assert "(c) (a) + GRPO on label-only clips" in md and "OOD emotion" in md and "Wall time" in md
    assert (out / "examples.md").read_text().count("- **reference**") == 2


def test_label_study_rerun_skips_finished_runs(label_study, capsys):
    out, argv = label_study
    before = (out / "seed0" / "eval_grpo_labels_heldout.json").stat().st_mtime_ns
    assert main(argv) == 0
    assert capsys.readouterr().out.count("(skipped)") >= 2 * 5
    assert (out / "seed0" / "eval_grpo_labels_heldout.json").stat().st_mtime_ns == before
