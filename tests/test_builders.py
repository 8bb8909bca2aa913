"""Format builders on fixture files written in the published formats, including awkward rows."""

from __future__ import annotations

import json

import pytest

from conftest import tiny_media
from builder_layouts import (EMER_V1_EN, EMER_V1_ZH, EMER_V2_FORMS, emer_v1_csv, emer_v2_csv,
                             speechcraft_pipeline_json, touch_clips)
from training.data.builders import (DFEW_LABELS, FormatError, MissingMediaError, build, get_builder, list_formats,
                                    records_to_dataset, write_built)
from training.data.builders.common import parse_label_list, sections_from_description
from training.data.builders.readers import read_csv_rows, read_rows, read_table
from training.data.schema import COLUMNS
from training.data.validate import validate_records

EMER_V2 = (
    "name,chinese,english\n"
    "sample_00000000,在视频中，男性医生眉头紧皱，嘴角下垂。；在音频中，音调上挑，表达不满。；在文本中，字幕内容：“我哪知道啊！”；,"
    "\"In the video, the doctor frowns, with a slightly downturned mouth. In the audio, the tone is raised, "
    "expressing impatience. In the text, the subtitle reads: \"\"How would I know! I, I, I don't know.\"\" "
    "He is annoyed.\"\n"
    # embedded newline, commas and quotes inside a quoted field
    "sample_00000007,在视频中，她笑了。,\"In the video, she smiles,\nnods and laughs. In the audio, the voice is "
    "loud and cheerful. In the text, the subtitle says, \"\"Then let's meet, okay?\"\"\"\n"
    "sample_00000009,,\n"  # empty annotation: skipped and counted
)
EMER_V1 = (
    "names,emotions,subtitles,reasons\n"
    "sample_1,angry,\"Get out, now!\",\"In the video, he points at the door. In the audio, he shouts.\"\n"
    "sample_2,happy,\"好啊，谢谢你\",\"In the video, she smiles. In the audio, she laughs softly.\"\n"
)


def _touch(d, *names):
    for n in names:
        tiny_media(d / n)
    return d


def test_registry_and_aliases():
    assert list_formats() == ["dfew", "emer", "mafw", "mer-caption", "speechcraft"]
    assert get_builder("MER2025") is get_builder("mer-caption")
    with pytest.raises(ValueError, match="unknown data format 'nope'"):
        get_builder("nope")


def test_csv_reader_bom_quotes_newlines_gb18030(tmp_path):
    p = tmp_path / "a.csv"
    p.write_bytes("\ufeffName,English\nx,\"a, \"\"b\"\"\nc\"\n".encode("utf-8"))
    header, rows = read_csv_rows(p)
    assert header == ["name", "english"] and rows == [{"name": "x", "english": 'a, "b"\nc'}]
    g = tmp_path / "g.csv"
    g.write_bytes("name,chinese\ny,字幕内容\n".encode("gb18030"))
    assert read_csv_rows(g)[1] == [{"name": "y", "chinese": "字幕内容"}]
    bad = tmp_path / "bad.csv"
    bad.write_text("name,english\nz,hello, world\n", encoding="utf-8")
    with pytest.raises(FormatError, match="bad.csv: line 2 has 3 fields for 2 columns"):
        read_csv_rows(bad)


def test_readers_utf16_gbk_xlsx_and_row_numbers(tmp_path):
    u16 = tmp_path / "u16.txt"  # Excel's "Unicode text": UTF-16 with a BOM, tab-separated
    u16.write_bytes("name\tchinese\r\nx\t你好\r\n".encode("utf-16"))
    assert read_table(u16).rows == [{"name": "x", "chinese": "你好"}]
    gbk = tmp_path / "gbk.txt"
    gbk.write_bytes("name,chinese\n\n\"y\",\"两行\n文本\"\nz,字\n".encode("gbk"))
    table = read_table(gbk)
    assert table.rows == [{"name": "y", "chinese": "两行\n文本"}, {"name": "z", "chinese": "字"}]
    assert [table.where(i) for i in range(2)] == [f"{gbk}: line 3", f"{gbk}: line 5"]  # blank line 2 skipped
    import openpyxl

    wb = openpyxl.Workbook()
    for row in (["Name", "Label", None], [], ["00025.mp4", 3.0, None], [25, 1.5], ["26", 2, "stray"]):
        wb.active.append(row)
    wb.save(tmp_path / "t.xlsx")
    raw = read_rows(tmp_path / "t.xlsx")
    assert raw.rows == [["Name", "Label"], ["00025.mp4", "3"], ["25", "1.5"], ["26", "2", "stray"]]
    assert raw.where(1) == f"{tmp_path / 't.xlsx'}: row 3"  # blank row 2 skipped; numbers as written
    with pytest.raises(FormatError, match=r"t\.xlsx: row 5 has 3 fields for 2 columns"):
        read_table(tmp_path / "t.xlsx")


