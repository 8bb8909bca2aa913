"""Label-only EmoCue records (emotion, no description or cues): the label tables on the corpora's own label names,
the records' validation, the synthetic generator's label-only option, `xemogpt data build --label-only` for DFEW /
MAFW / MER label files, the emotion reward through the tables, and stages 1-3 leaving label-only records out."""

from __future__ import annotations

import json

import pytest

from training.data.builders import DFEW_LABELS, MAFW_LABELS
from training.data.labels import (LABEL_SETS, LabelError, check_labels, label_targets, map_label, set_canonicals,
                                  templated_answer)
from training.data.schema import empty_record, is_label_only
from training.data.validate import validate_record, validate_records


# ---------------------------------------------------------------------------------------------------- tables
def test_every_corpus_label_maps_and_the_same_class_meets():
    """Every class name as the DFEW / MAFW builders and the MER2023, RAVDESS and synthetic label sets spell it has a
    canonical emotion; the same class under different names (DFEW 'surprise', MAFW 'surprise', the synthetic
    'surprised'; MAFW 'anger', MER 'angry') meets in one."""
    assert set(DFEW_LABELS.values()) == set(LABEL_SETS["dfew"]) and list(MAFW_LABELS) == list(LABEL_SETS["mafw"])
    for name, labels in LABEL_SETS.items():
        canon = [map_label(label) for label in labels]
        assert len(set(canon)) == len(labels), name  # no two classes of one set collapse
        assert [map_label(label, name) for label in labels] == canon  # a set maps into itself unchanged
    assert {map_label(x) for x in ("surprise", "Surprised", "SURPRISE ")} == {"surprised"}
    assert map_label("anger") == map_label("angry") == "angry"
    assert map_label("happiness") == map_label("happy") == "happy"
    assert map_label("worried") == map_label("worry")
    assert set_canonicals("dfew") == set_canonicals("mafw") - {"contemptuous", "anxious", "helpless", "disappointed"}


def test_mapping_between_label_sets():
    """MAFW's 11 classes fold into DFEW's 7 (contempt -> disgust, anxiety -> fear, helplessness / disappointment ->
    sad), MER's worried -> fear; a class with no counterpart is a one-line error naming label and set."""
    folded = {label: map_label(label, "dfew") for label in LABEL_SETS["mafw"]}
    assert folded == {"anger": "angry", "disgust": "disgusted", "fear": "fearful", "happiness": "happy",
                      "neutral": "neutral", "sadness": "sad", "surprise": "surprised", "contempt": "disgusted",
                      "anxiety": "fearful", "helplessness": "sad", "disappointment": "sad"}
    assert {map_label(x, "dfew") for x in LABEL_SETS["mer2023"]} <= set_canonicals("dfew")
    assert map_label("calm", "dfew") == "neutral" and map_label("calm", "ravdess") == "calm"
    assert {map_label(x, "synthetic") for x in ("happy", "sadness", "anger", "surprise", "neutral")} == \
        set_canonicals("synthetic")
    with pytest.raises(LabelError, match=r"^emotion label 'disgust' has no counterpart in the synthetic label set"):
        map_label("disgust", "synthetic")
    with pytest.raises(LabelError, match="unknown emotion label 'hapy'"):
        map_label("hapy")
    with pytest.raises(LabelError, match="unknown label set 'dfew8'"):
        map_label("happy", "dfew8")
    # compound labels (MAFW multi-set, MER2025 open-set lists): every class is a target
    assert label_targets("anger, disgust") == {"angry", "disgusted"} == label_targets("anger_disgust")
    assert label_targets("contempt", "dfew") == {"disgusted"}


def test_bad_labels_are_one_line_errors_naming_the_record():
    records = [empty_record(id="ok", emotion="Happiness"), empty_record(id="clip_7", emotion="hapy"),
               empty_record(id="described", emotion="relieved", description="She sighs with relief.")]
    with pytest.raises(LabelError) as info:
        check_labels(records, where="labels.jsonl")
    assert str(info.value).startswith("labels.jsonl: record 'clip_7': unknown emotion label 'hapy'")
    assert "\n" not in str(info.value)
    check_labels(records[::2])  # a described record's open-set label is not checked without a label set
    with pytest.raises(LabelError, match="record 'described': unknown emotion label 'relieved'"):
        check_labels(records[::2], label_set="dfew")


# ---------------------------------------------------------------------------------------------------- records
def test_label_only_records_validate():
    label_only = empty_record(id="a", emotion="sad", video="a.mp4")
    assert is_label_only(label_only) and validate_record(label_only, check_media=False) == []
    described = dict(label_only, description="She looks down. So she is sad.")
    assert not is_label_only(described)
    bare = dict(label_only, emotion="")
    assert validate_record(bare, check_media=False) == [
        "record 'a': empty description and no emotion label (a record needs a description, or an emotion label for a "
        "label-only record)"]
    with_cues = dict(label_only, cues={"visual": ["a frown"], "audio": [], "global": []})
    problems = validate_records([with_cues], check_media=False, source="x.jsonl", raise_on_error=False)
    assert problems == ["x.jsonl: record 'a': empty description but cues listed (a label-only record has an emotion "
                        "and no cues; a described one needs its description)"]


