"""Bluesky feeds and searches, pulled from an AppView over XRPC (``collect bluesky --feed URI | --search Q``).

- **Where it asks.** Without credentials: the public AppView (``Settings.bluesky_appview_url``,
  ``https://public.api.bsky.app``). With ``FLOCKWATCH_BLUESKY_HANDLE`` and ``..._APP_PASSWORD``: a session on the
  account's PDS (``com.atproto.server.createSession`` at ``Settings.bluesky_pds_url``), whose ``/xrpc/app.bsky.*``
  answers for the AppView with the session's bearer token. ``--endpoint URL`` replaces both (a mirror, a
  self-hosted AppView, a test server) and is the one trusted origin.
- **Feeds** (``app.bsky.feed.getFeed``, a feed generator's ``at://`` URI such as Discover's) are ranked, so each
  pull is a snapshot: up to ``max_pages`` pages (``cursor``-paginated, 100 posts each), every post emitted again,
  so its counts become an engagement snapshot. Each item's reply ``root`` and ``parent`` (when the AppView gives
  their views) are emitted before it; a ``reasonRepost`` adds the repost as a post of its own
  (:mod:`flockwatch.replay.bluesky_appview`).
- **Searches** (``app.bsky.feed.searchPosts``). ``--sort top`` is a snapshot like a feed. ``--sort latest``
  (the default) is incremental without the API's ``cursor``, which the public AppView refuses to page with
  unauthenticated: pages walk *down* in time with ``until`` (exclusive; set one millisecond above the oldest post
  of the page before, so posts sharing that millisecond are asked again and dropped by URI) and stop at ``since``
  (inclusive), the newest time the previous pull covered. A pull that runs out of pages before reaching ``since``
  saves where it stopped, and the next pull finishes that window before moving ``since`` up, so nothing between
  two pulls is skipped. The first pull takes the newest ``max_pages`` pages, no older history. The cursor keeps
  the URIs of the newest posts emitted, so the inclusive ``since`` repeats none of them.
- **Time order** is the AppView's ``sortAt``, the earlier of ``createdAt`` and ``indexedAt``; a post whose
  client claims an old ``createdAt`` sorts where it claims, which ``latest`` cannot reach once past it.
- **Refusals.** A 403 on an unauthenticated search is the public AppView refusing search (it does so under
  load, see bluesky-social/atproto#3423): the error says to configure credentials. XRPC errors
  (``{"error", "message"}``) are reported with their message. Rate limits (``RateLimit-Remaining``/``-Reset``)
  and ``Retry-After`` are honoured by :class:`~flockwatch.adapters.connectors.http_api.ApiClient`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from flockwatch.adapters.connectors.base import Batch, raw_record
from flockwatch.adapters.connectors.http_api import ApiClient, ApiError
from flockwatch.config import Settings
from flockwatch.replay import bluesky_appview as fmt
from flockwatch.replay.timestamps import from_iso, or_none
from flockwatch.schema import RawRecord

log = logging.getLogger(__name__)

SOURCE = "bluesky"
PAGE_SIZE = 100  # the most getFeed and searchPosts serve per request
MAX_PAGES = 5
# URIs the search cursor remembers at most (those at its bounds' exact milliseconds; see SearchCursor).
MAX_SEEN = 1000
MAX_QUERY_CHARS = 500
POST_VIEW = "app.bsky.feed.defs#postView"
Sort = Literal["latest", "top"]
ONE_MS = timedelta(milliseconds=1)


def iso_ms(value: datetime) -> str:
    """The form ``since``/``until`` take: UTC, milliseconds, ``Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def sort_at(view: dict[str, Any]) -> datetime | None:
    """The AppView's ordering time of a post view: the earlier of its record's ``createdAt`` and ``indexedAt``."""
    indexed = fmt.post_time(view)
    record = view.get("record")
    created = or_none(from_iso, record.get("createdAt"), what="createdAt") if isinstance(record, dict) else None
    times = [t for t in (created, indexed) if t is not None]
    return min(times) if times else None


