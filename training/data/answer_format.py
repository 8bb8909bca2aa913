"""The answer format of XEmoGPT: how a reference answer is written for training and how a generated one is read back.

Two formats (:data:`ANSWER_FORMATS`, chosen in stage 3 by ``data.answer_format`` and recorded in the checkpoint's
``config.answer_format``):

* ``"text"`` — the paper's free-text explanation (the record's ``description``);
* ``"json"`` — one JSON object built from the EmoCue record::

      {"visual": [...], "audio": [...], "global": [...], "emotion": "...", "explanation": "..."}

  so that the model names its own cue lists: EmoCue-360 then scores them as they are, with no extractor.
  When the record carries spans (:mod:`training.data.spans`), a cue with a span is written as
  ``{"cue": "a broad smile", "start": 1.0, "end": 2.0}`` (seconds) instead of the bare string.

:func:`answer_text` writes the reference answer of a record. Reading a generated answer back (:func:`parse_answer`,
:class:`ParsedAnswer`) belongs to the processor package (:mod:`processing_xemogpt.answer`: the inference pipeline
saved with every checkpoint needs it) and is re-exported here.
"""

from __future__ import annotations

import json

from processing_xemogpt import JSON_ANSWER_INSTRUCTION
from processing_xemogpt.answer import ParsedAnswer, parse_answer  # noqa: F401 (re-exported)
from processing_xemogpt.vocabulary import ANSWER_FORMATS, check_answer_format
from processing_xemogpt.vocabulary import CUE_DIMENSIONS as CUE_KEYS
from processing_xemogpt.vocabulary import JSON_ANSWER_KEYS as JSON_KEYS

from .spans import answer_entries, span_map

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