def test_synthetic_described_share_keeps_clips_and_labels(tmp_path, capsys):
    """--described-share / --labels-only drop only the text fields: the same seed gives the same clips (bytes),
    factors, emotions and subtitles; the label-only records validate and load."""
    from training.data.loaders import load_records
    from training.data.synthetic import main, make_synthetic

    full = make_synthetic(tmp_path / "full", 12, seed=3, workers=1)
    half = make_synthetic(tmp_path / "half", 12, seed=3, workers=1, described_share=0.5)
    labels = make_synthetic(tmp_path / "labels", 12, seed=3, workers=1, described_share=0.0)
    for a, b, c in zip(full, half, labels):
        for key in ("emotion", "subtitle", "factors", "modality"):
            assert a[key] == b[key] == c[key]
        clip = a["video"] or a["audio"]
        other = (b["video"] or b["audio"], c["video"] or c["audio"])
        assert all(open(clip, "rb").read() == open(o, "rb").read() for o in other)
        assert not is_label_only(a) and is_label_only(c)
        assert c["description"] == c["short_caption"] == "" and not any(c["cues"].values())
        assert b["description"] in ("", a["description"]) and (b["description"] == "") == is_label_only(b)
    assert 0 < sum(is_label_only(r) for r in half) < 12
    assert main(["--out", str(tmp_path / "cli"), "--n", "4", "--seed", "3", "--labels-only", "--workers", "1"]) == 0
    loaded = load_records(tmp_path / "cli" / "emocue.jsonl")
    assert len(loaded) == 4 and all(is_label_only(r) for r in loaded)
    with pytest.raises(ValueError, match="described_share must be within"):
        make_synthetic(tmp_path / "bad", 2, described_share=1.5)


