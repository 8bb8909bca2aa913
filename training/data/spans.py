"""Per-cue time spans: where in the clip each named cue is (seconds from the clip's start).

An EmoCue record may carry an optional ``spans`` field beside its ``cues``, with the same three dimensions::

    "cues":  {"visual": ["a broad smile", "nodding head"], "audio": ["rising intonation"], "global": [...]}
    "spans": {"visual": [{"cue": "a broad smile", "start": 1.0, "end": 2.0}],
              "audio":  [{"cue": "rising intonation", "start": 0.5, "end": 2.0}], "global": []}

Why a separate field and not cue entries that may be objects: ``cues`` stays a list of strings, so every record
written before spans existed is unchanged and valid, every reader of ``cues`` (EmoCue-360, the extractors, the
builders, stage 4's rewards) is untouched, and the ``datasets`` features stay fixed types (a column that mixes strings
and objects has no ``datasets`` type). A cue without a span simply has no entry in ``spans``; a record without
spans has no ``spans`` field (or ``None``). Each span names a cue of the same dimension, ``0 <= start < end``.

The JSON answer (:mod:`training.data.answer_format`) writes the spans inside the cue lists instead, where a reader
wants them: a cue with a span is ``{"cue": ..., "start": s, "end": s}``, one without stays a string. The helpers here
convert between the two shapes (:func:`answer_entries`, :func:`read_entry`), check spans (:func:`span_problems`)
and map seconds to sampled frames (:func:`frames_in_span`).
"""

from __future__ import annotations

from typing import Mapping

from processing_xemogpt.answer import SPAN_DECIMALS, make_span, valid_span  # noqa: F401 (re-exported)
from processing_xemogpt.answer import read_cue_entry as read_entry  # noqa: F401 (re-exported)
from processing_xemogpt.answer import span_seconds as _number
from processing_xemogpt.vocabulary import CUE_DIMENSIONS

def empty_spans() -> dict:
    return {key: [] for key in CUE_DIMENSIONS}


def has_spans(record: Mapping) -> bool:
    """Whether a record (or a prediction) carries at least one span."""
    spans = record.get("spans") if isinstance(record, Mapping) else None
    return isinstance(spans, Mapping) and any(spans.get(key) for key in CUE_DIMENSIONS)


def span_map(spans: Mapping | None) -> dict[str, dict[str, tuple[float, float]]]:
    """``{dimension: {cue: (start, end)}}`` of a ``spans`` field (invalid entries left out)."""
    out: dict[str, dict[str, tuple[float, float]]] = {key: {} for key in CUE_DIMENSIONS}
    for key in CUE_DIMENSIONS:
        for entry in (spans or {}).get(key) or []:
            if isinstance(entry, Mapping) and isinstance(entry.get("cue"), str) and valid_span(entry.get("start"),
                                                                                               entry.get("end")):
                out[key][entry["cue"]] = (float(entry["start"]), float(entry["end"]))
    return out


def span_problems(record: Mapping) -> list[str]:
    """Why a record's ``spans`` field is not valid (messages without the record prefix; empty when valid or absent)."""
    spans = record.get("spans")
    if spans is None:
        return []
    if not isinstance(spans, Mapping):
        return [f"spans must be a mapping with keys {', '.join(CUE_DIMENSIONS)}, got {type(spans).__name__}"]
    problems = []
    unknown = sorted(set(spans) - set(CUE_DIMENSIONS))
    if unknown:
        problems.append(f"spans has unknown key(s): {', '.join(unknown)} (expected {', '.join(CUE_DIMENSIONS)})")
    cues = record.get("cues") if isinstance(record.get("cues"), Mapping) else {}
    for key in CUE_DIMENSIONS:
        entries = spans.get(key)
        if entries is None:
            continue
        if not isinstance(entries, (list, tuple)):
            problems.append(f"spans.{key} must be a list of {{cue, start, end}} objects, got {type(entries).__name__}")
            continue
        for i, entry in enumerate(entries):
            where = f"spans.{key}[{i}]"
            if not isinstance(entry, Mapping) or not isinstance(entry.get("cue"), str):
                problems.append(f"{where} must be an object with a string 'cue', got {entry!r:.60}")
                continue
            where += f" (cue {entry['cue']!r})"
            if entry["cue"] not in (cues.get(key) or []):
                problems.append(f"{where}: the cue is not listed in cues.{key}")
            start, end = _number(entry.get("start")), _number(entry.get("end"))
            if start is None or end is None:
                problems.append(f"{where}: start and end must be numbers of seconds, got {entry.get('start')!r} "
                                f"and {entry.get('end')!r}")
            elif start < 0:
                problems.append(f"{where}: start {start} is negative")
            elif end <= start:
                problems.append(f"{where}: end {end} is not after start {start}")
    return problems


def answer_entries(cues: list[str], spans: Mapping[str, tuple[float, float]]) -> list:
    """The JSON answer's list for one dimension: a cue with a span as ``{"cue", "start", "end"}``, else the string."""
    return [make_span(cue, *spans[cue]) if cue in spans else cue for cue in cues]


def frames_in_span(span: tuple[float, float], frame_times: list[float]) -> list[int]:
    """Indices of the sampled frames (shown at ``frame_times`` seconds) that fall inside ``span`` (start inclusive,
    end exclusive; the frame nearest the span's middle when none falls inside)."""
    inside = [i for i, t in enumerate(frame_times) if span[0] <= t < span[1]]
    if inside or not frame_times:
        return inside
    middle = (span[0] + span[1]) / 2
    return [min(range(len(frame_times)), key=lambda i: abs(frame_times[i] - middle))]
