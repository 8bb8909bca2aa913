"""EmoCue schema, validator and loaders on real files, and every kind of bad input."""

from __future__ import annotations

import csv
import json

import datasets
import numpy as np
import pytest

from training.data.loaders import EmoCueDataError, load_emocue, read_records, write_jsonl
from training.data.media_writer import write_audio, write_mp4
from training.data.schema import (
    COLUMNS,
    EMOCUE_FEATURES,
    MODALITIES,
    empty_record,
    media_features,
    with_media_features,
)
from training.data.validate import EmoCueValidationError, validate_record, validate_records


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("emocue")
    frames = np.zeros((4, 32, 32, 3), np.uint8)
    write_mp4(root / "clips" / "a.mp4", frames, fps=4, audio=np.zeros(16000, np.float32))
    write_mp4(root / "clips" / "v.mp4", frames, fps=4)
    write_audio(root / "clips" / "s.wav", np.zeros(8000, np.float32))
    return root


def _records():
    return [
        empty_record(id="a", video="clips/a.mp4", subtitle="你好, \"hi\"", emotion="happy",
                     cues={"visual": ["smile"], "audio": ["high pitch"], "global": []},
                     description="She smiles; happy.", short_caption="Smile; happy.", modality="multimodal"),
        empty_record(id="v", video="clips/v.mp4", description="Frown; sad.", modality="visual",
                     cues={"visual": ["frown"], "audio": [], "global": ["blue scene"]}),
        empty_record(id="s", audio="clips/s.wav", description="Loud; angry.", modality="audio",
                     cues={"visual": [], "audio": ["loud voice"], "global": []}),
    ]


def _write_jsonl(path, records):
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


def test_features_and_media_variant():
    assert list(EMOCUE_FEATURES) == list(COLUMNS)
    assert set(MODALITIES) == {"multimodal", "visual", "audio"}
    ds = datasets.Dataset.from_list(_records(), features=EMOCUE_FEATURES)
    assert ds[2]["video"] is None and ds[0]["cues"]["visual"] == ["smile"]
    mf = media_features()
    assert isinstance(mf["video"], datasets.Video) and isinstance(mf["audio"], datasets.Audio)
    cast = with_media_features(ds)
    assert cast[0]["video"]["path"] == "clips/a.mp4" and cast[2]["video"] is None


@pytest.mark.parametrize("suffix", ["jsonl", "json", "csv", "csv_split_cues", "parquet"])
def test_load_formats_resolve_relative_paths(media, suffix):
    records = _records()
    if suffix == "jsonl":
        path = _write_jsonl(media / "d.jsonl", records)
    elif suffix == "json":
        path = media / "d.json"
        path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    elif suffix.startswith("csv"):
        path = media / f"{suffix}.csv"
        with open(path, "w", encoding="utf-8", newline="") as f:
            split = suffix == "csv_split_cues"
            header = [c for c in COLUMNS if not (split and c == "cues")]
            header += ["cues_visual", "cues_audio", "cues_global"] if split else []
            w = csv.DictWriter(f, fieldnames=header)
            w.writeheader()
            for r in records:
                row = {k: ("" if v is None else v) for k, v in r.items() if k != "cues"}
                if split:
                    row.update({f"cues_{k}": "; ".join(v) for k, v in r["cues"].items()})
                else:
                    row["cues"] = json.dumps(r["cues"], ensure_ascii=False)
                w.writerow(row)
    else:
        path = media / "d.parquet"
        datasets.Dataset.from_list(records, features=EMOCUE_FEATURES).to_parquet(str(path))
    ds = load_emocue(path)
    assert len(ds) == 3 and ds.features["cues"] == EMOCUE_FEATURES["cues"]
    assert ds[0]["video"] == str(media / "clips" / "a.mp4") and ds[0]["audio"] is None
    assert ds[2]["audio"] == str(media / "clips" / "s.wav") and ds[2]["video"] is None
    assert ds[0]["subtitle"] == "你好, \"hi\"" and ds[1]["cues"]["global"] == ["blue scene"]


def test_load_folder_split_and_save_to_disk(media, tmp_path):
    folder = tmp_path / "data"
    (folder / "clips").mkdir(parents=True)
    for name in ("a.mp4", "v.mp4", "s.wav"):
        (folder / "clips" / name).write_bytes((media / "clips" / name).read_bytes())
    _write_jsonl(folder / "emocue.jsonl", _records())
    _write_jsonl(folder / "emocue_test.jsonl", _records()[:1])
    assert len(load_emocue(folder)) == 3
    assert len(load_emocue(folder, split="test")) == 1
    with pytest.raises(EmoCueDataError, match="no EmoCue data file"):
        load_emocue(folder, split="validation")
    # save_to_disk folders (relative paths resolved against the folder), single and dict
    saved = tmp_path / "saved"
    (saved / "clips").mkdir(parents=True)
    for name in ("a.mp4", "v.mp4", "s.wav"):
        (saved / "clips" / name).write_bytes((media / "clips" / name).read_bytes())
    datasets.Dataset.from_list(_records(), features=EMOCUE_FEATURES).save_to_disk(str(saved / "single"))
    ds = load_emocue(saved / "single", check_media=False)
    assert ds[0]["video"] == str(saved / "single" / "clips" / "a.mp4")
    with pytest.raises(EmoCueValidationError, match="record 'a': video file not found"):
        load_emocue(saved / "single")
    full = load_emocue(folder)
    datasets.DatasetDict(train=full, test=full.select([0])).save_to_disk(str(saved / "dict"))
    dd = load_emocue(saved / "dict")
    assert set(dd) == {"train", "test"} and len(load_emocue(saved / "dict", split="test")) == 1
    with pytest.raises(EmoCueDataError, match="no split 'dev'"):
        load_emocue(saved / "dict", split="dev")
    # write_jsonl round trip with relative paths
    out = write_jsonl(full, folder / "copy.jsonl", relative_to=folder)
    assert read_records(out)[0]["video"] == "clips/a.mp4"