def test_emer_v2_awkward_rows(tmp_path):
    csv_path = tmp_path / "final-EMER-reason.csv"
    csv_path.write_text(EMER_V2, encoding="utf-8-sig")
    media = _touch(tmp_path / "clips", "sample_00000000.mp4", "sample_00000007.avi", "sample_00000009.mp4")
    tiny_media(media / "sample_00000000.wav")
    res = build("emer", csv=csv_path, media_dir=media)
    assert [r["id"] for r in res.records] == ["sample_00000000", "sample_00000007"]
    assert res.skipped_empty == 1
    r0, r1 = res.records
    assert set(r0) == set(COLUMNS)
    assert r0["video"].endswith("sample_00000000.mp4") and r0["audio"].endswith("sample_00000000.wav")
    assert r1["audio"] is None and r1["video"].endswith(".avi")
    assert r0["subtitle"] == "How would I know! I, I, I don't know."
    assert r1["subtitle"] == "Then let's meet, okay?"
    assert "\n" not in r1["description"] and "smiles, nods" in r1["description"]
    assert r0["cues"]["visual"] == ["the doctor frowns, with a slightly downturned mouth."]
    assert r0["cues"]["audio"][0].startswith("the tone is raised")
    assert r0["modality"] == "multimodal" and r0["emotion"] == ""
    validate_records(res.records)
    zh = build("emer", csv=csv_path, media_dir=media, language="zh").records[0]
    assert zh["description"].startswith("在视频中") and zh["subtitle"] == "我哪知道啊！"
    assert zh["cues"]["visual"] and zh["cues"]["audio"]


def test_emer_v1_and_missing_media(tmp_path):
    csv_path = tmp_path / "gt-eng.csv"
    csv_path.write_text(EMER_V1, encoding="utf-8")
    media = _touch(tmp_path / "clips", "sample_1.mp4")
    with pytest.raises(MissingMediaError, match=r"clip 'sample_2' not found .*--skip-missing"):
        build("emer", csv=csv_path, media_dir=media)
    res = build("emer", csv=csv_path, media_dir=media, skip_missing=True)
    assert [r["id"] for r in res.records] == ["sample_1"] and res.skipped_missing == 1
    assert res.records[0]["emotion"] == "angry" and res.records[0]["subtitle"] == "Get out, now!"
    assert "1 skipped for missing media (e.g. sample_2)" in res.summary()


@pytest.mark.parametrize("fmt, name, text, match", [
    ("emer", "x.csv", "foo,bar\n1,2\n", "not an EMER file"),
    ("dfew", "bad.csv", "video_name,label\n5,9\n", "label 9, expected 1-7"),
    ("mafw", "bad.txt", "00025.mp4 joyful\n", "unknown MAFW label 'joyful'"),
], ids=["emer_wrong_columns", "dfew_label_out_of_range", "mafw_unknown_label"])
def test_bad_label_file(tmp_path, fmt, name, text, match):
    """A labels file with the wrong columns or a label outside the format's set: a FormatError saying so."""
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    with pytest.raises(FormatError, match=match):
        build(fmt, csv=p, media_dir=tmp_path)


def test_mer_caption_reason_openset_subtitles(tmp_path):
    reason = tmp_path / "track3_train_mercaptionplus.csv"
    reason.write_text('name,reason\nsamplenew3_1,"In the video, she frowns, then cries. In the audio, her voice '
                      'trembles."\nsamplenew3_2,"In the video, a man grins."\n', encoding="utf-8")
    openset = tmp_path / "track2_train_mercaptionplus.csv"
    openset.write_text("name,openset\nsamplenew3_1,\"['sad', 'worried']\"\nsamplenew3_2,[]\n", encoding="utf-8")
    subs = tmp_path / "subtitle_chieng.csv"
    subs.write_text('name,chinese,english\nsamplenew3_1,我不知道,"I don\'t know, really."\nsamplenew3_2,,\n',
                    encoding="utf-8")
    media = _touch(tmp_path / "video", "samplenew3_1.mp4", "samplenew3_2.mp4")
    res = build("mer2025", csv=reason, openset=openset, subtitles=subs, media_dir=tmp_path)
    a, b = res.records
    assert a["emotion"] == "sad, worried" and a["subtitle"] == "I don't know, really."
    assert b["emotion"] == "neutral" and b["subtitle"] == ""  # MERTools maps [] to neutral
    assert a["cues"]["audio"] == ["her voice trembles."] and media.name == "video"
    validate_records(res.records)
    # labels only (MER2025 Track 2): label-only records
    only = build("mer-caption", openset=openset, media_dir=tmp_path).records
    assert only[0]["description"] == "sad, worried" and only[0]["short_caption"] == "sad, worried"
    with pytest.raises(ValueError, match="give the reason CSV"):
        build("mer-caption", media_dir=tmp_path)


