"""Annotation files in the real layouts of the public corpora, with content written for these tests.

Each writer reproduces one released layout exactly -- delimiters, columns, header or none, encoding, label encoding --
(the sources are named in the builders' docstrings) and returns the path it wrote. The clip names, labels and texts
are made up here; the expected records are spelled out in the tests.
"""

from __future__ import annotations

import json
from pathlib import Path

MAFW_VOTE_COLUMNS = ["anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise", "contempt", "anxiety",
                     "helplessness", "disappointment"]

# clip -> (Chinese, English) descriptive text; neutral clips have none in MAFW
MAFW_CAPTIONS = {
    "07317": ("一个女孩含着泪朝对面的人大喊。眉头紧锁，嘴角向下。",
              "A girl with wet eyes yells at someone across from her. Her brows are knit tightly and the corners of "
              "her mouth turn down."),
    "00412": ("男子咧嘴大笑，眼角出现皱纹。", "A man laughs with a wide grin, wrinkles forming at the corners of his eyes."),
    "02200": ("她垂下眼睛，摊开双手，叹了口气。", "She lowers her eyes, spreads her hands and lets out a sigh."),
    "09105": ("他猛地后退，眼睛睁大，嘴巴张开。", "He jumps back with wide eyes and an open mouth."),
}


def touch_clips(folder: Path, *names: str) -> Path:
    """Small real media files (the builders probe what they find)."""
    from conftest import tiny_media

    for n in names:
        tiny_media(folder / n)
    return folder


def _text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    import csv

    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")  # minimal quoting, LF, no BOM: as the released files
        w.writerows([header, *rows])
    return path


def _xlsx(path: Path, rows: list[list]) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


def mafw_single_set_xlsx(path: Path) -> Path:
    """``Labels/single-set.xlsx``: header clip, 11 vote columns, single_label (1-11 in MAFW's order; 0 = none)."""
    def votes(k):
        return [9 if i == k else 1 if i == (k + 1) % 11 else 0 for i in range(11)]

    return _xlsx(path, [["clip", *MAFW_VOTE_COLUMNS, "single_label"],
                        ["07317.mp4", *votes(0), 1],
                        ["00412.mp4", *votes(3), 4],
                        ["08841.mp4", *votes(4), 5],
                        ["02200.mp4", *votes(9), 10],
                        ["05555.mp4", *[2, 2, 2, 2, 1, 1, 1, 0, 0, 0, 0], 0]])


def mafw_multi_set_xlsx(path: Path) -> Path:
    """``Labels/multi-set.xlsx``: header clip, 11 vote columns, multi_label (``"3,7"``: fear + surprise)."""
    return _xlsx(path, [["clip", *MAFW_VOTE_COLUMNS, "multi_label"],
                        ["09105.mp4", 0, 0, 5, 0, 0, 0, 5, 0, 1, 0, 0, "3,7"],
                        ["07000.mp4", 6, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, "1,2"]])


def mafw_descriptive_text_xlsx(path: Path) -> Path:
    """``Labels/descriptive_text.xlsx``: no header; clip, Chinese, English."""
    return _xlsx(path, [[f"{clip}.mp4", zh, en] for clip, (zh, en) in MAFW_CAPTIONS.items()])


def mafw_no_caption_split(path: Path) -> Path:
    """``Train & Test Set/single/no_caption/set_1/train.txt``: ``clip.mp4 label`` lines, UTF-8."""
    return _text(path, "07317.mp4 anger\n00412.mp4 happiness\n08841.mp4 neutral\n02200.mp4 helplessness\n")


def mafw_compound_no_caption_split(path: Path) -> Path:
    """``Train & Test Set/compound/no_caption/set_1/test.txt``: compound labels joined with ``_``."""
    return _text(path, "09105.mp4 fear_surprise\n07000.mp4 anger_disgust\n08841.mp4 neutral\n")


def mafw_with_caption_split(path: Path, encoding: str = "gbk") -> Path:
    """``Train & Test Set/single/with_caption/set_1/train.txt``: clip, label, Chinese, English; tab-separated, GBK.

    CRLF line ends here (an assumption: the files were saved on Windows); LF lines read the same.
    """
    labels = {"07317": "anger", "00412": "happiness", "02200": "helplessness"}
    lines = [f"{clip}.mp4\t{label}\t{MAFW_CAPTIONS[clip][0]}\t{MAFW_CAPTIONS[clip][1]}"
             for clip, label in labels.items()]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def mafw_dferclip_list(path: Path) -> Path:
    """DFER-CLIP ``annotation/MAFW_set_1_train.txt``: ``path frames label``, 0-based in DFER-CLIP's class order."""
    return _text(path, "/data/MAFW/data/faces/07317 131 3\n/data/MAFW/data/faces/00412 88 0\n"
                       "/data/MAFW/data/faces/08841 40 2\n/data/MAFW/data/faces/02200 64 9\n")


