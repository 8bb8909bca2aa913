"""MER-Caption+ / MER2025 (MERTools, ``MERChallenge/MER2025`` on the Hub) -> EmoCue records.

Files (confirmed against zeroQiaoba/MERTools ``MER2025/README.md`` and its dataset readers):

* ``track3_train_mercaptionplus.csv`` / ``track3_train_ovmerd.csv``: ``name, reason`` (the description).
* ``track2_train_mercaptionplus.csv`` / ``track2_train_ovmerd.csv``: ``name, openset`` where ``openset`` is a Python
  list literal of label strings (``"['happy', 'relieved']"``); MERTools maps an empty list to ``neutral`` and joins
  the labels with ``", "``, and so does this builder (the joined labels are the record's ``emotion``).
* ``subtitle_chieng.csv``: ``name, chinese, english`` (readers take ``english``; a NaN subtitle becomes '').
* Media: ``video/<name>.mp4`` and pre-extracted ``audio/<name>.wav``.

Either file may be given alone. Reason + labels -> full records. Labels only (MER2025 Track 2 as used in stage 1)
-> label-only records whose ``description`` and ``short_caption`` are the joined labels (assumption: that is the
text side of stage-1 video-text pairs); with ``label_only`` they stay empty (the schema's label-only record, stage 4).
MER2023 / MER2024 label files (``name, discrete, valence``) are read the same way (``discrete``: one of neutral,
angry, happy, sad, worried, surprise). A single CSV holding both ``reason`` and ``openset`` columns works too.
"""

from __future__ import annotations

from .common import (BuildResult, FormatError, MediaPolicy, RecordSink, clean_name, clean_text, cues_from_description,
                     make_record, parse_label_list, pick_column, read_csv_rows, read_name_table)


def build_mer_caption(csv=None, media_dir=None, audio_dir=None, skip_missing=False, openset=None, subtitles=None,
                      require_media=True, subtitle_language="en", label_only=False, **_unused) -> BuildResult:
    """Build records from MER-Caption+ reason / open-set label / subtitle CSVs (``label_only``: a clip with labels
    and no reason becomes a label-only record, empty description and no cues)."""
    if csv is None and openset is None:
        raise ValueError("mer-caption: give the reason CSV (--csv, columns name, reason) and/or the open-set label "
                         "CSV (--openset, columns name, openset)")
    reasons: dict[str, str] = {}
    labels: dict[str, list[str]] = {}
    order: list[str] = []
    source = str(csv or openset)
    if csv is not None:
        header, rows = read_csv_rows(csv)
        ncol = pick_column(header, ("name", "names", "video_name"), csv, "name")
        rcol = pick_column(header, ("reason", "description", "english", "reasons"), csv, "reason",
                           required="openset" not in header)
        ocol = "openset" if "openset" in header else None
        for r in rows:
            name = clean_name(r[ncol])
            if not name:
                continue
            if name not in reasons and name not in labels:
                order.append(name)
            if rcol:
                reasons[name] = clean_text(r[rcol])
            if ocol:
                labels[name] = parse_label_list(r[ocol])
    if openset is not None:
        header, rows = read_csv_rows(openset)
        ncol = pick_column(header, ("name", "names", "video_name"), openset, "name")
        ocol = pick_column(header, ("openset", "labels", "label", "emotion", "discrete"), openset, "openset")
        for r in rows:
            name = clean_name(r[ncol])
            if not name:
                continue
            if csv is None and name not in labels:
                order.append(name)
            labels[name] = parse_label_list(r[ocol])
    col = "english" if subtitle_language == "en" else "chinese"
    subs = read_name_table(subtitles, (col, "subtitle", "english", "chinese"), "subtitle") if subtitles else {}
    if csv is not None and not reasons and not labels:
        raise FormatError(f"{csv}: no rows")

    sink = RecordSink("mer-caption", MediaPolicy(media_dir, audio_dir, skip_missing, require_media), source)
    for name in order:
        lab = labels.get(name)
        emotion = ", ".join(lab) if lab else ("neutral" if lab is not None else "")
        desc = reasons.get(name, "")
        short = ""
        if not desc:
            if csv is not None and name in reasons or not emotion:
                sink.empty()
                continue
            if label_only:  # the schema's label-only record (stage 4)
                cues = {}
            else:
                desc = short = emotion  # label-only record (MER2025 Track 2 style)
                cues = {"visual": [], "audio": [], "global": [emotion]}
        else:
            cues = cues_from_description(desc)
        video = sink.video(name)
        if video is None:
            continue
        audio = sink.audio(name, required=False)
        sink.add(make_record(name, video=video, audio=audio, subtitle=subs.get(name, ""), emotion=emotion, cues=cues,
                             description=desc, short_caption=short, modality="multimodal"))
    return sink.result()
