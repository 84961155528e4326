"""Reading files of one JSON object per line (Jetstream captures, API payloads saved by a connector).

A line that is not UTF-8 (kept as bytes, never replaced), not JSON, nested deeper than
``MAX_JSON_DEPTH`` or not a JSON object becomes an unreadable record with the reason and the line's
bytes, which the replayer dead-letters; the lines after it are read as usual.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from flockwatch.replay.base import relative_uri
from flockwatch.replay.payload import loads_bounded, unreadable
from flockwatch.schema import RawRecord

# A line longer than a raw message may be (16 MiB) could never be produced; it is not parsed.
MAX_LINE_BYTES = 16 * 1024 * 1024


def read_json_lines(
    path: Path,
    data_dir: Path | None,
    fmt: str,
    what: str,
    event_time: Callable[[dict[str, Any]], datetime | None] = lambda _payload: None,
) -> Iterator[RawRecord]:
    """One ``fmt`` record per non-empty line of ``path``; ``what`` names a line's kind in reasons."""
    uri = relative_uri(path, data_dir)
    with path.open("rb") as handle:
        for number, line in enumerate(_lines(handle), start=1):
            if not line.strip():
                continue
            payload: Any
            try:
                if len(line) > MAX_LINE_BYTES:
                    raise ValueError(f"longer than {MAX_LINE_BYTES} bytes")
                payload = loads_bounded(line.decode("utf-8"))
                if not isinstance(payload, dict):
                    raise ValueError(f"not a JSON object but {type(payload).__name__}")
            except UnicodeDecodeError as exc:
                payload = unreadable(f"line {number} is not valid UTF-8 ({exc.reason} at byte {exc.start})", line)
            except ValueError as exc:
                payload = unreadable(f"line {number} is not {what}: {exc}", line)
            yield RawRecord(
                format=fmt, source_uri=uri, position=str(number), event_time=event_time(payload), payload=payload
            )


def _lines(handle: IO[bytes]) -> Iterator[bytes]:
    """Physical lines; one over ``MAX_LINE_BYTES`` is cut there (its tail read and dropped, not kept in memory)."""
    while line := handle.readline(MAX_LINE_BYTES + 1):
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while (rest := handle.readline(1024 * 1024)) and not rest.endswith(b"\n"):
                pass
        yield line


JSON_LINES_SUFFIXES = (".jsonl", ".json", ".ndjson")


def first_object(path: Path) -> dict[str, Any] | None:
    """The first non-empty line of a JSON lines file as an object (for sniffers); ``None`` for anything else.

    Raises what ``json`` raises on a line that is not JSON: :meth:`DatasetFormat.sniff` reads that as "not
    this format"."""
    if not path.is_file() or path.suffix not in JSON_LINES_SUFFIXES:
        return None
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                first = json.loads(line)
                return first if isinstance(first, dict) else None
    return None
