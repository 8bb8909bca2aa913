"""DFEW (Dynamic Facial Expression in the Wild) label files -> EmoCue records.

Layouts read (each recognised from the file itself):

* DFEW's own split files (jiangxingxun/DFEW ``README.md`` and ``DFEW_Dataset.py``; read the same way by DFER-CLIP's
  ``annotation/preprocess_annotation.py``): ``EmoLabel_DataSplit/{train,test}(single-labeled)/set_{1..5}.csv``, a
  CSV with the header ``video_name,label``; ``video_name`` is the clip number (zero-padded to 5 digits in the data
  folders: ``00001``), ``label`` is 1..7 = 1 happy, 2 sad, 3 neutral, 4 angry, 5 surprise, 6 disgust, 7 fear.
  Label 0 marks a clip without a single label (dropped and counted). Label names instead of numbers are accepted,
  and so is the same table saved as ``.xlsx``.
* DFER-CLIP lists (``annotation/DFEW_set_{1..5}_{train,test}.txt``): ``<frame folder path> <frames> <label>`` with
  the label 0-based (0 happy ... 6 fear, i.e. DFEW's number minus one); see :mod:`.dferclip`.

Anything else (e.g. ``annotation.xlsx``, the 7-dimensional vote vectors) is rejected with a message naming the
layouts above. Assumed: clip videos ``<00001>.mp4`` (or .avi) under ``media_dir`` (the resolver zero-pads numeric
names). DFEW carries no text, so records are label-only: the ``description`` only states the label (the schema needs
a non-empty one) and ``short_caption`` stays empty until EmoCue-ShortCaption generation fills them (paper §IV).
"""

from __future__ import annotations

from .common import (BuildResult, FormatError, MediaPolicy, RecordSink, as_path_list, clean_name, clean_text,
                     label_placeholder, make_record, pick_column, read_table)
from .dferclip import DFERCLIP_DFEW_ORDER, LAYOUT as DFERCLIP_LAYOUT, looks_like_dferclip, read_dferclip_split
from .readers import is_spreadsheet, read_lines, sniff_delimiter

DFEW_LABELS = {1: "happy", 2: "sad", 3: "neutral", 4: "angry", 5: "surprise", 6: "disgust", 7: "fear"}
_NAME_COLS = ("video_name", "name", "clip", "video")
_LAYOUTS = f"expected DFEW's split CSV 'video_name,label' (labels 1-7) or a {DFERCLIP_LAYOUT}"


def dfew_label(value, where) -> str | None:
    s = clean_text(value).lower()
    if not s:
        raise FormatError(f"{where} has an empty label")
    try:
        n = int(float(s))
    except ValueError:
        names = set(DFEW_LABELS.values()) | {"happiness", "sadness", "anger", "surprised", "disgusted", "fearful"}
        if s not in names:
            raise FormatError(f"{where} has unknown DFEW label {value!r} (expected 1-7 or a class name)")
        return s
    if n == 0:
        return None
    if n not in DFEW_LABELS:
        raise FormatError(f"{where} has DFEW label {n}, expected 1-7 "
                          "(1 happy, 2 sad, 3 neutral, 4 angry, 5 surprise, 6 disgust, 7 fear)")
    return DFEW_LABELS[n]


def read_dfew_labels(path) -> list[tuple[str, str | None]]:
    """``(clip name as written, class name or None)`` for every row of a DFEW split CSV/xlsx or DFER-CLIP list."""
    if not is_spreadsheet(path):
        lines = read_lines(path)
        first = lines.rows[0]
        if looks_like_dferclip(first):
            return read_dferclip_split(lines, DFERCLIP_DFEW_ORDER, "DFEW", unlabelled=-1)
        cells = [c.strip().lower() for c in first.split(sniff_delimiter(first))]
        if not any(c in _NAME_COLS for c in cells):
            raise FormatError(f"{lines.where(0)}: no video_name column; {_LAYOUTS}, got {first[:80]!r}")
    table = read_table(path)
    ncol = pick_column(table.header, _NAME_COLS, path, "video_name")
    lcol = pick_column(table.header, ("label", "emotion", "single_label"), path, "label")
    return [(clean_name(r[ncol]), dfew_label(r[lcol], table.where(i)))
            for i, r in enumerate(table.rows) if clean_name(r[ncol])]


def build_dfew(csv=None, media_dir=None, audio_dir=None, skip_missing=False, require_media=True, modality="visual",
               label_only=False, **_unused) -> BuildResult:
    """Build label-only records from DFEW split files (``video_name,label``) or DFER-CLIP lists (``label_only``:
    an empty description instead of the sentence stating the label: stage 4's label-only records)."""
    paths = as_path_list(csv)
    if not paths:
        raise ValueError("dfew: give at least one label file (--csv single_trainset_1.csv)")
    sink = RecordSink("dfew", MediaPolicy(media_dir, audio_dir, skip_missing, require_media), paths[0])
    for path in paths:
        for raw, emotion in read_dfew_labels(path):
            name = raw.split(".")[0]
            name = name.zfill(5) if name.isdigit() else name
            if emotion is None:
                sink.empty()
                continue
            video = sink.video(raw)
            if video is None:
                continue
            audio = sink.audio(name, required=False) if modality != "visual" else None
            sink.add(make_record(name, video=video, audio=audio, emotion=emotion,
                                 description="" if label_only else label_placeholder(emotion, modality),
                                 modality=modality))
    return sink.result()
