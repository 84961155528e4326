"""``rumoureval2017``: SemEval-2017 task 8 (RumourEval) train+dev, 297 threads and 4,519 tweets.

``traindev/`` holds ``posts.json`` (``{tweet id: {time, text}}``, Unix seconds),
``structures.json`` (``{thread: {source: {reply: {...}, leaf: []}}}``), ``thread_id.txt`` /
``thread_label.txt`` (veracity, coded as in ``../rumorCategory.json``: true 0, false 1,
unverified 2; the folder README's four-way table is the PHEME one and does not apply) and
``post_id.txt`` / ``post_label.txt`` (stance, ``../stanceCategory.json``).

Decisions, and why:

- **Records** follow ``post_id.txt`` (the order of ``posts.json``); ``position`` is the tweet id.
  ``reply_to`` is the parent in the structure tree (all 4,222 replies' parents are posts of the
  set) and ``root_id`` the thread. 341 tree nodes have no post (never collected); none has a
  post below it. A post hung directly under a thread without its parent would get no
  ``reply_to``.
- **No authors.** The release strips user ids, so each post gets a placeholder author
  ``unknown:<tweet id>``. One shared "unknown" account would look like a single hyperactive
  account posting 4,519 times and trip every coordination signal; per-post placeholders keep
  author-level analytics neutral and are recognisable by their prefix.
- Veracity and stance labels ride in ``context``.
"""

from __future__ import annotations

import contextlib
import json
import reprlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flockwatch.replay.base import relative_uri, text_post
from flockwatch.replay.payload import (
    MAX_JSON_DEPTH,
    json_depth,
    opt_str,
    reject_unreadable,
    req_str,
    text_field,
    unreadable,
)
from flockwatch.replay.timestamps import from_unix
from flockwatch.schema import Author, Post, RawRecord

NAME = "rumoureval2017"
DESCRIPTION = "RumourEval 2017 (SemEval task 8) threads with text, stance and veracity"
PLATFORM = "twitter"
DEFAULT_PATH = "spread/rumoureval2017/traindev"
UNKNOWN_AUTHOR_PREFIX = "unknown:"
VERACITY = {"0": "true", "1": "false", "2": "unverified"}
STANCE = {"0": "support", "1": "query", "2": "deny", "3": "comment"}


def _folder(path: Path) -> Path:
    if path.is_file():
        return path.parent
    if not (path / "posts.json").is_file() and (path / "traindev" / "posts.json").is_file():
        return path / "traindev"
    return path


def _category(path: Path, default: dict[str, str]) -> dict[str, str]:
    """Code → name from a ``{"name": code}`` JSON file next to the split, else ``default``."""
    if not path.is_file():
        return default
    names = json.loads(path.read_text(encoding="utf-8"))
    return {str(code): name for name, code in names.items()}


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split() if path.is_file() else []


def tree_parents(structures: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    """Every node of every thread → (thread id, parent id or None), walking iteratively."""
    parents: dict[str, tuple[str, str | None]] = {}
    for thread, tree in structures.items():
        stack: list[tuple[str | None, Any]] = [(None, tree)]
        while stack:
            parent, children = stack.pop()
            if not isinstance(children, dict):
                continue
            for node, grandchildren in children.items():
                parents.setdefault(node, (thread, parent))
                stack.append((node, grandchildren))
    return parents


def read(path: Path, data_dir: Path | None = None) -> Iterator[RawRecord]:
    folder = _folder(path)
    posts_file = folder / "posts.json"
    posts: dict[str, Any] = json.loads(posts_file.read_text(encoding="utf-8"))
    parents = tree_parents(json.loads((folder / "structures.json").read_text(encoding="utf-8")))
    veracity = _category(folder.parent / "rumorCategory.json", VERACITY)
    stance = _category(folder.parent / "stanceCategory.json", STANCE)
    thread_labels = dict(zip(_lines(folder / "thread_id.txt"), _lines(folder / "thread_label.txt"), strict=False))
    stances = dict(zip(_lines(folder / "post_id.txt"), _lines(folder / "post_label.txt"), strict=False))
    order = _lines(folder / "post_id.txt") or list(posts)
    uri = relative_uri(posts_file, data_dir)
    for post_id in order:
        record = posts.get(post_id)
        thread, parent = parents.get(post_id, (None, None))
        label = thread_labels.get(thread) if thread else None
        context: dict[str, Any] = {
            "thread": thread,
            "parent": parent,
            "veracity": veracity.get(label, label) if label is not None else None,
            "stance": stance.get(stances.get(post_id, ""), stances.get(post_id)),
        }
        payload: dict[str, Any] = {"id": post_id, **record} if isinstance(record, dict) else {"id": post_id}
        event_time = None
        if json_depth(record) > MAX_JSON_DEPTH:  # no message could carry it; dead-lettered by the replayer
            reason = f"post {post_id} nested {json_depth(record)} levels deep (limit {MAX_JSON_DEPTH})"
            payload = unreadable(reason, _dump(record))
        elif isinstance(record, dict):
            with contextlib.suppress(ValueError):
                event_time = from_unix(record.get("time"))
        yield RawRecord(
            format=NAME,
            source_uri=uri,
            position=post_id,
            event_time=event_time,
            payload=payload,
            context=context,
        )


def _dump(value: Any) -> str:
    try:
        return json.dumps(value)
    except RecursionError:  # deeper than the encoder goes: its outline is what is left to keep
        return reprlib.repr(value)


def normalize(raw: RawRecord) -> Post:
    p, ctx = raw.payload, raw.context
    reject_unreadable(p)
    post_id = req_str(p, "id")
    if p.get("time") is None:
        raise ValueError("missing field 'time' (the post is in the tree but not in posts.json)")
    text = text_field(p, "text")
    thread = opt_str(ctx, "thread")
    return text_post(
        raw,
        PLATFORM,
        text,
        platform_id=post_id,
        author=Author(id=UNKNOWN_AUTHOR_PREFIX + post_id),
        created_at=from_unix(p.get("time"), what="time"),
        reply_to=opt_str(ctx, "parent"),
        root_id=thread,
    )


def sniff(path: Path) -> bool:
    if path.is_file():
        return path.name == "posts.json" and (path.parent / "structures.json").is_file()
    folder = _folder(path)
    return (folder / "posts.json").is_file() and (folder / "structures.json").is_file()
