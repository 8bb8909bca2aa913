"""`xemogpt demo` reduced to a few clips and steps: every step runs for real (synthetic clips, stages 1-3 through
their entry points, export, fresh-process remote-code reload, scoring, report), only tiny."""

from __future__ import annotations

import json
import os

import pytest

from xemogpt_cli.main import main
from xemogpt_cli.predictions import FIELDS

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    argv = ["demo", "--out", str(out), "--n-train", "24", "--n-heldout", "4", "--untrained-clips", "3", "--stage1-steps", "2",
            "--stage2-steps", "2", "--stage3-steps", "3", "--max-new-tokens", "8"]
    rc = main(argv)
    assert rc == 0
    return out, argv


def test_report_files(demo_run):
    out, _ = demo_run
    report = out / "report"
    for name in ("table.json", "table.md", "example.md", "example.html", "frames.png", "loss_curves.png",
                 "summary.json"):
        assert (report / name).is_file() and (report / name).stat().st_size > 0, name
    assert (report / "frames.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (report / "loss_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "frames.png" in (report / "example.md").read_text()
    for stage in ("stage1_vecb", "stage2_aecb", "stage3_sft"):
        assert (out / stage / "loss_history.json").is_file(), stage
    summary = json.loads((report / "summary.json").read_text())
    assert summary["timings_s"]["total"] > 0


def test_two_row_table(demo_run, capsys):
    out, _ = demo_run
    table = json.loads((out / "report" / "table.json").read_text())
    rows = table["rows"]
    assert len(rows) == 2
    names = list(rows)
    assert "untrained" in names[0] and "trained" in names[1]
    for row in rows.values():
        for key in ("bleu_1", "bleu_4", "cider", "visual_precision", "visual_recall", "audio_precision",
                    "audio_recall", "global_precision", "global_recall", "mean"):
            assert key in row
    # the trained model describes every held-out clip, the untrained one the first --untrained-clips only
    assert [row["num_samples"] for row in rows.values()] == [3, 4]
    assert table["num_heldout"] == 4 and list(table["clips_per_row"].values())[:2] == [3, 4]
    md = (out / "report" / "table.md").read_text()
    assert "| Model" in md and "Mean" in md and names[0] in md and names[1] in md
    # the cue-naming table adds the shuffled-media control of the trained model (issue: "the report adds the control")
    controls = {"control: trained, another clip's video", "control: trained, another clip's audio"}
    assert set(table["cue_naming"]) == set(names) | controls
    assert "another clip's video" in md and "another clip's audio" in md


def test_checkpoints_loaded_in_a_fresh_process_with_remote_code(demo_run):
    out, _ = demo_run
    for name, n in (("untrained", 3), ("trained", 4), ("trained_swapped_audio", 4)):
        rows = [json.loads(line) for line in (out / f"predictions_{name}.jsonl").read_text().splitlines()]
        assert len(rows) == n and all(set(r) == set(FIELDS) and r["error"] is None for r in rows)
        run = json.loads((out / f"predictions_{name}.run.json").read_text())  # written by `xemogpt describe`
        assert run["pid"] != os.getpid()
        assert run["model_class"].startswith("transformers_modules."), run["model_class"]
    ckpt = out / "checkpoint"
    files = {p.name for p in ckpt.iterdir()}
    assert "model.safetensors" in files and "config.json" in files and "modeling_xemogpt.py" in files
    assert "auto_map" in json.loads((ckpt / "config.json").read_text())


def _card_metrics_of(table: dict, row: str) -> dict:
    """What the card's model-index must hold for report row ``row``: every number of its Table II scores and of its
    cue-naming figures in report/table.json (sample and support counts aside)."""
    want = {k: v for k, v in table["rows"][row].items()
            if isinstance(v, (int, float)) and k != "num_samples" and not k.endswith("_support")}
    naming = table["cue_naming"][row]
    want.update(cue_accuracy=naming["cue_accuracy"], emotion_accuracy=naming["emotion_accuracy"],
                **{f"per_factor_{f}": v for f, v in naming["per_factor"].items()})
    return want


def test_checkpoint_card_holds_the_report_numbers(demo_run):
    """checkpoint/README.md, read with huggingface_hub's parser: its model-index holds the numbers of the report's
    trained row (report/table.json, the same file), and the card says what the model was trained on, with how many
    records, and that it is synthetic-only."""
    from huggingface_hub import ModelCard

    from xemogpt_cli.demo_pipeline import ROW_NAMES

    out, _ = demo_run
    table = json.loads((out / "report" / "table.json").read_text())
    card = ModelCard.load(out / "checkpoint" / "README.md")
    got = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert got == _card_metrics_of(table, ROW_NAMES["trained"]) and "visual_precision" in got and "mean" in got
    assert {(r.dataset_name, r.dataset_split) for r in card.data.eval_results} == {
        ("synthetic EmoCue held-out clips", "heldout")}
    assert card.data.model_name == ROW_NAMES["trained"] and card.data.license == "apache-2.0"
    text = card.text
    assert "**synthetic clips only**" in text and (out / "report" / "table.md").read_text().strip() in text
    stage3 = json.loads((out / "stage3_sft" / "metrics.json").read_text())
    assert f"| 3: instruction tuning | training set | {stage3['train_samples']} |" in text
    assert f"| report | held-out set | 4 | – | {out / 'data' / 'heldout' / 'emocue.jsonl'} |" in text
    assert "| 3: instruction tuning | 3 steps, learning rate" in text
    assert f'AutoModel.from_pretrained("{out / "checkpoint"}", trust_remote_code=True)' in text


def test_rerun_skips_finished_steps(demo_run, capsys):
    out, argv = demo_run
    before = (out / "predictions_trained.jsonl").stat().st_mtime_ns
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.count("(skipped)") >= 6
    assert (out / "predictions_trained.jsonl").stat().st_mtime_ns == before


def test_rl_adds_stage4_and_its_row(demo_run, capsys):
    """`--rl` on a finished demo: stages 1-3 are skipped, stage 4 (GRPO) runs from the stage-3 checkpoint, its
    checkpoint describes the held-out clips in a fresh process, and the report gains its row."""
    out, argv = demo_run
    assert main([*argv, "--rl", "--stage4-steps", "2"]) == 0
    printed = capsys.readouterr().out
    assert "[6/9] stage 4: GRPO" in printed and "[9/9] report" in printed
    metrics = json.loads((out / "stage4_grpo" / "metrics.json").read_text())
    assert metrics["stage"] == "stage4_grpo" and metrics["global_step"] == 2
    rl_row = "XEmoGPT-tiny, + stage 4 (GRPO, cue-level rewards)"
    table = json.loads((out / "report" / "table.json").read_text())
    assert list(table["rows"])[-1] == rl_row and rl_row in table["cue_naming"]
    preds = [json.loads(line) for line in open(out / "predictions_rl.jsonl")]
    run = json.loads((out / "predictions_rl.run.json").read_text())  # written by `xemogpt describe`
    assert len(preds) == 4 and run["pid"] != os.getpid() and run["model_class"].startswith("transformers_modules.")
    assert rl_row in (out / "report" / "example.md").read_text()
    from huggingface_hub import ModelCard

    card = ModelCard.load(out / "stage4_grpo" / "merged" / "README.md")  # its card holds its report row's numbers
    assert {r.metric_type: r.metric_value for r in card.data.eval_results} == _card_metrics_of(table, rl_row)
    assert "| 4: GRPO, cue-level rewards | 2 steps" in card.text


def test_cue_naming_check_on_generator_texts():
    """The demo's cue-naming figure: 100% on the generator's own descriptions, and it catches a wrong cue."""
    import numpy as np

    from training.data.synthetic import describe, sample_factors
    from training.data.cue_naming import cue_accuracy, predicted_emotion

    rng = np.random.default_rng(0)
    records = []
    for _ in range(20):
        factors = sample_factors(rng)
        text = describe(factors, "multimodal", rng)
        records.append({"factors": factors, "emotion": text["emotion"], "description": text["description"]})
    acc = cue_accuracy([r["description"] for r in records], records)
    assert acc["cue_accuracy"] == 1.0 and acc["emotion_accuracy"] == 1.0 and acc["num_cues"] == 20 * 8
    swapped = [records[(i + 1) % 20]["description"] for i in range(20)]
    assert cue_accuracy(swapped, records)["cue_accuracy"] < 0.8
    assert predicted_emotion("The voice is loud. Overall, the person is most likely angry.") == "angry"
    assert predicted_emotion("ir ir ir") is None


def test_eval_reads_the_demo_predictions_as_they_are(demo_run, capsys):
    """`xemogpt eval demo_output/predictions_trained.jsonl demo_output/data/heldout/emocue.jsonl` gives the demo's
    Table II row: the free-text predictions meet the references' descriptions, both read by the rules extractor."""
    out, _ = demo_run
    capsys.readouterr()
    assert main(["eval", str(out / "predictions_trained.jsonl"), str(out / "data/heldout/emocue.jsonl"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    row = json.loads((out / "report" / "table.json").read_text())["rows"]
    trained = next(v for k, v in row.items() if "demo-trained" in k)
    for key in ("bleu_1", "bleu_4", "cider", "visual_precision", "audio_recall", "global_precision", "mean"):
        assert result[key] == pytest.approx(trained[key], abs=1e-9), key


@pytest.fixture(scope="module")
def json_run(demo_run):
    """The same demo folder rerun with --format json: the text steps are reused, stage 3 is trained with JSON
    answers, its checkpoint describes the held-out clips and report/json_vs_text.* compares the two."""
    out, argv = demo_run
    assert main([*argv, "--format", "json", "--json-max-new-tokens", "24"]) == 0
    return out


def test_json_format_checkpoint_and_predictions(json_run):
    out = json_run
    assert json.loads((out / "checkpoint_json" / "config.json").read_text())["answer_format"] == "json"
    assert json.loads((out / "checkpoint" / "config.json").read_text()).get("answer_format", "text") == "text"
    rows = [json.loads(line) for line in (out / "predictions_trained_json.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(r["answer_format"] == "json" and r["error"] is None for r in rows)
    # whatever a 3-step model writes, each answer is either parsed (own cue lists) or flagged, never a crash
    assert all((r["cues"] is not None) != r["invalid_json"] for r in rows)
    assert all(r["raw"] is not None for r in rows)


def test_json_vs_text_report_matches_eval(json_run, capsys):
    out = json_run
    result = json.loads((out / "report" / "json_vs_text.json").read_text())
    assert set(result["rows"]) == {"text", "json"} and result["num_heldout"] == 4
    js, text = result["rows"]["json"], result["rows"]["text"]
    assert 0 <= js["cue_naming_explanation"]["cue_accuracy"] <= 1 and "cue_naming_cue_lists" in js
    assert "emocue360_own_cues" in js and "emocue360_own_cues" not in text
    md = (out / "report" / "json_vs_text.md").read_text()
    assert "| json |" in md and "| text |" in md and "own cues" in md
    capsys.readouterr()
    references = str(out / "data/heldout/emocue.jsonl")
    for name, key in (("predictions_trained_json.jsonl", "emocue360_own_cues"),
                      ("predictions_trained.jsonl", "emocue360_extractor")):
        assert main(["eval", str(out / name), references, "--json"]) == 0
        scored = json.loads(capsys.readouterr().out)
        row = js if name == "predictions_trained_json.jsonl" else text
        for metric in ("visual_f1", "audio_f1", "global_f1", "mean"):
            assert scored[metric] == pytest.approx(row[key][metric], abs=1e-9), (name, metric)
