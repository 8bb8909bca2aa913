"""Emotion label sets and the tables that map them onto each other (stage 4's emotion reward on label-only corpora).

The corpora people have name their classes differently: DFEW has 7 classes (``happy ... fear``, nouns and adjectives
mixed), MAFW 11 (all nouns: ``anger ... disappointment``), MER2023/MER2024 6 (``neutral, angry, happy, sad, worried,
surprise``), RAVDESS 8, the synthetic benchmark 5, and a model writes whatever word its explanations end with
("... the person is most likely angry", "... a sign of anger"). Two tables make them comparable:

* :data:`WORD_TO_EMOTION` — every word form of a class (noun, adjective, common synonyms) -> one *canonical* emotion
  (an adjective: ``anger`` / ``angry`` -> ``angry``). Labels of different corpora that name the same class meet here.
* :data:`COARSE` — a class that a smaller label set lacks -> its nearest basic class (MAFW's ``contempt`` ->
  ``disgusted``, ``anxiety`` / MER's ``worried`` -> ``fearful``, ``helplessness`` / ``disappointment`` -> ``sad``,
  RAVDESS's ``calm`` -> ``neutral``), used only when labels are mapped *into* such a set (:func:`map_label`).

:data:`LABEL_SETS` lists each corpus's class names as its files spell them. ``label_set`` in stage 4
(``data.label_set``) names the set the model answers in: every record label and every answer is mapped into it
before they are compared (e.g. train on MAFW's 11 classes with a model whose vocabulary is DFEW's 7).
"""

from __future__ import annotations

import re
from typing import Iterable

# canonical emotion -> its word forms (the canonical word itself included)
EMOTION_FORMS: dict[str, tuple[str, ...]] = {
    "happy": ("happy", "happiness", "joy", "joyful", "glad", "cheerful"),
    "sad": ("sad", "sadness", "sorrow", "sorrowful", "unhappy"),
    "angry": ("angry", "anger", "furious", "fury", "rage", "irritated"),
    "surprised": ("surprised", "surprise", "astonished", "astonishment", "amazed"),
    "neutral": ("neutral", "neutrality"),
    "calm": ("calm", "calmness", "relaxed"),
    "disgusted": ("disgusted", "disgust", "disgusting"),
    "fearful": ("fearful", "fear", "afraid", "scared", "frightened"),
    "contemptuous": ("contemptuous", "contempt", "scornful", "scorn"),
    "anxious": ("anxious", "anxiety", "nervous", "nervousness"),
    "helpless": ("helpless", "helplessness"),
    "disappointed": ("disappointed", "disappointment"),
    "worried": ("worried", "worry", "concerned", "concern"),
}
WORD_TO_EMOTION: dict[str, str] = {form: canon for canon, forms in EMOTION_FORMS.items() for form in forms}

# a class missing from a smaller label set -> the basic class it is folded into
COARSE: dict[str, str] = {
    "contemptuous": "disgusted",
    "anxious": "fearful",
    "worried": "fearful",
    "helpless": "sad",
    "disappointed": "sad",
    "calm": "neutral",
}

# each corpus's classes as its label files spell them (builders: training/data/builders/)
LABEL_SETS: dict[str, tuple[str, ...]] = {
    "synthetic": ("happy", "sad", "angry", "surprised", "neutral"),  # training/data/synthetic.py EMOTIONS
    "dfew": ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear"),  # builders/dfew.py DFEW_LABELS 1-7
    "mafw": ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise", "contempt", "anxiety",
             "helplessness", "disappointment"),  # builders/mafw.py MAFW_LABELS 1-11
    "mer2023": ("neutral", "angry", "happy", "sad", "worried", "surprise"),  # MER2023 / MER2024 discrete labels
    "ravdess": ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"),  # file name codes 1-8
}
LABEL_SETS["mer2024"] = LABEL_SETS["mer2023"]


class LabelError(ValueError):
    """An emotion label that no table knows, or that has no counterpart in the label set asked for."""


def canonical_emotion(word: str | None) -> str | None:
    """The canonical emotion of one label or word (``"Anger"`` -> ``"angry"``), ``None`` when no table knows it."""
    return WORD_TO_EMOTION.get(str(word or "").strip().lower())


def label_parts(label: str) -> list[str]:
    """The classes of a label: one, or several for a compound label (MAFW ``"anger, disgust"`` / ``anger_disgust``,
    MER2025 open-set lists)."""
    return [p for p in re.split(r"\s*[,;/_+]\s*|\s+and\s+", str(label or "").strip().lower()) if p]


def _check_set(label_set: str | None) -> tuple[str, ...] | None:
    if label_set is None:
        return None
    if label_set not in LABEL_SETS:
        raise LabelError(f"unknown label set {label_set!r}; choose one of {', '.join(sorted(LABEL_SETS))}")
    return LABEL_SETS[label_set]


def set_canonicals(label_set: str) -> set[str]:
    """The canonical emotions of a label set's classes."""
    return {canonical_emotion(name) for name in _check_set(label_set)}


def map_label(label: str, label_set: str | None = None) -> str:
    """One class name (or word) -> its canonical emotion, folded into ``label_set`` when given (its canonical form:
    ``map_label("contempt", "dfew") == "disgusted"``). Raises :class:`LabelError` naming the label."""
    canon = canonical_emotion(label)
    if canon is None:
        known = ", ".join(sorted(EMOTION_FORMS))
        raise LabelError(f"unknown emotion label {label!r} (known classes: {known}; their noun forms and synonyms "
                         "are accepted)")
    if label_set is None:
        return canon
    allowed = set_canonicals(label_set)
    if canon not in allowed and COARSE.get(canon) in allowed:
        canon = COARSE[canon]
    if canon not in allowed:
        raise LabelError(f"emotion label {label!r} has no counterpart in the {label_set} label set "
                         f"({', '.join(LABEL_SETS[label_set])})")
    return canon


def label_targets(label: str, label_set: str | None = None) -> frozenset[str]:
    """The canonical emotions an answer may name to match ``label`` (every class of a compound label)."""
    parts = label_parts(label)
    if not parts:
        raise LabelError("empty emotion label")
    return frozenset(map_label(p, label_set) for p in parts)


def answer_emotion(word: str | None, label_set: str | None = None) -> str | None:
    """The canonical emotion of the word an answer concludes with (``None``: unknown word, or no counterpart in
    ``label_set``), so it compares with :func:`label_targets`."""
    try:
        return map_label(word, label_set) if word else None
    except LabelError:
        return None


def check_labels(records: Iterable[dict], label_set: str | None = None, where: str = "dataset",
                 only_label_only: bool = True) -> None:
    """One :class:`LabelError` line naming the first record whose ``emotion`` no table maps (into ``label_set``).

    ``only_label_only``: check only label-only records (:func:`training.data.schema.is_label_only`; their label is
    all they teach), unless ``label_set`` is given (then every labelled record is mapped into it).
    """
    from .schema import is_label_only

    for record in records:
        label = str(record.get("emotion") or "").strip()
        if not label or (only_label_only and label_set is None and not is_label_only(record)):
            continue
        try:
            label_targets(label, label_set)
        except LabelError as exc:
            raise LabelError(f"{where}: record {record.get('id')!r}: {exc}") from None


def templated_answer(emotion: str) -> str:
    """The answer of the obvious supervised baseline on a label-only record: the label in a template sentence."""
    return f"Overall, the person is most likely {emotion}."
