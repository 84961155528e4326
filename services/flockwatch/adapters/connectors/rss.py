"""RSS and Atom news feeds: each new entry of a feed as an ``rss`` record (:mod:`flockwatch.replay.rss`).

- **Fetching.** The feed is fetched by :class:`~flockwatch.adapters.connectors.http_api.ApiClient` (the feed URL
  is its trusted endpoint: redirects elsewhere pass the address rules, a redirect to a private address is
  refused; 408/429/5xx, timeouts, dropped connections and bodies shorter than their ``Content-Length`` are
  retried with backoff, ``Retry-After`` honoured). ``feedparser`` only *parses*: it is handed the body as a
  stream (``parse(BytesIO(body))``), never a URL, and never the bare bytes either, because ``feedparser.parse``
  opens a ``bytes`` argument that names an existing file as that file. External entities stay off (feedparser's
  SAX parser is set so), and the feed URL after redirects is the base for relative links.
- **Conditional GET.** The cursor keeps the last ``ETag`` and ``Last-Modified``; the next pull sends them as
  ``If-None-Match``/``If-Modified-Since``, and a ``304 Not Modified`` yields nothing and keeps the cursor.
- **Only new entries.** The cursor also keeps the ids (:func:`flockwatch.replay.rss.entry_id`) of the entries
  served recently (the newest ``MAX_SEEN``) and the newest entry time; a pull emits the entries whose id it has
  not seen, in the order the feed serves them. Time is *not* a cut-off: feeds add articles back-dated to when
  their draft began, and a time cut-off would skip them. A changed ``ETag`` with the same entries emits nothing.
- **Broken feeds.** A body that is not well-formed XML is fetched again (``MALFORMED_RETRIES`` times, with
  backoff: a page cut short without a ``Content-Length`` looks exactly like that); if it stays broken,
  feedparser's lenient parse is used when it found entries (many real feeds have unescaped ``&``), and a body
  with neither a feed nor entries is an :class:`ApiError` ("not an RSS/Atom feed").
- **Payloads** are ``{"feed": {url, fetched_url, title, link, language, author}, "entry": <the entry as JSON>}``
  (``struct_time`` values as ISO 8601 UTC strings, only JSON types kept); an entry without any date is marked
  ``"dated_by_pull": <the pull's time>``, the time of its post (see :mod:`flockwatch.replay.rss`).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import time
import xml.sax
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import feedparser

from flockwatch.adapters.connectors.base import Batch, raw_record
from flockwatch.adapters.connectors.http_api import MB, ApiClient, ApiError, ApiResponse
from flockwatch.collect.backoff import retry_delay
from flockwatch.config import Settings
from flockwatch.replay import rss as fmt
from flockwatch.replay.pulled import DATED_BY_PULL

log = logging.getLogger(__name__)

SOURCE = "rss"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, application/xml;q=0.8, "
    "text/xml;q=0.8, */*;q=0.5"
)
# A feed is a few hundred KB at most; far more is a wrong URL (a video) or an abusive server.
MAX_FEED_BYTES = 16 * MB
# Ids remembered across pulls: feeds serve their newest 10 to 100 entries, so this spans many windows.
MAX_SEEN = 2000
MALFORMED_RETRIES = 2
MAX_JSON_DEPTH = 32


@dataclass
class FeedCursor:
    """What a pull leaves for the next: validators for a conditional GET and the entries already emitted."""

    etag: str | None = None
    last_modified: str | None = None
    newest: str | None = None
    ids: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str | None) -> FeedCursor:
        """The cursor ``text`` holds; an unreadable one starts over (logged): the feed is then read whole."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            ids = data.get("ids") or []
            if not isinstance(ids, list):
                raise ValueError("ids is not a list")
            return cls(
                etag=_str_or_none(data.get("etag")),
                last_modified=_str_or_none(data.get("last_modified")),
                newest=_str_or_none(data.get("newest")),
                ids=[str(i) for i in ids],
            )
        except ValueError as exc:
            log.warning("rss cursor %r is unreadable (%s); reading the feed from scratch", text[:80], exc)
            return cls()

    def dumps(self) -> str:
        return json.dumps(
            {"etag": self.etag, "last_modified": self.last_modified, "newest": self.newest, "ids": self.ids},
            separators=(",", ":"),
        )


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` (feedparser's dicts, lists, ``struct_time``...) as plain JSON; times as ISO 8601 UTC."""
    if isinstance(value, time.struct_time):
        try:
            return datetime(*value[:6], tzinfo=UTC).isoformat()
        except (ValueError, OverflowError):
            return None
    if depth > MAX_JSON_DEPTH:
        return None
    if isinstance(value, dict):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, depth + 1) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def entry_key(entry: dict[str, Any], feed_url: str) -> str:
    """The id the cursor remembers an entry by: its post id, or (an entry the normaliser will reject) a hash of it,
    so a broken entry is dead-lettered once, not on every pull."""
    try:
        return fmt.entry_id(entry, feed_url)
    except ValueError:
        digest = hashlib.sha256(json.dumps(entry, sort_keys=True, default=str).encode()).hexdigest()
        return f"sha256:{digest}"


def parse_feed(body: bytes, response: ApiResponse) -> Any:
    """feedparser's result for ``body`` (a stream, never a URL or file name), based at the final URL."""
    headers = {"content-location": response.url}
    for name in ("content-type", "content-language"):
        value = response.header(name)
        if value is not None:
            headers[name] = value
    return feedparser.parse(io.BytesIO(body), response_headers=headers)


def _malformed(parsed: Any) -> BaseException | None:
    exc = parsed.get("bozo_exception") if parsed.get("bozo") else None
    return exc if isinstance(exc, xml.sax.SAXException) else None


@dataclass
class FeedConnector:
    """One feed, pulled: :meth:`batches` fetches it once and yields its new entries as one batch."""

    feed: str
    client: ApiClient
    source: str = SOURCE
    streaming: bool = False

    @property
    def cursor_key(self) -> str:
        return f"{SOURCE}:{self.feed}"

    def _get(self, state: FeedCursor) -> ApiResponse:
        headers = {"Accept": ACCEPT}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        return self.client.request("GET", self.feed, headers=headers, ok=frozenset({200, 304}))

    def fetch(self, state: FeedCursor) -> tuple[ApiResponse, Any] | None:
        """The response and its parse; ``None`` for 304. Not well-formed XML is asked for again (see module doc)."""
        for attempt in range(MALFORMED_RETRIES + 1):
            response = self._get(state)
            if response.status == 304:
                return None
            parsed = parse_feed(response.body, response)
            broken = _malformed(parsed)
            if broken is None:
                return response, parsed
            if attempt < MALFORMED_RETRIES:
                log.info("%s: not well-formed (%s); asking again", self.feed, broken)
                self.client.sleep(retry_delay(attempt, self.client.backoff_base_s, self.client.backoff_cap_s))
        if parsed.get("entries"):
            log.warning(
                "%s: not well-formed XML (%s); using the %d entries read leniently",
                self.feed,
                broken,
                len(parsed["entries"]),
            )
            return response, parsed
        raise ApiError(f"{self.feed}: not an RSS/Atom feed (not well-formed: {broken})", response.status)

    def batches(self, cursor: str | None) -> Iterator[Batch]:
        state = FeedCursor.parse(cursor)
        fetched = self.fetch(state)
        if fetched is None:
            log.info("%s: not modified", self.feed)
            return
        response, parsed = fetched
        entries = parsed.get("entries") or []
        if not entries and not parsed.get("version"):
            raise ApiError(f"{self.feed}: not an RSS/Atom feed (no feed element, no entries)", response.status)
        feed = jsonable(parsed.get("feed") or {})
        info = {
            "url": self.feed,
            "fetched_url": response.url,
            "title": feed.get("title"),
            "link": feed.get("link"),
            "language": feed.get("language"),
            "author": feed.get("author"),
        }
        if feed.get("author_detail"):
            info["author_detail"] = feed["author_detail"]
        seen = set(state.ids)
        pulled = datetime.now(UTC)
        served: list[str] = []
        newest = state.newest
        records = []
        for item in entries:
            entry = jsonable(item)
            key = entry_key(entry, self.feed)
            served.append(key)
            when = fmt.entry_time(entry)
            if when is not None and (newest is None or when.isoformat() > newest):
                newest = when.isoformat()
            if key in seen:
                continue
            seen.add(key)
            payload: dict[str, Any] = {"feed": info, "entry": entry}
            if not fmt.has_date(entry):
                payload[DATED_BY_PULL] = pulled.isoformat()
            records.append(raw_record(fmt.NAME, self.feed, key, payload, event_time=when, collected_at=pulled))
        undated = len([r for r in records if DATED_BY_PULL in r.payload])
        if undated:
            log.warning("%s: %d new entries have no date; they are dated by this pull", self.feed, undated)
        ids = list(dict.fromkeys(served + state.ids))[:MAX_SEEN]
        next_state = FeedCursor(
            etag=response.header("ETag"), last_modified=response.header("Last-Modified"), newest=newest, ids=ids
        )
        yield Batch(records, next_state.dumps())


def check_feed_url(feed: str) -> str:
    """``feed`` stripped, if it is an http(s) URL with a host; ``ValueError`` otherwise."""
    url = feed.strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise ValueError(f"--feed is not a URL: {feed!r} ({exc})") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise ValueError(f"--feed must be an http(s) URL, not {feed!r}")
    return url


def feed_connector(settings: Settings, *, feed: str, client: ApiClient | None = None) -> FeedConnector:
    """The connector of one feed; ``client`` for tests (fake sleeps, short timeouts)."""
    url = check_feed_url(feed)
    return FeedConnector(feed=url, client=client or ApiClient(endpoint=url, max_body_bytes=MAX_FEED_BYTES))
