"""MAFW and DFEW builders on fixtures in every released layout (spreadsheets, splits, caption splits, DFER-CLIP)."""

from __future__ import annotations

import pytest

from builder_layouts import (MAFW_CAPTIONS, dfew_dferclip_list, dfew_split_csv, mafw_compound_no_caption_split,
                             mafw_descriptive_text_xlsx, mafw_dferclip_list, mafw_multi_set_xlsx,
                             mafw_no_caption_split, mafw_single_set_xlsx, mafw_with_caption_split, touch_clips)
from training.data.builders import FormatError, build
from training.data.validate import validate_records

CLIPS = ("07317.mp4", "00412.mp4", "08841.mp4", "02200.mp4", "05555.mp4", "09105.mp4", "07000.mp4")


@pytest.fixture()
def clips(tmp_path):
    return touch_clips(tmp_path / "clips", *CLIPS).resolve()


def _record(clips, clip, emotion, caption="", sentences=(), modality="visual", label_only=False):
    placeholder = "" if label_only else f"The emotion expressed in this video is {emotion}."
    return {"id": clip, "video": str(clips / f"{clip}.mp4"), "audio": None, "subtitle": "", "emotion": emotion,
            "cues": {"visual": list(sentences), "audio": [], "global": []}, "description": caption or placeholder,
            "short_caption": "", "modality": modality}


def _en(clip):
    return MAFW_CAPTIONS[clip][1]


EN_SENTENCES = {
    "07317": ["A girl with wet eyes yells at someone across from her.",
              "Her brows are knit tightly and the corners of her mouth turn down."],
    "00412": ["A man laughs with a wide grin, wrinkles forming at the corners of his eyes."],
    "02200": ["She lowers her eyes, spreads her hands and lets out a sigh."],
    "09105": ["He jumps back with wide eyes and an open mouth."],
}


def test_mafw_official_spreadsheets(tmp_path, clips):
    single = mafw_single_set_xlsx(tmp_path / "single-set.xlsx")
    text = mafw_descriptive_text_xlsx(tmp_path / "descriptive_text.xlsx")
    res = build("mafw", csv=single, captions=text, media_dir=clips)
    assert res.skipped_empty == 1  # 05555: single_label 0
    assert res.records == [
        _record(clips, "07317", "anger", _en("07317"), EN_SENTENCES["07317"]),
        _record(clips, "00412", "happiness", _en("00412"), EN_SENTENCES["00412"]),
        _record(clips, "08841", "neutral", label_only=True),  # neutral clips have no descriptive text: label-only
        _record(clips, "02200", "helplessness", _en("02200"), EN_SENTENCES["02200"]),
    ]
    validate_records(res.records)
    zh = build("mafw", csv=single, captions=text, media_dir=clips, language="zh").records[0]
    assert zh["description"] == MAFW_CAPTIONS["07317"][0]
    assert zh["cues"]["visual"] == ["一个女孩含着泪朝对面的人大喊。", "眉头紧锁，嘴角向下。"]
    multi = build("mafw", csv=mafw_multi_set_xlsx(tmp_path / "multi-set.xlsx"), captions=text, media_dir=clips)
    assert multi.records == [_record(clips, "09105", "fear, surprise", _en("09105"), EN_SENTENCES["09105"]),
                             _record(clips, "07000", "anger, disgust", label_only=True)]


