"""DFER-CLIP-style split lists (``path frames label``) for DFEW and MAFW, with DFER-CLIP's own 0-based class orders.

Source: the zengqunzhao/DFER-CLIP repository. ``annotation/{DFEW,MAFW}_set_{1..5}_{train,test}.txt`` hold one clip per
line, space-separated, no header: ``<frame folder path> <number of frames> <class index>``
(e.g. ``/data/.../MAFW/data/faces/07317 131 3``), read by ``dataloader/video_dataloader.py`` (``VideoRecord``: path,
num_frames, label). The class index is 0-based, in the order of ``models/Text.py`` (``class_names_7``,
``class_names_11``) and of the comment in ``annotation/preprocessing.py``:

* DFEW: 0 happiness, 1 sadness, 2 neutral, 3 anger, 4 surprise, 5 disgust, 6 fear -- DFEW's official 1-7 minus one
  (``annotation/preprocess_annotation.py`` writes ``label - 1``), so records keep DFEW's names (happy, sad, ...).
* MAFW: 0 happiness, 1 sadness, 2 neutral, 3 anger, 4 surprise, 5 disgust, 6 fear, 7 contempt, 8 anxiety,
  9 helplessness, 10 disappointment -- NOT MAFW's own 1-11 order (anger, disgust, fear, happiness, ...): MAFW clip
  07317 (anger in MAFW's README) is ``3`` there.

A list is recognised by its shape: three whitespace-separated fields whose last two are integers. The clip name is the
last component of the path (the frame folder is named after the clip).
"""

from __future__ import annotations

import re
from typing import Sequence

from .readers import FormatError, Table

DFERCLIP_DFEW_ORDER = ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")
DFERCLIP_MAFW_ORDER = ("happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear", "contempt",
                       "anxiety", "helplessness", "disappointment")
LAYOUT = "DFER-CLIP list '<frame folder path> <frames> <0-based label>'"
_INT = re.compile(r"-?\d+")


def looks_like_dferclip(line: str) -> bool:
    """Whether a line has the DFER-CLIP shape ``path frames label`` (three fields, the last two integers)."""
    fields = line.split()
    return len(fields) == 3 and fields[1].isdigit() and bool(_INT.fullmatch(fields[2]))


def clip_from_path(path: str) -> str:
    """``/data/MAFW/data/faces/07317`` -> ``07317`` (a trailing slash or a video extension is dropped too)."""
    last = path.replace("\\", "/").rstrip("/").split("/")[-1]
    return re.sub(r"\.(mp4|avi|mkv|mov|webm)$", "", last, flags=re.I)


def read_dferclip_split(lines: Table, order: Sequence[str], corpus: str,
                        unlabelled: int | None = None) -> list[tuple[str, str | None]]:
    """``(clip, class name)`` for each line of a DFER-CLIP list (see the module docstring).

    ``unlabelled``: a class index that marks a clip without a single label (DFEW's 0 written as ``0 - 1``); such rows
    come back with the name ``None``. Any other index outside ``0..len(order)-1`` is an error naming the line and the
    order expected.
    """
    out = []
    for i, line in enumerate(lines.rows):
        fields = line.split()
        if not looks_like_dferclip(line):
            raise FormatError(f"{lines.where(i)}: expected the {LAYOUT} like the first line, got {line[:80]!r}")
        n = int(fields[2])
        if n == unlabelled:
            out.append((clip_from_path(fields[0]), None))
            continue
        if not 0 <= n < len(order):
            expected = ", ".join(f"{k} {name}" for k, name in enumerate(order))
            raise FormatError(f"{lines.where(i)}: label {n} is outside DFER-CLIP's 0-based {corpus} order "
                              f"({expected})")
        out.append((clip_from_path(fields[0]), order[n]))
    return out
