"""Cue naming on synthetic EmoCue clips: which of a clip's actual cues an explanation names, and its emotion.

The synthetic generator (:mod:`training.data.synthetic`) renders every clip from known cue factors and phrases each
factor value in a few fixed ways, so an explanation can be checked exactly: a cue counts as *named* when one of the
generator's phrasings of the clip's value appears and no phrasing of another value of the same factor does. This is
the perception yardstick of the demo, the bridge ablation and the stage-4 study.
"""

from __future__ import annotations

import re
from typing import Sequence

from .synthetic import CUE_PHRASES, EMOTIONS


def _norm(text: str) -> str:
    return " " + re.sub(r"[^a-z0-9]+", " ", text.lower()).strip() + " "


def cue_hits(prediction: str, factors: dict) -> dict:
    """Which of a synthetic clip's actual cues the prediction names, by the generator's own phrasings.

    For every factor present in the record (e.g. ``mouth=smile``), the cue counts as named when one of the
    generator's phrasings of that value appears in the prediction and no phrasing of another value of the same
    factor does. Returns ``{factor: bool}``.
    """
    pred = _norm(prediction)
    out = {}
    for factor, value in factors.items():
        if not value or factor not in CUE_PHRASES:
            continue
        own = any(_norm(p) in pred for p in CUE_PHRASES[factor][value])
        other = any(_norm(p) in pred for v, ps in CUE_PHRASES[factor].items() if v != value for p in ps)
        out[factor] = bool(own and not other)
    return out


def predicted_emotion(prediction: str) -> str | None:
    """The synthetic emotion label named last in the prediction (the conclusion sentence), or None."""
    words = _norm(prediction).split()
    for word in reversed(words):
        if word in EMOTIONS:
            return word
    return None


def cue_accuracy(predictions: Sequence[str], records: Sequence[dict], emotions: Sequence[str | None] | None = None
                 ) -> dict:
    """Fraction of actual cues named (overall and per factor) and emotion accuracy over the held-out records.
    ``emotions``: the predicted emotions when the model states them on their own (a JSON answer's ``emotion``);
    by default the emotion named last in each prediction (:func:`predicted_emotion`)."""
    per_factor: dict[str, list[bool]] = {}
    emotion_ok = []
    emotions = [predicted_emotion(p) for p in predictions] if emotions is None else list(emotions)
    for pred, rec, emotion in zip(predictions, records, emotions):
        for factor, ok in cue_hits(pred, rec.get("factors") or {}).items():
            per_factor.setdefault(factor, []).append(ok)
        emotion_ok.append((emotion or "").strip().lower() == rec.get("emotion"))
    every = [ok for oks in per_factor.values() for ok in oks]
    return {
        "cue_accuracy": sum(every) / len(every) if every else 0.0,
        "emotion_accuracy": sum(emotion_ok) / len(emotion_ok) if emotion_ok else 0.0,
        "per_factor": {f: sum(v) / len(v) for f, v in sorted(per_factor.items())},
        "num_cues": len(every),
    }


def swap_media(records: Sequence[dict], kind: str, seed: int = 0) -> list[dict]:
    """The shuffled-media control: every record that has ``kind`` ("video" or "audio") gets another record's
    ``kind`` (a random derangement, so no record keeps its own), everything else unchanged. A model that reads that
    modality then names the *other* clip's cues, and its cue-naming rate for that modality drops to about chance.

    A multimodal record whose audio is its video's own track keeps that track (``audio`` is set to the clip) when its
    video is swapped, and vice versa, so only one modality changes.
    """
    import random

    def audio_of(r):
        return r.get("audio") or (r.get("video") if r.get("modality") == "multimodal" else None)

    source = (lambda r: r.get("video") if r.get("modality") != "audio" else None) if kind == "video" else audio_of
    if kind not in ("video", "audio"):
        raise ValueError(f"kind must be 'video' or 'audio', got {kind!r}")
    holders = [i for i, r in enumerate(records) if source(r)]
    if len(holders) < 2:
        raise ValueError(f"swapping {kind} needs at least two records with {kind}")
    rng = random.Random(seed)
    order = holders[:]
    while any(a == b for a, b in zip(order, holders)):
        rng.shuffle(order)
    out = [dict(r) for r in records]
    for target, donor in zip(holders, order):
        r = out[target]
        if kind == "video":
            r["audio"] = audio_of(records[target])  # keep its own audio track
            r["video"] = records[donor]["video"]
        else:
            r["audio"] = audio_of(records[donor])
    return out
