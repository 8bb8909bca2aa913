"""Synthetic, learnable EmoCue clips: a cartoon face with visible cues and a voice-like signal with audible cues.

Every clip is rendered from a handful of discrete *cue factors*; the record's ``cues``, ``description``,
``short_caption``, ``subtitle`` and ``emotion`` are derived from exactly those factors, so a model can learn to name
the cues it perceives and to reason from them to the emotion.

Visual factors (rendered in every frame, 16 frames at 8 fps = 2 s):

* ``mouth``: ``smile`` (wide grin: white teeth in a magenta lower half-disc), ``frown`` (magenta upper half-disc),
  ``open`` (tall black ellipse), ``flat`` (thin magenta bar)
* ``brows``: ``raised`` (thin, high), ``lowered`` (thicker, low over the eyes), ``knitted`` (thickest, slanted down
  towards the nose)
* ``head``: ``nod`` (the face moves up and down twice), ``shake`` (left and right twice), ``still``
* ``scene``: background colour ``warm`` (yellow), ``blue``, ``red``, ``grey`` (a *global* cue: the scene)

Audible factors (2 s of 16 kHz audio, a harmonic "voice" in syllable bursts over a fixed noise floor):

* ``pitch``: ``high`` (f0 ≈ 300 Hz) or ``low`` (f0 ≈ 120 Hz)
* ``intonation``: ``rising`` or ``falling`` (f0 glides ±0.5 octave over the clip)
* ``loudness``: ``loud`` or ``soft`` (the fixed noise floor keeps loudness visible after normalisation, as SNR)
* ``rhythm``: ``fast`` (8 short syllables) or ``slow`` (2 long ones)

The tiny preset's random, frozen encoders wash out small details (``shared/ENV.md``), so cues are drawn large, filled
and high-contrast and also differ in area and brightness, which a random ViT's per-frame token keeps;
``training/data/synthetic_probe.py`` checks with linear probes that every factor is separable.

Emotion is a deterministic function of the factors present in the record (:func:`emotion_from_factors`): every
factor value votes for emotions with fixed weights (e.g. a smile votes for happy, knitted brows and a loud voice for
angry) and the highest total wins (ties broken in :data:`EMOTIONS` order).

The ``subtitle`` is a neutral line (seeded choice) that carries no cue on purpose, so the emotion has to be read
from the perceived cues rather than from the text.

Modalities and files:

* ``multimodal``: ``clips/<id>.mp4`` — H.264 video with an AAC audio track; ``audio`` is ``None`` (the schema's
  convention: "take the audio track of ``video``").
* ``visual``: ``clips/<id>.mp4`` without an audio track; only visual and scene cues; ``audio`` is ``None``.
* ``audio``: ``clips/<id>.wav`` (16 kHz mono); ``video`` is ``None``; only audio cues.

Label-only records (off by default): with ``described_share < 1`` (``--described-share F``; ``--labels-only`` is 0)
that share of the records keeps its description and the rest keep only the ``emotion`` (and ``subtitle``,
``factors``): ``description`` and ``short_caption`` empty, no ``cues`` — the label-only corpora stage 4 learns from.
The clips, the factors, the emotion and every phrasing are drawn exactly as without the option (the same seed
gives the same media and labels); only the text fields of the label-only records are dropped when written.

Partial-clip cues (off by default, ``--partial-cues P``): cues may occupy part of the clip, the records carry ``spans``
(:mod:`training.data.synthetic_spans`).

``out_dir/emocue.jsonl`` holds the records with media paths relative to ``out_dir`` (the loaders resolve them);
each record also carries a ``factors`` dict (the ground-truth factor values, ``""`` for absent ones).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .media_writer import write_audio, write_mp4
from .synthetic_media import SAMPLE_RATE, render_frames
from .synthetic_spans import VOICE, draw_partial, frame_factors, record_spans, voice_audio
from .schema import MODALITY_AUDIO, MODALITY_MULTIMODAL, MODALITY_VISUAL

# ----------------------------------------------------------------------------------------------------------- factors
VISUAL_FACTORS: dict[str, tuple[str, ...]] = {
    "mouth": ("smile", "frown", "open", "flat"),
    "brows": ("raised", "lowered", "knitted"),
    "head": ("nod", "shake", "still"),
}
GLOBAL_FACTORS: dict[str, tuple[str, ...]] = {"scene": ("warm", "blue", "red", "grey")}
AUDIO_FACTORS: dict[str, tuple[str, ...]] = {
    "pitch": ("high", "low"),
    "intonation": ("rising", "falling"),
    "loudness": ("loud", "soft"),
    "rhythm": ("fast", "slow"),
}
ALL_FACTORS: dict[str, tuple[str, ...]] = {**VISUAL_FACTORS, **GLOBAL_FACTORS, **AUDIO_FACTORS}
EMOTIONS: tuple[str, ...] = ("happy", "sad", "angry", "surprised", "neutral")
EMOTION_NOUNS = {"happy": "happiness", "sad": "sadness", "angry": "anger", "surprised": "surprise", "neutral": "calm"}

# votes[factor][value] = {emotion: weight}
EMOTION_VOTES: dict[str, dict[str, dict[str, float]]] = {
    "mouth": {
        "smile": {"happy": 3.0},
        "frown": {"sad": 2.0, "angry": 1.0},
        "open": {"surprised": 3.0},
        "flat": {"neutral": 2.0},
    },
    "brows": {
        "raised": {"surprised": 1.5, "happy": 0.5},
        "lowered": {"sad": 1.5},
        "knitted": {"angry": 2.5},
    },
    "head": {"nod": {"happy": 1.0}, "shake": {"angry": 1.0, "sad": 0.5}, "still": {"neutral": 1.0}},
    "scene": {"warm": {"happy": 1.0}, "blue": {"sad": 1.0}, "red": {"angry": 1.0}, "grey": {"neutral": 1.0}},
    "pitch": {"high": {"happy": 1.2, "surprised": 1.1}, "low": {"sad": 1.1, "angry": 0.4, "neutral": 1.0}},
    "intonation": {"rising": {"surprised": 1.4, "happy": 0.5}, "falling": {"sad": 0.9, "angry": 1.2, "neutral": 0.7}},
    "loudness": {"loud": {"angry": 1.1, "happy": 0.7, "surprised": 0.7}, "soft": {"sad": 1.0, "neutral": 1.4}},
    "rhythm": {"fast": {"happy": 1.1, "angry": 0.8, "surprised": 0.3}, "slow": {"sad": 1.3, "neutral": 1.1}},
}


def factors_for_modality(modality: str) -> tuple[str, ...]:
    """The factor names rendered (and described) in a record of ``modality``."""
    if modality == MODALITY_VISUAL:
        return (*VISUAL_FACTORS, *GLOBAL_FACTORS)
    if modality == MODALITY_AUDIO:
        return tuple(AUDIO_FACTORS)
    if modality == MODALITY_MULTIMODAL:
        return tuple(ALL_FACTORS)
    raise ValueError(f"unknown modality {modality!r}")


def emotion_scores(factors: dict[str, str]) -> dict[str, float]:
    scores = {e: 0.0 for e in EMOTIONS}
    for name, value in factors.items():
        if value:
            for emotion, weight in EMOTION_VOTES[name][value].items():
                scores[emotion] += weight
    return scores


def emotion_from_factors(factors: dict[str, str]) -> str:
    """Deterministic emotion of a factor combination (absent factors: missing key or ``""``)."""
    scores = emotion_scores(factors)
    return max(EMOTIONS, key=lambda e: (scores[e], -EMOTIONS.index(e)))


# --------------------------------------------------------------------------------------------------------- phrasings
CUE_PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "mouth": {
        "smile": ("a broad smile", "smiling mouth", "corners of the mouth turned up"),
        "frown": ("a frown", "downturned mouth", "corners of the mouth pulled down"),
        "open": ("mouth wide open", "dropped jaw with an open mouth", "gaping mouth"),
        "flat": ("flat, closed mouth", "lips pressed in a straight line", "neutral mouth"),
    },
    "brows": {
        "raised": ("raised eyebrows", "eyebrows lifted high", "arched brows"),
        "lowered": ("lowered eyebrows", "drooping brows", "brows sunk low over the eyes"),
        "knitted": ("knitted eyebrows", "furrowed brows", "brows drawn tightly together"),
    },
    "head": {
        "nod": ("nodding head", "head nodding up and down", "repeated nods"),
        "shake": ("shaking head", "head shaking from side to side", "repeated head shakes"),
        "still": ("still head", "head held steady", "motionless head"),
    },
    "scene": {
        "warm": ("warm yellow light", "bright golden lighting", "a sunny yellow background"),
        "blue": ("cold blue light", "dim bluish lighting", "a gloomy blue background"),
        "red": ("harsh red light", "glaring red lighting", "a red-tinted background"),
        "grey": ("plain grey light", "neutral grey lighting", "a dull grey background"),
    },
    "pitch": {
        "high": ("high-pitched voice", "high voice", "raised vocal pitch"),
        "low": ("low-pitched voice", "deep voice", "lowered vocal pitch"),
    },
    "intonation": {
        "rising": ("rising intonation", "pitch climbing upward", "upward inflection"),
        "falling": ("falling intonation", "pitch sinking downward", "downward inflection"),
    },
    "loudness": {
        "loud": ("loud voice", "high volume", "forceful, loud speech"),
        "soft": ("soft voice", "quiet speech", "low volume"),
    },
    "rhythm": {
        "fast": ("fast speech rate", "rapid syllables", "quick rhythm"),
        "slow": ("slow speech rate", "drawn-out syllables", "slow rhythm"),
    },
}
SUBTITLES: tuple[str, ...] = (
    "I just got back from the station.",
    "So that is what happened yesterday.",
    "We need to talk about tomorrow.",
    "I did not expect to see you here.",
    "Let me tell you about the meeting.",
    "It is finally over now.",
    "They called me this morning.",
    "You should have a look at this.",
    "That was the last one we had.",
    "I will be there in ten minutes.",
)
_VISUAL_OPENERS = ("In the video, the person shows {cues}.", "The video shows {cues}.", "Visually, we see {cues}.")
_SCENE_SENTENCES = ("The scene has {cue}.", "The setting shows {cue}.", "Around the person there is {cue}.")
_AUDIO_OPENERS = ("In the audio, we hear {cues}.", "The audio has {cues}.", "Acoustically, there is {cues}.")
_REASONS = (
    "The {cues} point to {noun}.",
    "Taken together, the {cues} suggest {noun}.",
    "The {cues} are typical signs of {noun}.",
)
_REASONS_ONE = (
    "The {cues} points to {noun}.",
    "The {cues} suggests {noun}.",
    "The {cues} is a typical sign of {noun}.",
)
_CONCLUSIONS = (
    "Overall, the person is most likely {emotion}.",
    "Therefore the emotional state is {emotion}.",
    "So the person appears {emotion}.",
)


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def describe(factors: dict[str, str], modality: str, rng: np.random.Generator) -> dict:
    """Cues, description, short caption and emotion for ``factors`` (only those of ``modality`` are used)."""
    names = factors_for_modality(modality)
    present = {n: factors[n] for n in names}
    emotion = emotion_from_factors(present)
    phrase = {n: CUE_PHRASES[n][present[n]][int(rng.integers(len(CUE_PHRASES[n][present[n]])))] for n in names}
    visual = [phrase[n] for n in VISUAL_FACTORS if n in names]
    audio = [phrase[n] for n in AUDIO_FACTORS if n in names]
    global_ = [phrase[n] for n in GLOBAL_FACTORS if n in names]
    if modality == MODALITY_MULTIMODAL:
        v_emotion = emotion_from_factors({n: present[n] for n in (*VISUAL_FACTORS, *GLOBAL_FACTORS)})
        a_emotion = emotion_from_factors({n: present[n] for n in AUDIO_FACTORS})
        if v_emotion == a_emotion:
            global_.append(f"face and voice both convey {EMOTION_NOUNS[emotion]}")
        else:
            global_.append(
                f"mixed signals: the face suggests {EMOTION_NOUNS[v_emotion]}, the voice {EMOTION_NOUNS[a_emotion]}"
            )
    # supporting cues: the present factor values that vote for the winning emotion, strongest first
    support = sorted(
        (n for n in names if emotion in EMOTION_VOTES[n][present[n]]),
        key=lambda n: (-EMOTION_VOTES[n][present[n]][emotion], names.index(n)),
    )
    pick = lambda options: options[int(rng.integers(len(options)))]  # noqa: E731
    sentences = []
    if visual:
        sentences.append(pick(_VISUAL_OPENERS).format(cues=_join(visual)))
    if any(n in names for n in GLOBAL_FACTORS):
        sentences.append(pick(_SCENE_SENTENCES).format(cue=phrase["scene"]))
    if audio:
        sentences.append(pick(_AUDIO_OPENERS).format(cues=_join(audio)))
    if support:
        reasons = _REASONS if len(support) > 1 else _REASONS_ONE
        bare = [phrase[n][2:] if phrase[n].startswith("a ") else phrase[n] for n in support]  # not "The a frown"
        sentences.append(pick(reasons).format(cues=_join(bare), noun=EMOTION_NOUNS[emotion]))
    if modality == MODALITY_MULTIMODAL:
        sentences.append(global_[-1][0].upper() + global_[-1][1:] + ".")
    sentences.append(pick(_CONCLUSIONS).format(emotion=emotion))
    short_support = [phrase[n] for n in support[:3]] or [phrase[names[0]]]
    short_caption = f"{_join(short_support)}; {emotion}."
    short_caption = short_caption[0].upper() + short_caption[1:]
    return {
        "emotion": emotion,
        "cues": {"visual": visual, "audio": audio, "global": global_},
        "description": " ".join(sentences),
        "short_caption": short_caption,
    }


# --------------------------------------------------------------------------------------------------------- records
def sample_factors(rng: np.random.Generator) -> dict[str, str]:
    return {name: values[int(rng.integers(len(values)))] for name, values in ALL_FACTORS.items()}


def _modality_plan(n: int, modality_mix: Sequence[float], seed: int) -> list[str]:
    mods = (MODALITY_MULTIMODAL, MODALITY_VISUAL, MODALITY_AUDIO)
    weights = np.asarray(modality_mix, dtype=np.float64)
    if weights.shape != (3,) or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(f"modality_mix must be 3 non-negative weights (multimodal, visual, audio), got {modality_mix}")
    rng = np.random.default_rng([seed, 7919])
    return [mods[i] for i in rng.choice(3, size=n, p=weights / weights.sum())]


def is_described(seed: int, index: int, described_share: float) -> bool:
    """Whether record ``index`` of a ``seed`` keeps its description (its own random stream: the clip's draws are
    unchanged)."""
    if described_share >= 1.0:
        return True
    return bool(np.random.default_rng([seed, index, 2]).random() < described_share)


def drop_description(record: dict) -> dict:
    """The label-only form of a record: emotion, subtitle, media and factors kept; no description, caption or cue."""
    dropped = {**record, "description": "", "short_caption": "", "cues": {"visual": [], "audio": [], "global": []}}
    return {**dropped, "spans": {"visual": [], "audio": [], "global": []}} if "spans" in record else dropped


def _make_one(args) -> dict:
    index, modality, seed, out_dir, size, num_frames, fps = args[:7]
    described_share = args[7] if len(args) > 7 else 1.0
    partial_cues = args[8] if len(args) > 8 else 0.0
    rng = np.random.default_rng([seed, index])
    factors = sample_factors(rng)
    names = factors_for_modality(modality)
    text = describe(factors, modality, rng)
    rid = f"syn{seed}_{index:06d}"
    record = {
        "id": rid,
        "video": None,
        "audio": None,
        "subtitle": SUBTITLES[int(rng.integers(len(SUBTITLES)))],
        **text,
        "modality": modality,
        "factors": {name: (factors[name] if name in names else "") for name in ALL_FACTORS},
    }
    seconds = num_frames / fps
    media_rng = np.random.default_rng([seed, index, 1])
    partial = draw_partial(factors, names, tuple(AUDIO_FACTORS), partial_cues,
                           np.random.default_rng([seed, index, 3]), seconds) if partial_cues > 0 else {}
    if partial_cues > 0:  # off by default: the default clips are drawn and rendered exactly as without the option
        record["spans"] = record_spans(text["cues"], names, tuple(VISUAL_FACTORS), tuple(AUDIO_FACTORS), partial,
                                       seconds)
    per_frame = frame_factors(factors, partial, num_frames, fps) if partial else None
    sound = lambda: voice_audio(factors, partial.get(VOICE), media_rng, seconds)  # noqa: E731
    if modality == MODALITY_AUDIO:
        rel = f"clips/{rid}.wav"
        write_audio(Path(out_dir) / rel, sound(), SAMPLE_RATE)
        record["audio"] = rel
    else:
        frames = render_frames(factors, media_rng, size=size, num_frames=num_frames, per_frame=per_frame)
        audio = sound() if modality == MODALITY_MULTIMODAL else None
        rel = f"clips/{rid}.mp4"
        write_mp4(Path(out_dir) / rel, frames, fps=fps, audio=audio, sample_rate=SAMPLE_RATE,
                  deterministic=True)
        record["video"] = rel
    return record if is_described(seed, index, described_share) else drop_description(record)


def make_synthetic(
    out_dir: str | os.PathLike,
    n: int,
    seed: int = 0,
    *,
    modality_mix: Sequence[float] = (0.6, 0.2, 0.2),
    size: int = 112,
    num_frames: int = 16,
    fps: int = 8,
    workers: int | None = None,
    described_share: float = 1.0,
    partial_cues: float = 0.0,
):
    """Write ``n`` synthetic clips + ``out_dir/emocue.jsonl`` and return them as a ``datasets.Dataset``.

    Deterministic by ``seed`` (same records and same media bytes). ``modality_mix`` weighs multimodal / visual-only /
    audio-only records. ``described_share`` (default 1: all) is the share of records that keep their description;
    the others are label-only (see the module doc). ``partial_cues`` (default 0: off) is the chance that a cue
    occupies only part of the clip; the records then carry ``spans`` (:mod:`training.data.synthetic_spans`). ``workers`` processes render and encode in parallel (default: up
    to 2). The returned dataset has absolute media paths; the JSONL keeps them relative to ``out_dir``.
    """
    import datasets

    from .schema import SYNTHETIC_FEATURES, SYNTHETIC_SPAN_FEATURES

    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not 0.0 <= float(described_share) <= 1.0:
        raise ValueError(f"described_share must be within [0, 1], got {described_share}")
    if not 0.0 <= float(partial_cues) <= 1.0:
        raise ValueError(f"partial_cues must be within [0, 1], got {partial_cues}")
    if size % 2:
        raise ValueError(f"size must be even (H.264 yuv420p), got {size}")
    out = Path(out_dir)
    (out / "clips").mkdir(parents=True, exist_ok=True)
    plan = _modality_plan(n, modality_mix, seed)
    jobs = [(i, plan[i], seed, str(out), size, num_frames, fps, float(described_share), float(partial_cues))
            for i in range(n)]
    workers = min(2, os.cpu_count() or 1) if workers is None else workers
    if workers > 1 and n >= 8:
        import multiprocessing as mp

        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
        with ctx.Pool(workers) as pool:
            records = pool.map(_make_one, jobs, chunksize=max(1, n // (workers * 8)))
    else:
        records = [_make_one(job) for job in jobs]
    with open(out / "emocue.jsonl", "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    absolute = [
        {**r, **{col: str(out / r[col]) if r[col] else None for col in ("video", "audio")}}
        for r in records
    ]
    features = SYNTHETIC_SPAN_FEATURES if partial_cues > 0 else SYNTHETIC_FEATURES
    return datasets.Dataset.from_list(absolute, features=features)


def split_train_heldout(dataset, held_out: float | int = 0.2, seed: int = 0):
    """Split into ``DatasetDict(train=..., test=...)`` (``test`` is the held-out part), deterministic by ``seed``."""
    return dataset.train_test_split(test_size=held_out, seed=seed, shuffle=True)


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of ``xemogpt data synthetic`` (also ``python -m training.data.synthetic``): one definition."""
    parser.add_argument("--out", required=True, help="output folder: emocue.jsonl (all records), "
                        "emocue_train.jsonl + emocue_test.jsonl (the split the tiny stage configs read), clips/")
    parser.add_argument("--n", type=int, default=300, help="number of clips (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--held-out", type=float, default=0.2,
                        help="share of the clips written to emocue_test.jsonl, the rest to emocue_train.jsonl "
                        "(default 0.2; 0 writes emocue.jsonl only)")
    parser.add_argument("--modality-mix", type=float, nargs=3, default=(0.6, 0.2, 0.2),
                        metavar=("MULTIMODAL", "VISUAL", "AUDIO"), help="weights of the records' modalities")
    parser.add_argument("--size", type=int, default=112, help="frame size in pixels (even; default 112)")
    parser.add_argument("--frames", type=int, default=16, help="frames per clip (default 16)")
    parser.add_argument("--workers", type=int, default=None, help="rendering processes (default: up to 2)")
    parser.add_argument("--described-share", type=float, default=1.0,
                        help="share of records that keep description and cues; the rest are label-only (default 1)")
    parser.add_argument("--labels-only", action="store_true", help="every record label-only (--described-share 0)")
    parser.add_argument("--partial-cues", type=float, default=0.0,
                        help="chance that a cue occupies only part of the clip; records then carry per-cue spans "
                             "(default 0: off, the default clips)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Write the clips and records that :func:`add_arguments`' options describe; print where and how fast."""
    import time

    if not 0.0 <= args.held_out < 1.0:
        raise ValueError(f"--held-out must be within [0, 1), got {args.held_out}")
    described_share = 0.0 if args.labels_only else args.described_share
    start = time.perf_counter()
    ds = make_synthetic(args.out, args.n, args.seed, modality_mix=args.modality_mix, size=args.size,
                        num_frames=args.frames, workers=args.workers, described_share=described_share,
                        partial_cues=args.partial_cues)
    elapsed = time.perf_counter() - start
    out = Path(args.out)
    written = ["emocue.jsonl"]
    if args.held_out > 0:
        records = [json.loads(line) for line in open(out / "emocue.jsonl", encoding="utf-8")]
        split = split_train_heldout(datasets_from_records(records, args.partial_cues > 0), args.held_out, args.seed)
        for name, part in (("train", split["train"]), ("test", split["test"])):
            with open(out / f"emocue_{name}.jsonl", "w", encoding="utf-8") as f:
                for r in part:
                    f.write(json.dumps(r, ensure_ascii=False) + "\n")
            written.append(f"emocue_{name}.jsonl ({len(part)})")
    print(f"wrote {len(ds)} clips to {out} in {elapsed:.1f} s ({len(ds) / max(elapsed, 1e-9):.1f} clips/s): "
          + ", ".join(written))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m training.data.synthetic`` = ``xemogpt data synthetic``."""
    parser = argparse.ArgumentParser(prog="xemogpt data synthetic", description=__doc__.split("\n")[0])
    return run(add_arguments(parser).parse_args(argv))


def datasets_from_records(records: list[dict], spans: bool = False):
    import datasets

    from .schema import SYNTHETIC_FEATURES, SYNTHETIC_SPAN_FEATURES

    return datasets.Dataset.from_list(records, features=SYNTHETIC_SPAN_FEATURES if spans else SYNTHETIC_FEATURES)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
