"""Attention spans (xemogpt_cli/grounding.py): the thresholding and seconds arithmetic against hand-computed cases,
cue lookup in answers, and one forward pass of the tiny model placing the cues of a hand-written answer."""

from __future__ import annotations

import json

import pytest

from xemogpt_cli.grounding import METHOD, cue_char_spans, pooled, threshold_run, token_span


def test_threshold_run_takes_the_contiguous_run_around_the_peak():
    weights = [0.0, 0.2, 0.6, 1.0, 0.7, 0.1, 0.9, 0.0]
    assert threshold_run(weights, 0.5) == (2, 5)  # 0.6, 1.0, 0.7 >= 0.5; the 0.9 is not contiguous
    assert threshold_run(weights, 0.95) == (3, 4)
    assert threshold_run([1.0] * 4, 0.5) == (0, 4)


def test_token_span_in_seconds():
    frames = [0.0] * 8 + [1.0] * 8  # 16 frame tokens over 2 s, attended in the second half
    assert token_span(frames, 2.0) == (1.0, 2.0)
    audio = [0.0] * 50 + [1.0] * 50  # 100 audio tokens pooled into 16 groups: the run starts in the group of token 50
    start, end = token_span(audio, 2.0)
    assert end == 2.0 and start == pytest.approx(1.0, abs=0.125)
    assert pooled([1, 2, 3, 4], 2) == [1.5, 3.5] and pooled([1, 2], 16) == [1, 2]


def test_cue_lookup_in_answers():
    answer = '{"visual": ["A broad smile"], "explanation": "The smile is broad"}'
    assert cue_char_spans(answer, "a broad smile") == [(13, 26)]
    assert cue_char_spans("He is smiling, eyebrows up", "raised eyebrows") == [(15, 23)]  # by its words
    assert cue_char_spans("nothing here", "loud voice") == []


def test_attention_spans_of_the_tiny_model(tmp_path):
    from training.data.sample import sample_from_record
    from training.data.synthetic import make_synthetic
    from xemogpt_cli.grounding import describe_spans
    from xemogpt_cli.inference import Describer

    make_synthetic(tmp_path, 2, seed=1, workers=1, modality_mix=(1, 0, 0), partial_cues=1.0)
    records = [json.loads(line) for line in open(tmp_path / "emocue.jsonl")]
    describer = Describer("tiny", max_new_tokens=4)
    samples, answers = [], []
    for r in records:
        r["video"] = str(tmp_path / r["video"])
        samples.append(sample_from_record(r, feed_all_media=False, answer_format=None))
        answers.append("; ".join(r["cues"]["visual"] + r["cues"]["audio"]))
    spans = describe_spans(describer, samples, answers, [r["cues"] for r in records])
    for r, found in zip(records, spans):
        assert [s["cue"] for s in found["visual"]] == r["cues"]["visual"]
        assert [s["cue"] for s in found["audio"]] == r["cues"]["audio"] and found["global"] == []
        for s in found["visual"] + found["audio"]:
            assert 0.0 <= s["start"] < s["end"] <= 2.1  # the AAC track runs a little past the 2 s of video
    assert METHOD == "attention"


def test_app_outlines_the_frames_of_a_selected_cue():
    from PIL import Image

    from xemogpt_cli.gradio_app import HIGHLIGHT, highlight_frames, span_choices

    result = {"spans": {"visual": [{"cue": "a broad smile", "start": 1.0, "end": 2.0}], "audio": [], "global": []}}
    choices = span_choices(result)
    assert choices == ["a broad smile (1.00-2.00 s)"] and span_choices({"spans": None}) == []
    frames = [Image.new("RGB", (32, 32), (0, 0, 0)) for _ in range(16)]
    shown, note = highlight_frames(frames, choices[0], 2.0)
    assert [caption for _, caption in shown] == [None] * 8 + ["in span"] * 8
    assert shown[8][0].size == (32, 32) and shown[8][0].getpixel((0, 0)) == HIGHLIGHT
    assert shown[0][0].getpixel((0, 0)) == (0, 0, 0) and note.endswith("frames 9-16 of 16 outlined")
    assert highlight_frames(frames, None, 2.0) == (frames, "")


def test_describe_spans_attention_names_its_method(mp4_with_audio, capsys, monkeypatch):
    from processing_xemogpt.pipeline_xemogpt import XEmoGPTPipeline
    from xemogpt_cli.main import main

    # the tiny model's words are random: give its explanation a cue the rules extractor finds, so there is one to place
    monkeypatch.setattr(XEmoGPTPipeline, "generate_conversations",
                        lambda self, convs, **params: [("She has a broad smile.", False)] * len(convs))
    assert main(["describe", str(mp4_with_audio), "--model", "tiny", "--json", "--spans", "attention"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["span_method"] == "attention"
    spans = [s for key in ("visual", "audio") for s in record["spans"][key]]
    assert spans and all(0.0 <= s["start"] < s["end"] <= 2.1 for s in spans)
