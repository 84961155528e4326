"""``cnt_csv``: the Coordination Network Toolkit's platform-neutral CSV.

Columns (by header name, any order): ``message_id, user_id, username, repost_id, reply_id,
message, timestamp, urls``; ``timestamp`` is Unix seconds and ``urls`` is space-separated
(the toolkit recommends expanded URLs). Older toolkit files lack ``username`` and
``reply_id``; extra columns are ignored. Users bring these files, so there is no default path.

Decisions, and why:

- **Platform** is ``twitter`` (the toolkit's usual source) unless the file says otherwise in
  an optional ``platform`` column, or the reader is called with ``platform=...`` (it then
  travels in ``context``, so the normaliser needs nothing but the record).
- **URLs**: the ``urls`` column when the file has it (it holds the expanded links, which the
  text's short links would only duplicate), else links found in the message.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flockwatch.replay.base import relative_uri, text_post
from flockwatch.replay.csv_rows import CsvReject, read_rows
from flockwatch.replay.payload import opt_id, opt_str, reject_unreadable, req_id, text_field, unreadable
from flockwatch.replay.timestamps import from_unix, or_none
from flockwatch.schema import Author, Post, RawRecord

NAME = "cnt_csv"
DESCRIPTION = "Coordination Network Toolkit CSV (message_id, user_id, ..., timestamp, urls)"
DEFAULT_PLATFORM = "twitter"
PLATFORM = DEFAULT_PLATFORM
DEFAULT_PATH = None  # users bring their own CSV
COLUMNS = ("message_id", "user_id", "username", "repost_id", "reply_id", "message", "timestamp", "urls")
_REQUIRED = frozenset({"message_id", "user_id", "repost_id", "message", "timestamp"})


def read(path: Path, data_dir: Path | None = None, *, platform: str | None = None) -> Iterator[RawRecord]:
    """One record per CSV row; ``platform`` overrides the default for files without the column.

    A row the CSV parser cannot read (a field over the csv module's limit, more fields than the
    header, bytes that are not UTF-8) becomes an unreadable record with the reason and its bytes,
    which the replayer dead-letters; the rows after it are read as usual.
    """
    uri = relative_uri(path, data_dir)
    context: dict[str, Any] = {"platform": platform} if platform else {}
    with path.open("rb") as handle:
        header, rows = read_rows(handle, str(path))
        missing = _REQUIRED - set(header)
        if missing:
            raise ValueError(f"{path}: not a coordination-network-toolkit CSV, missing {sorted(missing)}")
        for row in rows:
            payload: dict[str, Any]
            if isinstance(row, CsvReject):
                payload = unreadable(row.reason, row.original)
                event_time = None
            else:
                payload = dict(row.fields)
                event_time = or_none(from_unix, row.fields.get("timestamp"))
            yield RawRecord(
                format=NAME,
                source_uri=uri,
                position=str(row.line),
                event_time=event_time,
                payload=payload,
                context=context,
            )


def normalize(raw: RawRecord) -> Post:
    p = raw.payload
    reject_unreadable(p)
    platform = opt_str(p, "platform") or opt_str(raw.context, "platform") or DEFAULT_PLATFORM
    text = text_field(p, "message")
    urls = list(dict.fromkeys((opt_str(p, "urls") or "").split())) if "urls" in p else None
    if p.get("timestamp") is None:
        raise ValueError("missing field 'timestamp'")
    return text_post(
        raw,
        platform.strip().lower(),
        text,
        platform_id=req_id(p, "message_id"),
        author=Author(id=req_id(p, "user_id"), handle=opt_str(p, "username")),
        created_at=from_unix(p.get("timestamp")),
        urls=urls,
        reshare_of=opt_id(p, "repost_id"),
        reply_to=opt_id(p, "reply_id"),
    )


def sniff(path: Path) -> bool:
    if not path.is_file() or path.suffix != ".csv":
        return False
    with path.open(encoding="utf-8", newline="") as handle:
        header = set(next(csv.reader(handle), []))
    return header >= _REQUIRED
