"""Partial-clip cues for the synthetic EmoCue clips (``--partial-cues P``; off by default, the default clips unchanged).

With ``partial_cues = P > 0`` each cue factor that can come and go occupies, with probability ``P``, only part of the
clip, and every record gets per-cue ``spans`` (``training/data/spans.py``) in seconds:

* ``mouth`` (not ``flat``): the smile / frown / open mouth is drawn only inside its span, a flat mouth elsewhere;
* ``brows``: the raised / lowered / knitted brows only inside their span, neutral brows (thin, mid-height) elsewhere;
* ``head`` (not ``still``): the nods / shakes only inside their span, a still head elsewhere;
* the voice (every audio cue: pitch, intonation, loudness, rhythm): the voice is heard only inside its span, the
  fixed noise floor elsewhere.

A span is a whole number of quarter seconds (2 frames at 8 fps), 0.5 to 1.5 s long, anywhere in the 2 s clip. Cues
that stay for the whole clip (not drawn partial, or ``flat`` mouth / ``still`` head) get the span ``[0, duration]``;
global cues (the scene, the face-and-voice summary) get none. The cue phrasings, the description, the emotion and the
factor values are exactly those of the default clip; the span draws come from their own random stream
(``[seed, index, 3]``), so the clip's other draws are unchanged.
"""

from __future__ import annotations

import numpy as np

from .spans import make_span

PARTIAL_FACTORS: dict[str, str] = {"mouth": "flat", "brows": "neutral", "head": "still"}  # factor -> value outside
VOICE = "voice"  # the span shared by every audio cue
SPAN_STEP = 0.25  # seconds
SPAN_LENGTHS = (0.5, 0.75, 1.0, 1.25, 1.5)  # seconds


def draw_partial(factors: dict[str, str], names: tuple[str, ...], audio_names: tuple[str, ...], share: float,
                 rng: np.random.Generator, seconds: float) -> dict[str, tuple[float, float]]:
    """``{factor or VOICE: (start, end)}`` of the cues drawn partial (``share`` each) among ``names``."""
    partial = {}
    candidates = [n for n in PARTIAL_FACTORS if n in names] + ([VOICE] if any(n in names for n in audio_names) else [])
    for name in candidates:
        draw_it, length, slot = rng.random(), rng.choice(SPAN_LENGTHS), rng.random()
        if draw_it >= share or (name in PARTIAL_FACTORS and factors[name] == PARTIAL_FACTORS[name]):
            continue
        length = min(float(length), seconds)
        starts = int(round((seconds - length) / SPAN_STEP)) + 1
        start = SPAN_STEP * int(slot * starts)
        partial[name] = (start, start + length)
    return partial


def frame_factors(factors: dict[str, str], partial: dict[str, tuple[float, float]], num_frames: int,
                  fps: float) -> list[dict[str, str]]:
    """The factor values of every frame: a partial factor takes its outside value in frames outside its span (a
    frame belongs to the span when its start time does)."""
    out = []
    for t in range(num_frames):
        time = t / fps
        out.append({**factors, **{name: PARTIAL_FACTORS[name] for name, (start, end) in partial.items()
                                  if name in PARTIAL_FACTORS and not start <= time < end}})
    return out


def place_voice(audio: np.ndarray, span: tuple[float, float] | None, rng: np.random.Generator, noise_floor: float,
                sample_rate: int, seconds: float) -> np.ndarray:
    """``seconds`` of the noise floor with ``audio`` (the voice rendered for the span's length) inside ``span``."""
    if span is None:
        return audio
    n = int(round(seconds * sample_rate))
    out = rng.normal(0.0, noise_floor, n).astype(np.float32)
    start = int(round(span[0] * sample_rate))
    piece = audio[: max(0, min(len(audio), n - start))]
    out[start : start + len(piece)] = piece
    return out


def voice_audio(factors: dict[str, str], span: tuple[float, float] | None, rng: np.random.Generator,
                seconds: float) -> np.ndarray:
    """The clip's sound: the voice over the whole clip (``span`` None: exactly the default rendering), else the voice
    rendered for the span's length and heard only inside it."""
    from .synthetic_media import NOISE_FLOOR, SAMPLE_RATE, render_audio

    heard = render_audio(factors, rng, span[1] - span[0] if span else seconds)
    return place_voice(heard, span, rng, NOISE_FLOOR, SAMPLE_RATE, seconds)


def record_spans(cues: dict, names: tuple[str, ...], visual_names: tuple[str, ...], audio_names: tuple[str, ...],
                 partial: dict[str, tuple[float, float]], seconds: float) -> dict:
    """The ``spans`` field: every visual and audio cue with its span (``[0, seconds]`` when it lasts the whole clip).
    The record's cue lists hold one phrase per present factor, in factor order (``synthetic.describe``)."""
    whole = (0.0, seconds)
    visual = [n for n in visual_names if n in names]
    audio = [n for n in audio_names if n in names]
    return {
        "visual": [make_span(cue, *partial.get(n, whole)) for n, cue in zip(visual, cues["visual"])],
        "audio": [make_span(cue, *partial.get(VOICE, whole)) for cue in cues["audio"][: len(audio)]],
        "global": [],
    }