def test_parse_label_list():
    assert parse_label_list("['happy', \"relieved\"]") == ["happy", "relieved"]
    assert parse_label_list("happy, relieved；") == ["happy", "relieved"]
    assert parse_label_list("[]") == [] and parse_label_list("") == []


def test_dfew(tmp_path):
    lab = tmp_path / "single_trainset_1.csv"
    lab.write_text("video_name,label\n1,1\n2,7\n3,0\n12,4\n", encoding="utf-8")
    _touch(tmp_path / "clip", "00001.mp4", "00002.mp4", "00003.mp4")
    with pytest.raises(MissingMediaError, match="00012|'12'"):
        build("dfew", csv=str(lab), media_dir=tmp_path)
    res = build("dfew", csv=[str(lab)], media_dir=tmp_path, skip_missing=True)
    assert [(r["id"], r["emotion"]) for r in res.records] == [("00001", "happy"), ("00002", "fear")]
    assert res.skipped_empty == 1 and res.skipped_missing == 1
    assert res.records[0]["modality"] == "visual" and res.records[0]["audio"] is None
    assert res.records[0]["description"] == "The emotion expressed in this video is happy."
    assert DFEW_LABELS[4] == "angry"
    validate_records(res.records)


def test_mafw_txt_and_csv_captions(tmp_path):
    labels = tmp_path / "train.txt"
    labels.write_text("00025.mp4 anger\n00026 9\n\n00027.mp4 helplessness\n", encoding="utf-8")
    caps = tmp_path / "captions.csv"
    caps.write_text('name,chinese,english\n00025.mp4,一个女生大声训斥。,"A girl shouts, eyes in tears. The deep '
                    'frown."\n', encoding="utf-8")
    _touch(tmp_path / "clips", "00025.mp4", "00026.mp4", "00027.mp4")
    res = build("mafw", csv=labels, captions=caps, media_dir=tmp_path / "clips")
    r = {x["id"]: x for x in res.records}
    assert r["00025"]["emotion"] == "anger" and r["00026"]["emotion"] == "anxiety"
    assert r["00025"]["cues"]["visual"] == ["A girl shouts, eyes in tears.", "The deep frown."]
    assert r["00027"]["description"] == ""  # no caption for it: a label-only record (emotion only)
    validate_records(res.records)
    tab = tmp_path / "captions.txt"
    tab.write_text("00026\tA man looks around nervously.\n", encoding="utf-8")
    r2 = build("mafw", csv=labels, captions=tab, media_dir=tmp_path / "clips", modality="multimodal").records
    assert r2[1]["description"] == "A man looks around nervously." and r2[1]["modality"] == "multimodal"


def test_speechcraft_pipeline_json_and_jsonl(tmp_path):
    audio = tmp_path / "wavs"
    audio.mkdir()
    for n in ("LJ010-0227", "a1", "b2"):
        tiny_media(audio / f"{n}.wav")
    j = tmp_path / "labels_en.json"
    j.write_text(json.dumps({
        "LJ010-0227": {"labels": "age:Elderly\tgender:male\tpitch:low\tvolume:normal\tspeed:fast\temotion:sad"
                                 "\ttranscription: He went from Newgate, first, to Bethlehem.",
                       "llama-instruction": "An elderly man speaks quickly in a low, sad voice."},
        "missing": {"labels": "pitch:high", "llama-instruction": "A high voice."},
    }), encoding="utf-8")
    res = build("speechcraft", csv=j, media_dir=audio, skip_missing=True)
    (rec,) = res.records
    assert res.skipped_missing == 1
    assert rec["video"] is None and rec["modality"] == "audio" and rec["emotion"] == "sad"
    assert rec["subtitle"] == "He went from Newgate, first, to Bethlehem."
    assert rec["cues"]["audio"] == ["low pitch", "normal energy", "fast speaking speed", "sad tone of voice"]
    jl = tmp_path / "desc.jsonl"
    jl.write_text('{"audio": "wavs/a1.wav", "description": "她用高亢的声音快速地说话。", "pitch": "high"}\n'
                  '{"id": "b2", "caption": "A calm, slow voice."}\n', encoding="utf-8")
    recs = build("speechcraft", csv=jl, media_dir=tmp_path).records
    assert [r["id"] for r in recs] == ["a1", "b2"] and recs[0]["cues"]["audio"] == ["high pitch"]
    assert recs[1]["cues"]["audio"] == ["A calm, slow voice."]
    validate_records(recs + res.records)


