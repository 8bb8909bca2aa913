"""MAFW (Multi-modal Affective database in the Wild) labels and descriptive captions -> EmoCue records.

Classes (MAFW-database/MAFW ``README.md``; the numbering of ``single-set.xlsx`` as read by public MAFW loaders):
11 single-expression classes numbered 1..11 = anger, disgust, fear, happiness, neutral, sadness, surprise, contempt,
anxiety, helplessness, disappointment; compound (multi-expression) labels combine them. Every non-neutral clip has a
bilingual (Chinese/English) descriptive text.

Layouts read (each recognised from the file itself; the released files are licence-gated, the layouts below are the
ones public readers of the package use):

=========================================  ===========================================================================
``Labels/single-set.xlsx``                 header row; first column ``clip`` (``00025.mp4``), a ``single_label``
                                           column (1-11 in the order above; 0 = no single label: skipped, counted)
``Labels/multi-set.xlsx``                  header row; ``clip`` and ``multi_label`` (``"1,2"`` -> "anger, disgust")
``Labels/descriptive_text.xlsx``           no header; clip, Chinese text, English text (give it as ``captions``)
``Train & Test Set/*/no_caption/set_N/``   ``clip.mp4 label`` per line, UTF-8; label a class name (compound:
``{train,test}.txt``                       ``anger_disgust``) or a number 1-11
``Train & Test Set/*/with_caption/...``    ``clip.mp4<TAB>label<TAB>Chinese<TAB>English`` per line, GBK: labels *and*
                                           captions (as ``csv``), or captions only (as ``captions``)
DFER-CLIP ``annotation/MAFW_set_N_*.txt``  ``path frames label``, label 0-based in DFER-CLIP's order (see
                                           :mod:`.dferclip`: 0 happiness, 1 sadness, 2 neutral, 3 anger, ...)
CSV/TSV/xlsx with a header                 a name column (``name``/``video_name``/``clip``) + ``label``; captions:
                                           a name column + ``english`` and/or ``chinese``
=========================================  ===========================================================================

A caption file without labels given as ``csv``, a line with another number of fields than the first one, an English
column holding Chinese (or the reverse) and an unknown label are errors naming the file and the line.

Records: ``emotion`` = the class name (compound: names joined with ", "); ``description`` = the English caption
(Chinese with ``language="zh"``); ``cues.visual`` = the caption's sentences (MAFW captions describe facial
behaviour); without a caption the description only states the label (``label_only``: empty, a label-only record).
Default modality ``visual`` (stage 1 and the visual-only instructions of stage 3); pass ``modality="multimodal"`` to
keep the audio track.
"""

from __future__ import annotations

import re

from .common import (BuildResult, FormatError, MediaPolicy, RecordSink, Table, as_path_list, clean_name, clean_text,
                     label_placeholder, make_record, pick_column, split_sentences)
from .cues import is_mostly_chinese
from .dferclip import DFERCLIP_MAFW_ORDER, LAYOUT as DFERCLIP_LAYOUT, looks_like_dferclip, read_dferclip_split
from .readers import is_spreadsheet, read_lines, read_sheet, read_table, sniff_delimiter, with_header

MAFW_LABELS = ["anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise", "contempt", "anxiety",
               "helplessness", "disappointment"]
_ALIASES = {"angry": "anger", "disgusted": "disgust", "fearful": "fear", "happy": "happiness", "sad": "sadness",
            "surprised": "surprise", "contemptuous": "contempt", "anxious": "anxiety", "helpless": "helplessness",
            "disappointed": "disappointment"}
_NAME_COLS = ("clip", "name", "video_name", "video", "names")
_LABEL_COLS = ("single_label", "multi_label", "label", "emotion", "class")
_LAYOUTS = ("expected one of: 'clip label' lines, 'clip<TAB>label<TAB>Chinese<TAB>English' lines (caption split), "
            f"a {DFERCLIP_LAYOUT}, a table with a header (clip/name + label), or single-set/multi-set.xlsx")
_CAPTION_LAYOUTS = ("expected one of: descriptive_text.xlsx (clip, Chinese, English; no header), "
                    "'clip<TAB>label<TAB>Chinese<TAB>English' lines, 'clip<TAB>caption' lines, or a table with a "
                    "header (clip/name + english and/or chinese)")

# one row of any layout: clip name, class name(s) (None: no single label; "": the file has no labels), captions
Row = tuple[str, "str | None", dict]


