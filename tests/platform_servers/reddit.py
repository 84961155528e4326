"""A stand-in for Reddit's API over real recorded children: app-only OAuth, listings paged with ``after`` and
``before`` as Reddit pages them, comment trees, and new comments/submissions published over time.

``new`` and ``comments`` are ordered newest first by id (Reddit mints ids in order); ``hot`` and ``rising`` keep
their recorded order. ``before=X`` gives the ``limit`` items just newer than X, ``after=X`` those just older; a
fullname the listing no longer holds (deleted) gives an empty page, as on Reddit.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tests.platform_servers.http import Request, Response, json_response

TOKEN = "recorded-token"


def base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if number == 0:
            return out


def number_of(child: dict[str, Any]) -> int:
    return int(child["data"]["id"], 36)


def fullname(child: dict[str, Any]) -> str:
    return f"{child['kind']}_{child['data']['id']}"


def renumbered(children: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """``count`` copies of real children with fresh ids above theirs (and times after theirs), oldest first:
    real payloads, numbered as if posted later."""
    top = max(number_of(c) for c in children)
    latest = max(float(c["data"]["created_utc"]) for c in children)
    out = []
    for n in range(count):
        child = copy.deepcopy(children[n % len(children)])
        new_id = base36(top + 1 + n)
        child["data"].update(id=new_id, name=f"{child['kind']}_{new_id}", created_utc=latest + 1 + n)
        out.append(child)
    return out


@dataclass
class RedditSite:
    """The answer of a local Reddit: set ``hot``/``rising`` (recorded order), publish to ``new``/``comments``."""

    hot: list[dict[str, Any]] = field(default_factory=list)
    rising: list[dict[str, Any]] = field(default_factory=list)
    threads: dict[str, Any] = field(default_factory=dict)
    require_token: bool = False
    # Items not yet posted, oldest first; ``publish`` moves them to the listings.
    pending: list[dict[str, Any]] = field(default_factory=list)
    published: list[dict[str, Any]] = field(default_factory=list)
    deleted: set[str] = field(default_factory=set)
    headers: list[tuple[str, str]] = field(default_factory=list)
    tokens_issued: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, count: int = 1) -> list[dict[str, Any]]:
        with self._lock:
            moved, self.pending = self.pending[:count], self.pending[count:]
            self.published.extend(moved)
            return moved

    def publish_all(self, items: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            self.published.extend(items)

    def publish_every(self, interval_s: float, stop: threading.Event) -> threading.Thread:
        """Publish one pending item every ``interval_s`` until none is left or ``stop`` is set."""

        def loop() -> None:
            while self.pending and not stop.wait(interval_s):
                self.publish()

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        return thread

    def newest_first(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            items = [c for c in self.published if c["kind"] == kind and fullname(c) not in self.deleted]
        return sorted(items, key=number_of, reverse=True)

    def __call__(self, request: Request) -> Response:
        path = request.path.removesuffix(".json").rstrip("/")
        if request.method == "POST" and path == "/api/v1/access_token":
            if not request.headers.get("Authorization", "").startswith("Basic "):
                return json_response(b'{"error": 401}', status=401)
            self.tokens_issued += 1
            return json_response(
                json.dumps({"access_token": TOKEN, "token_type": "bearer", "expires_in": 3600}).encode()
            )
        if self.require_token and request.headers.get("Authorization") != f"bearer {TOKEN}":
            return json_response(b'{"message": "Unauthorized", "error": 401}', status=401)
        if match := re.fullmatch(r"/comments/([0-9a-z]+)", path):
            thread = self.threads.get(match.group(1))
            return json_response(json.dumps(thread).encode()) if thread else json_response(b"[]", status=404)
        match = re.fullmatch(r"/r/([A-Za-z0-9_+]+)/(hot|new|rising|comments)", path)
        if match is None:
            return json_response(b'{"message": "Not Found", "error": 404}', status=404)
        listing = match.group(2)
        items = {
            "hot": self.hot,
            "rising": self.rising,
            "new": self.newest_first("t3"),
            "comments": self.newest_first("t1"),
        }[listing]
        q = {k: v[0] for k, v in request.query.items()}
        page, before, after = window(items, q.get("before"), q.get("after"), min(int(q.get("limit", 25)), 100))
        doc = {"kind": "Listing", "data": {"modhash": "", "children": page, "after": after, "before": before}}
        return json_response(json.dumps(doc).encode(), self.headers)


def window(
    items: list[dict[str, Any]], before: str | None, after: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None, str | None]:
    """Reddit's paging of a listing: ``(page, before, after)``."""
    names = [fullname(c) for c in items]
    if after:
        if after not in names:
            return [], None, None
        start = names.index(after) + 1
    elif before:
        if before not in names:
            return [], None, None
        start = max(0, names.index(before) - limit)
    else:
        start = 0
    end = names.index(before) if before and not after else start + limit
    page = items[start:end]
    older = fullname(page[-1]) if page and end < len(items) else None
    newer = fullname(page[0]) if page and start > 0 else None
    return page, newer, older
