"""The answer format of XEmoGPT: how a reference answer is written for training and how a generated one is read back.

Two formats (:data:`ANSWER_FORMATS`, chosen in stage 3 by ``data.answer_format`` and recorded in the checkpoint's
``config.answer_format``):

* ``"text"`` — the paper's free-text explanation (the record's ``description``);
* ``"json"`` — one JSON object built from the EmoCue record::

      {"visual": [...], "audio": [...], "global": [...], "emotion": "...", "explanation": "..."}

  so that the model names its own cue lists: EmoCue-360 then scores them as they are, with no extractor.
  When the record carries spans (:mod:`training.data.spans`), a cue with a span is written as
  ``{"cue": "a broad smile", "start": 1.0, "end": 2.0}`` (seconds) instead of the bare string.

:func:`answer_text` writes the reference answer of a record; :func:`parse_answer` reads a generated answer. Invalid
JSON never raises: the raw text is kept as the explanation and :attr:`ParsedAnswer.invalid_json` says why it was
rejected (not JSON, not an object, a missing key, a value of the wrong type). A cue object whose span is not
usable (not numbers, ``end <= start``) keeps its cue and loses only its span.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from processing_xemogpt import JSON_ANSWER_INSTRUCTION
from processing_xemogpt.vocabulary import ANSWER_FORMATS, check_answer_format
from processing_xemogpt.vocabulary import CUE_DIMENSIONS as CUE_KEYS
from processing_xemogpt.vocabulary import JSON_ANSWER_KEYS as JSON_KEYS

from .spans import answer_entries, make_span, read_entry, span_map

__all__ = ["ANSWER_FORMATS", "JSON_ANSWER_INSTRUCTION", "JSON_KEYS", "ParsedAnswer", "answer_text", "parse_answer",
           "check_answer_format"]


def answer_text(record: dict, answer_format: str = "text", field: str = "description") -> str:
    """The reference answer of a record: its ``field`` (``"text"``), or its cue lists, emotion and description as
    one JSON object (``"json"``: ``{"visual", "audio", "global", "emotion", "explanation"}``)."""
    check_answer_format(answer_format)
    if answer_format == "text":
        return record.get(field) or record.get("description") or ""
    cues = record.get("cues") or {}
    spans = span_map(record.get("spans"))
    answer = {key: answer_entries(list(cues.get(key) or []), spans[key]) for key in CUE_KEYS}
    answer["emotion"] = record.get("emotion") or ""
    answer["explanation"] = record.get(field) or record.get("description") or ""
    return json.dumps(answer, ensure_ascii=False)


@dataclass(frozen=True)
class ParsedAnswer:
    """A generated answer read back: ``explanation`` (the free text, or the raw output when the JSON is invalid),
    the model's own ``cues`` and ``emotion`` (JSON answers; ``None`` otherwise), the ``spans`` it gave its cues
    (``{dimension: [{"cue", "start", "end"}]}``; ``None`` when it gave none) and, for a JSON answer that could not
    be used, ``invalid_json`` (True) with the reason in ``json_error``."""

    explanation: str
    cues: dict | None = None
    emotion: str | None = None
    invalid_json: bool = False
    json_error: str | None = None
    spans: dict | None = None


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
    missing = [k for k in JSON_KEYS if k not in obj]
    if missing:
        return f"missing key(s): {', '.join(missing)}"
    for key in CUE_KEYS:
        value = obj[key]
        if not isinstance(value, list) or not all(read_entry(c)[0] is not None for c in value):
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
    for key in CUE_KEYS:
        entries = [(cue.strip(), span) for cue, span in map(read_entry, obj[key]) if cue.strip()]
        cues[key] = [cue for cue, _ in entries]
        spans[key] = [make_span(cue, *span) for cue, span in entries if span is not None]
    return ParsedAnswer(explanation=obj["explanation"].strip(), cues=cues, emotion=obj["emotion"].strip() or None,
                        spans=spans if any(spans.values()) else None)
