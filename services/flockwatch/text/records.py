"""Input files for the text CLI: JSONL (``id``, ``text``) or CSV (a named text column), never fatal.

A line that cannot be read (bad JSON, no text field, invalid UTF-8 that breaks the format, a CSV row whose
quote is never closed) becomes a record with ``error`` set; the CLI writes a defined ``unscored`` result for it
instead of stopping.  A UTF-8 byte-order mark at the start of either kind of file is ignored.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Record:
    id: str
    text: str
    error: str | None = None
    extra: dict[str, Any] | None = None  # other fields worth keeping (account, platform, created_at)


KEEP = ("account", "author", "platform", "created_at", "language")


def read_records(path: Path, text_column: str = "text", id_column: str = "id") -> Iterator[Record]:
    """Records of a JSONL file, or of a CSV file when the name ends in .csv/.tsv."""
    if path.suffix.lower() in (".csv", ".tsv"):
        yield from _read_csv(path, text_column, id_column, "\t" if path.suffix.lower() == ".tsv" else ",")
    else:
        yield from _read_jsonl(path, text_column, id_column)


def _read_jsonl(path: Path, text_column: str, id_column: str) -> Iterator[Record]:
    with path.open("rb") as f:
        for n, line in enumerate(f, start=1):
            if n == 1 and line.startswith(codecs.BOM_UTF8):  # utf-8-sig: editors on Windows write one
                line = line[len(codecs.BOM_UTF8) :]
            if not line.strip():
                continue
            # Invalid UTF-8 inside a string becomes U+FFFD rather than losing the record.
            decoded = line.decode("utf-8", errors="replace")
            try:
                obj = json.loads(decoded)
            except json.JSONDecodeError as exc:
                yield Record(f"line:{n}", "", f"line {n}: not JSON ({exc.msg})")
                continue
            if not isinstance(obj, dict):
                yield Record(f"line:{n}", "", f"line {n}: expected a JSON object")
                continue
            rid = obj.get(id_column)
            rid = f"line:{n}" if rid is None else str(rid)
            text = obj.get(text_column)
            if not isinstance(text, str):
                # A number, true or a list would otherwise be scored as its Python spelling ("True").
                if text_column not in obj:
                    why = f"no {text_column!r} field"
                else:
                    why = f"{text_column!r} is {_json_type(text)}, not a string"
                yield Record(rid, "", f"line {n}: {why}")
                continue
            yield Record(rid, text, None, _extra(obj))


class _Lines:
    """The lines a csv reader takes, numbered, noting whether it asked past the last one."""

    def __init__(self, lines: list[str], first: int) -> None:
        self.lines, self.first, self._next = lines, first, 0
        self.start = 0  # index of the line the current row starts at
        self.eof = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self._next >= len(self.lines):
            self.eof = True
            raise StopIteration
        self._next += 1
        return self.lines[self._next - 1]

    def mark(self) -> None:
        self.start, self.eof = self._next, False


@contextmanager
def _no_field_limit() -> Iterator[None]:
    """Lift the csv module's field size limit while our reader parses, then put it back: the limit is global to
    the process, and the replay reader relies on it to reject oversize fields."""
    old = csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        yield
    finally:
        csv.field_size_limit(old)


def _next_row(reader: csv.DictReader[str]) -> dict[str, str]:
    with _no_field_limit():
        return next(reader)


def _read_csv(path: Path, text_column: str, id_column: str, delimiter: str) -> Iterator[Record]:
    raw = path.read_bytes().decode("utf-8-sig", errors="replace")
    src = _Lines(io.StringIO(raw, newline="").readlines(), 1)
    reader = csv.DictReader(src, delimiter=delimiter)
    with _no_field_limit():
        fields = reader.fieldnames
    if fields is not None and src.eof:
        raise ValueError(f"{path}: a quote opened in the header row is never closed")
    if fields is None or text_column not in fields:
        raise ValueError(f"{path}: no column {text_column!r} (columns: {', '.join(fields or [])})")
    n = 1
    while True:
        src.mark()
        try:
            row = _next_row(reader)
        except StopIteration:
            return
        n += 1
        if src.eof:
            # The csv module ends a row at a line end unless it is inside quotes, so a row that asked for a
            # line past the last one opened a quote that never closed: it swallowed every later row. Report it
            # and read the lines after its first one again, so each later row still gets its own output line.
            lines = src.lines[src.start :]
            while lines and not lines[0].strip("\r\n"):  # blank lines before the row (DictReader skips them)
                lines, src.start = lines[1:], src.start + 1
            line_no = src.first + src.start
            yield _unclosed(lines[0], line_no, n, list(fields), id_column, delimiter)
            src = _Lines(lines[1:], line_no + 1)
            reader = csv.DictReader(src, fieldnames=fields, delimiter=delimiter)
            continue
        rid = row.get(id_column)
        yield Record(str(rid) if rid else f"row:{n}", row.get(text_column) or "", None, _extra(row))


def _unclosed(line: str, line_no: int, n: int, fields: list[str], id_column: str, delimiter: str) -> Record:
    """The error record of a row whose quote never closes; its id when that column comes before the quote."""
    with _no_field_limit():
        values = next(csv.reader([line], delimiter=delimiter), [])
    col = fields.index(id_column) if id_column in fields else len(values)
    rid = values[col] if col < len(values) - 1 and values[col] else f"row:{n}"  # the last value is the broken one
    return Record(rid, "", f"line {line_no}: a quote opened in this row is never closed (the rest of the file "
                           "would be one field); this row is skipped and the lines after it read as rows")  # fmt: skip


def _json_type(value: Any) -> str:
    """What JSON calls a parsed value's type."""
    for kind, name in ((type(None), "null"), (bool, "a boolean"), ((int, float), "a number"), (list, "an array")):
        if isinstance(value, kind):
            return name
    return "an object"


def _extra(obj: dict[str, Any]) -> dict[str, Any] | None:
    kept = {k: obj[k] for k in KEEP if obj.get(k) not in (None, "")}
    if not isinstance(kept.get("language"), str):  # 5, true, ["en"]: not a tag; score as untagged
        kept.pop("language", None)
    return kept or None
