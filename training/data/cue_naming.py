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


def cue_accuracy(predictions: Sequence[str], records: Sequence[dict]) -> dict:
    """Fraction of actual cues named (overall and per factor) and emotion accuracy over the held-out records."""
    per_factor: dict[str, list[bool]] = {}
    emotion_ok = []
    for pred, rec in zip(predictions, records):
        for factor, ok in cue_hits(pred, rec.get("factors") or {}).items():
            per_factor.setdefault(factor, []).append(ok)
        emotion_ok.append(predicted_emotion(pred) == rec.get("emotion"))
    every = [ok for oks in per_factor.values() for ok in oks]
    return {
        "cue_accuracy": sum(every) / len(every) if every else 0.0,
        "emotion_accuracy": sum(emotion_ok) / len(emotion_ok) if emotion_ok else 0.0,
        "per_factor": {f: sum(v) / len(v) for f, v in sorted(per_factor.items())},
        "num_cues": len(every),
    }
