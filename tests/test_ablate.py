"""``xemogpt ablate`` end to end at a toy size: Table V (variants x seeds, mean ± std) and Table IV (probes) are
written, and a rerun after an interruption continues instead of starting over."""

from __future__ import annotations

import json
import os

import pytest

from xemogpt_cli.main import main

pytestmark = pytest.mark.usefixtures("torch_single_thread")

ARGS = ["--seeds", "0", "1", "--variants", "none", "both", "both_eq6", "--n-train", "24", "--n-heldout", "6",
        "--stage1-steps", "3", "--stage2-steps", "3", "--stage3-steps", "4", "--max-new-tokens", "6",
        "--stage3-args", "--per_device_train_batch_size 4"]


def test_ablate_tables_and_resume(tmp_path, capsys):
    out = tmp_path / "abl"
    assert main(["ablate", "--out", str(out), *ARGS]) == 0
    table = json.loads((out / "table.json").read_text())
    assert table["seeds"] == [0, 1] and set(table["table_v"]) == {"none", "both", "both_eq6"}
    for row in table["table_v"].values():
        for key in ("visual_f1", "audio_f1", "global_f1", "cue_accuracy", "emotion_accuracy"):
            assert row[key]["n"] == 2 and 0.0 <= row[key]["mean"] <= 1.0 and row[key]["std"] >= 0.0
        assert set(row["per_factor"]) == {"mouth", "brows", "head", "scene", "pitch", "intonation", "loudness",
                                          "rhythm"}
    models = {(r["model"], r["label"]) for r in table["table_iv"]}
    assert {("CLIP", "factors.mouth"), ("CLIP+VECB", "factors.mouth"), ("HuBERT", "emotion"),
            ("HuBERT+AECB", "factors.pitch")} <= models
    assert all(r["uar"]["n"] == 2 for r in table["table_iv"])
    md = (out / "table.md").read_text()
    assert "| ✓ | ✓ |" in md and "| - | - |" in md and "EmoCue-360 mean" in md and "Table IV" in md
    both = table["table_v"]["both"]["emocue360_mean"]
    assert f"{100 * both['mean']:.1f} ± {100 * both['std']:.1f}" in md
    assert (out / "table.png").stat().st_size > 0
    # the variant "none" trained no bridge: its merged checkpoint has neither VECB nor AECB weights
    from safetensors.torch import load_file

    keys = load_file(out / "seed0" / "none" / "stage3" / "merged" / "model.safetensors").keys()
    assert not any(k.startswith(("vecb.", "aecb.")) for k in keys)
    assert any(k.startswith("vecb.") for k in load_file(out / "seed0" / "both" / "stage3" / "merged" /
                                                         "model.safetensors"))
    # the AECB-objective factor: both_eq6 has the paper's AECB (eq.2 / eq.6: no segment context), both the recipe's
    both_keys = load_file(out / "seed0" / "both" / "stage3" / "merged" / "model.safetensors").keys()
    eq6_keys = load_file(out / "seed0" / "both_eq6" / "stage3" / "merged" / "model.safetensors").keys()
    assert "aecb.segment_context" in both_keys and "aecb.segment_context" not in eq6_keys
    assert any(k.startswith("aecb.") for k in eq6_keys)
    stage2_eq6 = json.loads((out / "seed0" / "stage2_aecb_eq6" / "config.json").read_text())
    assert stage2_eq6["aecb_segment_context"] is False and stage2_eq6["aecb_temporal_objective"] == "none"
    assert "| ✓ | ✓ | eq.6 (paper) |" in md and "| ✓ | ✓ | eq.6 + segment_context |" in md
    assert {("HuBERT+AECB (eq.6 alone)", "factors.intonation")} <= models

    # an interrupted run: one variant's evaluation is missing; the rerun redoes only that
    kept = out / "seed0" / "none" / "heldout_eval.json"
    before = kept.stat().st_mtime_ns
    (out / "seed1" / "both" / "heldout_eval.json").unlink()
    capsys.readouterr()
    assert main(["ablate", "--out", str(out), *ARGS]) == 0
    log = capsys.readouterr().out
    assert kept.stat().st_mtime_ns == before
    assert (out / "seed1" / "both" / "heldout_eval.json").exists()
    assert "already trained" in log and "seed 1 stage3 (both)" in log.replace("already trained", "")
    # the rerun reports its own wall time and the total over both invocations
    rerun = json.loads((out / "table.json").read_text())
    assert rerun["invocations"] == 2 and table["invocations"] == 1
    assert rerun["wall_time_total_s"] == pytest.approx(table["wall_time_s"] + rerun["wall_time_s"], abs=0.01)
    assert "over 2 invocations" in log


def test_ablate_rejects_bad_sizes(capsys):
    assert main(["ablate", "--n-heldout", "1"]) == 1
    assert "--n-heldout must be at least 2" in capsys.readouterr().err
    assert not os.path.exists("ablation_output")
