"""EMER (Explainable Multimodal Emotion Reasoning, AffectGPT repository) -> EmoCue records.

Formats (confirmed against the public files of zeroQiaoba/AffectGPT ``EMER/``):

* EMER-V2 ``final-EMER-reason.csv``: header ``name,chinese,english`` (the README calls the first column ``names``;
  the file itself says ``name``). Free-text cells are quoted and contain commas, doubled quotes and Chinese text.
  There is no label column; the English text follows "In the video, ... In the audio, ... In the text, the subtitle
  reads: "..." ...", the Chinese one "在视频中，...；在音频中，...；在文本中，字幕内容：“...” ...".
* EMER-V1 ``gt-eng.csv`` / ``gt-chi.csv``: columns ``names, emotions, subtitles, reasons`` (per the README).

Media: MER2023 clips named ``<name>.mp4`` (also .avi etc.) under ``media_dir``; a ``<name>.wav`` found under
``audio_dir``/``media_dir`` becomes the record's ``audio``, otherwise the video's own audio track is used (audio null).

Subtitles: V1 has its own column; V2's are the quoted text of the explanation in any of the forms the file uses
("the subtitle reads: "..."", "the subtitle content says, "..."", "The subtitle in the text says, "..."", "In the
subtitles of the text, it says, "..."", "the subtitle content "..."", "字幕内容：“...”"; a quoted Chinese line
followed by its English translation in parentheses gives the translation). An explanation that quotes no subtitle
("it is impossible to determine the emotional state based on the subtitle content") gives ''.

Cues (heuristic; the EmoCue-Instruct pipeline refines them, see :mod:`.cues`): V2 by the explanation's video /
audio / text sections; V1 by content (every V1 reason opens "In the video" / "在视频中" whatever it describes).
"""

from __future__ import annotations

import re

from .common import (BuildResult, FormatError, MediaPolicy, RecordSink, clean_name, clean_text, cues_by_content,
                     cues_from_description, make_record, read_name_table, read_table)
from .cues import is_mostly_chinese

# "the subtitle reads: "..."", "the subtitle content says, "..."", "The subtitle in the text says, "..."",
# "In the subtitles of the text, it says, "..."", "the subtitle content "..."" -- a Chinese quote may be followed by
# its translation in parentheses; "字幕内容：“...”"
_SUB_EN = re.compile(r"\bsubtitles?\b[^\"“”.。;]{0,60}?[\"“](?P<quote>[^\"”]+)[\"”](?:\s*\((?P<translation>[^()]+)\))?",
                     re.I)
_SUB_ZH = re.compile(r"字幕[^“\"”。；]{0,20}?[“\"](?P<quote>[^”\"]+)[”\"]")


def subtitle_from_description(text: str) -> str:
    """The quoted subtitle inside an EMER explanation, or '' (e.g. "it is impossible to ... from the subtitle")."""
    m = _SUB_EN.search(text or "") or _SUB_ZH.search(text or "")
    if m is None:
        return ""
    quote = clean_text(m.group("quote"))
    translation = m.groupdict().get("translation")
    if translation and is_mostly_chinese(quote) and not is_mostly_chinese(translation):
        return clean_text(translation)  # English text quoting the Chinese subtitle, then translating it
    return quote


def build_emer(csv=None, media_dir=None, audio_dir=None, skip_missing=False, language="en", subtitles=None,
               require_media=True, **_unused) -> BuildResult:
    """Build records from an EMER CSV (V2 ``name,chinese,english`` or V1 ``names,emotions,subtitles,reasons``)."""
    if language not in ("en", "zh"):
        raise ValueError(f"emer: language must be 'en' or 'zh', got {language!r}")
    if csv is None:
        raise ValueError("emer: give the annotation CSV (--csv final-EMER-reason.csv or gt-eng.csv)")
    table = read_table(csv)
    header = table.header
    sink = RecordSink("emer", MediaPolicy(media_dir, audio_dir, skip_missing, require_media), str(csv))
    sub_table = read_name_table(subtitles, ("english", "subtitle", "chinese"), "subtitle") if subtitles else {}
    if "reasons" in header or "emotions" in header:  # V1: every reason opens with "In the video" -> split by content
        ncol = "names" if "names" in header else "name"
        if ncol not in header or "reasons" not in header:
            raise FormatError(f"{csv}: EMER-V1 needs columns names, emotions, subtitles, reasons "
                              f"(found {', '.join(header)})")
        for r in table.rows:
            name = clean_name(r[ncol])
            if not name:
                continue
            desc = clean_text(r.get("reasons", ""))
            if not desc:
                sink.empty()
                continue
            _emit(sink, name, desc, cues_by_content(desc), r.get("emotions", ""),
                  r.get("subtitles", "") or sub_table.get(name, ""))
    else:  # V2: "In the video, ... In the audio, ... In the text, ..." -> split by section
        ncol = "name" if "name" in header else ("names" if "names" in header else None)
        text_col = "english" if language == "en" else "chinese"
        if ncol is None or text_col not in header:
            raise FormatError(f"{csv}: not an EMER file: expected columns name, chinese, english "
                              f"or names, emotions, subtitles, reasons (found {', '.join(header)})")
        other = "chinese" if text_col == "english" else "english"
        for r in table.rows:
            name = clean_name(r[ncol])
            if not name:
                continue
            desc = clean_text(r.get(text_col, "")) or clean_text(r.get(other, ""))
            if not desc:
                sink.empty()
                continue
            sub = sub_table.get(name, "") or subtitle_from_description(desc)
            _emit(sink, name, desc, cues_from_description(desc), "", sub)
    return sink.result()


def _emit(sink, name, desc, cues, emotion, subtitle):
    video = sink.video(name)
    if video is None:
        return
    audio = sink.audio(name, required=False)
    sink.add(make_record(name, video=video, audio=audio, subtitle=subtitle, emotion=emotion,
                         cues=cues, description=desc, modality="multimodal"))
