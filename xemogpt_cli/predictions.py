"""The predictions file: one JSON Lines schema that ``xemogpt describe`` and ``xemogpt demo`` write and ``xemogpt eval``
reads as it is (paired with the references by ``id``).

One line per described clip, or per window of a clip (``--segment``):

==============  ========================================================================================================
``id``          the record's id (EmoCue records), the clip path as given (a clip or a list file), the path inside the
                folder (a folder); a window adds ``@START-END`` (seconds, two decimals)
``clip``        the media file described; ``video`` / ``audio``: the files fed (null when not fed)
``subtitle``    the subtitle in the prompt ("" when none)
``modality``    what was fed: ``"multimodal"`` | ``"visual"`` | ``"audio"``
``start/end``   the window in seconds (null: the whole clip)
``explanation`` the explanation: the text answer, or the ``explanation`` of a JSON answer, or the raw output when a
                JSON answer is invalid; null when the clip failed
``cues``        the model's own ``{"visual", "audio", "global"}`` lists (JSON answers), else null: ``xemogpt eval`` then
                extracts cues from ``explanation`` with the chosen extractor
``spans``       where the named cues are in the clip: ``{"visual"|"audio"|"global": [{"cue", "start", "end"}]}`` in
                seconds of the clip, with ``span_method`` (``"model"``: written by the model in its JSON answer;
                ``"attention"``: :mod:`xemogpt_cli.grounding`, ``--spans``); null for both when there are none
``emotion``     the JSON answer's emotion, or for text the first emotion word the offline rules extractor finds
``answer_format`` ``"text"`` | ``"json"`` (the checkpoint's ``config.answer_format``)
``raw``         JSON answers: the generated text as it is (null for text answers: it is ``explanation``)
``invalid_json`` true when a JSON answer could not be used; ``json_error`` says why
``truncated``   generation stopped at ``--max-new-tokens`` before the answer ended
``error``       null, or the one-line reason the clip could not be described (a rerun retries it)
``model``       the checkpoint (directory, Hub id or ``tiny``)
==============  ========================================================================================================

Files are appended a batch at a time and flushed, so a killed run keeps every finished line; a partly written last
line is dropped when the file is read back. Several processes (``accelerate launch``) each append to a part file in
``PREDICTIONS.parts/``; :func:`merge` folds the parts into the final file in input order.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Iterable

FIELDS = ("id", "clip", "video", "audio", "subtitle", "modality", "start", "end", "explanation", "cues", "spans",
          "span_method", "emotion", "answer_format", "raw", "invalid_json", "json_error", "truncated", "error", "model")


def record(job, model: str, answer_format: str, result: dict | None = None, *, error: str | None = None) -> dict:
    """One line of the predictions file for ``job`` (:class:`xemogpt_cli.describe_run.Job`): described (``result``: one
    result of :class:`processing_xemogpt.XEmoGPTPipeline`, which may hold its own ``error``) or failed before the
    pipeline saw it (``error``). A text answer's emotion is the first emotion word the offline rules extractor finds."""
    r = result or {}
    emotion = r.get("emotion")
    if result is not None and not r.get("error") and r.get("cues") is None and not r.get("invalid_json"):
        from .inference import emotion_from_cues, extract_cues

        emotion = emotion_from_cues(extract_cues(r.get("explanation")))
    return {
        "id": job.id, "clip": job.clip, "video": r.get("video"), "audio": r.get("audio"), "subtitle": job.subtitle,
        "modality": r.get("modality"), "start": job.start, "end": job.end, "explanation": r.get("explanation"),
        "cues": r.get("cues"), "spans": r.get("spans"), "span_method": "model" if r.get("spans") else None,
        "emotion": emotion, "answer_format": answer_format,
        "raw": r.get("raw") if answer_format != "text" else None, "invalid_json": bool(r.get("invalid_json")),
        "json_error": r.get("json_error"), "truncated": bool(r.get("truncated")), "error": error or r.get("error"),
        "model": model,
    }


# ------------------------------------------------------------------------------------------------ files
def part_dir(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def _drop_partial_tail(path: Path) -> None:
    """Cut a last line that a killed writer left without its newline (it is redone)."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        f.truncate(f.read().rfind(b"\n") + 1)


def read(path: Path) -> list[dict]:
    """The records of a predictions file (a partly written last line dropped), via the project's JSONL reader."""
    from emocue360.jsonl import read_jsonl

    path = Path(path)
    if not path.is_file():
        return []
    _drop_partial_tail(path)
    return read_jsonl(path)


def existing(out: Path) -> list[dict]:
    """Every record already written for ``out``: the final file, then the part files of interrupted runs."""
    parts = sorted(part_dir(out).glob("*.jsonl")) if part_dir(out).is_dir() else []
    return [r for path in (out, *parts) for r in read(path)]


def done_ids(out: Path) -> set[str]:
    """Ids described without an error (a rerun skips them; failed ones are retried)."""
    return {str(r.get("id")) for r in existing(out) if not r.get("error")}


class Writer:
    """Appends records to one file, a batch at a time, flushed and synced to disk."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _drop_partial_tail(self.path)
        self._file = open(self.path, "a", encoding="utf-8")

    def write(self, records: Iterable[dict]) -> None:
        self._file.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def merge(out: Path, order: list[str]) -> list[dict]:
    """Fold the final file and every part file into ``out``: one record per id (a success beats an error, a later
    record an earlier one), ids of ``order`` first in that order, then any others (but no stale failure: a clip that
    failed before it could be cut into windows and has windows now); the part files are removed."""
    best: dict[str, dict] = {}
    rank = {key: i for i, key in enumerate(order)}
    for r in existing(out):
        key = str(r.get("id"))
        if key not in rank and r.get("error"):
            continue
        if key not in best or not r.get("error") or best[key].get("error"):
            best[key] = r
    records = sorted(best.values(), key=lambda r: rank.get(str(r.get("id")), len(rank)))
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    os.replace(tmp, out)
    if part_dir(out).is_dir():
        shutil.rmtree(part_dir(out))
    return records
