"""A local Bluesky AppView (and PDS) for tests: ``app.bsky.feed.getFeed``, ``app.bsky.feed.searchPosts`` and
``com.atproto.server.createSession`` over XRPC.

/work/shared/data has no recorded AppView answers, so the posts are the Jetstream capture's real post records
(``connectors/bluesky_jetstream``), wrapped in the view the AppView adds: ``uri``, ``cid``, the author as
``{did, handle, displayName}`` (handles made up from the DID), counts (made up, deterministic) and
``indexedAt`` (the event's ``time_us``). It behaves as the public AppView does, documented in
bluesky-social/atproto#2838 and #3423:

- search orders by ``sortAt`` (the earlier of ``createdAt`` and ``indexedAt``), newest first; ``since`` is
  inclusive, ``until`` exclusive; a query's words must all be in the text, and ``lang:xx``/``from:did`` filter;
- without a session it refuses to page a search with ``cursor`` (403, "Request forbidden by administrative
  rules"), and with ``search_needs_session`` refuses unauthenticated search altogether, as it does under load;
- feeds rank by likes and page with an opaque ``cursor``; items carry ``reply`` (``notFoundPost`` for parents
  it does not hold) and, for ``reposted`` URIs, a ``reasonRepost``;
- every answer has ``RateLimit-*`` headers; XRPC errors are ``{"error", "message"}``; sessions can be expired.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.platform_servers.http import PlatformServer, Request, Response, json_response, serve

JETSTREAM = Path("connectors/bluesky_jetstream/expected_v1.jsonl")
FEED = "at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.generator/whats-hot"
HANDLE, PASSWORD = "monitor.example.org", "abcd-efgh-ijkl-mnop"


def _iso_us(time_us: int) -> str:
    return datetime.fromtimestamp(time_us / 1_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def jetstream_events(data_dir: Path) -> list[dict[str, Any]]:
    lines = (data_dir / JETSTREAM).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def post_views(data_dir: Path) -> list[dict[str, Any]]:
    """The capture's post creates as ``app.bsky.feed.defs#postView``s."""
    views = []
    for n, event in enumerate(jetstream_events(data_dir)):
        commit = event.get("commit") or {}
        if commit.get("collection") != "app.bsky.feed.post" or commit.get("operation") != "create":
            continue
        did = event["did"]
        views.append(
            {
                "$type": "app.bsky.feed.defs#postView",
                "uri": f"at://{did}/app.bsky.feed.post/{commit['rkey']}",
                "cid": commit.get("cid", f"bafyrei{n:020d}"),
                "author": {"did": did, "handle": f"{did.rsplit(':', 1)[1][:10]}.bsky.social", "displayName": f"U{n}"},
                "record": commit["record"],
                "replyCount": n % 3,
                "repostCount": n % 5,
                "likeCount": (n * 7) % 23,
                "quoteCount": n % 2,
                "indexedAt": _iso_us(event["time_us"]),
                "labels": [],
            }
        )
    return views


def repost_reasons(data_dir: Path) -> list[dict[str, Any]]:
    """Repost reasons built from the capture's repost events (their reposters, record keys and times)."""
    reasons = []
    for event in jetstream_events(data_dir):
        commit = event.get("commit") or {}
        if commit.get("collection") == "app.bsky.feed.repost" and commit.get("operation") == "create":
            reasons.append(
                {
                    "$type": "app.bsky.feed.defs#reasonRepost",
                    "by": {"did": event["did"], "handle": f"{event['did'].rsplit(':', 1)[1][:10]}.bsky.social"},
                    "uri": f"at://{event['did']}/app.bsky.feed.repost/{commit['rkey']}",
                    "cid": commit.get("cid", "bafyreirepost"),
                    "indexedAt": _iso_us(event["time_us"]),
                }
            )
    return reasons


def sort_at(view: dict[str, Any]) -> datetime:
    created = _parse(view["record"]["createdAt"])
    return min(created, _parse(view["indexedAt"]))


