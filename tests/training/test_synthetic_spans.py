"""Partial-clip cues of the synthetic generator (``--partial-cues``): off by default (the default clips unchanged),
and when on, cues drawn only inside their spans, the spans in valid records and in the JSON reference answer."""

from __future__ import annotations

import filecmp
import json

import numpy as np
import pytest

from training.data import synthetic as syn
from training.data.answer_format import answer_text
from training.data.loaders import load_emocue
from training.data.synthetic_media import render_audio, render_frames
from training.data.synthetic_spans import draw_partial, frame_factors, place_voice


@pytest.fixture(scope="module")
def partial(tmp_path_factory):
    out = tmp_path_factory.mktemp("partial")
    return out, syn.make_synthetic(out, 24, seed=5, workers=1, partial_cues=0.7)


def test_option_off_gives_the_default_clips_byte_for_byte(tmp_path):
    syn.make_synthetic(tmp_path / "default", 12, seed=5, workers=1)
    syn.make_synthetic(tmp_path / "zero", 12, seed=5, workers=1, partial_cues=0.0)
    assert (tmp_path / "default" / "emocue.jsonl").read_bytes() == (tmp_path / "zero" / "emocue.jsonl").read_bytes()
    names = sorted(p.name for p in (tmp_path / "default" / "clips").iterdir())
    _, mismatch, errors = filecmp.cmpfiles(tmp_path / "default" / "clips", tmp_path / "zero" / "clips", names,
                                           shallow=False)
    assert not mismatch and not errors
    assert "spans" not in (tmp_path / "default" / "emocue.jsonl").read_text()


def test_partial_records_are_valid_and_keep_the_default_texts(partial, tmp_path):
    out, ds = partial
    syn.make_synthetic(tmp_path, 24, seed=5, workers=1)
    default = [json.loads(line) for line in open(tmp_path / "emocue.jsonl")]
    records = [json.loads(line) for line in open(out / "emocue.jsonl")]
    for with_spans, plain in zip(records, default):  # same factors, phrasings, emotion: only media and spans differ
        assert {k: v for k, v in with_spans.items() if k != "spans"} == plain
    loaded = load_emocue(out)  # validated: every span names a cue of its dimension, 0 <= start < end
    assert len(loaded) == 24 and ds.features["spans"] == loaded.features["spans"]
    spans = [s for r in records for key in ("visual", "audio") for s in r["spans"][key]]
    assert any(s["end"] - s["start"] < 2.0 for s in spans) and any(s["end"] - s["start"] == 2.0 for s in spans)
    for r in records:
        assert [s["cue"] for s in r["spans"]["visual"]] == r["cues"]["visual"] and not r["spans"]["global"]
        assert len({(s["start"], s["end"]) for s in r["spans"]["audio"]}) <= 1  # one voice span for every audio cue
        answer = json.loads(answer_text(r, "json"))
        assert all(isinstance(c, dict) for c in answer["visual"] + answer["audio"])


def test_cues_are_drawn_only_inside_their_spans():
    factors = {"mouth": "smile", "brows": "raised", "head": "nod", "scene": "warm", "pitch": "high",
               "intonation": "rising", "loudness": "loud", "rhythm": "fast"}
    names = tuple(syn.ALL_FACTORS)
    partial = draw_partial(factors, names, tuple(syn.AUDIO_FACTORS), 1.0, np.random.default_rng(0), 2.0)
    assert set(partial) == {"mouth", "brows", "head", "voice"}
    for start, end in partial.values():
        assert 0.5 <= end - start <= 1.5 and 0 <= start and end <= 2.0 and (start / 0.25).is_integer()
    per_frame = frame_factors(factors, {"mouth": (1.0, 2.0)}, 16, 8)
    assert [f["mouth"] for f in per_frame] == ["flat"] * 8 + ["smile"] * 8
    frames = render_frames(factors, np.random.default_rng(1), size=64, num_frames=16, per_frame=per_frame)
    flat = render_frames({**factors, "mouth": "flat"}, np.random.default_rng(1), size=64, num_frames=16)
    whole = render_frames(factors, np.random.default_rng(1), size=64, num_frames=16)
    assert (frames[:8] == flat[:8]).all() and (frames[8:] == whole[8:]).all()
    assert not draw_partial({**factors, "mouth": "flat", "head": "still"}, ("mouth", "head"), (), 1.0,
                            np.random.default_rng(0), 2.0)  # a flat mouth / still head cannot come and go
    voice = place_voice(render_audio(factors, np.random.default_rng(2), 1.0), (1.0, 2.0), np.random.default_rng(3),
                        0.003, 16000, 2.0)
    assert voice.shape == (32000,) and np.abs(voice[:16000]).max() < 0.05 < np.abs(voice[16000:]).max()


def test_cli_writes_spans(tmp_path, capsys):
    from xemogpt_cli.main import main

    assert main(["data", "synthetic", "--out", str(tmp_path), "--n", "4", "--seed", "1", "--workers", "1",
                 "--partial-cues", "1"]) == 0
    records = [json.loads(line) for line in open(tmp_path / "emocue.jsonl")]
    assert all(r["spans"]["visual"] or r["spans"]["audio"] for r in records)
    with pytest.raises(ValueError, match="partial_cues must be within"):
        syn.make_synthetic(tmp_path / "bad", 2, partial_cues=1.5)
