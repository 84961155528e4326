"""Input files for the text CLI: JSONL (``id``, ``text``) or CSV (a named text column), never fatal.

A line that cannot be read (bad JSON, no text field, invalid UTF-8 that breaks the format) becomes a
record with ``error`` set; the CLI writes a defined ``unscored`` result for it instead of stopping.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
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
            if text is None:
                yield Record(rid, "", f"line {n}: no {text_column!r} field")
                continue
            yield Record(rid, text if isinstance(text, str) else str(text), None, _extra(obj))


def _read_csv(path: Path, text_column: str, id_column: str, delimiter: str) -> Iterator[Record]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    raw = path.read_bytes().decode("utf-8-sig", errors="replace")
    reader = csv.DictReader(io.StringIO(raw, newline=""), delimiter=delimiter)
    if reader.fieldnames is None or text_column not in reader.fieldnames:
        raise ValueError(f"{path}: no column {text_column!r} (columns: {', '.join(reader.fieldnames or [])})")
    for n, row in enumerate(reader, start=2):
        rid = row.get(id_column)
        yield Record(str(rid) if rid else f"row:{n}", row.get(text_column) or "", None, _extra(row))


def _extra(obj: dict[str, Any]) -> dict[str, Any] | None:
    kept = {k: obj[k] for k in KEEP if obj.get(k) not in (None, "")}
    return kept or None
