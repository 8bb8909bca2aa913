"""Stage-4 rewards: plain functions with TRL's reward-function signature, scoring one completion per row.

``GRPOTrainer`` calls each reward as ``f(prompts=..., completions=..., completion_ids=..., **columns)``, where
``columns`` are the prompt dataset's other columns repeated per completion (here ``cues``, ``description`` and
``emotion`` of the EmoCue record), and expects one float (or ``None``: not applicable) per completion. Settings are
keyword-only parameters with defaults, bound from the stage config with ``functools.partial`` (TRL names a partial
after its function, so every reward is logged under its own name: ``rewards/cue_f1_visual/mean``, ...).

* :func:`cue_f1_visual`, :func:`cue_f1_audio`, :func:`cue_f1_global` — EmoCue-360's per-sample F1 (eq. 10-11,
  all-MiniLM-L6-v2) of the completion's cues against the record's, one dimension each; ``None`` when the record has no
  reference cue in that dimension (the metric skips such samples too). Like is compared with like: a completion that
  parses as the JSON answer (``{"visual", "audio", "global", "emotion", "explanation"}``, issue 11) is scored with its
  own cue lists against the record's ``cues``; a free-text completion is run through the offline rules extractor and
  scored against the same extractor's cues of the record's ``description`` — the extractor files a scene cue under
  *visual* where the records' lists keep it under *global*, so mixing the two sources would punish a right answer.
* :func:`emotion_match` — 1 when the completion's emotion (the JSON ``emotion``; in free text the emotion word named
  last, i.e. the conclusion) is the record's label, else 0. Both go through the label tables of
  :mod:`training.data.labels` (``anger`` matches ``angry``; a compound label matches any of its classes; with
  ``label_set`` both are folded into that set first); a label no table knows is compared as written. It is the one
  reward a *label-only* record (emotion, no description, no cues) has besides :func:`format_length`: the cue rewards
  give ``None`` there, and TRL leaves a ``None`` out of the weighted sum.
* :func:`format_length` — against degenerate outputs: the mean of *ended* (the completion closed with an end-of-turn
  token instead of hitting the length limit), *length* (word count inside ``[min_words, max_words]``, decaying
  outside), *variety* (share of distinct word trigrams: 1 without repetition loops) and, for ``answer_format="json"``,
  *parses* (a JSON answer object). An empty completion scores 0.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, Sequence

from processing_xemogpt.vocabulary import CUE_DIMENSIONS

# words of the rules extractor's emotion vocabulary that name no emotion by themselves
GENERIC_EMOTION_WORDS = frozenset({"emotion", "emotions", "emotional", "mood", "moods", "feel", "feels", "feeling",
                                   "feelings", "felt", "attitude", "state", "positive", "negative", "interesting"})
_ENCODERS: dict = {}  # encoder name -> _MemoEncoder


# ------------------------------------------------------------------------------------------------ completions
def completion_text(completion: Any) -> str:
    """The text of a completion: a string, or the content of the last message of a conversational completion."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content") or "")
    return str(completion or "")


def parse_json_answer(text: str) -> dict | None:
    """The JSON answer object of a completion (``{"visual": [...], "audio": [...], "global": [...], "emotion": ...}``,
    the outermost ``{...}`` of the text), or ``None`` when the text holds no such object."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        obj = json.loads(text[start : end + 1])
    except (json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(obj, dict) or not any(k in obj for k in CUE_DIMENSIONS):
        return None
    return obj


def _cue_lists(obj: dict) -> dict:
    """The ``visual`` / ``audio`` / ``global`` lists of a JSON answer or a record's ``cues`` (other keys ignored)."""
    out = {}
    for d in CUE_DIMENSIONS:
        value = obj.get(d) or []
        value = [value] if isinstance(value, str) else value if isinstance(value, (list, tuple)) else []
        out[d] = [str(x) for x in value if isinstance(x, (str, int, float)) and str(x).strip()]
    return out