def clip_name(name) -> str:
    """``00025.mp4`` / ``path/00025`` / ``25`` (a number cell) -> ``00025``."""
    name = clean_name(name).replace("\\", "/").split("/")[-1]
    name = re.sub(r"\.(mp4|avi|mkv|mov|webm)$", "", name, flags=re.I)
    return name.zfill(5) if name.isdigit() else name


def mafw_label(value, where) -> str | None:
    """A MAFW label (``anger``, ``3``, compound ``anger_disgust`` / ``"1,2"``) -> class name(s); 0 -> None."""
    s = clean_text(value).lower()
    if not s:
        raise FormatError(f"{where} has an empty MAFW label")
    parts = [p for p in re.split(r"[,_;+\s]+", s) if p]
    if parts == ["0"]:
        return None
    names = []
    for p in parts:
        if p.isdigit():
            if not 1 <= int(p) <= len(MAFW_LABELS):
                raise FormatError(f"{where} has MAFW label {p}, outside MAFW's 1-11 order "
                                  f"({', '.join(f'{k} {n}' for k, n in enumerate(MAFW_LABELS, 1))})")
            names.append(MAFW_LABELS[int(p) - 1])
            continue
        name = _ALIASES.get(p, p)
        if name not in MAFW_LABELS:
            raise FormatError(f"{where} has unknown MAFW label {value!r} (expected one of {', '.join(MAFW_LABELS)}, "
                              "'_'-joined for compound labels, or 1-11)")
        names.append(name)
    return ", ".join(dict.fromkeys(names))


# What MAFW's caption splits hold for a clip without a caption (its README: neutral clips carry none, shown as "-")
NO_CAPTION = ("-", "--", "—", "n/a", "none")


def _caption(text: str) -> str:
    """A caption cell's text; "" for an empty cell or a no-caption mark (:data:`NO_CAPTION`)."""
    text = clean_text(text)
    return "" if text.lower() in NO_CAPTION else text


def _check_language(text: str, language: str, where: str, column: str):
    text = _caption(text)
    if text and is_mostly_chinese(text) != (language == "zh"):
        found = "Chinese" if language == "en" else "non-Chinese"
        raise FormatError(f"{where}: the {column} column holds {found} text ({text[:40]!r}); expected "
                          f"{'Chinese' if language == 'zh' else 'English'} there")


def _is_header(cells) -> bool:
    return any(c.strip().lower() in _NAME_COLS for c in cells)


def _from_header(table: Table, role: str, language: str) -> list[Row]:
    ncol = pick_column(table.header, _NAME_COLS, table.path, "clip name")
    lcol = pick_column(table.header, _LABEL_COLS, table.path, "label", required=role == "labels")
    cols = {lang: pick_column(table.header, names, table.path, lang, required=False)
            for lang, names in (("zh", ("chinese", "zh")), ("en", ("english", "en")))}
    if not any(cols.values()):  # one caption column of unnamed language: the one asked for
        cols[language] = pick_column(table.header, ("caption", "description", "text"), table.path, "caption",
                                     required=role == "captions")
    rows = []
    for i, r in enumerate(table.rows):
        if not clean_name(r[ncol]):
            continue
        caps = {lang: _caption(r[col]) for lang, col in cols.items() if col}
        for lang, text in caps.items():
            _check_language(text, lang, table.where(i), cols[lang])
        rows.append((clip_name(r[ncol]), mafw_label(r[lcol], table.where(i)) if lcol else "", caps))
    return rows


def _from_headerless(table: Table, role: str, language: str) -> list[Row]:
    n = len(table.rows[0])
    rows = []
    for i, fields in enumerate(table.rows):
        if table.unit == "row" or (n == 4 and len(fields) == 2):  # a spreadsheet drops empty trailing cells; a
            fields = fields + [""] * (n - len(fields))           # caption split's clip without caption may too
        if len(fields) != n:
            raise FormatError(f"{table.where(i)} has {len(fields)} fields where the first line has {n} "
                              f"(a tab inside a caption, or a missing one?); "
                              f"{_CAPTION_LAYOUTS if role == 'captions' else _LAYOUTS}")
        where = table.where(i)
        if n == 2 and role == "labels":
            rows.append((clip_name(fields[0]), mafw_label(fields[1], where), {}))
        elif n == 2:  # clip<TAB>caption: one language, which must be the one asked for
            _check_language(fields[1], language, where, f"caption (for --language {language})")
            rows.append((clip_name(fields[0]), "", {language: _caption(fields[1])}))
        elif n in (3, 4):
            if n == 3 and role == "labels":
                raise FormatError(f"{where}: looks like descriptive_text (clip, Chinese, English) and holds no "
                                  f"labels; give it as the caption file (--captions) and the labels with --csv")
            zh, en = fields[-2], fields[-1]
            _check_language(zh, "zh", where, f"Chinese (field {n - 1})")
            _check_language(en, "en", where, f"English (field {n})")
            label = mafw_label(fields[1], where) if n == 4 and role == "labels" else ""
            rows.append((clip_name(fields[0]), label, {"zh": _caption(zh), "en": _caption(en)}))
        else:
            raise FormatError(f"{where} has {n} fields; {_CAPTION_LAYOUTS if role == 'captions' else _LAYOUTS}")
    return rows


