"""``xemogpt data ...`` end to end on fixture files, through ``xemogpt_cli.main.main``."""

from __future__ import annotations

import csv
import json
from unittest import mock

import pytest

import builder_layouts as L
from conftest import tiny_media
from test_emocue_instruct import ChatServer
from xemogpt_cli.main import main

EMER = (
    "names,emotions,subtitles,reasons\n"
    "s1,angry,\"Get out, now!\",\"In the video, he points at the door, glaring. In the audio, he shouts.\"\n"
    "s2,happy,\"好啊，谢谢你\",\"In the video, she smiles.\nIn the audio, she laughs softly.\"\n"
    "s3,sad,\"...\",\"In the video, he looks down. In the audio, a low voice.\"\n"
)


@pytest.fixture()
def emer_files(tmp_path):
    csv_path = tmp_path / "gt-eng.csv"
    csv_path.write_text(EMER, encoding="utf-8-sig")
    media = tmp_path / "clips"
    media.mkdir()
    for n in ("s1", "s2"):
        tiny_media(media / f"{n}.mp4")
    return csv_path, media


def test_build_missing_media_and_skip(emer_files, tmp_path, capsys):
    csv_path, media = emer_files
    out = tmp_path / "built"
    rc = main(["data", "build", "--format", "emer", "--csv", str(csv_path), "--media-dir", str(media), "--out",
               str(out)])
    err = capsys.readouterr().err
    assert rc == 1 and "clip 's3' not found" in err and "--skip-missing" in err and len(err.strip().splitlines()) == 1
    rc = main(["data", "build", "--format", "emer", "--csv", str(csv_path), "--media-dir", str(media), "--out",
               str(out), "--skip-missing"])
    printed = capsys.readouterr().out
    assert rc == 0 and "2 records (emer); 1 skipped for missing media (e.g. s3)" in printed
    lines = (out / "emocue.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["id"] for x in lines] == ["s1", "s2"]
    from datasets import load_from_disk

    ds = load_from_disk(str(out / "dataset"))
    assert ds[1]["subtitle"] == "好啊，谢谢你" and any("shout" in c for c in ds[0]["cues"]["audio"])
    info = json.loads((out / "build_info.json").read_text())
    assert info["skipped_missing"] == 1 and info["num_records"] == 2
    assert main(["data", "build", "--format", "nope", "--csv", str(csv_path), "--out", str(out)]) == 1
    assert "unknown data format 'nope'" in capsys.readouterr().err
    assert main(["data", "build", "--format", "emer", "--csv", str(tmp_path / "absent.csv"), "--media-dir",
                 str(media), "--out", str(out)]) == 1
    assert "annotation file not found" in capsys.readouterr().err


def _mafw_clips(d):
    return L.touch_clips(d / "clips", "07317.mp4", "00412.mp4", "08841.mp4", "02200.mp4", "05555.mp4").resolve()


def _mafw_xlsx(d):
    return ["--format", "mafw", "--csv", str(L.mafw_single_set_xlsx(d / "single-set.xlsx")), "--captions",
            str(L.mafw_descriptive_text_xlsx(d / "descriptive_text.xlsx")), "--media-dir", str(_mafw_clips(d))]


def _mafw_caption_split(d):
    return ["--format", "mafw", "--csv", str(L.mafw_with_caption_split(d / "train.txt")), "--language", "zh",
            "--media-dir", str(_mafw_clips(d))]


def _mafw_dferclip(d):
    return ["--format", "mafw", "--csv", str(L.mafw_dferclip_list(d / "MAFW_set_1_train.txt")), "--media-dir",
            str(_mafw_clips(d))]


def _dfew_dferclip(d):
    media = L.touch_clips(d / "clips", "00001.mp4", "00002.mp4", "02522.mp4").resolve()
    return ["--format", "dfew", "--csv", str(L.dfew_dferclip_list(d / "DFEW_set_1_train.txt")), "--csv",
            str(L.dfew_split_csv(d / "set_1.csv")), "--media-dir", str(media)]


def _speechcraft(d):
    L.touch_clips(d / "audio", "LJ010-0227.wav", "LJ050-0106.wav")
    return ["--format", "speechcraft", "--csv", str(L.speechcraft_pipeline_json(d / "labels.json")), "--media-dir",
            str(d / "audio")]


def _mer_openset(d):
    (d / "track2.csv").write_text("name,openset\nsamplenew3_7,\"['anxious', 'tense']\"\n", encoding="utf-8")
    return ["--format", "mer2025", "--openset", str(d / "track2.csv"), "--media-dir",
            str(L.touch_clips(d / "video", "samplenew3_7.mp4"))]


def _emer_v2(d):
    return ["--format", "emer", "--csv", str(L.emer_v2_csv(d / "final-EMER-reason.csv")), "--no-media-check"]


def _emer_v1_zh(d):
    return ["--format", "emer", "--csv", str(L.emer_v1_csv(d / "gt-chi.csv", chinese=True)), "--no-media-check"]


# layout -> (argv, summary printed, (id, emotion, subtitle, description, cues) of every record)
BUILD_CASES = {
    "mafw single-set.xlsx + descriptive_text.xlsx": (_mafw_xlsx, "4 records (mafw); 1 skipped for an empty", [
        ("07317", "anger", "", L.MAFW_CAPTIONS["07317"][1],
         {"visual": ["A girl with wet eyes yells at someone across from her.",
                     "Her brows are knit tightly and the corners of her mouth turn down."], "audio": [], "global": []}),
        ("00412", "happiness", "", L.MAFW_CAPTIONS["00412"][1], {"visual": [L.MAFW_CAPTIONS["00412"][1]],
                                                                  "audio": [], "global": []}),
        ("08841", "neutral", "", "",  # no caption (MAFW neutral clips have none): label-only
         {"visual": [], "audio": [], "global": []}),
        ("02200", "helplessness", "", L.MAFW_CAPTIONS["02200"][1], {"visual": [L.MAFW_CAPTIONS["02200"][1]],
                                                                     "audio": [], "global": []})]),
    "mafw with_caption split (GBK, --language zh)": (_mafw_caption_split, "3 records (mafw)", [
        ("07317", "anger", "", L.MAFW_CAPTIONS["07317"][0],
         {"visual": ["一个女孩含着泪朝对面的人大喊。", "眉头紧锁，嘴角向下。"], "audio": [], "global": []}),
        ("00412", "happiness", "", L.MAFW_CAPTIONS["00412"][0],
         {"visual": [L.MAFW_CAPTIONS["00412"][0]], "audio": [], "global": []}),
        ("02200", "helplessness", "", L.MAFW_CAPTIONS["02200"][0],
         {"visual": [L.MAFW_CAPTIONS["02200"][0]], "audio": [], "global": []})]),
    "mafw DFER-CLIP list": (_mafw_dferclip, "4 records (mafw)", [
        (clip, emotion, "", f"The emotion expressed in this video is {emotion}.",
         {"visual": [], "audio": [], "global": []})
        for clip, emotion in (("07317", "anger"), ("00412", "happiness"), ("08841", "neutral"),
                              ("02200", "helplessness"))]),
    "dfew DFER-CLIP list + split CSV": (_dfew_dferclip, "3 records (dfew); 1 skipped for an empty", [
        (clip, emotion, "", f"The emotion expressed in this video is {emotion}.",
         {"visual": [], "audio": [], "global": []})
        for clip, emotion in (("00001", "happy"), ("00002", "fear"), ("02522", "disgust"))]),
    "speechcraft pipeline JSON": (_speechcraft, "2 records (speechcraft)", [
        ("LJSpeech_LJ010-0227", "sad", "The lamp went out before the bell rang twice.",
         "The speaker speaks in low pitch, normal volume and fast speed.",
         {"visual": [], "audio": ["low pitch", "normal energy", "fast speaking speed", "sad tone of voice"],
          "global": []}),
        ("LJSpeech_LJ050-0106", "neutral", "Nobody had answered the second letter.",
         "The speaker speaks in high pitch, high volume and slow speed.",
         {"visual": [], "audio": ["high pitch", "high energy", "slow speaking speed"], "global": []})]),
    "mer-caption --openset alone": (_mer_openset, "1 records (mer-caption)", [
        ("samplenew3_7", "anxious, tense", "", "anxious, tense",
         {"visual": [], "audio": [], "global": ["anxious, tense"]})]),
    "emer v1 gt-chi.csv": (_emer_v1_zh, "1 records (emer)", [
        ("sample_00000648", "生气", "别再跟我提这件事。", L.EMER_V1_ZH,
         {"visual": ["他拍着桌子", "眉头紧皱"], "audio": ["他的声音很大", "还在发抖"],
          "global": ["推测他的情感状态为生气"]})]),
}


@pytest.mark.parametrize("layout", list(BUILD_CASES))
def test_build_real_layouts(layout, tmp_path, capsys):
    argv, summary, expected = BUILD_CASES[layout]
    out = tmp_path / "built"
    assert main(["data", "build", *argv(tmp_path), "--out", str(out)]) == 0, capsys.readouterr().err
    assert summary in capsys.readouterr().out
    records = [json.loads(x) for x in (out / "emocue.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["id"], r["emotion"], r["subtitle"], r["description"], r["cues"]) for r in records] == expected
    kind = layout.split()[0]
    modality, short, media_key, ext = {
        "speechcraft": ("audio", "", "audio", ".wav"), "mer-caption": ("multimodal", "anxious, tense", "video", ".mp4"),
        "emer": ("multimodal", "", "video", "")}.get(kind, ("visual", "", "video", ".mp4"))
    for r in records:
        assert (r["modality"], r["short_caption"]) == (modality, short)
        assert r["video" if media_key == "audio" else "audio"] is None
        clip = r["id"].split("_", 1)[1] if kind == "speechcraft" else r["id"]  # pipeline keys are <corpus>_<clip>
        assert r[media_key].endswith(clip + ext)  # emer here: --no-media-check keeps the name


def test_build_emer_v2_subtitles_and_layout_errors(tmp_path, capsys):
    out = tmp_path / "built"
    assert main(["data", "build", *_emer_v2(tmp_path), "--out", str(out)]) == 0
    records = [json.loads(x) for x in (out / "emocue.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["id"], r["subtitle"]) for r in records] == [(n, sub) for n, (_, sub) in L.EMER_V2_FORMS.items()]
    capsys.readouterr()
    text = L.mafw_descriptive_text_xlsx(tmp_path / "descriptive_text.xlsx")
    assert main(["data", "build", "--format", "mafw", "--csv", str(text), "--no-media-check", "--out",
                 str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(f"xemogpt data: error: {text}: row 1: looks like descriptive_text")
    assert main(["data", "build", "--format", "dfew", "--out", str(out)]) == 1
    assert "dfew: give the annotation file with --csv" in capsys.readouterr().err


def test_instruct_shortcaption_sheets_push_end_to_end(emer_files, tmp_path, capsys):
    csv_path, media = emer_files
    built = tmp_path / "built"
    assert main(["data", "build", "--format", "emer", "--csv", str(csv_path), "--media-dir", str(media),
                 "--out", str(built), "--skip-missing"]) == 0
    server = ChatServer()
    try:
        server.fail_after = 3
        common = ["--base-url", server.url, "--model", "test-chat", "--max-retries", "0", "--max-workers", "1",
                  "--no-progress"]
        inst = tmp_path / "instruct"
        rc = main(["data", "emocue-instruct", "--input", str(built), "--out", str(inst), *common])
        assert rc == 1 and "run the same command again" in capsys.readouterr().err
        # 3 answers: both stage-1 calls and s1's consolidation; s2's consolidation hit the dead endpoint
        assert json.loads((inst / "failed.json").read_text()) == ["s2"]
        assert len((inst / "emocue.jsonl").read_text(encoding="utf-8").splitlines()) == 1
        answered = len(server.answered)
        server.fail_after = None
        assert main(["data", "emocue-instruct", "--input", str(built), "--out", str(inst), *common]) == 0
        assert len(server.answered) - answered == 4 - 3  # only the calls missing from the cache were sent
        recs = [json.loads(x) for x in (inst / "emocue.jsonl").read_text(encoding="utf-8").splitlines()]
        assert recs[0]["cues"]["visual"] == ["angry face"] and recs[0]["description"].startswith("In the video")
        short = tmp_path / "short"
        assert main(["data", "short-caption", "--input", str(inst), "--out", str(short), *common]) == 0
        srec = json.loads((short / "emocue.jsonl").read_text(encoding="utf-8").splitlines()[1])
        assert srec["short_caption"] == "happy face, happy voice, happy"
    finally:
        server.close()

    sheet = tmp_path / "sheet.csv"
    assert main(["data", "sheet", "export", "--records", str(inst), "--out", str(sheet), "--n", "5"]) == 0
    with open(sheet, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and {r["id"] for r in rows} == {"s1", "s2"}
    returned = []
    for e, score in enumerate(("5", "4")):
        p = tmp_path / f"e{e}.csv"
        with open(p, "w", encoding="utf-8-sig", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            for r in rows:
                w.writerow({**r, "visual": score, "audio": score, "global": "3"})
        returned.append(str(p))
    capsys.readouterr()
    assert main(["data", "sheet", "aggregate", *returned, "--out", str(tmp_path / "fig10")]) == 0
    assert "visual  mean 4.50 ± 0.00  (n=2)" in capsys.readouterr().out
    summary = tmp_path / "fig10" / "fig10_summary.json"
    assert summary.is_file() and (tmp_path / "fig10" / "fig10_scores.png").is_file()

    stage = tmp_path / "stage"
    assert main(["data", "push", str(inst), "--repo-id", "me/emocue", "--quality", str(summary),
                 "--dry-run", str(stage)]) == 0
    assert sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file()) == [
        "README.md", "data/train-00000-of-00001.parquet"]
    assert "| visual | 4.5 | 0 | 2 |" in (stage / "README.md").read_text(encoding="utf-8")
    api = mock.MagicMock()
    with mock.patch("hub_cards.push._api", return_value=api):
        assert main(["data", "push", str(inst), "--repo-id", "me/emocue"]) == 0
    api.create_repo.assert_called_once_with("me/emocue", repo_type="dataset", exist_ok=True, private=None)
    assert api.upload_folder.call_args.kwargs["repo_type"] == "dataset"


def test_synthetic_and_help(tmp_path, capsys):
    out = tmp_path / "synth"
    assert main(["data", "synthetic", "--out", str(out), "--n", "3", "--seed", "1", "--workers", "1"]) == 0
    assert "wrote 3 clips" in capsys.readouterr().out
    lines = (out / "emocue.jsonl").read_text().splitlines()
    assert len(lines) == 3 and all((out / (json.loads(x)["video"] or json.loads(x)["audio"])).is_file()
                                   for x in lines)
    server = ChatServer()
    try:  # generated records (with their extra ``factors`` column) go through the caption pipeline
        assert main(["data", "short-caption", "--input", str(out / "emocue.jsonl"), "--out", str(tmp_path / "sc"),
                     "--base-url", server.url, "--max-retries", "0", "--no-progress", "--limit", "2"]) == 0
    finally:
        server.close()
    from datasets import load_from_disk

    sc = load_from_disk(str(tmp_path / "sc" / "dataset"))
    assert sc.num_rows == 2 and sc[0]["short_caption"].endswith(sc[0]["emotion"]) and "factors" in sc.column_names
    assert main(["data"]) == 2
    with pytest.raises(SystemExit):
        main(["data", "build", "--help"])
    assert "--skip-missing" in capsys.readouterr().out


def test_push_model_and_space(tmp_path, capsys):
    from safetensors.numpy import save_file
    import numpy as np

    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps({"backbones": {"text": "Qwen/Qwen3-4B"}, "lora_r": 512}))
    save_file({"w": np.zeros(2, np.float32)}, str(ckpt / "model.safetensors"))
    ev = tmp_path / "eval.json"
    ev.write_text(json.dumps({"global": {"f1": 0.5}, "mean": 0.4}))
    api = mock.MagicMock()
    with mock.patch("hub_cards.push._api", return_value=api):
        assert main(["data", "push", str(ckpt), "--kind", "model", "--repo-id", "me/xemogpt", "--eval-results",
                     str(ev), "--figure", "figures/loss.png"]) == 0
    api.create_repo.assert_called_once_with("me/xemogpt", repo_type="model", exist_ok=True, private=None)
    readme = (ckpt / "README.md").read_text(encoding="utf-8")
    assert "global_f1" in readme and "base_model:\n- Qwen/Qwen3-4B" in readme
    metric = tmp_path / "metric"
    metric.mkdir()
    (metric / "emocue360.py").write_text("# metric\n")
    assert main(["data", "push", str(metric), "--kind", "space", "--repo-id", "me/m", "--dry-run",
                 str(tmp_path / "space")]) == 0
    assert "staged 4 files" in capsys.readouterr().out.split("\n")[-2]
    assert (tmp_path / "space" / "README.md").read_text().startswith("---\n")


def test_data_synthetic_reaches_every_generator_option_and_writes_the_split_the_configs_read(tmp_path):
    """`xemogpt data synthetic` is the generator's own parser: --size/--frames/--modality-mix reach the clips, and
    by default the train/test files the tiny stage configs read are written beside emocue.jsonl."""
    import av

    out = tmp_path / "syn"
    assert main(["data", "synthetic", "--out", str(out), "--n", "10", "--size", "64", "--frames", "8",
                 "--modality-mix", "0", "1", "0", "--workers", "1"]) == 0
    records = [json.loads(line) for line in open(out / "emocue.jsonl")]
    train = [json.loads(line) for line in open(out / "emocue_train.jsonl")]
    test = [json.loads(line) for line in open(out / "emocue_test.jsonl")]
    assert (len(records), len(train), len(test)) == (10, 8, 2)
    assert sorted(r["id"] for r in train + test) == sorted(r["id"] for r in records)
    assert {r["modality"] for r in records} == {"visual"}
    with av.open(str(out / records[0]["video"])) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height, stream.frames) == (64, 64, 8)
    assert main(["data", "synthetic", "--out", str(tmp_path / "bad"), "--n", "4", "--held-out", "1"]) == 1