class _MemoEncoder:
    """The EmoCue-360 sentence encoder with one embedding per distinct cue string kept for the run: rollouts repeat
    the same cue phrases (and the references) over and over, so most steps encode almost nothing new."""

    def __init__(self, name: str | None, limit: int = 100_000):
        from emocue360.scoring import load_encoder

        from .zero3 import without_zero_init

        with without_zero_init():  # a whole encoder on every rank, not partitioned like the policy under ZeRO-3
            self.model = load_encoder(name)
        self.memo, self.limit = {}, limit

    def encode(self, texts, batch_size: int = 128, **kwargs):
        import numpy as np

        missing = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if missing:
            if len(self.memo) + len(missing) > self.limit:
                self.memo.clear()
            emb = self.model.encode(missing, batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True)
            self.memo.update(zip(missing, np.asarray(emb, dtype=np.float32)))
        return np.stack([self.memo[t] for t in texts])


def memo_encoder(name: str | None = None) -> _MemoEncoder:
    if name not in _ENCODERS:
        _ENCODERS[name] = _MemoEncoder(name)
    return _ENCODERS[name]


@lru_cache(maxsize=8192)
def _rules_cues(text: str) -> dict:
    from emocue360.rules import extract_cues_rules

    cues = extract_cues_rules(text or "")
    return {d: list(cues.get(d) or []) for d in CUE_DIMENSIONS}


def cue_pair(completion: str, cues: dict | None, description: str | None) -> tuple[dict, dict, bool]:
    """``(predicted cues, reference cues, from_json)`` of one completion and its record (see the module doc)."""
    answer = parse_json_answer(completion)
    record_cues = _cue_lists(cues) if isinstance(cues, dict) else None
    if answer is not None:
        reference = record_cues if record_cues and any(record_cues.values()) else _rules_cues(description or "")
        return _cue_lists(answer), reference, True
    if description:
        reference = _rules_cues(description)
    elif record_cues:
        reference = record_cues
    else:
        reference = {d: [] for d in CUE_DIMENSIONS}
    return _rules_cues(completion), reference, False


def cue_f1_scores(completions: Sequence, cues: Sequence | None, description: Sequence | None,
                  encoder: str | None = None) -> list[tuple]:
    """EmoCue-360 F1 per dimension ``(visual, audio, global)`` of every completion (``None``: no reference cue in that
    dimension), with :func:`emocue360.scoring.score_cues` and the memoised encoder."""
    from emocue360.scoring import score_cues

    n = len(completions)
    cues = list(cues) if cues is not None else [None] * n
    description = list(description) if description is not None else [None] * n
    pairs = [cue_pair(completion_text(c), k, d) for c, k, d in zip(completions, cues, description)]
    result = score_cues([p for p, _, _ in pairs], [r for _, r, _ in pairs], encoder=memo_encoder(encoder),
                        return_per_sample=True)
    return [tuple(row[f"{d}_f1"] for d in CUE_DIMENSIONS) for row in result["per_sample"]]


def _dimension_reward(dim: int, completions, cues, description, encoder) -> list[float | None]:
    return [scores[dim] for scores in cue_f1_scores(completions, cues, description, encoder)]


# ------------------------------------------------------------------------------------------------ rewards
def cue_f1_visual(completions, cues=None, description=None, *, encoder: str | None = None, **kwargs):
    """EmoCue-360 F1 of the completion's visual cues against the record's (``None`` without reference cues)."""
    return _dimension_reward(0, completions, cues, description, encoder)


def cue_f1_audio(completions, cues=None, description=None, *, encoder: str | None = None, **kwargs):
    """EmoCue-360 F1 of the completion's audio cues against the record's (``None`` without reference cues)."""
    return _dimension_reward(1, completions, cues, description, encoder)


def cue_f1_global(completions, cues=None, description=None, *, encoder: str | None = None, **kwargs):
    """EmoCue-360 F1 of the completion's global cues against the record's (``None`` without reference cues)."""
    return _dimension_reward(2, completions, cues, description, encoder)