def test_mafw_splits_plain_compound_and_caption(tmp_path, clips):
    text = mafw_descriptive_text_xlsx(tmp_path / "descriptive_text.xlsx")
    expected = [_record(clips, "07317", "anger", _en("07317"), EN_SENTENCES["07317"]),
                _record(clips, "00412", "happiness", _en("00412"), EN_SENTENCES["00412"]),
                _record(clips, "02200", "helplessness", _en("02200"), EN_SENTENCES["02200"])]
    plain = build("mafw", csv=mafw_no_caption_split(tmp_path / "train.txt"), captions=text, media_dir=clips)
    # with captions given, the neutral clip (MAFW gives it none) is a label-only record
    assert plain.records == expected[:2] + [_record(clips, "08841", "neutral", label_only=True)] + expected[2:]
    # the with_caption split (GBK, tab-separated) carries labels and captions; --language picks the column
    split = mafw_with_caption_split(tmp_path / "with_caption_train.txt")
    assert build("mafw", csv=split, media_dir=clips).records == expected
    zh = build("mafw", csv=split, media_dir=clips, language="zh").records
    assert [r["description"] for r in zh] == [MAFW_CAPTIONS[c][0] for c in ("07317", "00412", "02200")]
    # ... and serves as the caption file of a no_caption split
    as_caps = build("mafw", csv=tmp_path / "train.txt", captions=split, media_dir=clips).records
    assert as_caps == plain.records
    compound = build("mafw", csv=mafw_compound_no_caption_split(tmp_path / "test.txt"), captions=text,
                     media_dir=clips, modality="multimodal").records
    assert [(r["id"], r["emotion"], r["modality"]) for r in compound] == [
        ("09105", "fear, surprise", "multimodal"), ("07000", "anger, disgust", "multimodal"),
        ("08841", "neutral", "multimodal")]


def test_mafw_dferclip_list_uses_dferclip_class_order(tmp_path, clips):
    res = build("mafw", csv=mafw_dferclip_list(tmp_path / "MAFW_set_1_train.txt"), media_dir=clips)
    # 07317 is 3 in DFER-CLIP's order: anger (MAFW's own 1-11 order would make it fear); 0 is happiness
    assert [(r["id"], r["emotion"]) for r in res.records] == [
        ("07317", "anger"), ("00412", "happiness"), ("08841", "neutral"), ("02200", "helplessness")]
    official = build("mafw", csv=mafw_single_set_xlsx(tmp_path / "single-set.xlsx"), media_dir=clips).records
    assert [r["emotion"] for r in official] == [r["emotion"] for r in res.records]
    bad = tmp_path / "MAFW_set_2_test.txt"
    bad.write_text("/data/MAFW/data/faces/07317 131 3\n/data/MAFW/data/faces/00412 88 11\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"MAFW_set_2_test\.txt: line 2: label 11 is outside DFER-CLIP's 0-based "
                                          r"MAFW order \(0 happiness, 1 sadness, 2 neutral, 3 anger"):
        build("mafw", csv=bad, media_dir=clips)