def test_sections_and_write_roundtrip(tmp_path):
    secs = sections_from_description("Overall tense. In the video, he frowns. In the audio, he sighs. In the text, "
                                     "he says no.")
    assert secs == {"visual": "he frowns.", "audio": "he sighs.", "global": "Overall tense. he says no."}
    csv_path = tmp_path / "e.csv"
    csv_path.write_text(EMER_V1, encoding="utf-8")
    res = build("emer", csv=csv_path, media_dir=tmp_path, require_media=False)
    assert res.records[0]["video"] == "sample_1"
    paths = write_built(res.records, tmp_path / "out", meta={"format": "emer"})
    from datasets import load_from_disk

    ds = load_from_disk(paths["dataset"])
    assert ds.num_rows == 2 and ds[1]["subtitle"] == "好啊，谢谢你"
    lines = (tmp_path / "out" / "emocue.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0]) == res.records[0]
    assert json.loads((tmp_path / "out" / "build_info.json").read_text())["num_records"] == 2
    assert records_to_dataset(res.records).features["cues"]["visual"].feature.dtype == "string"


def test_relative_media_dir_gives_absolute_paths(tmp_path, monkeypatch):
    csv_path = tmp_path / "gt.csv"
    csv_path.write_text(EMER_V1, encoding="utf-8")
    _touch(tmp_path / "clips" / "nested", "sample_1.MP4", "sample_2.mkv")
    monkeypatch.chdir(tmp_path)
    recs = build("emer", csv="gt.csv", media_dir="clips").records
    assert [r["video"] for r in recs] == [str(tmp_path / "clips/nested/sample_1.MP4"),
                                          str(tmp_path / "clips/nested/sample_2.mkv")]
    with pytest.raises(FileNotFoundError, match="no_such_dir: media directory not found"):
        build("emer", csv="gt.csv", media_dir="no_such_dir")


def test_emer_v2_subtitles_in_every_quoted_form(tmp_path):
    csv_path = emer_v2_csv(tmp_path / "final-EMER-reason.csv")
    res = build("emer", csv=csv_path, require_media=False)
    assert {r["id"]: r["subtitle"] for r in res.records} == {n: sub for n, (_, sub) in EMER_V2_FORMS.items()}
    r4 = res.records[3]  # no "In the text" section: the subtitle sentence stays in the audio section
    assert r4["description"] == EMER_V2_FORMS["sample_00000004"][0]
    assert r4["cues"] == {"visual": ["she folds her arms."], "global": [],
                          "audio": ["her speech is fast and loud.", 'The subtitle in the text says, "You never listen '
                                    'to me."', "She is angry."]}
    zh = build("emer", csv=csv_path, require_media=False, language="zh").records
    assert {r["subtitle"] for r in zh} == {"好的。"}


def test_emer_v1_cues_split_by_content(tmp_path):
    media = touch_clips(tmp_path / "clips", "sample_00000648.mp4").resolve()
    (en,) = build("emer", csv=emer_v1_csv(tmp_path / "gt-eng.csv"), media_dir=media).records
    cues = en.pop("cues")
    assert en == {"id": "sample_00000648", "video": str(media / "sample_00000648.mp4"), "audio": None,
                  "subtitle": "Don't bring this up again.", "emotion": "angry", "description": EMER_V1_EN,
                  "short_caption": "", "modality": "multimodal"}
    # every V1 reason opens "In the video"; the voice sentence still goes to audio, the face to visual
    assert any("voice" in c for c in cues["audio"]) and not any("voice" in c for c in cues["visual"])
    assert any("brows" in c for c in cues["visual"]) and not any("brows" in c for c in cues["audio"])
    assert any("anger" in c for c in cues["global"])
    (zh,) = build("emer", csv=emer_v1_csv(tmp_path / "gt-chi.csv", chinese=True), media_dir=media).records
    assert zh["description"] == EMER_V1_ZH and zh["emotion"] == "生气" and zh["subtitle"] == "别再跟我提这件事。"
    assert zh["cues"] == {"visual": ["他拍着桌子", "眉头紧皱"], "audio": ["他的声音很大", "还在发抖"],
                          "global": ["推测他的情感状态为生气"]}
    with pytest.raises(ValueError, match="emer: give the annotation CSV"):
        build("emer", media_dir=media)


def test_speechcraft_annotation_pipeline_file(tmp_path):
    audio = tmp_path / "audio"
    touch_clips(audio / "wavs", "LJ010-0227.wav")  # found by the clip part of the key
    touch_clips(audio / "LJSpeech", "LJ050-0106.wav")  # <corpus>/<clip>
    res = build("speechcraft", csv=speechcraft_pipeline_json(tmp_path / "labels_LJspeech_0.json"), media_dir=audio)
    assert res.records == [
        {"id": "LJSpeech_LJ010-0227", "video": None, "audio": str((audio / "wavs/LJ010-0227.wav").resolve()),
         "subtitle": "The lamp went out before the bell rang twice.", "emotion": "sad",
         "cues": {"visual": [], "audio": ["low pitch", "normal energy", "fast speaking speed", "sad tone of voice"],
                  "global": []},
         "description": "The speaker speaks in low pitch, normal volume and fast speed.", "short_caption": "",
         "modality": "audio"},
        {"id": "LJSpeech_LJ050-0106", "video": None, "audio": str((audio / "LJSpeech/LJ050-0106.wav").resolve()),
         "subtitle": "Nobody had answered the second letter.", "emotion": "neutral",
         "cues": {"visual": [], "audio": ["high pitch", "high energy", "slow speaking speed"], "global": []},
         "description": "The speaker speaks in high pitch, high volume and slow speed.", "short_caption": "",
         "modality": "audio"}]
    validate_records(res.records)
    unknown = tmp_path / "described.json"
    unknown.write_text(json.dumps({"a1": {"labels": "pitch:low", "style_caption": "A low voice."}}), encoding="utf-8")
    with pytest.raises(FormatError, match=r"described\.json: entry 'a1' has no description \(expected one of "
                                          r"description, .*text_style_target.*; found labels, style_caption\)"):
        build("speechcraft", csv=unknown, media_dir=audio)


def test_mer_openset_alone_full_records(tmp_path):
    openset = tmp_path / "track2_train_ovmerd.csv"
    openset.write_text("name,openset\nsamplenew3_7,\"['anxious', 'tense']\"\nsamplenew3_8,[]\n", encoding="utf-8")
    media = touch_clips(tmp_path / "video", "samplenew3_7.mp4", "samplenew3_8.mp4").resolve()
    res = build("mer-caption", openset=openset, media_dir=media)
    assert res.records[0] == {
        "id": "samplenew3_7", "video": str(media / "samplenew3_7.mp4"), "audio": None, "subtitle": "",
        "emotion": "anxious, tense", "cues": {"visual": [], "audio": [], "global": ["anxious, tense"]},
        "description": "anxious, tense", "short_caption": "anxious, tense", "modality": "multimodal"}
    assert res.records[1]["emotion"] == "neutral" and res.records[1]["description"] == "neutral"


def test_unusable_media_every_record_reported_or_skipped(tmp_path):
    """The builders probe the files they find: a text file named .mp4 and a missing clip are both reported, one line
    each, once the whole annotation file is read; --skip-missing drops them and lists the unusable one."""
    csv_path = tmp_path / "gt-eng.csv"
    csv_path.write_text("names,emotions,subtitles,reasons\n"
                        "good,angry,Out!,\"In the video, he points at the door.\"\n"
                        "corrupt,happy,Hi,\"In the video, she smiles.\"\n"
                        "gone,sad,No,\"In the video, he cries.\"\n", encoding="utf-8")
    media = _touch(tmp_path / "clips", "good.mp4")
    (media / "corrupt.mp4").write_text("this is a text file, not a video\n" * 20)
    with pytest.raises(MissingMediaError) as err:
        build("emer", csv=csv_path, media_dir=media)
    assert str(err.value).splitlines() == [
        f"{csv_path}: 2 clips have missing or unusable media (pass --skip-missing to drop such records):",
        f"  video for clip 'corrupt': {media.resolve() / 'corrupt.mp4'}: not a readable media file (InvalidDataError: "
        "Invalid data found when processing input)",
        f"  video for clip 'gone' not found in {media.resolve()} (tried .mp4, .avi, .mkv, .mov, .webm, .flv, .m4v, .mpg, .mpeg, .ts)"]
    res = build("emer", csv=csv_path, media_dir=media, skip_missing=True)
    assert [r["id"] for r in res.records] == ["good"] and res.skipped_missing == 1 and res.skipped_bad_media == 1
    assert res.bad_media[0].startswith("video for clip 'corrupt': ") and "unusable media" in res.summary()
    assert len(build("emer", csv=csv_path, media_dir=media, require_media=False).records) == 3  # not probed
