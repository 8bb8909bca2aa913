"""Per-cue spans: the schema with and without spans (old records still valid), the JSON answer's cue objects read
back tolerantly, and the grounding metric's temporal IoU against hand-computed cases."""

from __future__ import annotations

import json

import pytest

from emocue360.grounding import grounding_scores, has_reference_spans, match, temporal_iou, with_spans
from training.data.answer_format import answer_text, parse_answer
from training.data.loaders import load_emocue
from training.data.schema import empty_record
from training.data.spans import frames_in_span, span_problems
from training.data.validate import validate_record

CUES = {"visual": ["a broad smile", "nodding head"], "audio": ["rising intonation"], "global": ["warm light"]}
SPANS = {"visual": [{"cue": "a broad smile", "start": 1.0, "end": 2.0}],
         "audio": [{"cue": "rising intonation", "start": 0.5, "end": 2.0}], "global": []}


def _record(rid="r1", **fields):
    return empty_record(id=rid, video="clips/a.mp4", description="She smiles.", emotion="happy", cues=CUES, **fields)


def test_records_with_and_without_spans_are_valid():
    assert validate_record(_record(), check_media=False) == []  # an old record: no spans field
    assert validate_record(_record(spans=None), check_media=False) == []
    assert validate_record(_record(spans=SPANS), check_media=False) == []


@pytest.mark.parametrize("spans, problem", [
    ({"visual": [{"cue": "a broad smile", "start": 1.0, "end": 0.5}]},
     "record 'r1': spans.visual[0] (cue 'a broad smile'): end 0.5 is not after start 1.0"),
    ({"visual": [{"cue": "a frown", "start": 0, "end": 1}]},
     "record 'r1': spans.visual[0] (cue 'a frown'): the cue is not listed in cues.visual"),
    ({"audio": [{"cue": "rising intonation", "start": "0", "end": 1}]},
     "record 'r1': spans.audio[0] (cue 'rising intonation'): start and end must be numbers of seconds"),
    ({"visual": [{"cue": "a broad smile", "start": -1, "end": 1}]}, "start -1.0 is negative"),
    ({"visual": ["a broad smile"]}, "record 'r1': spans.visual[0] must be an object with a string 'cue'"),
    ({"faces": []}, "spans has unknown key(s): faces"),
    ([1], "spans must be a mapping"),
])
def test_bad_spans_are_named_by_record_and_cue(spans, problem):
    problems = validate_record(_record(spans=spans), check_media=False, source="data.jsonl")
    assert len(problems) == 1 and problem in problems[0] and problems[0].startswith("data.jsonl: record 'r1': ")


