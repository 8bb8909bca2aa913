"""Rendering of the synthetic EmoCue clips (:mod:`training.data.synthetic`): the cartoon face's frames for the visual
and scene factors, and the voice-like signal for the audible factors (moved here unchanged from ``synthetic.py``)."""

from __future__ import annotations

import math

import numpy as np


SCENE_COLOURS = {"warm": (235, 190, 40), "blue": (30, 60, 160), "red": (180, 25, 25), "grey": (128, 128, 128)}
SKIN = np.array((245, 215, 180), dtype=np.float32)
INK = np.array((20, 15, 15), dtype=np.float32)
MOUTH_INK = np.array((130, 0, 100), dtype=np.float32)  # dark magenta: distinct from every scene colour
TEETH = np.array((255, 255, 255), dtype=np.float32)


def _capsule(xx, yy, p0, p1, radius):
    """Mask of points within ``radius`` of the segment p0-p1."""
    (x0, y0), (x1, y1) = p0, p1
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((xx - x0) * dx + (yy - y0) * dy) / max(dx * dx + dy * dy, 1e-9), 0.0, 1.0)
    return (xx - (x0 + t * dx)) ** 2 + (yy - (y0 + t * dy)) ** 2 <= radius**2


def render_frames(
    factors: dict[str, str], rng: np.random.Generator, size: int = 112, num_frames: int = 16,
    per_frame: list[dict[str, str]] | None = None,
) -> np.ndarray:
    """uint8 ``[T, size, size, 3]`` frames of the cartoon face for the visual and scene factors (``per_frame``: the
    factors of each frame, for cues that occupy part of the clip, :mod:`training.data.synthetic_spans`; brows may
    then be ``"neutral"``)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    S = float(size)
    R = S * rng.uniform(0.37, 0.38)
    base_x, base_y = S / 2 + rng.uniform(-0.01, 0.01) * S, S / 2 + rng.uniform(-0.01, 0.01) * S
    bg = np.clip(np.array(SCENE_COLOURS[factors["scene"]], np.float32) + rng.uniform(-6, 6, 3), 0, 255)
    skin = np.clip(SKIN + rng.uniform(-5, 5, 3), 0, 255)
    amp, phase = S * rng.uniform(0.07, 0.08), rng.uniform(-0.3, 0.3)
    frames = np.empty((num_frames, size, size, 3), np.uint8)
    whole = factors
    for t in range(num_frames):
        factors = per_frame[t] if per_frame is not None else whole
        osc = amp * math.sin(2 * math.pi * 2.0 * t / num_frames + phase)  # two cycles per clip
        cx = base_x + (osc if factors["head"] == "shake" else 0.0)
        cy = base_y + (osc if factors["head"] == "nod" else 0.0)
        img = np.empty((size, size, 3), np.float32)
        img[:] = bg
        d2 = (xx - cx) ** 2 + (yy - cy) ** 2
        img[d2 <= (R * 1.07) ** 2] = INK
        img[d2 <= R**2] = skin
        # eyes
        for sx in (-1, 1):
            img[(xx - (cx + sx * 0.38 * R)) ** 2 + (yy - (cy - 0.18 * R)) ** 2 <= (0.13 * R) ** 2] = INK
        # brows: dark capsules; raised = thin and high, lowered = thick and low, knitted = thickest, slanted inwards
        for sx in (-1, 1):
            if factors["brows"] == "raised":
                p0, p1, th = (cx + sx * 0.15 * R, cy - 0.68 * R), (cx + sx * 0.62 * R, cy - 0.68 * R), 0.05 * R
            elif factors["brows"] == "lowered":
                p0, p1, th = (cx + sx * 0.15 * R, cy - 0.36 * R), (cx + sx * 0.62 * R, cy - 0.36 * R), 0.1 * R
            elif factors["brows"] == "neutral":  # only outside the span of a partial brow cue
                p0, p1, th = (cx + sx * 0.15 * R, cy - 0.52 * R), (cx + sx * 0.62 * R, cy - 0.52 * R), 0.07 * R
            else:  # knitted: inner ends low and close to the centre
                p0, p1, th = (cx + sx * 0.06 * R, cy - 0.3 * R), (cx + sx * 0.6 * R, cy - 0.64 * R), 0.15 * R
            img[_capsule(xx, yy, p0, p1, th)] = INK
        # mouth: large filled shapes that differ in area and brightness as well as in shape
        mouth, my = factors["mouth"], cy + 0.42 * R
        if mouth == "smile":  # wide grin: lower half-disc, white teeth inside a dark rim
            top = my - 0.14 * R
            outer = (((xx - cx) / (0.66 * R)) ** 2 + ((yy - top) / (0.5 * R)) ** 2 <= 1) & (yy >= top)
            inner = (((xx - cx) / (0.56 * R)) ** 2 + ((yy - top) / (0.4 * R)) ** 2 <= 1) & (yy >= my - 0.07 * R)
            img[outer] = MOUTH_INK
            img[inner] = TEETH
        elif mouth == "frown":  # upper half-disc, dark red
            m = (((xx - cx) / (0.6 * R)) ** 2 + ((yy - (my + 0.38 * R)) / (0.45 * R)) ** 2 <= 1) & (yy <= my + 0.38 * R)
            img[m] = MOUTH_INK
        elif mouth == "open":  # tall black ellipse
            m = ((xx - cx) / (0.32 * R)) ** 2 + ((yy - (my + 0.08 * R)) / (0.44 * R)) ** 2 <= 1
            img[m] = INK
        else:  # flat: thin bar
            m = _capsule(xx, yy, (cx - 0.45 * R, my + 0.1 * R), (cx + 0.45 * R, my + 0.1 * R), 0.05 * R)
            img[m] = MOUTH_INK
        frames[t] = img.astype(np.uint8)
    return frames


SAMPLE_RATE = 16000
BASE_F0 = {"high": 300.0, "low": 120.0}
NUM_SYLLABLES = {"fast": 8, "slow": 2}
SYLLABLE_DUTY = {"fast": 0.45, "slow": 0.9}
AMPLITUDE = {"loud": 0.5, "soft": 0.05}
GLIDE_OCTAVES = 1.0
NOISE_FLOOR = 0.003  # std of the white noise under every clip (SNR carries loudness through normalisation)


def f0_contour(factors: dict[str, str], base_f0: float, n: int) -> np.ndarray:
    """f0 in Hz per sample: ±GLIDE_OCTAVES/2 octave glide, up for ``rising`` and down for ``falling``."""
    ramp = np.linspace(-0.5, 0.5, n, dtype=np.float64)
    if factors["intonation"] == "falling":
        ramp = -ramp
    return base_f0 * 2.0 ** (GLIDE_OCTAVES * ramp)


def render_audio(
    factors: dict[str, str], rng: np.random.Generator, seconds: float = 2.0, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """float32 mono voice-like signal for the audio factors over a fixed noise floor."""
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    f0 = f0_contour(factors, BASE_F0[factors["pitch"]] * rng.uniform(0.97, 1.03), n)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voice = sum(a * np.sin(k * phase) for k, a in ((1, 1.0), (2, 0.5), (3, 0.3), (4, 0.2)))
    voice /= 2.0
    # syllable envelope: k raised-cosine bursts; fast = many short staccato syllables, slow = few long ones
    k = NUM_SYLLABLES[factors["rhythm"]]
    slot = seconds / k
    duty = SYLLABLE_DUTY[factors["rhythm"]]
    env = np.zeros(n)
    for i in range(k):
        start = i * slot + rng.uniform(0.0, 0.05) * slot
        dur = duty * slot
        inside = (t >= start) & (t < start + dur)
        env[inside] = 0.5 - 0.5 * np.cos(2 * np.pi * (t[inside] - start) / dur)
    amp = AMPLITUDE[factors["loudness"]] * rng.uniform(0.85, 1.15)
    audio = amp * env * voice + rng.normal(0.0, NOISE_FLOOR, n)
    return np.clip(audio, -1.0, 1.0).astype(np.float32)