@dataclass
class XrpcApi:
    """``GET /xrpc/<method>`` against the AppView (or the PDS answering for it), with a session when configured."""

    base: str
    client: ApiClient
    identifier: str = ""
    password: str = ""
    _token: str | None = None

    @property
    def authenticated(self) -> bool:
        return bool(self.identifier and self.password)

    def _bearer(self) -> dict[str, str]:
        if not self.authenticated:
            return {}
        if self._token is None:
            body = json.dumps({"identifier": self.identifier, "password": self.password}).encode()
            response = self.client.request(
                "POST",
                f"{self.base}/xrpc/com.atproto.server.createSession",
                headers={"Content-Type": "application/json"},
                data=body,
            )
            doc = response.json()
            token = doc.get("accessJwt") if isinstance(doc, dict) else None
            if not isinstance(token, str) or not token:
                raise ApiError(f"{self.base}: createSession gave no accessJwt", response.status)
            self._token = token
        return {"Authorization": f"Bearer {self._token}"}

    def get(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """The method's JSON object; a session is made again once when the server says it expired."""
        url = f"{self.base}/xrpc/{method}"
        for renewed in (False, True):
            try:
                doc = self.client.get_json(url, params=params, headers=self._bearer())
            except ApiError as exc:
                if exc.status in (400, 401) and self.authenticated and not renewed and "ExpiredToken" in str(exc):
                    self._token = None
                    continue
                explained = _explain(exc, method, self.authenticated)
                if explained == str(exc):
                    raise
                raise ApiError(explained, exc.status) from None
            if not isinstance(doc, dict):
                raise ApiError(f"{url}: answer is not a JSON object")
            return doc
        raise AssertionError("unreachable")


def _explain(exc: ApiError, method: str, authenticated: bool) -> str:
    if exc.status == 403 and method == "app.bsky.feed.searchPosts" and not authenticated:
        return (
            f"{exc}\nThe public Bluesky AppView refuses unauthenticated search at times: set "
            "FLOCKWATCH_BLUESKY_HANDLE and FLOCKWATCH_BLUESKY_APP_PASSWORD (an app password) to search "
            "through your PDS, or use --feed or the Jetstream stream."
        )
    return str(exc)


def post_record(view: dict[str, Any], source_uri: str, reason: dict[str, Any] | None = None) -> RawRecord:
    """The ``bluesky_appview`` record of a post view (with the feed's repost reason, for the repost)."""
    payload: dict[str, Any] = {"post": view}
    uri = view.get("uri")
    if reason is not None:
        payload["reason"] = reason
        uri = reason.get("uri")
    if not isinstance(uri, str):
        # No id to tell it by: its content does, so distinct broken views are each dead-lettered once.
        uri = "malformed:" + hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return raw_record(fmt.NAME, source_uri, uri, payload, event_time=fmt.post_time(view))


def feed_item_records(item: object, source_uri: str) -> list[RawRecord]:
    """A feed item's records: its reply root and parent (when viewable), the post, and its repost."""
    if not isinstance(item, dict) or not isinstance(item.get("post"), dict):
        return [post_record({"item": item}, source_uri)]  # refused by the normaliser, dead-lettered
    records = []
    reply = item.get("reply")
    if isinstance(reply, dict):
        for key in ("root", "parent"):
            view = reply.get(key)
            if isinstance(view, dict) and view.get("$type", POST_VIEW) == POST_VIEW and "record" in view:
                records.append(post_record(view, source_uri))
    records.append(post_record(item["post"], source_uri))
    reason = item.get("reason")
    if isinstance(reason, dict) and reason.get("$type") == fmt.REASON_REPOST:
        if isinstance(reason.get("uri"), str):
            records.append(post_record(item["post"], source_uri, reason))
        else:
            log.debug("repost of %s has no uri (an older AppView); left out", item["post"].get("uri"))
    return records


@dataclass
class FeedConnector:
    """A feed generator's posts, one ranked snapshot per pull."""

    api: XrpcApi
    feed: str
    max_pages: int = MAX_PAGES
    page_size: int = PAGE_SIZE
    source: str = SOURCE
    streaming: bool = False

    @property
    def cursor_key(self) -> str:
        return f"{SOURCE}:feed/{self.feed}"

    def batches(self, cursor: str | None) -> Iterator[Batch]:
        source_uri = f"{self.api.base}/xrpc/app.bsky.feed.getFeed?feed={self.feed}"
        page_cursor: str | None = None
        seen: set[str] = set()
        for _ in range(self.max_pages):
            doc = self.api.get(
                "app.bsky.feed.getFeed", {"feed": self.feed, "limit": self.page_size, "cursor": page_cursor}
            )
            items = doc.get("feed")
            if not isinstance(items, list):
                raise ApiError(f"{source_uri}: answer has no feed list")
            records = [r for item in items for r in feed_item_records(item, source_uri) if _first(r, seen)]
            yield Batch(records)
            next_cursor = doc.get("cursor")
            if not items or not isinstance(next_cursor, str) or not next_cursor or next_cursor == page_cursor:
                return
            page_cursor = next_cursor


def _first(record: RawRecord, seen: set[str]) -> bool:
    """Whether ``record`` is the first with its position in this pull (a feed may serve a post twice)."""
    key = record.position or ""
    if key in seen:
        return False
    seen.add(key)
    return True


@dataclass
class SearchCursor:
    """Where ``latest`` search pulls stand (times are :func:`iso_ms` strings).

    ``since``: covered from here up (the API's ``since`` is inclusive). ``until``: set while a window is
    unfinished, the exclusive bound the next page asks below (down to ``since``); ``high``: the newest time
    seen, the next ``since`` once the window is done. ``seen``: URI → time of the posts emitted at exactly the
    milliseconds an inclusive bound serves again (``since``, ``high``, the one just below ``until``).
    """

    since: str | None = None
    seen: dict[str, str] = field(default_factory=dict)
    until: str | None = None
    high: str | None = None

    @classmethod
    def parse(cls, text: str | None) -> SearchCursor:
        if not text:
            return cls()
        try:
            data = json.loads(text)
            seen = data.get("seen", {}) if isinstance(data, dict) else None
            if not isinstance(seen, dict):
                raise ValueError("not a search cursor")
            for key in ("since", "until", "high"):
                if data.get(key) is not None:
                    from_iso(data[key], what=key)
            return cls(
                data.get("since"), {str(k): str(v) for k, v in seen.items()}, data.get("until"), data.get("high")
            )
        except ValueError as exc:
            problem = f"saved search cursor {text[:80]!r} is unreadable ({exc}); remove it to start over"
            raise ApiError(problem) from None

    def dumps(self) -> str:
        below = iso_ms(from_iso(self.until, what="until") - ONE_MS) if self.until else None
        stamps = {self.since, self.high, below} - {None}
        kept = dict([(u, t) for u, t in self.seen.items() if t in stamps][-MAX_SEEN:])
        return json.dumps(
            {"since": self.since, "until": self.until, "high": self.high, "seen": kept}, separators=(",", ":")
        )


@dataclass
class SearchConnector:
    """Posts matching a search query: the newest since the last pull (``latest``) or the top ones (``top``)."""

    api: XrpcApi
    query: str
    sort: Sort = "latest"
    max_pages: int = MAX_PAGES
    page_size: int = PAGE_SIZE
    source: str = SOURCE
    streaming: bool = False

    @property
    def cursor_key(self) -> str:
        return f"{SOURCE}:search/{self.sort}/{self.query}"

    @property
    def source_uri(self) -> str:
        return f"{self.api.base}/xrpc/app.bsky.feed.searchPosts?q={self.query}&sort={self.sort}"

    def _page(self, **params: Any) -> list[object]:
        method = "app.bsky.feed.searchPosts"
        doc = self.api.get(method, {"q": self.query, "sort": self.sort, "limit": self.page_size, **params})
        posts = doc.get("posts")
        if not isinstance(posts, list):
            raise ApiError(f"{self.source_uri}: answer has no posts list")
        return posts

    def _record(self, view: object) -> RawRecord:
        return post_record(view if isinstance(view, dict) else {"view": view}, self.source_uri)

    def batches(self, cursor: str | None) -> Iterator[Batch]:
        if self.sort == "top":
            seen: set[str] = set()
            yield Batch([r for r in map(self._record, self._page()) if _first(r, seen)])
            return
        yield from self._latest(SearchCursor.parse(cursor))

    def _latest(self, state: SearchCursor) -> Iterator[Batch]:
        seen, since, until, high = dict(state.seen), state.since, state.until, state.high
        for _ in range(self.max_pages):
            views = self._page(since=since, until=until)
            records: list[RawRecord] = []
            times: list[datetime] = []
            for view in views:
                when = sort_at(view) if isinstance(view, dict) else None
                if when is not None:
                    times.append(when)
                record = self._record(view)
                key = record.position or ""
                if key in seen:
                    continue
                seen[key] = iso_ms(when) if when is not None else ""
                records.append(record)
            if times:
                newest = iso_ms(max(times))
                high = newest if high is None or newest > high else high
            if len(views) < self.page_size or not times:  # the bottom: the window is done
                yield Batch(records, SearchCursor(high or since, seen).dumps())
                return
            lowest = min(times)
            below = iso_ms(lowest + ONE_MS)
            if not records and until is not None and below >= until:
                # A full page inside one millisecond, all seen: step below it (more than a page of posts in one
                # millisecond would lose the rest; a page is 100).
                log.warning("%s: a full page at %s; stepping below it", self.source_uri, iso_ms(lowest))
                below = iso_ms(lowest)
            until = below
            yield Batch(records, SearchCursor(since, seen, until, high).dumps())
        if since is None:  # a first pull takes the newest pages only, no older history
            yield Batch([], SearchCursor(high, seen).dumps())


def _api(settings: Settings, endpoint: str | None, client: ApiClient | None) -> XrpcApi:
    identifier = settings.bluesky_handle.strip()
    password = settings.bluesky_app_password.get_secret_value()
    if endpoint is not None:
        base = endpoint.strip().rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"--endpoint for feeds and searches must be an http(s) URL, not {endpoint!r}")
        if parts.username is not None or parts.password is not None:
            raise ValueError("--endpoint must not carry credentials")
        base = base.removesuffix("/xrpc")
    else:
        base = (settings.bluesky_pds_url if identifier and password else settings.bluesky_appview_url).rstrip("/")
    return XrpcApi(base, client or ApiClient(endpoint=base if endpoint else None), identifier, password)