def test_missing_path_empty_and_unreadable(tmp_path):
    with pytest.raises(FileNotFoundError, match="EmoCue data not found"):
        load_emocue(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(EmoCueDataError, match="empty dataset"):
        load_emocue(tmp_path / "empty.jsonl")
    (tmp_path / "hdr.csv").write_text(",".join(COLUMNS) + "\n")
    with pytest.raises(EmoCueDataError, match="empty dataset"):
        load_emocue(tmp_path / "hdr.csv")
    (tmp_path / "bad.jsonl").write_text('{"id": "a"}\n{not json\n')
    with pytest.raises(EmoCueDataError, match=r"bad.jsonl:2: invalid JSON"):
        load_emocue(tmp_path / "bad.jsonl")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(EmoCueDataError, match="unsupported file type"):
        load_emocue(tmp_path / "x.txt")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(EmoCueDataError, match="cannot read parquet"):
        load_emocue(tmp_path / "bad.parquet")
    empty_dir = tmp_path / "empty_dir"
    empty_dir.mkdir()
    with pytest.raises(EmoCueDataError, match="no EmoCue data file"):
        load_emocue(empty_dir)


def test_missing_column_is_one_line(media):
    records = [{k: v for k, v in r.items() if k not in ("description", "modality")} for r in _records()]
    path = _write_jsonl(media / "nocol.jsonl", records)
    with pytest.raises(EmoCueValidationError) as err:
        load_emocue(path)
    assert str(err.value) == f"{path}: missing column(s): description, modality"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"video": "clips/missing.mp4"}, "record 'a': video file not found: "),
        ({"audio": "clips/missing.wav"}, "record 'a': audio file not found: "),
        ({"description": "  "}, "record 'a': empty description"),
        ({"modality": "audiovisual"}, "record 'a': unknown modality 'audiovisual' (expected one of: multimodal"),
        ({"emotion": 3}, "record 'a': emotion must be a string, got int"),
        ({"cues": ["smile"]}, "record 'a': cues must be a mapping"),
        ({"cues": {"visual": "smile", "audio": [], "global": []}}, "record 'a': cues.visual must be a list of strings"),
        ({"cues": {"visual": [], "audio": []}}, "record 'a': cues.global is missing"),
        ({"cues": {"visual": [], "audio": [], "global": [], "text": []}}, "record 'a': cues has unknown key(s): text"),
        ({"video": 5}, "record 'a': video must be a path string or None, got int"),
        ({"video": None}, "record 'a': multimodal record has no video"),
        ({"id": ""}, "row 0: empty id"),
    ],
)
def test_bad_records(media, change, message):
    records = _records()
    records[0].update(change)
    path = _write_jsonl(media / "bad.jsonl", records)
    with pytest.raises(EmoCueValidationError) as err:
        load_emocue(path)
    lines = str(err.value).splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}: ") and message in lines[0], lines[0]


def test_validator_direct_api(media):
    records = _records()
    assert validate_records(records, base_dir=media) == []
    assert validate_record(records[0], base_dir=media, check_media=False) == []
    records[2] = dict(records[2], audio=None)
    records.append(dict(records[0]))
    problems = validate_records(records, base_dir=media, raise_on_error=False)
    assert "record 's': audio record has neither an audio nor a video file" in problems[0]
    assert "record 'a': duplicate id (first at row 0)" in problems[1]
    assert validate_records([], raise_on_error=False) == ["no records"]
    assert validate_record("x", row=4) == ["row 4: record is a str, expected a mapping"]
    many = [dict(_records()[0], id=f"r{i}", description="") for i in range(30)]
    with pytest.raises(EmoCueValidationError, match=r"and 10 more problem\(s\)") as err:
        validate_records(many, base_dir=media, max_errors=20)
    assert len(err.value.problems) == 20
    # the audio-only record may point video at an mp4 instead of a wav
    ok = dict(_records()[2], audio=None, video="clips/a.mp4")
    assert validate_record(ok, base_dir=media) == []


def test_load_records_lists_and_train_default(media, tmp_path):
    from training.data.loaders import load_records

    folder = tmp_path / "only_splits"
    (folder / "clips").mkdir(parents=True)
    for name in ("a.mp4", "v.mp4", "s.wav"):
        (folder / "clips" / name).write_bytes((media / "clips" / name).read_bytes())
    _write_jsonl(folder / "emocue_train.jsonl", _records()[:2])
    _write_jsonl(folder / "emocue_test.jsonl", _records()[2:])
    records = load_records(folder)
    assert [r["id"] for r in records] == ["a", "v"] and isinstance(records[0], dict)
    assert records[0]["video"] == str(folder / "clips" / "a.mp4")
    assert [r["id"] for r in load_records(folder, split="test")] == ["s"]
    ds = load_emocue(folder, split="train")
    datasets.DatasetDict(test=ds.select([0]), train=ds).save_to_disk(str(tmp_path / "dd"))
    assert len(load_records(tmp_path / "dd", check_media=False)) == 2