# ---------------------------------------------------------------------------------------------------- builders
def test_data_build_label_only_for_dfew_mafw_mer(tmp_path, capsys):
    """`xemogpt data build --label-only` on DFEW / MAFW / MER label files writes label-only records (emotion, empty
    description, no cues) that pass validation and whose labels the tables map; without it the description states
    the label as before; a bad label stays one line naming the file and line."""
    from training.data.loaders import load_records
    from xemogpt_cli.main import main

    (tmp_path / "dfew.csv").write_text("video_name,label\n1,1\n2,7\n3,0\n4,5\n")
    (tmp_path / "mafw.txt").write_text("00025.mp4 anger_disgust\n00026.mp4 contempt\n00027.mp4 9\n")
    (tmp_path / "mer.csv").write_text("name,discrete,valence\nsample_1,worried,-1.2\nsample_2,happy,2.0\n")
    built = {}
    for fmt, path, extra in (("dfew", "dfew.csv", []), ("mafw", "mafw.txt", []),
                             ("mer-caption", "mer.csv", ["--openset"])):
        out = tmp_path / f"out_{fmt}"
        source = ["--openset", str(tmp_path / path)] if extra else ["--csv", str(tmp_path / path)]
        assert main(["data", "build", "--format", fmt, *source, "--no-media-check", "--label-only",
                     "--out", str(out)]) == 0, capsys.readouterr().err
        built[fmt] = load_records(out / "emocue.jsonl", check_media=False)
        assert built[fmt] and all(is_label_only(r) for r in built[fmt]), fmt
        check_labels(built[fmt], where=fmt)
    assert [r["emotion"] for r in built["dfew"]] == ["happy", "fear", "surprise"]
    assert [r["emotion"] for r in built["mafw"]] == ["anger, disgust", "contempt", "anxiety"]
    assert [r["emotion"] for r in built["mer-caption"]] == ["worried", "happy"]
    assert {map_label(r["emotion"], "dfew") for r in built["mer-caption"]} == {"fearful", "happy"}
    out = tmp_path / "placeholder"
    assert main(["data", "build", "--format", "dfew", "--csv", str(tmp_path / "dfew.csv"), "--no-media-check",
                 "--out", str(out)]) == 0
    assert not any(is_label_only(r) for r in load_records(out / "emocue.jsonl", check_media=False))
    (tmp_path / "bad.csv").write_text("video_name,label\n1,9\n")
    assert main(["data", "build", "--format", "dfew", "--csv", str(tmp_path / "bad.csv"), "--no-media-check",
                 "--label-only", "--out", str(tmp_path / "bad")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith("has DFEW label 9, expected 1-7 (1 happy, 2 sad, 3 neutral, 4 angry, 5 surprise, "
                            "6 disgust, 7 fear)") and "bad.csv" in err[-1]


# ---------------------------------------------------------------------------------------------------- reward
def test_emotion_reward_reads_the_tables():
    from training.rewards import emotion_match

    texts = ["The voice is loud. Overall, the person is most likely angry.", "A broad smile: a sign of happiness.",
             "Mixed signals. So the person appears disgusted.", "Nothing to see here at all."]
    assert emotion_match(texts, emotion=["anger", "happy", "anger, disgust", "sad"]) == [1.0, 1.0, 1.0, 0.0]
    assert emotion_match(texts[:1], emotion=["fear"]) == [0.0]
    assert emotion_match(texts[2:3], emotion=["contempt"]) == [0.0]
    assert emotion_match(texts[2:3], emotion=["contempt"], label_set="dfew") == [1.0]  # both fold into disgust
    assert emotion_match(["She felt relieved."], emotion=["relieved"]) == [1.0]  # unknown to the tables: as written
    assert emotion_match(texts[:1], emotion=[""]) == [None]
    assert templated_answer("angry") == "Overall, the person is most likely angry."
    assert emotion_match([templated_answer("sadness")], emotion=["sad"]) == [1.0]


def test_label_only_records_leave_stage3_and_the_bridges(tmp_path):
    """Stage 3 and the bridges leave label-only records out (they have no answer / caption); a set of label-only
    records only is a one-line error pointing to stage 4."""
    from training.bridge_stage import bridge_records
    from training.config_utils import ConfigError
    from training.data.synthetic import make_synthetic
    from training.stage3_config import Stage3Config
    from training.stage3_sft import select_records

    make_synthetic(tmp_path, 10, seed=5, workers=1, described_share=0.5)
    records = [json.loads(line) for line in open(tmp_path / "emocue.jsonl")]
    n_described = sum(not is_label_only(r) for r in records)
    assert 0 < n_described < 10
    cfg = Stage3Config(output_dir=str(tmp_path / "out"), bf16=False)
    kept = select_records(tmp_path / "emocue.jsonl", "training set", cfg)
    assert len(kept) == n_described and not any(is_label_only(r) for r in kept)
    assert len(select_records(tmp_path / "emocue.jsonl", "training set", cfg, label_only=True)) == 10
    only = tmp_path / "labels.jsonl"
    only.write_text("".join(json.dumps(r) + "\n" for r in records if is_label_only(r)))
    with pytest.raises(ConfigError, match="holds only label-only records") as info:
        select_records(only, "training set", cfg)
    assert "\n" not in str(info.value)
    from types import SimpleNamespace

    video = SimpleNamespace(media_path=lambda r: r.get("video"), media_phrase="a video")  # stage 1's rule
    got, captions = bridge_records(video, tmp_path / "emocue.jsonl", "training set")
    assert all(captions) and not any(is_label_only(r) for r in got) and got
    got, captions = bridge_records(video, tmp_path / "emocue.jsonl", "training set", caption_spec="emotion")
    assert any(is_label_only(r) for r in got) and all(captions)  # the emotion is a caption


def test_eval_leaves_label_only_references_out(tmp_path, capsys):
    """`xemogpt eval` with label-only references among the described ones scores the described pairs (the same
    figures as without the label-only ones) with a note; only label-only references: one line."""
    from xemogpt_cli.main import main

    described = {"a": "In the video, the woman smiles broadly. In the audio, her voice is loud. She is happy.",
                 "b": "In the video, the man frowns. In the audio, his voice is low and slow. Overall, he seems sad."}
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({"id": k, "description": v}) + "\n"
                             for k, v in [*described.items(), ("c", "A smile. So she is happy.")]))
    refs, refs_ab = tmp_path / "refs.jsonl", tmp_path / "refs_ab.jsonl"
    rows = [empty_record(id=k, description=v, emotion="x") for k, v in described.items()]
    refs_ab.write_text("".join(json.dumps(r) + "\n" for r in rows))
    refs.write_text("".join(json.dumps(r) + "\n" for r in [*rows, empty_record(id="c", emotion="happy")]))
    preds_ab = tmp_path / "preds_ab.jsonl"
    preds_ab.write_text("".join(preds.read_text().splitlines(True)[:2]))
    assert main(["eval", str(preds_ab), str(refs_ab), "--json"]) == 0
    want = json.loads(capsys.readouterr().out)
    assert main(["eval", str(preds), str(refs), "--json"]) == 0
    out = capsys.readouterr()
    got = json.loads(out.out)
    assert "left out 1 label-only reference(s)" in out.err and got["num_samples"] == 2
    assert got["mean"] == pytest.approx(want["mean"]) and got["bleu_4"] == pytest.approx(want["bleu_4"])
    only = tmp_path / "only.jsonl"
    only.write_text(json.dumps(empty_record(id="c", emotion="happy")) + "\n")
    one = tmp_path / "one.jsonl"
    one.write_text(preds.read_text().splitlines(True)[2])
    assert main(["eval", str(one), str(only)]) == 1
    assert "every reference is label-only" in capsys.readouterr().err
