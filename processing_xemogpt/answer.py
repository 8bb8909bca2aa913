"""Reading a generated answer back: the free text of a ``"text"`` checkpoint, or the JSON object of a ``"json"`` one
(``{"visual": [...], "audio": [...], "global": [...], "emotion": "...", "explanation": "..."}``, the keys of
:data:`.vocabulary.JSON_ANSWER_KEYS`).

Remote code: copied flat into checkpoints (the inference pipeline, :mod:`.pipeline_xemogpt`, reads its answers with
:func:`parse_answer`); standard library and sibling files only. Writing the reference answer of a training record is
the training side's (:mod:`training.data.answer_format`). Invalid JSON never raises: the raw text is kept as the
explanation and :attr:`ParsedAnswer.invalid_json` says why it was rejected (not JSON, not an object, a missing key, a
value of the wrong type). A cue may carry its time span (``{"cue": "a broad smile", "start": 1.0, "end": 2.0}``, seconds
of the clip; ``training.data.spans``): a span that is not usable (not numbers, not ``0 <= start < end``) is dropped,
its cue kept.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from .vocabulary import CUE_DIMENSIONS, JSON_ANSWER_KEYS, check_answer_format


@dataclass(frozen=True)
class ParsedAnswer:
    """A generated answer read back: ``explanation`` (the free text, or the raw output when the JSON is invalid),
    the model's own ``cues`` and ``emotion`` (JSON answers; ``None`` otherwise) and, for a JSON answer that could not
    be used, ``invalid_json`` (True) with the reason in ``json_error``."""

    explanation: str
    cues: dict | None = None
    emotion: str | None = None
    invalid_json: bool = False
    json_error: str | None = None
    spans: dict | None = None  # {dimension: [{"cue", "start", "end"}]} of the cues given with a span; None: none


SPAN_DECIMALS = 2  # spans are written in seconds with two decimals


def span_seconds(value) -> float | None:
    """``value`` as a finite number of seconds (bools and non-numbers: None)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def valid_span(start, end) -> bool:
    """Whether ``start``/``end`` are finite seconds with ``0 <= start < end``."""
    s, e = span_seconds(start), span_seconds(end)
    return s is not None and e is not None and 0.0 <= s < e


def read_cue_entry(entry) -> tuple[str | None, tuple[float, float] | None]:
    """One cue entry of a JSON answer: ``(cue, span)``. A string has no span; an object's span is kept only when it is
    valid, its cue either way; anything else gives ``(None, None)``."""
    if isinstance(entry, str):
        return entry, None
    if isinstance(entry, dict) and isinstance(entry.get("cue"), str):
        start, end = entry.get("start"), entry.get("end")
        return entry["cue"], ((float(start), float(end)) if valid_span(start, end) else None)
    return None, None


def make_span(cue: str, start: float, end: float) -> dict:
    """One span entry, seconds rounded to :data:`SPAN_DECIMALS`."""
    return {"cue": cue, "start": round(float(start), SPAN_DECIMALS), "end": round(float(end), SPAN_DECIMALS)}


def _json_object(text: str) -> tuple[object, str | None]:
    """The JSON value of ``text``, else of its outermost ``{...}`` span (chatter or a code fence around the object)."""
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        first = f"not valid JSON ({exc.msg} at character {exc.pos})"
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end and (start, end) != (0, len(text) - 1):
        try:
            return json.loads(text[start : end + 1]), None
        except json.JSONDecodeError:
            pass
    return None, first


def _validate(obj: object) -> str | None:
    """Why ``obj`` is not a JSON answer, or None."""
    if not isinstance(obj, dict):
        return f"expected a JSON object, got {type(obj).__name__}"
    missing = [k for k in JSON_ANSWER_KEYS if k not in obj]
    if missing:
        return f"missing key(s): {', '.join(missing)}"
    for key in CUE_DIMENSIONS:
        value = obj[key]
        if not isinstance(value, list) or not all(read_cue_entry(c)[0] is not None for c in value):
            return f"'{key}' must be a list of strings (or {{cue, start, end}} objects), got {json.dumps(value)[:60]}"
    for key in ("emotion", "explanation"):
        if not isinstance(obj[key], str):
            return f"'{key}' must be a string, got {json.dumps(obj[key])[:60]}"
    return None


def parse_answer(text: str, answer_format: str = "text", truncated: bool = False) -> ParsedAnswer:
    """Read a generated answer written in ``answer_format``. ``truncated`` (generation stopped at its token limit
    before the end of the answer) is named in the reason when the JSON is incomplete."""
    text = (text or "").strip()
    if check_answer_format(answer_format) == "text":
        return ParsedAnswer(explanation=text)
    obj, error = _json_object(text)
    error = error or _validate(obj)
    if error:
        if truncated:
            error += "; the answer was cut off at the generation limit (raise --max-new-tokens)"
        return ParsedAnswer(explanation=text, invalid_json=True, json_error=error)
    cues, spans = {}, {}
    for key in CUE_DIMENSIONS:
        entries = [(cue.strip(), span) for cue, span in map(read_cue_entry, obj[key]) if cue.strip()]
        cues[key] = [cue for cue, _ in entries]
        spans[key] = [make_span(cue, *span) for cue, span in entries if span is not None]
    return ParsedAnswer(explanation=obj["explanation"].strip(), cues=cues, emotion=obj["emotion"].strip() or None,
                        spans=spans if any(spans.values()) else None)


__all__ = ["ParsedAnswer", "parse_answer", "read_cue_entry", "valid_span", "make_span", "span_seconds", "SPAN_DECIMALS"]
