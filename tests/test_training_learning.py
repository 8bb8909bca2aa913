"""Learning sanity on synthetic EmoCue clips with a small budget: after stage 1 (resp. 2) the held-out
video→caption (resp. audio→caption) retrieval is above chance, and the linear probe (Table IV) runs on the result."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import synthetic_split

ROOT = Path(__file__).resolve().parents[1]
CFG = ROOT / "training" / "configs"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("learn")
    synthetic_split(d, 160, 128, seed=11, modality_mix=(1.0, 0.0, 0.0))  # every clip has video and audio
    return d


def _run(module, stage, data, steps):
    out = data / f"stage{stage}"
    figures = module.main(["--config", str(CFG / f"stage{stage}_tiny.yaml"), "--train_file", str(data / "train.jsonl"),
                           "--eval_file", str(data / "test.jsonl"), "--cache_dir", str(data / "cache"),
                           "--output_dir", str(out), "--max_steps", str(steps), "--save_strategy", "no",
                           "--disable_tqdm", "true", "--logging_steps", "25"])
    return out, figures


def _assert_above_chance(figures, prefix):
    r1, r5, chance = figures[prefix + "r1"], figures[prefix + "r5"], figures[prefix + "chance_r1"]
    print(f"{prefix}: R@1 {r1:.3f} R@5 {r5:.3f} chance R@1 {chance:.3f}")
    assert r1 > chance
    assert r5 >= 2 * min(1.0, 5 * chance)
    assert figures["loss_last"] < figures["loss_first"]


def test_stage1_and_stage2_learn_and_probe(data):
    from training import probe, stage1_vecb, stage2_aecb

    s1, f1 = _run(stage1_vecb, 1, data, 150)
    _assert_above_chance(f1, "heldout_video_to_text_")
    assert f1["heldout_video_to_text_r1"] >= 2 * f1["heldout_video_to_text_chance_r1"]
    s2, f2 = _run(stage2_aecb, 2, data, 150)
    _assert_above_chance(f2, "heldout_audio_to_text_")

    result = probe.main(["--train_file", str(data / "train.jsonl"), "--test_file", str(data / "test.jsonl"),
                         "--cache_dir", str(data / "cache"), "--vecb", str(s1), "--aecb", str(s2),
                         "--config_overrides={vision_feature_select: patch_mean}",
                         "--output", str(data / "probe" / "probe.json")])
    names = [r["model"] for r in result["rows"]]
    assert names == ["CLIP", "CLIP+VECB", "HuBERT", "HuBERT+AECB"]
    for row in result["rows"]:
        assert 0 <= row["uar"] <= 100 and 0 <= row["war"] <= 100 and row["test"] == 32
    assert (data / "probe" / "probe.md").read_text().startswith("| Model | Modal | UAR | WAR |")