def read_mafw(path, role: str = "labels", language: str = "en") -> list[Row]:
    """Rows ``(clip, emotion, {"zh": ..., "en": ...})`` of any MAFW layout (see the module docstring).

    ``role`` is ``"labels"`` (a ``--csv`` file: labels required) or ``"captions"`` (the ``--captions`` file).
    """
    if is_spreadsheet(path):
        sheet = read_sheet(path)
        if not sheet.rows:
            raise FormatError(f"{path}: the first worksheet is empty")
        return _from_header(with_header(sheet), role, language) if _is_header(sheet.rows[0]) else \
            _from_headerless(sheet, role, language)
    lines = read_lines(path)
    first = lines.rows[0]
    if _is_header(first.split(sniff_delimiter(first))):
        return _from_header(read_table(path), role, language)
    if looks_like_dferclip(first):
        if role == "captions":
            raise FormatError(f"{lines.where(0)}: a {DFERCLIP_LAYOUT} holds no captions; {_CAPTION_LAYOUTS}")
        return [(clip_name(c), e, {}) for c, e in read_dferclip_split(lines, DFERCLIP_MAFW_ORDER, "MAFW")]
    if "\t" in first:
        split = [[f.strip() for f in line.split("\t")] for line in lines.rows]
    elif role == "captions":
        raise FormatError(f"{lines.where(0)}: no tab; {_CAPTION_LAYOUTS}")
    else:  # 'clip label' (whitespace or a comma)
        split = [[f for f in re.split(r"[,\s]+", line) if f] for line in lines.rows]
        if len(split[0]) != 2:
            raise FormatError(f"{lines.where(0)} has {len(split[0])} space-separated fields; {_LAYOUTS} "
                              "(caption splits are tab-separated)")
    return _from_headerless(Table(lines.path, [], split, lines.numbers), role, language)


def build_mafw(csv=None, media_dir=None, audio_dir=None, skip_missing=False, captions=None, language="en",
               require_media=True, modality="visual", label_only=False, **_unused) -> BuildResult:
    """Build records from MAFW label file(s) and, optionally, a caption file (any layout of the module docstring);
    ``label_only``: a clip without a caption gets an empty description (a label-only record) instead of a sentence
    stating its label; in a caption split or with a caption file, clips without a caption (an empty cell or a
    :data:`NO_CAPTION` mark: MAFW's neutral clips) are always label-only."""
    if language not in ("en", "zh"):
        raise ValueError(f"mafw: language must be 'en' or 'zh', got {language!r}")
    paths = as_path_list(csv)
    if not paths:
        raise ValueError("mafw: give at least one label file (--csv: a split file, single-set.xlsx, ...)")
    caps = {clip: c for clip, _, c in read_mafw(captions, "captions", language)} if captions else {}
    sink = RecordSink("mafw", MediaPolicy(media_dir, audio_dir, skip_missing, require_media), paths[0])
    for path in paths:
        rows = read_mafw(path, "labels", language)
        # in a caption split (or with a caption file) a clip without a caption (MAFW: the neutral ones) is label-only
        no_caption_label_only = label_only or bool(caps) or any(own_caps for _, _, own_caps in rows)
        for name, emotion, own_caps in rows:
            if emotion is None:
                sink.empty()
                continue
            caption = caps.get(name, {}).get(language) or own_caps.get(language, "")
            video = sink.video(name)
            if video is None:
                continue
            audio = sink.audio(name, required=False) if modality != "visual" else None
            sink.add(make_record(name, video=video, audio=audio, emotion=emotion,
                                 description=caption or ("" if no_caption_label_only
                                                           else label_placeholder(emotion, modality)),
                                 cues={"visual": split_sentences(caption)}, modality=modality))
    return sink.result()
