"""A stand-in for a Mastodon instance over real recorded statuses: timelines paged by ``max_id``/``min_id``/
``since_id`` with ``Link`` headers, trends, status lookups, instance info and the streaming API (server-sent
``update`` events as statuses are published, ``:thump`` heartbeats).

Public and hashtag timelines (and their streams) hold ``public`` statuses, as on Mastodon; list timelines
hold every status and need a token. ``Link`` headers name ``link_base`` (by default the recorded
``http://localhost:3000``), as a real instance names its own domain whatever address it was reached at.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote

from tests.platform_servers.http import PlatformServer, Request, Response, json_response


def renumbered(statuses: list[dict[str, Any]], count: int, reply_every: int = 0) -> list[dict[str, Any]]:
    """``count`` copies of real statuses with fresh ids above theirs, oldest first (``uri``/``url`` follow the
    id; times move on by a second each); with ``reply_every``, every such copy replies to the copy before it."""
    top = max(int(s["id"]) for s in statuses)
    latest = max(datetime.fromisoformat(s["created_at"].replace("Z", "+00:00")) for s in statuses)
    out: list[dict[str, Any]] = []
    for n in range(count):
        original = statuses[n % len(statuses)]
        status = copy.deepcopy(original)
        new_id = str(top + 1 + n)
        status["id"] = new_id
        for key in ("uri", "url"):
            if isinstance(status.get(key), str):
                status[key] = status[key].replace(original["id"], new_id)
        status["created_at"] = (latest + timedelta(seconds=1 + n)).isoformat().replace("+00:00", "Z")
        status["reblog"] = None
        if reply_every and n % reply_every == reply_every - 1 and out:
            status["in_reply_to_id"] = out[-1]["id"]
            status["in_reply_to_account_id"] = out[-1]["account"]["id"]
        out.append(status)
    return out


def _id(status: dict[str, Any]) -> int:
    return int(status["id"])


@dataclass
class MastodonInstance:
    """The answer of a local Mastodon instance."""

    server_info: dict[str, Any] = field(default_factory=dict)
    published: list[dict[str, Any]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    # The multi-status lookup (``GET /api/v1/statuses?id[]=``) exists from Mastodon 4.3.
    multi_lookup: bool = True
    link_base: str = "http://localhost:3000"
    # What /api/v2/instance names as the streaming server (None: the key is left out).
    streaming_url: str | None = None
    token: str | None = None
    trends_tags: list[dict[str, Any]] = field(default_factory=list)
    heartbeat_s: float = 0.2
    server: PlatformServer | None = None
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def publish(self, count: int = 1) -> list[dict[str, Any]]:
        with self._changed:
            moved, self.pending = self.pending[:count], self.pending[count:]
            self.published.extend(moved)
            self._changed.notify_all()
            return moved

    def publish_every(self, interval_s: float, stop: threading.Event) -> threading.Thread:
        def loop() -> None:
            while self.pending and not stop.wait(interval_s):
                self.publish()

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        return thread

    def visible(self, kind: str, arg: str = "") -> list[dict[str, Any]]:
        """Newest first."""
        with self._changed:
            items = list(self.published)
        if kind != "list":
            items = [s for s in items if s.get("visibility") == "public"]
        if kind == "local":
            items = [s for s in items if "@" not in s["account"]["acct"]]
        if kind == "tag":
            items = [s for s in items if any(t["name"].lower() == arg.lower() for t in s.get("tags") or [])]
        return sorted(items, key=_id, reverse=True)

    def __call__(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        q = {k: v[0] for k, v in request.query.items()}
        if path == "/api/v2/instance":
            info = copy.deepcopy(self.server_info)
            urls = info.setdefault("configuration", {}).setdefault("urls", {})
            if self.streaming_url is None:
                urls.pop("streaming", None)
            else:
                urls["streaming"] = self.streaming_url
            return json_response(json.dumps(info).encode())
        if path == "/api/v1/streaming/health":
            return Response(200, b"OK", [("Content-Type", "text/plain")])
        if path.startswith("/api/v1/streaming/"):
            return self._stream(path.removeprefix("/api/v1/streaming/"), q, request)
        if path == "/api/v1/timelines/public":
            return self._page(request, self.visible("local" if q.get("local") == "true" else "public"), q)
        if match := re.fullmatch(r"/api/v1/timelines/tag/([^/]+)", path):
            return self._page(request, self.visible("tag", unquote(match.group(1))), q)
        if re.fullmatch(r"/api/v1/timelines/list/[0-9]+", path):
            if self.token is None or request.headers.get("Authorization") != f"Bearer {self.token}":
                return json_response(b'{"error":"The access token is invalid"}', status=401)
            return self._page(request, self.visible("list"), q)
        if path == "/api/v1/trends/statuses":
            return self._offset_page(request, self.visible("public"), q)
        if path == "/api/v1/trends/tags":
            return json_response(json.dumps(self.trends_tags).encode())
        if path == "/api/v1/trends/links":
            return json_response(b"[]")
        if path == "/api/v1/statuses" and self.multi_lookup:
            wanted = request.query.get("id[]", [])
            found = [s for s in self.visible("list") if s["id"] in wanted]
            return json_response(json.dumps(found).encode())
        if match := re.fullmatch(r"/api/v1/statuses/([0-9]+)", path):
            found = [s for s in self.visible("list") if s["id"] == match.group(1)]
            return json_response(json.dumps(found[0]).encode()) if found else json_response(b"{}", status=404)
        return json_response(b'{"error":"Record not found"}', status=404)

    def _page(self, request: Request, items: list[dict[str, Any]], q: dict[str, str]) -> Response:
        limit = min(int(q.get("limit", 20)), 40)
        if "max_id" in q:
            items = [s for s in items if _id(s) < int(q["max_id"])]
        if "min_id" in q:
            page = sorted((s for s in items if _id(s) > int(q["min_id"])), key=_id)[:limit][::-1]
        elif "since_id" in q:
            page = [s for s in items if _id(s) > int(q["since_id"])][:limit]
        else:
            page = items[:limit]
        headers = []
        if page:
            here = f"{self.link_base}{request.path}"
            headers.append(
                ("Link", f'<{here}?max_id={page[-1]["id"]}>; rel="next", <{here}?min_id={page[0]["id"]}>; rel="prev"')
            )
        return json_response(json.dumps(page).encode(), headers)

    def _offset_page(self, request: Request, items: list[dict[str, Any]], q: dict[str, str]) -> Response:
        limit, offset = min(int(q.get("limit", 20)), 40), int(q.get("offset", 0))
        page = items[offset : offset + limit]
        headers = []
        if offset + limit < len(items):
            headers.append(("Link", f'<{self.link_base}{request.path}?offset={offset + limit}>; rel="next"'))
        return json_response(json.dumps(page).encode(), headers)

    def _stream(self, name: str, q: dict[str, str], request: Request) -> Response:
        if name == "public":
            kind, arg = "public", ""
        elif name == "public/local":
            kind, arg = "local", ""
        elif name == "hashtag":
            kind, arg = "tag", q.get("tag", "")
        elif name == "list":
            kind, arg = "list", q.get("list", "")
        else:
            return json_response(b'{"error":"Unknown stream type"}', status=400)
        with self._changed:
            start = len(self.published)
        return Response(200, b"", [("Content-Type", "text/event-stream")], self._events(kind, arg, start))

    def _events(self, kind: str, arg: str, start: int) -> Iterator[bytes]:
        yield b":)\n"
        index = start
        while self.server is None or not self.server.stopping.is_set():
            with self._changed:
                if index >= len(self.published):
                    self._changed.wait(self.heartbeat_s)
                fresh, index = self.published[index:], len(self.published)
            if not fresh:
                yield b":thump\n"
                continue
            wanted = {s["id"] for s in self.visible(kind, arg)}
            for status in fresh:
                if status["id"] in wanted:
                    yield b"event: update\ndata: " + json.dumps(status).encode() + b"\n\n"
