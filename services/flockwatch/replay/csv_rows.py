"""CSV rows that survive bad rows: one malformed row is rejected with its reason, the rest are read.

``csv.DictReader`` over a text file ends the whole file at the first field over
``csv.field_size_limit()`` (131,072 characters) or the first byte that is not UTF-8, and a row with
more fields than the header becomes a dict with a ``None`` key that no message can carry. Here each
row is either a :class:`CsvRow` (header name → value, ``None`` for columns the row lacks, like
``DictReader``) or a :class:`CsvReject` with the reason and the row's original bytes, and reading goes
on with the next line. The limit is the csv module's own: raising it is process-wide, and no
field the readers use legitimately comes near it (post texts are capped at 100,000 characters).

One ``csv.reader`` reads lines fed by a generator that remembers them, so each row's original
bytes are exactly the physical lines it was parsed from. After an error the reader resumes at the
next line; an error inside a quoted field that spans lines (a field over the limit) first reads on to
the line that closes the quote, so the field's tail lines go with the rejected row instead of being
read as rows of their own (a line of post text is not a post).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

# A physical line longer than this is not read into memory whole (a file with no newlines
# would otherwise be one allocation); its row is rejected. Raw messages are capped at 16 MiB.
MAX_LINE_BYTES = 16 * 1024 * 1024
_DRAIN = 1024 * 1024


@dataclass(frozen=True)
class CsvRow:
    line: int  # physical line the row starts on (1 = header)
    fields: dict[str, str | None]


@dataclass(frozen=True)
class CsvReject:
    line: int
    reason: str
    original: bytes


class _Lines:
    """Physical lines of a binary file as text, remembering the bytes since the last row."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.number = 0  # physical lines read so far
        self.pending: list[bytes] = []
        self.problems: list[str] = []

    def __iter__(self) -> Iterator[str]:
        while True:
            line = self.handle.readline(MAX_LINE_BYTES + 1)
            if not line:
                return
            self.number += 1
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                self.problems.append(f"line {self.number} is longer than {MAX_LINE_BYTES} bytes")
                while (rest := self.handle.readline(_DRAIN)) and not rest.endswith(b"\n"):
                    pass
                line = line[: MAX_LINE_BYTES // 16] + b"\n"
            self.pending.append(line)
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                self.problems.append(f"line {self.number} is not valid UTF-8 ({exc.reason} at byte {exc.start})")
                text = line.decode("utf-8", "replace")  # parsed only to find where the row ends
            yield text

    def close_open_quote(self, lines: Iterator[str]) -> None:
        """Read ``lines`` on until the row read so far has an even number of quote characters: a quoted field
        counts its own quotes in pairs (``""``), so an odd count means the error came inside one."""
        quotes = sum(part.count(b'"') for part in self.pending)
        while quotes % 2:
            line = next(lines, None)
            if line is None:
                return
            quotes += line.count('"')

    def take(self) -> tuple[bytes, list[str]]:
        """The bytes and problems of the row just parsed (or failed), and start afresh."""
        original, problems = b"".join(self.pending), self.problems
        self.pending, self.problems = [], []
        return original, problems


def read_rows(handle: IO[bytes], what: str = "CSV") -> tuple[list[str], Iterator[CsvRow | CsvReject]]:
    """The header and the rows after it, in order; ``ValueError`` if the header itself is unreadable.

    An empty file has an empty header and no rows.
    """
    lines = _Lines(handle)
    feed = iter(lines)
    reader = csv.reader(feed)
    try:
        header = next(reader, [])
    except csv.Error as exc:
        raise ValueError(f"{what}: unreadable header: {exc}") from None
    _, problems = lines.take()
    if problems:
        raise ValueError(f"{what}: unreadable header: {problems[0]}")
    return header, _rows(lines, feed, reader, header)


def _rows(
    lines: _Lines, feed: Iterator[str], reader: Iterator[list[str]], header: list[str]
) -> Iterator[CsvRow | CsvReject]:
    start = lines.number + 1
    while True:
        try:
            row = next(reader, None)
            error = None
        except csv.Error as exc:
            row, error = [], f"line {start}: {exc}"
            lines.close_open_quote(feed)  # the reader starts afresh at the next line it is fed
        original, problems = lines.take()
        if row is None:
            return
        if error is None and problems:
            error = problems[0]
        if error is None and len(row) > len(header):
            error = f"line {start}: row has {len(row)} fields, the header has {len(header)}"
        if error is not None:
            yield CsvReject(start, error, original)
        elif row:  # blank lines are not rows (as in csv.DictReader)
            values: list[str | None] = list(row)
            values += [None] * (len(header) - len(row))
            yield CsvRow(start, dict(zip(header, values, strict=True)))
        start = lines.number + 1
