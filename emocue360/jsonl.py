"""The one JSON Lines reader of the project: one JSON object per line, errors that name the file and the line."""

from __future__ import annotations

import json
import os
from pathlib import Path


def read_jsonl(path: str | os.PathLike, error: type[Exception] = ValueError, line_numbers: bool = False) -> list:
    """The JSON objects of a ``.jsonl`` file (blank lines skipped), or ``(line number, object)`` pairs with
    ``line_numbers`` (for callers that check fields and report ``path:line``). A missing file raises
    ``FileNotFoundError``; a line that is not a JSON object raises ``error`` with ``path:line: cause``."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    records = []
    with open(p, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise error(f"{path}:{lineno}: invalid JSON: {exc.msg}") from None
            if not isinstance(obj, dict):
                raise error(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            records.append((lineno, obj) if line_numbers else obj)
    return records