def named_emotion(text: str, label: str | None = None) -> str | None:
    """The emotion a completion concludes with: the JSON ``emotion``, else the emotion word named last (the rules
    extractor's emotion vocabulary, plus ``label``)."""
    answer = parse_json_answer(text)
    if answer is not None:
        value = answer.get("emotion")
        return str(value).strip().lower() if value else None
    from emocue360.rules import EMOTION_WORDS

    from .data.labels import WORD_TO_EMOTION

    vocabulary = EMOTION_WORDS | set(WORD_TO_EMOTION) | ({label.lower()} if label else set())
    for word in reversed(re.findall(r"[a-z]+", text.lower())):
        if word in vocabulary and word not in GENERIC_EMOTION_WORDS:
            return word
    return None


def emotion_match(completions, emotion=None, *, label_set: str | None = None, **kwargs) -> list[float | None]:
    """1.0 when the completion's emotion is the record's ``emotion`` label (through the label tables, folded into
    ``label_set`` when given), 0.0 otherwise (``None`` without label)."""
    from .data.labels import LabelError, answer_emotion, label_targets

    labels = list(emotion) if emotion is not None else [None] * len(completions)
    out = []
    for completion, label in zip(completions, labels):
        if not label:
            out.append(None)
            continue
        named = named_emotion(completion_text(completion), label)
        try:
            targets = label_targets(label, label_set)
        except LabelError:  # a label no table knows (e.g. an open-set word): compared as written
            out.append(float(named == str(label).strip().lower()))
            continue
        out.append(float(answer_emotion(named, label_set) in targets))
    return out


def format_length(completions, completion_ids=None, *, eos_token_ids: Sequence[int] = (), min_words: int = 8,
                  max_words: int = 150, answer_format: str = "text", **kwargs) -> list[float]:
    """Mean of ended / length / variety (/ parses for JSON answers) in [0, 1]; 0 for an empty completion."""
    ids = list(completion_ids) if completion_ids is not None else [None] * len(completions)
    eos = set(int(i) for i in eos_token_ids)
    out = []
    for completion, token_ids in zip(completions, ids):
        words = re.findall(r"\S+", completion_text(completion).lower())
        if not words:
            out.append(0.0)
            continue
        terms = []
        if eos and token_ids is not None:
            terms.append(float(len(token_ids) > 0 and int(token_ids[-1]) in eos))
        n = len(words)
        terms.append(1.0 if min_words <= n <= max_words else (n / min_words if n < min_words else max_words / n))
        trigrams = [tuple(words[i : i + 3]) for i in range(n - 2)]
        terms.append(len(set(trigrams)) / len(trigrams) if trigrams else 1.0)
        if answer_format == "json":
            terms.append(float(parse_json_answer(completion_text(completion)) is not None))
        out.append(sum(terms) / len(terms))
    return out


REWARD_FUNCTIONS = {f.__name__: f for f in (cue_f1_visual, cue_f1_audio, cue_f1_global, emotion_match, format_length)}


def build_reward_functions(weights: dict, *, encoder: str | None = None, eos_token_ids: Sequence[int] = (),
                           min_words: int = 8, max_words: int = 150, answer_format: str = "text",
                           label_set: str | None = None):
    """``(functions, weights)`` for ``GRPOTrainer(reward_funcs=...)`` / ``GRPOConfig(reward_weights=...)`` from a
    ``{name: weight}`` mapping (names of :data:`REWARD_FUNCTIONS`; a ``null`` weight leaves the reward out, ``0``
    keeps it logged without training on it)."""
    from functools import partial

    unknown = sorted(set(weights) - set(REWARD_FUNCTIONS))
    if unknown:
        raise ValueError(f"unknown reward(s) {unknown}; choose from {', '.join(REWARD_FUNCTIONS)}")
    settings = {"cue_f1_visual": {"encoder": encoder}, "cue_f1_audio": {"encoder": encoder},
                "cue_f1_global": {"encoder": encoder}, "emotion_match": {"label_set": label_set},
                "format_length": {"eos_token_ids": tuple(eos_token_ids), "min_words": min_words,
                                  "max_words": max_words, "answer_format": answer_format}}
    funcs, used = [], []
    for name, weight in weights.items():
        if weight is None:
            continue
        funcs.append(partial(REWARD_FUNCTIONS[name], **settings[name]))
        used.append(float(weight))
    if not funcs:
        raise ValueError("no reward has a weight: set at least one of " + ", ".join(REWARD_FUNCTIONS))
    return funcs, used