def test_loader_keeps_spans_and_gives_records_without_them_empty_lists(tmp_path):
    rows = [_record("a"), _record("b", spans=SPANS)]
    (tmp_path / "emocue.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ds = load_emocue(tmp_path, check_media=False)
    assert ds[0]["spans"] == {"visual": [], "audio": [], "global": []}
    assert ds[1]["spans"] == SPANS
    (tmp_path / "emocue.jsonl").write_text(json.dumps(_record("a")) + "\n")
    assert "spans" not in load_emocue(tmp_path, check_media=False).column_names  # old files: no new column


def test_json_answer_carries_spans_and_reads_them_back():
    text = answer_text(_record(spans=SPANS), "json")
    assert json.loads(text)["visual"] == [{"cue": "a broad smile", "start": 1.0, "end": 2.0}, "nodding head"]
    parsed = parse_answer(text, "json")
    assert parsed.cues == CUES and parsed.spans == SPANS
    assert parse_answer(answer_text(_record(), "json"), "json").spans is None  # no spans: the old answer


def test_invalid_spans_in_a_generated_answer_keep_the_cue():
    answer = {"visual": [{"cue": "a broad smile", "start": 1.5, "end": 0.5}, {"cue": "nodding head", "start": "x"},
                         {"cue": "a frown", "start": 0, "end": 0.75}],
              "audio": [], "global": [], "emotion": "happy", "explanation": "x"}
    parsed = parse_answer(json.dumps(answer), "json")
    assert not parsed.invalid_json and parsed.cues["visual"] == ["a broad smile", "nodding head", "a frown"]
    assert parsed.spans == {"visual": [{"cue": "a frown", "start": 0.0, "end": 0.75}], "audio": [], "global": []}
    answer["visual"] = [{"start": 0, "end": 1}]
    assert "'visual' must be a list of strings" in parse_answer(json.dumps(answer), "json").json_error


def test_temporal_iou_hand_computed():
    assert temporal_iou((0, 2), (1, 2)) == pytest.approx(0.5)
    assert temporal_iou((0.5, 1.5), (1.0, 2.0)) == pytest.approx(0.5 / 1.5)
    assert temporal_iou((0, 1), (1, 2)) == 0.0
    assert temporal_iou((0.25, 0.75), (0, 1)) == pytest.approx(0.5)
    assert temporal_iou((1, 2), (1, 2)) == 1.0


def test_greedy_matching_is_one_to_one_and_thresholded():
    import numpy as np

    sim = np.array([[0.9, 0.8], [0.85, 0.2], [0.1, 0.3]])
    assert match(sim, 0.5) == [(0, 0)]  # row 1's best column is taken; (1, 1) is below the threshold
    assert match(sim, 0.15) == [(0, 0), (2, 1)]  # most similar first: (1, 0) and (0, 1) find their cue taken


def test_grounding_scores_hand_computed():
    refs = [{"spans": SPANS}, {"spans": {"visual": [{"cue": "a frown", "start": 0.0, "end": 1.0}]}}]
    preds = [
        {"cues": {"visual": ["a broad smile", "nodding head"], "audio": ["rising intonation"]},
         "spans": {"visual": [{"cue": "a broad smile", "start": 1.5, "end": 2.0}],   # IoU 0.5
                   "audio": [{"cue": "rising intonation", "start": 0.0, "end": 1.0}]}},  # IoU 0.5/2.0 = 0.25
        {"cues": {"visual": ["a frown"]}},  # matched, no span: IoU 0
    ]
    result = grounding_scores(preds, refs, encoder="exact")
    assert result["grounding_matched"] == 3 and result["grounding_reference"] == 3
    assert result["grounding_iou"] == pytest.approx((0.5 + 0.25 + 0.0) / 3)
    assert result["grounding_iou@0.5"] == pytest.approx(1 / 3)
    assert result["grounding_spanned"] == pytest.approx(2 / 3)
    whole = with_spans(preds, lambda p: {k: [{"cue": c, "start": 0.0, "end": 2.0} for c in v]
                                         for k, v in p["cues"].items()})
    floor = grounding_scores(whole, refs, encoder="exact")  # the whole-clip guess: 0.5, 0.75, 0.5
    assert floor["grounding_iou"] == pytest.approx((0.5 + 0.75 + 0.5) / 3) and floor["grounding_spanned"] == 1.0
    assert has_reference_spans(refs) and not has_reference_spans([{"cues": CUES}])
    unmatched = grounding_scores([{"cues": {"visual": ["a frown"]}}], [{"spans": SPANS}], encoder="exact")
    assert unmatched["grounding_iou"] is None and unmatched["grounding_matched"] == 0


def test_frames_in_span():
    times = [i / 8 + 1 / 16 for i in range(16)]  # 16 frames over 2 s, each shown at its segment's middle
    assert frames_in_span((1.0, 2.0), times) == list(range(8, 16))
    assert frames_in_span((0.0, 0.01), times) == [0]  # none inside: the nearest
    assert span_problems({"cues": CUES}) == []


def test_eval_reports_grounding_only_when_references_have_spans(tmp_path, capsys):
    from xemogpt_cli.main import main

    ref = {"id": "a", "description": "She smiles broadly.", "cues": CUES, "spans": SPANS}
    pred = {"id": "a", "explanation": "She smiles broadly.", "cues": CUES,
            "spans": {"visual": [{"cue": "a broad smile", "start": 1.5, "end": 2.0}], "audio": [], "global": []}}
    (tmp_path / "refs.jsonl").write_text(json.dumps(ref) + "\n")
    (tmp_path / "preds.jsonl").write_text(json.dumps(pred) + "\n")
    assert main(["eval", str(tmp_path / "preds.jsonl"), str(tmp_path / "refs.jsonl"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    # the smile: IoU 0.5; the rising intonation is named without a span: IoU 0
    assert result["grounding_matched"] == 2 and result["grounding_iou"] == pytest.approx(0.25)
    assert result["grounding_spanned"] == pytest.approx(0.5)
    assert main(["eval", str(tmp_path / "preds.jsonl"), str(tmp_path / "refs.jsonl")]) == 0
    assert "Grounding (temporal IoU of matched cues): mean 0.250, IoU >= 0.5 for 50.0%" in capsys.readouterr().out
    (tmp_path / "refs.jsonl").write_text(json.dumps({k: v for k, v in ref.items() if k != "spans"}) + "\n")
    assert main(["eval", str(tmp_path / "preds.jsonl"), str(tmp_path / "refs.jsonl"), "--json"]) == 0
    assert "grounding_iou" not in json.loads(capsys.readouterr().out)


def test_grounding_study_table_is_mean_and_std_over_seeds():
    import argparse

    from xemogpt_cli.grounding_study import aggregate, table_markdown

    spanned = {"model_grounding_spanned": 1.0}
    results = {("spans", 0): {"model_grounding_iou": 0.6, "model_grounding_iou@0.5": 0.5, "model_grounding_matched": 10,
                              "default_cue_accuracy": 0.8, **spanned},
               ("spans", 1): {"model_grounding_iou": 0.8, "model_grounding_iou@0.5": 0.7, "model_grounding_matched": 12,
                              "default_cue_accuracy": 0.6, **spanned},
               ("default", 0): {"default_cue_accuracy": 0.9}, ("default", 1): {"default_cue_accuracy": 0.7}}
    tables = aggregate(results)
    assert tables["spans"]["model_grounding_iou"]["mean"] == pytest.approx(0.7)
    assert tables["spans"]["model_grounding_iou"]["std"] == pytest.approx(0.1414, abs=1e-4)
    assert tables["default"]["default_cue_accuracy"]["n"] == 2
    args = argparse.Namespace(seeds=[0, 1], n_train=480, train_partial=0.5, stage3_steps=400, answer_field="x",
                              n_heldout=200)
    text = table_markdown(tables, args)
    assert "| spans | model | 0.700 ± 0.141 | 60.0 ± 14.1 | 11 ± 1 |" in text
    assert "| default | 80.0 ± 14.1 |" in text and "| default | model |" not in text  # no spans written: no row