def feed_connector(
    settings: Settings,
    *,
    feed: str,
    endpoint: str | None,
    max_pages: int = MAX_PAGES,
    page_size: int = PAGE_SIZE,
    client: ApiClient | None = None,
) -> FeedConnector:
    """A feed generator's feed (``at://did/app.bsky.feed.generator/NAME``, or a ``bsky.app`` feed link)."""
    _pages(max_pages, page_size)
    return FeedConnector(_api(settings, endpoint, client), fmt.feed_uri(feed), max_pages, page_size)


def _pages(max_pages: int, page_size: int) -> None:
    if not 1 <= page_size <= PAGE_SIZE or max_pages < 1:
        raise ValueError(f"a page holds 1 to {PAGE_SIZE} posts, a pull reads 1 page or more ({page_size}, {max_pages})")


def search_connector(
    settings: Settings,
    *,
    query: str,
    sort: str = "latest",
    endpoint: str | None,
    max_pages: int = MAX_PAGES,
    page_size: int = PAGE_SIZE,
    client: ApiClient | None = None,
) -> SearchConnector:
    """Posts matching ``query`` (Bluesky's search syntax: words, ``"phrases"``, ``from:``, ``#tag``...)."""
    text = query.strip()
    if not text or len(text) > MAX_QUERY_CHARS:
        raise ValueError(f"--search needs a query of 1 to {MAX_QUERY_CHARS} characters")
    if sort not in ("latest", "top"):
        raise ValueError(f"--sort must be latest or top, not {sort!r}")
    _pages(max_pages, page_size)
    kind: Sort = "latest" if sort == "latest" else "top"
    return SearchConnector(_api(settings, endpoint, client), text, kind, max_pages, page_size)
