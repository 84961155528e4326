"""``pheme``: PHEME rumour reply threads as tweet-level feature CSVs (Germanwings, Ottawa).

``spread/pheme/tweets/<event>.csv`` has one row per tweet: ``thread`` (the source tweet id),
``tweet_id``, ``in_reply_tweet``, ``created`` (epoch ms), ``user_id``, ``user.*`` counts and
``retweet_count``/``favorite_count``, plus derived features; ``labels/all/`` maps each thread
to its veracity label. The ``threads/`` folder holds per-thread aggregates, not posts.

Decisions, and why:

- **No text.** This release keeps features, not tweet text; posts carry ``text=""``. The
  thread and reply structure, authors, counts and times are what it is good for.
- **Replies.** ``in_reply_tweet`` was saved as a float (``5.803333144159191e+17``), which
  cannot hold an 18-digit id exactly. The reader resolves it within the thread: the one tweet
  whose id rounds to that float. If none does (the parent was not collected: 192 replies) or
  several do, ``reply_to`` stays empty and ``context.reply_unresolved`` says why; the
  approximate float is never passed off as an id. ``root_id`` is always the thread.
- **Labels** (non-rumor / true / false / unverified, from ``labels/category.json``) and the
  event ride in ``context``.
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from flockwatch.replay.base import relative_uri, source_ref
from flockwatch.replay.csv_rows import CsvReject, CsvRow, read_rows
from flockwatch.replay.payload import is_decimal, opt_count, opt_str, reject_unreadable, req_id, unreadable
from flockwatch.replay.timestamps import from_unix, or_none
from flockwatch.schema import Author, Engagement, Post, RawRecord

NAME = "pheme"
DESCRIPTION = "PHEME rumour reply threads (tweet-level features, no text) with veracity labels"
PLATFORM = "twitter"
DEFAULT_PATH = "spread/pheme"
_HEADER = frozenset({"thread", "tweet_id", "in_reply_tweet", "created", "user_id"})


def _tweet_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    folder = path / "tweets" if (path / "tweets").is_dir() else path
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no PHEME tweet CSVs in {folder}")
    return files


def load_labels(path: Path) -> dict[str, str]:
    """Thread id → label name, from the nearest ``labels/all`` above ``path`` (empty if none)."""
    for base in (path, *path.parents[:3]):
        folder = base / "labels"
        ids_file, labels_file = folder / "all" / "thread_id.txt", folder / "all" / "thread_label.txt"
        if ids_file.is_file() and labels_file.is_file():
            names = {"non-rumor": 0, "true": 1, "false": 2, "unverified": 3}
            category = folder / "category.json"
            if category.is_file():
                names = json.loads(category.read_text(encoding="utf-8"))
            by_code = {str(code): name for name, code in names.items()}
            ids = ids_file.read_text(encoding="utf-8").split()
            codes = labels_file.read_text(encoding="utf-8").split()
            return {tid: by_code.get(code, code) for tid, code in zip(ids, codes, strict=False)}
    return {}


def _as_float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def resolve_replies(rows: Sequence[Mapping[str, str | None]]) -> list[tuple[str | None, str | None]]:
    """For each row, (parent tweet id, why unresolved) by matching the float within the thread."""
    by_float: dict[tuple[str, float], list[str]] = defaultdict(list)
    for row in rows:
        tid = row.get("tweet_id") or ""
        value = _as_float(tid)
        if value is not None:
            by_float[(row.get("thread") or "", value)].append(tid)
    resolved: list[tuple[str | None, str | None]] = []
    for row in rows:
        text = (row.get("in_reply_tweet") or "").strip()
        if not text:
            resolved.append((None, None))
            continue
        if is_decimal(text):
            resolved.append((text, None))
            continue
        value = _as_float(text)
        if value is None:
            resolved.append((None, f"in_reply_tweet {text!r} is not a number"))
            continue
        candidates = by_float.get((row.get("thread") or "", value), [])
        if len(candidates) == 1:
            resolved.append((candidates[0], None))
        elif not candidates:
            resolved.append((None, "parent tweet not in this thread's data"))
        else:
            resolved.append((None, f"ambiguous: {len(candidates)} tweets in the thread round to {text}"))
    return resolved


def read(path: Path, data_dir: Path | None = None) -> Iterator[RawRecord]:
    """Each CSV is read whole (≤12k rows) so replies can be resolved within their thread."""
    files = _tweet_files(path)
    labels = load_labels(files[0].parent)
    for file in files:
        uri = relative_uri(file, data_dir)
        with file.open("rb") as handle:
            _, parsed = read_rows(handle, str(file))
            entries = list(parsed)
        # a row the CSV parser cannot read is passed on first, with its reason and bytes
        # (the replayer dead-letters it) instead of ending the replay
        for bad in entries:
            if isinstance(bad, CsvReject):
                yield RawRecord(
                    format=NAME, source_uri=uri, position=str(bad.line), payload=unreadable(bad.reason, bad.original)
                )
        good = [entry for entry in entries if isinstance(entry, CsvRow)]
        rows = [entry.fields for entry in good]
        lines = [entry.line for entry in good]
        for row, line, (parent, why) in zip(rows, lines, resolve_replies(rows), strict=True):
            thread = row.get("thread") or ""
            context: dict[str, Any] = {
                "thread": thread,
                "in_reply_to": parent,
                "label": labels.get(thread),
                "event": row.get("event"),
            }
            if why:
                context["reply_unresolved"] = why
            event_time = or_none(from_unix, row.get("created"), unit="ms")
            yield RawRecord(
                format=NAME,
                source_uri=uri,
                position=str(line),
                event_time=event_time,
                payload=row,
                context=context,
            )


def normalize(raw: RawRecord) -> Post:
    p, ctx = raw.payload, raw.context
    reject_unreadable(p)
    if p.get("created") is None:
        raise ValueError("missing field 'created'")
    reply_to = opt_str(ctx, "in_reply_to")
    if reply_to is None:
        direct = opt_str(p, "in_reply_tweet")
        if direct is not None and is_decimal(direct.strip()):
            reply_to = direct.strip()
    return Post(
        platform=PLATFORM,
        platform_id=req_id(p, "tweet_id"),
        author=Author(
            id=req_id(p, "user_id"),
            followers=opt_count(p, "user.followers_count"),
            following=opt_count(p, "user.friends_count"),
        ),
        created_at=from_unix(p.get("created"), unit="ms", what="created"),
        reply_to=reply_to,
        root_id=req_id(p, "thread"),
        engagement=Engagement(
            reshares=opt_count(p, "retweet_count"),
            likes=opt_count(p, "favorite_count"),
        ),
        source=source_ref(raw),
    )


def _csv_header(path: Path) -> set[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return set(next(csv.reader(handle), []))


def sniff(path: Path) -> bool:
    if path.is_dir():
        folder = path / "tweets" if (path / "tweets").is_dir() else path
        files = sorted(folder.glob("*.csv"))
        return bool(files) and _csv_header(files[0]) >= _HEADER
    return path.suffix == ".csv" and _csv_header(path) >= _HEADER