def test_mafw_wrong_layouts_fail_naming_file_and_line(tmp_path, clips):
    text = mafw_descriptive_text_xlsx(tmp_path / "descriptive_text.xlsx")
    with pytest.raises(FormatError, match=r"descriptive_text\.xlsx: row 1: looks like descriptive_text .* holds no "
                                          r"labels; give it as the caption file \(--captions\)"):
        build("mafw", csv=text, media_dir=clips)
    cut = tmp_path / "cut.txt"  # the English field of line 2 is missing
    cut.write_bytes(f"07317.mp4\tanger\t{MAFW_CAPTIONS['07317'][0]}\t{_en('07317')}\n"
                    f"00412.mp4\thappiness\t{MAFW_CAPTIONS['00412'][0]}\n".encode("gbk"))
    with pytest.raises(FormatError, match=r"cut\.txt: line 2 has 3 fields where the first line has 4"):
        build("mafw", csv=cut, media_dir=clips)
    swapped = tmp_path / "swapped.txt"  # English where the Chinese column should be
    swapped.write_bytes(f"07317.mp4\tanger\t{_en('07317')}\t{MAFW_CAPTIONS['07317'][0]}\n".encode("gbk"))
    with pytest.raises(FormatError, match=r"swapped\.txt: line 1: the Chinese \(field 3\) column holds non-Chinese "
                                          r"text"):
        build("mafw", csv=swapped, media_dir=clips)
    spaced = tmp_path / "spaced.txt"
    spaced.write_text(f"07317.mp4 anger {_en('07317')}\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"spaced\.txt: line 1 has \d+ space-separated fields; .*caption splits "
                                          r"are tab-separated"):
        build("mafw", csv=spaced, media_dir=clips)
    zh_caps = tmp_path / "captions_zh.tsv"
    zh_caps.write_text(f"07317\t{MAFW_CAPTIONS['07317'][0]}\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"captions_zh\.tsv: line 1: the caption \(for --language en\) column "
                                          r"holds Chinese text"):
        build("mafw", csv=mafw_no_caption_split(tmp_path / "train.txt"), captions=zh_caps, media_dir=clips)
    bad_label = tmp_path / "multi.xlsx"
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.append(["clip", "multi_label"])
    wb.active.append(["09105.mp4", "3,12"])
    wb.save(bad_label)
    with pytest.raises(FormatError, match=r"multi\.xlsx: row 2 has MAFW label 12, outside MAFW's 1-11 order"):
        build("mafw", csv=bad_label, media_dir=clips)
    xls = tmp_path / "single-set.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64)
    with pytest.raises(FormatError, match=r"single-set\.xls: is an Excel 97-2003 \(\.xls\) workbook; save it as "
                                          r"\.xlsx or CSV"):
        build("mafw", csv=xls, media_dir=clips)
    broken = tmp_path / "broken.xlsx"
    broken.write_text("clip,label\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"broken\.xlsx: not a readable \.xlsx workbook"):
        build("mafw", csv=broken, media_dir=clips)


def test_dfew_split_csv_and_dferclip_list(tmp_path):
    media = touch_clips(tmp_path / "clips", "00001.mp4", "00002.mp4", "02522.mp4", "00003.mp4").resolve()
    official = build("dfew", csv=dfew_split_csv(tmp_path / "set_1.csv"), media_dir=media)
    assert official.skipped_empty == 1
    assert official.records[2] == {
        "id": "02522", "video": str(media / "02522.mp4"), "audio": None, "subtitle": "", "emotion": "disgust",
        "cues": {"visual": [], "audio": [], "global": []},
        "description": "The emotion expressed in this video is disgust.", "short_caption": "", "modality": "visual"}
    dferclip = build("dfew", csv=dfew_dferclip_list(tmp_path / "DFEW_set_1_train.txt"), media_dir=media)
    assert dferclip.records == official.records  # DFER-CLIP's 0-based label is DFEW's number minus one
    assert [r["emotion"] for r in dferclip.records] == ["happy", "fear", "disgust"]
    bad = tmp_path / "DFEW_set_2_train.txt"
    bad.write_text("/data/DFEW/DFEW_Frame_Face/00001 30 7\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"DFEW_set_2_train\.txt: line 1: label 7 is outside DFER-CLIP's 0-based "
                                          r"DFEW order \(0 happy, 1 sad, 2 neutral, 3 angry"):
        build("dfew", csv=bad, media_dir=media)
    plain = tmp_path / "plain.txt"
    plain.write_text("00001 1\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"plain\.txt: line 1: no video_name column; expected DFEW's split CSV "
                                          r"'video_name,label' \(labels 1-7\) or a DFER-CLIP list"):
        build("dfew", csv=plain, media_dir=media)


def test_mafw_caption_split_neutral_clips_without_caption_are_label_only(tmp_path, clips):
    """MAFW's with_caption splits give neutral clips no caption: "-" cells, empty cells or no caption fields at all.
    Those clips become label-only records (emotion only) instead of stopping the build."""
    split = tmp_path / "with_caption_test.txt"
    split.write_bytes("07317.mp4\tanger\t她在吼。\tShe yells.\n08841.mp4\tneutral\t-\t-\n"
                      "00412.mp4\tneutral\t\t\n02200.mp4\tneutral\n".encode("gbk"))
    records = build("mafw", csv=split, media_dir=clips).records
    assert [(r["id"], r["emotion"], r["description"], r["cues"]["visual"]) for r in records] == [
        ("07317", "anger", "She yells.", ["She yells."]), ("08841", "neutral", "", []), ("00412", "neutral", "", []),
        ("02200", "neutral", "", [])]
    assert not validate_records(records)
