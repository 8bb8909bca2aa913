"""Descriptions -> cue lists (``visual`` / ``audio`` / ``global``) for the records the builders write.

Two ways, chosen by the builder after the shape of its corpus's text:

* :func:`cues_from_description` -- by section: EMER-V2 / MER-Caption+ explanations are written as "In the video, ...
  In the audio, ... In the text, ..." ("在视频中，...；在音频中，...；在文本中，..."); each section's sentences become the
  cues of its dimension.
* :func:`cues_by_content` -- by what each clause talks about, for texts whose opening phrase says nothing about the
  modality (every EMER-V1 reason starts "In the video" / "在视频中" yet describes voices too). English goes through
  the EmoCue-360 rules extractor (:func:`emocue360.rules.extract_cues_rules`); Chinese through the small vocabulary
  below (voice words -> audio, face/body words -> visual, inference words -> global, otherwise the section's
  dimension).

Both are heuristics: the EmoCue-Instruct pipeline (``xemogpt data emocue-instruct``) replaces them with LLM cues.
"""

from __future__ import annotations

import re

from processing_xemogpt.vocabulary import CUE_DIMENSIONS

_OPENING = r"(?:^|(?<=[.!?;。！？；]))\s*In the "  # a section opens a sentence ("The subtitle in the text says" does not)
_EN_SECTIONS = [
    ("visual", re.compile(_OPENING + r"(?:video|visual(?: clues?)?|image|frames?)\b[,:]?", re.I)),
    ("audio", re.compile(_OPENING + r"(?:audio|speech|voice|acoustic(?: clues?)?)\b[,:]?", re.I)),
    ("global", re.compile(_OPENING + r"(?:text|subtitles?|transcript)\b[,:]?", re.I)),
]
_ZH_SECTIONS = [("visual", "在视频中"), ("audio", "在音频中"), ("global", "在文本中")]
# a sentence ends at . ! ? before a space, at 。！？；; anywhere; a closing quote right after stays with it
_SENT_SPLIT = re.compile(r"(?:(?<=[。！？；;])(?![\"”’])|(?<=[。！？][\"”’])|(?<=[.!?])(?![\"”’])(?=\s)"
                         r"|(?<=[.!?][\"”’])(?=\s))\s*")
_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")

# Chinese clause vocabulary (content words of MER/EMER explanations)
_ZH_AUDIO = ("声音", "语速", "音量", "语气", "语调", "音调", "嗓音", "声调", "说话", "喊", "吼", "叹气", "笑声", "哭声",
             "哽咽", "停顿", "重音", "口吻", "呼吸", "抽泣", "啜泣", "尖叫", "低语", "音频")
_ZH_VISUAL = ("眼", "眉", "嘴", "脸", "表情", "面部", "头", "手", "目光", "视线", "身体", "姿势", "微笑", "皱", "泪",
              "鼻", "肩", "坐", "站", "画面", "酒窝", "脸颊")
_ZH_GLOBAL = ("推测", "推断", "情感状态", "情绪状态", "因此", "所以", "可以看出")
_ZH_SENTENCE = re.compile(r"[。；;！？!?]")
_ZH_CLAUSE = re.compile(r"[，,]")


def is_mostly_chinese(text: str) -> bool:
    """More CJK characters than Latin letters (decides which cue rules and which language checks apply)."""
    return len(_CJK.findall(text or "")) > len(_LATIN.findall(text or ""))


def split_sentences(text: str) -> list[str]:
    return [s.strip(" ；;") for s in _SENT_SPLIT.split(text or "") if s.strip(" ；;")]


def sections_from_description(text: str) -> dict[str, str]:
    """Split an EMER/MER-Caption+ style explanation into its video / audio / text parts.

    English descriptions use "In the video, ... In the audio, ... In the text, ..."; Chinese ones use
    "在视频中，...；在音频中，...；在文本中，...". Text before the first marker counts as ``global``.
    """
    text = text or ""
    marks = []
    for key, rx in _EN_SECTIONS:
        m = rx.search(text)
        if m:
            marks.append((m.start(), m.end(), key))
    for key, marker in _ZH_SECTIONS:
        i = text.find(marker)
        if i >= 0:
            marks.append((i, i + len(marker), key))
    marks.sort()
    out = {"visual": "", "audio": "", "global": ""}
    if not marks:
        out["global"] = text.strip()
        return out
    if marks[0][0] > 0:
        out["global"] = text[: marks[0][0]].strip()
    for i, (start, end, key) in enumerate(marks):
        stop = marks[i + 1][0] if i + 1 < len(marks) else len(text)
        part = text[end:stop].strip(" ,，:：；;")
        out[key] = (out[key] + " " + part).strip() if out[key] else part
    return out


def cues_from_description(text: str) -> dict[str, list[str]]:
    """Cue lists by section: the sentences of each section (see :func:`sections_from_description`)."""
    secs = sections_from_description(text)
    return {k: split_sentences(v) for k, v in secs.items()}


def cues_by_content(text: str) -> dict[str, list[str]]:
    """Cue lists by the content of each clause (English: the EmoCue-360 rules extractor; Chinese: see module doc)."""
    if is_mostly_chinese(text):
        return _zh_cues_by_content(text)
    from emocue360.rules import extract_cues_rules

    cues = extract_cues_rules(text or "")
    return {k: list(cues.get(k, [])) for k in CUE_DIMENSIONS}


def _zh_dimension(fragment: str) -> str | None:
    if any(w in fragment for w in _ZH_GLOBAL):
        return "global"
    a = sum(fragment.count(w) for w in _ZH_AUDIO)
    v = sum(fragment.count(w) for w in _ZH_VISUAL)
    return "audio" if a > v else "visual" if v > a else None


def _zh_cues_by_content(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"visual": [], "audio": [], "global": []}
    section = "visual"
    for sentence in _ZH_SENTENCE.split(text or ""):
        last = None  # a clause without a cue word continues the one before it in the same sentence
        for clause in _ZH_CLAUSE.split(sentence):
            clause = clause.strip()
            for key, marker in _ZH_SECTIONS:
                if clause.startswith(marker):
                    section, clause = key, clause[len(marker):].strip()
            clause = re.sub(r"^(?:因此|所以)", "", clause).strip()  # a bare connector is no cue
            if not clause:
                continue
            if _zh_dimension(clause) == "global":
                out["global"].append(clause)
                last = "global"
                continue
            # "他的声音低沉、皱着眉头": an enumeration may mix modalities; same-modality neighbours stay one cue
            merged: list[list[str]] = []
            for frag in (f.strip() for f in clause.split("、")):
                if frag:
                    dim = _zh_dimension(frag) or (merged[-1][0] if merged else last or section)
                    if merged and merged[-1][0] == dim:
                        merged[-1][1] += "、" + frag
                    else:
                        merged.append([dim, frag])
            for dim, frag in merged:
                out[dim].append(frag)
            last = merged[-1][0] if merged else last
    return out