@dataclass
class AppView:
    """The server's state: posts (add more between pulls), feed reasons, session rules, a request log."""

    posts: list[dict[str, Any]]
    reasons: dict[str, dict[str, Any]] = field(default_factory=dict)  # post uri -> reasonRepost
    search_needs_session: bool = False
    expire_next: int = 0  # answer this many authenticated requests with ExpiredToken
    sessions: int = 0
    searches: list[dict[str, str]] = field(default_factory=list)
    remaining: int = 3000
    broken_items: list[Any] = field(default_factory=list)  # served first on a feed's first page, as they are

    def answer(self, request: Request) -> Response:
        self.remaining = max(0, self.remaining - 1)
        reset = str(int(datetime.now(UTC).timestamp()) + 300)
        limits = [("RateLimit-Limit", "3000"), ("RateLimit-Remaining", str(self.remaining)),
                  ("RateLimit-Reset", reset), ("RateLimit-Policy", "3000;w=300")]  # fmt: skip
        method = request.path.removeprefix("/xrpc/")
        if method == "com.atproto.server.createSession" and request.method == "POST":
            return self._session(request, limits)
        authorization = next((v for k, v in request.headers.items() if k.lower() == "authorization"), "")
        authed = authorization == f"Bearer jwt-{self.sessions}" and self.sessions > 0
        if authorization and not authed:
            return _error(401, "InvalidToken", "Bad token", limits)
        if authed and self.expire_next > 0:
            self.expire_next -= 1
            return _error(400, "ExpiredToken", "Token has expired", limits)
        params = {k: v[-1] for k, v in request.query.items()}
        if method == "app.bsky.feed.searchPosts":
            if not authed and (self.search_needs_session or "cursor" in params):
                body = b"<html><head><title>403 Forbidden</title></head><body>Request forbidden by administrative rules.</body></html>"  # noqa: E501
                return Response(403, body, [("Content-Type", "text/html"), *limits])
            self.searches.append(params)
            return self._search(params, limits)
        if method == "app.bsky.feed.getFeed":
            return self._feed(params, limits)
        return _error(501, "MethodNotImplemented", f"Method Not Implemented: {method}", limits)

    def _session(self, request: Request, limits: list[tuple[str, str]]) -> Response:
        try:
            doc = json.loads(request.body)
        except ValueError:
            return _error(400, "InvalidRequest", "Request body is not JSON", limits)
        if doc.get("identifier") != HANDLE or doc.get("password") != PASSWORD:
            return _error(401, "AuthenticationRequired", "Invalid identifier or password", limits)
        self.sessions += 1
        session = {"accessJwt": f"jwt-{self.sessions}", "refreshJwt": "r", "handle": HANDLE, "did": "did:plc:monitor"}
        return json_response(json.dumps(session).encode(), limits)

    def _limit(self, params: dict[str, str]) -> int | None:
        try:
            limit = int(params.get("limit", "25"))
        except ValueError:
            return None
        return limit if 1 <= limit <= 100 else None

    def _search(self, params: dict[str, str], limits: list[tuple[str, str]]) -> Response:
        limit = self._limit(params)
        query = params.get("q", "").strip()
        if limit is None or not query:
            return _error(400, "InvalidRequest", 'Error: params must have the property "q"', limits)
        words, filters = [], {}
        for token in query.split():
            key, sep, value = token.partition(":")
            if sep and key in ("lang", "from"):
                filters[key] = value
            else:
                words.append(token.lower())
        hits = []
        for view in self.posts:
            record = view["record"]
            if any(w not in record.get("text", "").lower() for w in words):
                continue
            if "lang" in filters and filters["lang"] not in (record.get("langs") or []):
                continue
            if "from" in filters and filters["from"] not in (view["author"]["did"], view["author"]["handle"]):
                continue
            when = sort_at(view)
            if "since" in params and when < _parse(params["since"]):
                continue
            if "until" in params and when >= _parse(params["until"]):
                continue
            hits.append(view)
        if params.get("sort") == "top":
            hits.sort(key=lambda v: (v["likeCount"], v["uri"]), reverse=True)
        else:
            hits.sort(key=lambda v: (sort_at(v), v["uri"]), reverse=True)
        start = int(params.get("cursor", "0") or 0)
        page = hits[start : start + limit]
        doc: dict[str, Any] = {"posts": page, "hitsTotal": len(hits)}
        if start + limit < len(hits):
            doc["cursor"] = str(start + limit)
        return json_response(json.dumps(doc).encode(), limits)

    def _feed(self, params: dict[str, str], limits: list[tuple[str, str]]) -> Response:
        limit = self._limit(params)
        if limit is None:
            return _error(400, "InvalidRequest", "limit must be 1 to 100", limits)
        if params.get("feed") != FEED:
            return _error(400, "UnknownFeed", f"Unknown feed: {params.get('feed')}", limits)
        ranked = sorted(self.posts, key=lambda v: (v["likeCount"], v["uri"]), reverse=True)
        by_uri = {v["uri"]: v for v in self.posts}
        start = int(params.get("cursor", "0") or 0)
        items = []
        for view in ranked[start : start + limit]:
            item: dict[str, Any] = {"post": view}
            reply = view["record"].get("reply")
            if isinstance(reply, dict):
                item["reply"] = {key: _ref(by_uri, reply[key]["uri"]) for key in ("root", "parent")}
            if view["uri"] in self.reasons:
                item["reason"] = self.reasons[view["uri"]]
            items.append(item)
        doc: dict[str, Any] = {"feed": (self.broken_items if start == 0 else []) + items}
        if start + limit < len(ranked):
            doc["cursor"] = f"{start + limit}"
        return json_response(json.dumps(doc).encode(), limits)


def _ref(by_uri: dict[str, dict[str, Any]], uri: str) -> dict[str, Any]:
    if uri in by_uri:
        return {"$type": "app.bsky.feed.defs#postView", **by_uri[uri]}
    return {"$type": "app.bsky.feed.defs#notFoundPost", "uri": uri, "notFound": True}


def _error(status: int, error: str, message: str, limits: list[tuple[str, str]]) -> Response:
    return json_response(json.dumps({"error": error, "message": message}).encode(), limits, status)


@contextmanager
def appview_server(site: AppView) -> Iterator[PlatformServer]:
    with serve(site.answer) as server:
        yield server
