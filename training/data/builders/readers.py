"""Reading annotation files: text decoding, CSV/TSV tables, spreadsheets (``.xlsx``), JSON / JSON Lines.

Every builder reads its corpus's files through these functions, so the rules hold for all of them:

* Text is decoded as UTF-8 (a BOM is stripped), UTF-16 when it starts with a UTF-16 BOM (Excel's "Unicode text"
  export), and GB18030 otherwise -- a superset of GBK, the encoding of Chinese annotation files saved on Windows
  (MAFW's caption splits, for one).
* CSV/TSV files are read with the :mod:`csv` module (``newline=""``), so quoted fields with delimiters, doubled quotes
  and embedded newlines survive; the delimiter is sniffed between ``,`` ``\\t`` ``;``; header names are matched
  case-insensitively after trimming.
* Spreadsheets (``.xlsx``/``.xlsm``, or any file that starts like one) are read with openpyxl (first worksheet, cached
  cell values); numbers that are whole come back as ``"3"``, not ``"3.0"``. Excel 97-2003 ``.xls`` files are rejected
  with a message saying to save them as ``.xlsx`` or CSV.
* Every row keeps where it came from (``path: line N`` for text, ``path: row N`` for spreadsheets) so that errors name
  the place, and every problem is a one-line :class:`FormatError`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

SPREADSHEET_EXTS = (".xlsx", ".xlsm")
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # Excel 97-2003 (.xls) and other OLE2 files

csv.field_size_limit(min(2**31 - 1, 1 << 28))


class FormatError(ValueError):
    """An annotation file does not have the columns or shape of the format it was given as."""


@dataclass
class Table:
    """Rows of a table file: ``header`` (lower-cased), ``rows`` (dicts keyed by header) and each row's line/row number.

    ``rows`` of a headerless read (:func:`read_rows`) are lists of cell strings and ``header`` is empty.
    """

    path: str
    header: list[str]
    rows: list
    numbers: list[int] = field(default_factory=list)
    unit: str = "line"  # "line" for text files, "row" for spreadsheets

    def where(self, i: int) -> str:
        """``"<path>: line N"`` (or ``row N``) of the ``i``-th row, for error messages."""
        return f"{self.path}: {self.unit} {self.numbers[i]}"


def clean_name(name) -> str:
    return str(name if name is not None else "").strip().strip('"').strip()


def clean_text(text) -> str:
    """Trim, drop NaN-ish placeholders and collapse runs of whitespace (embedded newlines become spaces)."""
    if text is None:
        return ""
    s = str(text).strip()
    if s.lower() in {"nan", "none", "null"}:
        return ""
    return re.sub(r"\s+", " ", s)


def _existing(path) -> Path:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: annotation file not found")
    return p


def is_spreadsheet(path) -> bool:
    """True for ``.xlsx``/``.xlsm`` files and for any file that starts like a zip archive (an xlsx saved as .csv)."""
    p = _existing(path)
    if p.suffix.lower() in SPREADSHEET_EXTS:
        return True
    with open(p, "rb") as f:
        return f.read(4) == _ZIP_MAGIC


def read_text(path: str | os.PathLike) -> str:
    """File text with a BOM removed; UTF-8, UTF-16 (with a BOM) or GB18030/GBK (Chinese Windows/Excel exports)."""
    p = _existing(path)
    raw = p.read_bytes()
    if raw[:4] == _ZIP_MAGIC:
        raise FormatError(f"{p}: is a zip archive or .xlsx workbook, not a text file (name spreadsheets *.xlsx)")
    if raw[:4] == _OLE_MAGIC:
        raise FormatError(f"{p}: is an Excel 97-2003 (.xls) workbook; save it as .xlsx or CSV")
    encodings = ("utf-16",) if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig", "gb18030")
    for enc in encodings:
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise FormatError(f"{p}: not UTF-8, UTF-16 or GB18030/GBK text")
    return text.lstrip("\ufeff")


def cell_text(value) -> str:
    """A spreadsheet cell as text: '' for empty cells, whole numbers without a trailing ``.0``."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_sheet(path) -> Table:
    """Headerless rows (lists of cell strings) of the first worksheet of an ``.xlsx``; blank rows are dropped."""
    p = _existing(path)
    try:
        import openpyxl
    except ImportError:  # pragma: no cover - openpyxl is a dependency of the package
        raise FormatError(f"{p}: reading .xlsx needs openpyxl (pip install openpyxl)") from None
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise FormatError(f"{p}: not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from None
    rows, numbers, n = [], [], 0
    try:
        if not wb.worksheets:
            raise FormatError(f"{p}: the workbook has no worksheet")
        for n, values in enumerate(wb.worksheets[0].iter_rows(values_only=True), 1):
            cells = [cell_text(v) for v in values]
            while cells and not cells[-1]:
                cells.pop()
            if cells:
                rows.append(cells)
                numbers.append(n)
    except (zipfile.BadZipFile, KeyError, OSError, SyntaxError) as exc:  # XML parse errors subclass SyntaxError
        raise FormatError(f"{p}: row {n + 1}: unreadable worksheet ({type(exc).__name__}: {exc})") from None
    finally:
        wb.close()
    return Table(str(path), [], rows, numbers, unit="row")


def sniff_delimiter(line: str) -> str:
    counts = {d: line.count(d) for d in (",", "\t", ";")}
    return max(counts, key=counts.get) if max(counts.values()) > 0 else ","


def read_delimited(path, delimiter: str | None = None) -> Table:
    """Headerless rows (lists of stripped fields) of a CSV/TSV text file, each with the line it starts on."""
    text = read_text(path)
    if not text.strip():
        raise FormatError(f"{path}: empty file")
    if delimiter is None:
        delimiter = sniff_delimiter(text.lstrip("\r\n").split("\n", 1)[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows, numbers = [], []
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise FormatError(f"{path}: line {start}: not valid {'TSV' if delimiter == chr(9) else 'CSV'} ({exc})") \
                from None
        if row and any(c.strip() for c in row):
            rows.append([c.strip() for c in row])
            numbers.append(start)
    return Table(str(path), [], rows, numbers)


def read_lines(path) -> Table:
    """The non-blank lines of a text file, each with its line number; for whitespace/tab layouts.

    Lines are trimmed of spaces only, so an empty last field of a tab-separated line still counts.
    """
    text = read_text(path)
    rows, numbers = [], []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            rows.append(line.strip(" \r\n"))
            numbers.append(n)
    if not rows:
        raise FormatError(f"{path}: empty file")
    return Table(str(path), [], rows, numbers)


def read_rows(path, delimiter: str | None = None) -> Table:
    """Headerless rows of a spreadsheet or a delimited text file (see :func:`read_sheet`, :func:`read_delimited`)."""
    return read_sheet(path) if is_spreadsheet(path) else read_delimited(path, delimiter)


def read_table(path, delimiter: str | None = None) -> Table:
    """A table with a header row (CSV, TSV or ``.xlsx``): rows keyed by the lower-cased header names."""
    return with_header(read_rows(path, delimiter))


def with_header(raw: Table) -> Table:
    """Take the first row of a headerless :class:`Table` as its header (names lower-cased, trimmed).

    A row with more non-empty fields than the header is an error naming its line (an unquoted delimiter inside a
    free-text field); missing trailing fields are empty strings.
    """
    if not raw.rows:
        raise FormatError(f"{raw.path}: empty file")
    header = [h.strip().lstrip("\ufeff").lower() for h in raw.rows[0]]
    rows = []
    for i, row in enumerate(raw.rows[1:], 1):
        if len(row) > len(header):
            if any(c for c in row[len(header):]):
                raise FormatError(f"{raw.where(i)} has {len(row)} fields for {len(header)} columns "
                                  f"(an unquoted delimiter inside a text field?)")
            row = row[: len(header)]
        rows.append(dict(zip(header, row + [""] * (len(header) - len(row)))))
    return Table(raw.path, header, rows, raw.numbers[1:], raw.unit)


def read_csv_rows(path: str | os.PathLike, delimiter: str | None = None) -> tuple[list[str], list[dict]]:
    """``(header, rows)`` of :func:`read_table` (kept for callers that do not need the line numbers)."""
    table = read_table(path, delimiter)
    return table.header, table.rows


def pick_column(header: Sequence[str], candidates: Sequence[str], path, what: str, required: bool = True) -> str | None:
    """The first of ``candidates`` present in ``header`` (already lower-cased)."""
    for c in candidates:
        if c in header:
            return c
    if required:
        raise FormatError(f"{path}: no {what} column (expected one of {', '.join(candidates)}; "
                          f"found {', '.join(header) or 'none'})")
    return None


def read_name_table(path, value_candidates: Sequence[str], what: str,
                    name_candidates: Sequence[str] = ("name", "names", "video_name", "clip", "id")) -> dict[str, str]:
    """``{name: value}`` from a two-column style table (e.g. ``name, english`` subtitles)."""
    table = read_table(path)
    ncol = pick_column(table.header, name_candidates, path, "name")
    vcol = pick_column(table.header, value_candidates, path, what)
    out = {}
    for r in table.rows:
        name = clean_name(r[ncol])
        if name:
            out[name] = r[vcol]
    return out


def iter_jsonish(path) -> Iterator[tuple[str | None, dict]]:
    """Yield ``(key, obj)`` from a JSON object-of-objects, a JSON list, or JSON Lines (key is None for lists)."""
    text = read_text(path).strip()
    if not text:
        raise FormatError(f"{path}: empty file")
    if text[0] in "[{":
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, list):
            for obj in data:
                if isinstance(obj, dict):
                    yield None, obj
            return
        if isinstance(data, dict):
            if all(isinstance(v, dict) for v in data.values()):
                for k, v in data.items():
                    yield k, v
                return
            yield None, data
            return
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise FormatError(f"{path}: line {n} is not JSON ({exc.msg})") from None
        if isinstance(obj, dict):
            yield None, obj