def dfew_split_csv(path: Path) -> Path:
    """DFEW ``EmoLabel_DataSplit/train(single-labeled)/set_1.csv``: ``video_name,label`` (1-7; 0 = no single label)."""
    return _text(path, "video_name,label\n1,1\n2,7\n2522,6\n3,0\n")


def dfew_dferclip_list(path: Path) -> Path:
    """DFER-CLIP ``annotation/DFEW_set_1_train.txt``: ``path frames label``, label = DFEW's number minus one."""
    return _text(path, "/data/DFEW/DFEW_Frame_Face/00001 30 0\n/data/DFEW/DFEW_Frame_Face/00002 48 6\n"
                       "/data/DFEW/DFEW_Frame_Face/02522 66 5\n")


def speechcraft_pipeline_json(path: Path) -> Path:
    """The annotation pipeline's JSON (``Clustering.py``): keyed ``<corpus>_<clip>``, labels + text_style_target."""
    data = {
        "LJSpeech_LJ010-0227": {
            "labels": "age:Elderly\tgender:male\tpitch:low\tvolume:normal\tspeed:fast\temotion:sad"
                      "\ttranscription: The lamp went out before the bell rang twice.",
            "text_style_target": "The speaker speaks in low pitch, normal volume and fast speed.",
        },
        "LJSpeech_LJ050-0106": {
            "labels": "age:Adult\tgender:female\tpitch:high\tvolume:high\tspeed:slow\temotion:neutral"
                      "\ttranscription: Nobody had answered the second letter.",
            "text_style_target": "The speaker speaks in high pitch, high volume and slow speed.",
        },
    }
    return _text(path, json.dumps(data, ensure_ascii=False, indent=4))


EMER_V2_FORMS = {
    # name -> (English explanation, subtitle expected)
    "sample_00000001": ('In the video, he frowns. In the audio, his voice rises. In the text, the subtitle reads: '
                        '"Where were you last night?" He is suspicious.', "Where were you last night?"),
    "sample_00000002": ('In the video, she smiles. In the audio, the tone is light. In the text, the subtitle content '
                        'says, "Let\'s go, the bus is here." She is cheerful.', "Let's go, the bus is here."),
    "sample_00000003": ('In the video, he leans forward. In the text, the subtitle content "Wait, what?" may be his '
                        'reaction to the news.', "Wait, what?"),
    "sample_00000004": ('In the video, she folds her arms. In the audio, her speech is fast and loud. The subtitle in '
                        'the text says, "You never listen to me." She is angry.', "You never listen to me."),
    "sample_00000005": ('In the video, she glares. In the subtitles of the text, it says, "哎，你又迟到了。” The '
                        'opening sigh carries blame.', "哎，你又迟到了。"),
    "sample_00000006": ('In the video, he shrugs. In the text, the subtitle content "我没什么好说的。" (I have nothing to '
                        'say.) sounds dismissive.', "I have nothing to say."),
    "sample_00000007": ("In the video, he sits still. In the text, it is impossible to determine the emotional state "
                        "based on the subtitle content.", ""),
    "sample_00000008": ('In the video, he points ahead. In the text, the subtitle content reads: "Turn left, then '
                        'keep going." He is calm.', "Turn left, then keep going."),
}


def emer_v2_csv(path: Path) -> Path:
    """EMER-V2 ``final-EMER-reason.csv``: ``name,chinese,english``, quoted cells with doubled quotes, UTF-8."""
    return _csv(path, ["name", "chinese", "english"],
                [[name, "在视频中，他看着前方。；在文本中，字幕内容：“好的。”", english]
                 for name, (english, _) in EMER_V2_FORMS.items()])


EMER_V1_EN = ("In the video, he slams his hand on the table and his brows draw together. His voice is loud and "
              "shaking. Therefore, it is inferred that his emotional state is anger.")
EMER_V1_ZH = "在视频中，他拍着桌子，眉头紧皱。他的声音很大，还在发抖。因此，推测他的情感状态为生气。"


def emer_v1_csv(path: Path, chinese: bool = False) -> Path:
    """EMER-V1 ``gt-eng.csv`` / ``gt-chi.csv``: ``names,emotions,subtitles,reasons``."""
    row = (["sample_00000648", "生气", "别再跟我提这件事。", EMER_V1_ZH] if chinese
           else ["sample_00000648", "angry", "Don't bring this up again.", EMER_V1_EN])
    return _csv(path, ["names", "emotions", "subtitles", "reasons"], [row])
