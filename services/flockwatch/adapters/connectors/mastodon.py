"""Mastodon: an instance's timelines and trends (REST pulls), or its streaming API (server-sent events).

- **Where it asks.** The instance URL is the trusted endpoint. A token from ``settings.mastodon_token(host)`` is
  sent as ``Authorization: Bearer`` when configured (list timelines need one; public reads do not).
- **Timelines**: ``public``, ``local`` (``public?local=true``), ``tag:NAME``, ``list:ID``; ``trends`` (trending
  statuses), ``trends:tags`` and ``trends:links`` (not statuses: recorded as ``tag``/``link`` entities, see
  :mod:`flockwatch.replay.mastodon`).
- **Pagination and cursors.** Timelines page by status id through the ``Link`` header (``max_id`` down,
  ``min_id`` up; only its query is used, on the instance's own URL, so a header naming another host cannot
  send us there). The cursor is the newest status id written: the next pull asks ``min_id=cursor`` and walks up
  page by page (each page's newest id saved as it is written), so a re-pull takes only newer statuses and
  nothing between two pulls is skipped. A first pull reads down from the newest for ``max_pages``. Trends are
  snapshots (ranked, no cursor). Pages ask for 40 statuses; a server that knows only the default page (a 404
  with ``limit``, an answer without) is asked without it for the rest of the run.
- **Replies.** Statuses are keyed by their ``uri``, but a reply names its parent by the instance's local id:
  parents are resolved from statuses already seen, else with ``GET /api/v1/statuses?id[]=...`` (Mastodon
  4.3+), else one ``GET /api/v1/statuses/:id`` each (a few per page); lookups stop for the run after the first
  refusal. The stream resolves from what it has seen only (one request per reply would spend the rate limit).
  A reblog's or quote's embedded status is written too, before the status that embeds it.
- **Streaming** (``stream=True``): ``/api/v1/streaming/public`` (``/public/local``, ``/hashtag?tag=``,
  ``/list?list=``) on the streaming server the instance names (``/api/v2/instance``), if its
  ``/api/v1/streaming/health`` answers ``OK``, else on the instance itself. ``update`` (and ``status.update``)
  events are statuses; other events and ``:`` comments (heartbeats) are skipped. Server-sent events have no
  replay, so after every (re)connection, and on a restart from a cursor, the gap is filled with a REST pull
  ``min_id=cursor`` before the stream's own events are read (those already written are dropped). A dropped
  connection is reopened after a jittered, growing wait.
"""

from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from http.client import HTTPException
from typing import Any, Literal
from urllib.parse import parse_qs, quote, urlsplit

from flockwatch.adapters.connectors.base import Batch, raw_record
from flockwatch.adapters.connectors.http_api import ApiClient, ApiError, ApiResponse, Refused
from flockwatch.collect.backoff import retry_delay
from flockwatch.config import Settings
from flockwatch.replay import mastodon as fmt
from flockwatch.replay.payload import loads_bounded, unreadable
from flockwatch.schema import RawRecord

log = logging.getLogger(__name__)

SOURCE = "mastodon"
PAGE_SIZE = 40  # the most a timeline page holds
TREND_PAGE_SIZE = {"trend_statuses": 40, "tags": 20, "links": 20}
MAX_PAGES = 5
# Pages one pull walks up from its cursor; the next pull continues from where it stopped.
MAX_PAGES_UP = 50
# Parent lookups per page when the instance has no multi-status endpoint.
SINGLE_LOOKUPS = 10
# Local id -> uri of statuses seen, for resolving replies.
REMEMBERED_URIS = 50_000
STREAM_READ_TIMEOUT_S = 90.0  # Mastodon sends a heartbeat every 15 s
_REFUSED = frozenset({400, 401, 403, 404, 410, 422})
Kind = Literal["statuses", "trend_statuses", "tags", "links"]


@dataclass(frozen=True)
class Timeline:
    """What a ``--timeline`` value asks for: its REST path and parameters, and its stream."""

    name: str
    path: str
    params: dict[str, str]
    kind: Kind = "statuses"
    stream_path: str | None = None
    stream_params: dict[str, str] = field(default_factory=dict)
    needs_token: bool = False


def parse_timeline(value: str) -> Timeline:
    """``public``, ``local``, ``tag:NAME``, ``list:ID``, ``trends``, ``trends:tags`` or ``trends:links``."""
    name = value.strip()
    if name == "public":
        return Timeline(name, "/api/v1/timelines/public", {}, stream_path="/api/v1/streaming/public")
    if name == "local":
        return Timeline(
            name, "/api/v1/timelines/public", {"local": "true"}, stream_path="/api/v1/streaming/public/local"
        )
    if name == "trends":
        return Timeline(name, "/api/v1/trends/statuses", {}, "trend_statuses")
    if name == "trends:tags":
        return Timeline(name, "/api/v1/trends/tags", {}, "tags")
    if name == "trends:links":
        return Timeline(name, "/api/v1/trends/links", {}, "links")
    kind, _, arg = name.partition(":")
    if kind == "tag" and re.fullmatch(r"#?[^\s/?#&]{1,100}", arg):
        tag = arg.lstrip("#")
        return Timeline(
            name,
            f"/api/v1/timelines/tag/{quote(tag, safe='')}",
            {},
            stream_path="/api/v1/streaming/hashtag",
            stream_params={"tag": tag},
        )
    if kind == "list" and re.fullmatch(r"[0-9]{1,30}", arg):
        return Timeline(
            name,
            f"/api/v1/timelines/list/{arg}",
            {},
            stream_path="/api/v1/streaming/list",
            stream_params={"list": arg},
            needs_token=True,
        )
    raise ValueError(f"unknown timeline {value!r}: public, local, tag:NAME, list:ID, trends, trends:tags, trends:links")


def instance_base(instance: str) -> str:
    """The instance's base URL (``https://host[:port]``, a path kept for instances behind one); ``ValueError``
    for anything else."""
    text = instance.strip().rstrip("/")
    if "://" not in text:
        text = f"https://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--instance must be an http(s) URL such as https://mastodon.social, not {instance!r}")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def id_order(status_id: str) -> tuple[int, str]:
    """Sort key of status ids: Mastodon's are decimal without leading zeros (and Pleroma's fixed-length), so
    length then text orders them as numbers."""
    return len(status_id), status_id


def status_id(status: object) -> str | None:
    value = status.get("id") if isinstance(status, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    return value.strip() if isinstance(value, str) and value.strip() and len(value) <= 64 else None


def link_params(header: str | None) -> dict[str, dict[str, str]]:
    """``rel`` → query parameters of each URL in a ``Link`` header (RFC 8288)."""
    out: dict[str, dict[str, str]] = {}
    for url, rel in re.findall(r'<([^>]*)>\s*;\s*rel="?([^";,]+)"?', header or ""):
        query = parse_qs(urlsplit(url).query)
        out[rel.strip()] = {k: v[0] for k, v in query.items() if v}
    return out


@dataclass
class MastodonApi:
    """One instance: GETs with its token, records out of statuses, and the local-id → uri memory."""

    base: str
    token: str | None
    client: ApiClient
    lookups_on: bool = True
    send_limit: bool = True
    _lookup: ApiClient | None = None
    _domain: str | None = None
    _info: dict[str, Any] | None = None
    _multi: bool | None = None
    uris: OrderedDict[str, str] = field(default_factory=OrderedDict)

    @property
    def host(self) -> str:
        return urlsplit(self.base).netloc

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    @property
    def lookup(self) -> ApiClient:
        """A client that gives up sooner, for what only enriches records (instance info, reply parents)."""
        if self._lookup is None:
            self._lookup = replace(self.client, max_attempts=2, requests=0)
        return self._lookup

    def get(self, path: str, params: dict[str, Any], client: ApiClient | None = None) -> ApiResponse:
        """``GET path``. Page sizes (``limit``) are left out for the rest of the run if a page with one is not
        found but one without it is: some servers and replays know only the default page."""
        query = params if self.send_limit else {k: v for k, v in params.items() if k != "limit"}
        try:
            return (client or self.client).request("GET", f"{self.base}{path}", params=query, headers=self.auth)
        except ApiError as exc:
            if exc.status != 404 or "limit" not in query:
                raise
            response = (client or self.client).request(
                "GET", f"{self.base}{path}", params={k: v for k, v in params.items() if k != "limit"}, headers=self.auth
            )
            self.send_limit = False
            return response

    def info(self) -> dict[str, Any]:
        """``/api/v2/instance`` (else v1); empty when the instance will not say."""
        if self._info is None:
            self._info = {}
            for path in ("/api/v2/instance", "/api/v1/instance"):
                try:
                    doc = self.get(path, {}, self.lookup).json()
                except ApiError as exc:
                    log.info("%s%s: %s", self.base, path, exc)
                    continue
                if isinstance(doc, dict):
                    self._info = {**doc, "_from": path}
                    break
        return self._info

    @property
    def domain(self) -> str:
        """The instance's account domain (``acct`` host of local accounts): what it says, else its host."""
        if self._domain is None:
            info = self.info()
            said = info.get("domain") if info.get("_from") == "/api/v2/instance" else info.get("uri")
            said = said.split("://", 1)[-1] if isinstance(said, str) else None
            self._domain = (said or urlsplit(self.base).hostname or self.host).strip().strip("/").lower()
        return self._domain

    def streaming_base(self) -> str | None:
        """The streaming server the instance names (v2 ``configuration.urls.streaming``, v1
        ``urls.streaming_api``; ``wss://`` read as ``https://``), if any."""
        info = self.info()
        configuration = info.get("configuration")
        v2_urls = configuration.get("urls") if isinstance(configuration, dict) else None
        v1_urls = info.get("urls")
        named = (v2_urls.get("streaming") if isinstance(v2_urls, dict) else None) or (
            v1_urls.get("streaming_api") if isinstance(v1_urls, dict) else None
        )
        if not isinstance(named, str) or "://" not in named:
            return None
        scheme, rest = named.split("://", 1)
        scheme = {"wss": "https", "ws": "http"}.get(scheme.lower(), scheme.lower())
        return f"{scheme}://{rest}".rstrip("/") if scheme in ("http", "https") else None

    # --- records -----------------------------------------------------------------------------------------

    def remember(self, status: object) -> None:
        local, uri = status_id(status), status.get("uri") if isinstance(status, dict) else None
        if local is None or not isinstance(uri, str) or not uri.strip():
            return
        self.uris[local] = uri.strip()
        self.uris.move_to_end(local)
        while len(self.uris) > REMEMBERED_URIS:
            self.uris.popitem(last=False)

    def _parents(self, status: dict[str, Any]) -> list[str]:
        wanted = []
        for candidate in (status.get("in_reply_to_id"), _shallow_quote_id(status)):
            if isinstance(candidate, int | str) and not isinstance(candidate, bool) and str(candidate).strip():
                wanted.append(str(candidate).strip())
        return wanted

    def resolve(self, ids: Iterable[str]) -> None:
        """Learn the uris of the statuses with local ``ids`` (best effort; see the module docstring)."""
        missing = [i for i in dict.fromkeys(ids) if i not in self.uris and len(i) <= 64][:PAGE_SIZE]
        if not missing or not self.lookups_on:
            return
        try:
            if self._multi is not False:
                for start in range(0, len(missing), 20):
                    chunk = missing[start : start + 20]
                    found = self.get("/api/v1/statuses", {"id[]": chunk}, self.lookup).json()
                    for status in found if isinstance(found, list) else []:
                        self.remember(status)
                self._multi = True
                return
            for local in missing[:SINGLE_LOOKUPS]:
                try:
                    self.remember(self.get(f"/api/v1/statuses/{quote(local, safe='')}", {}, self.lookup).json())
                except ApiError as exc:
                    if exc.status not in (404, 410):  # gone or private: that one only
                        raise
        except ApiError as exc:
            if self._multi is None and exc.status in _REFUSED:
                self._multi = False  # an instance before 4.3: one status at a time
                self.resolve(missing)
                return
            log.info("%s: no more parent lookups this run: %s", self.base, exc)
            self.lookups_on = False

    def records(self, statuses: list[object], source_uri: str, *, look_up: bool) -> list[RawRecord]:
        """Raw records of ``statuses`` (embedded reblogged/quoted statuses first), parents resolved."""
        for status in statuses:
            for item in (status, *_embedded(status)):
                self.remember(item)
        if look_up:
            self.resolve(
                i for s in statuses if isinstance(s, dict) for e in (s, *_embedded(s)) for i in self._parents(e)
            )
        out: list[RawRecord] = []
        for status in statuses:
            if not isinstance(status, dict):
                payload = unreadable(f"timeline item is not a JSON object but {type(status).__name__}", repr(status))
                out.append(raw_record(fmt.NAME, source_uri, "?", payload))
                continue
            for item in (*_embedded(status), status):
                out.append(self.record(item, source_uri))
        return out

    def record(self, status: dict[str, Any], source_uri: str) -> RawRecord:
        context: dict[str, Any] = {fmt.INSTANCE: self.domain}
        reply = status.get("in_reply_to_id")
        if reply is not None and str(reply).strip() in self.uris:
            context[fmt.IN_REPLY_TO_URI] = self.uris[str(reply).strip()]
        quoted = _shallow_quote_id(status)
        if quoted is not None and quoted in self.uris:
            context[fmt.QUOTE_URI] = self.uris[quoted]
        uri = status.get("uri")
        position = uri if isinstance(uri, str) and uri.strip() else status_id(status) or "?"
        return raw_record(fmt.NAME, source_uri, position, status, event_time=fmt.event_time(status), context=context)

    def entity_records(self, items: list[object], source_uri: str, entity: str) -> list[RawRecord]:
        out = []
        for item in items:
            if not isinstance(item, dict):
                payload = unreadable(f"trend item is not a JSON object but {type(item).__name__}", repr(item))
                out.append(raw_record(fmt.NAME, source_uri, "?", payload))
                continue
            label = item.get("name") if entity == "tag" else item.get("url")
            position = f"{entity}:{label}" if isinstance(label, str) else f"{entity}:?"
            out.append(raw_record(fmt.NAME, source_uri, position, item, context={fmt.ENTITY: entity}))
        return out


def _embedded(status: object) -> list[dict[str, Any]]:
    """The statuses a status carries whole: the one it reblogs, the one it quotes."""
    if not isinstance(status, dict):
        return []
    found = []
    if isinstance(status.get("reblog"), dict):
        found.append(status["reblog"])
    quote_value = status.get("quote")
    if isinstance(quote_value, dict) and isinstance(quote_value.get("quoted_status"), dict):
        found.append(quote_value["quoted_status"])
    return found


def _shallow_quote_id(status: dict[str, Any]) -> str | None:
    quote_value = status.get("quote")
    quoted = quote_value.get("quoted_status_id") if isinstance(quote_value, dict) else None
    return str(quoted).strip() if isinstance(quoted, int | str) and str(quoted).strip() else None


def _statuses(response: ApiResponse) -> list[object]:
    doc = response.json()
    if not isinstance(doc, list):
        raise ApiError(f"{response.url}: expected a list of statuses, got {type(doc).__name__}", response.status)
    return doc


@dataclass
class TimelinePull:
    """One timeline or trend list of one instance, pulled."""

    api: MastodonApi
    timeline: Timeline
    max_pages: int = MAX_PAGES
    source: str = SOURCE
    streaming: bool = False

    @property
    def cursor_key(self) -> str:
        return f"{SOURCE}:{self.api.host}/{self.timeline.name}"

    @property
    def source_uri(self) -> str:
        return f"{self.api.base}{self.timeline.path}"

    def batches(self, cursor: str | None) -> Iterator[Batch]:
        kind = self.timeline.kind
        if kind == "statuses":
            return self.newer_than(cursor) if cursor else self.from_top()
        if kind == "trend_statuses":
            return self.trends()
        return self.entities("tag" if kind == "tags" else "link")

    def page(self, **params: Any) -> tuple[list[object], dict[str, dict[str, str]]]:
        query = {**self.timeline.params, "limit": PAGE_SIZE, **params}
        response = self.api.get(self.timeline.path, query)
        return _statuses(response), link_params(response.header("Link"))

    def newer_than(self, cursor: str, *, look_up: bool = True, pages: int = MAX_PAGES_UP) -> Iterator[Batch]:
        """Walk up from ``cursor`` with ``min_id``; each page's newest id is the batch's cursor."""
        min_id = cursor
        for _ in range(pages):
            statuses, _links = self.page(min_id=min_id)
            fresh = [s for s in statuses if (i := status_id(s)) is None or id_order(i) > id_order(min_id)]
            ids = [i for s in fresh if (i := status_id(s)) is not None]
            if not ids:
                return
            min_id = max(ids, key=id_order)
            yield Batch(self.api.records(fresh, self.source_uri, look_up=look_up), min_id)
        log.info("%s: %d pages read up from the cursor; the next pull goes on", self.cursor_key, pages)

    def from_top(self) -> Iterator[Batch]:
        """The newest ``max_pages`` pages (``max_id`` down), then the newest id as the cursor."""
        max_id: str | None = None
        newest: str | None = None
        seen: set[str] = set()
        for number in range(self.max_pages):
            try:
                statuses, links = self.page(max_id=max_id) if max_id else self.page()
            except ApiError as exc:
                if number == 0:
                    raise
                log.warning("%s: stopping after %d pages: %s", self.cursor_key, number, exc)
                break
            fresh = [
                s
                for s in statuses
                if (i := status_id(s)) is None or (i not in seen and (max_id is None or id_order(i) < id_order(max_id)))
            ]
            ids = [i for s in fresh if (i := status_id(s)) is not None]
            if not ids:
                break
            seen.update(ids)
            top = max(ids, key=id_order)
            newest = top if newest is None or id_order(top) > id_order(newest) else newest
            yield Batch(self.api.records(fresh, self.source_uri, look_up=True))
            if links and "next" not in links:
                break
            max_id = links.get("next", {}).get("max_id") or min(ids, key=id_order)
        if newest is not None:
            yield Batch([], newest)

    def trends(self) -> Iterator[Batch]:
        """Trending statuses, ``offset`` page by page (a snapshot: no cursor)."""
        offset = 0
        seen: set[str] = set()
        for number in range(self.max_pages):
            query = {"limit": TREND_PAGE_SIZE["trend_statuses"], "offset": offset or None}
            try:
                response = self.api.get(self.timeline.path, query)
                statuses = _statuses(response)
            except ApiError as exc:
                if number == 0:
                    raise
                log.warning("%s: stopping after %d pages: %s", self.cursor_key, number, exc)
                return
            fresh = [s for s in statuses if (i := status_id(s)) is None or i not in seen]
            seen.update(i for s in fresh if (i := status_id(s)) is not None)
            if not fresh:
                return
            yield Batch(self.api.records(fresh, self.source_uri, look_up=True))
            following = link_params(response.header("Link")).get("next", {}).get("offset")
            if following is None or not following.isdigit() or int(following) <= offset:
                return
            offset = int(following)

    def entities(self, entity: str) -> Iterator[Batch]:
        kind = self.timeline.kind
        doc = self.api.get(self.timeline.path, {"limit": TREND_PAGE_SIZE[kind]}).json()
        if not isinstance(doc, list):
            raise ApiError(f"{self.source_uri}: expected a list of trends, got {type(doc).__name__}")
        yield Batch(self.api.entity_records(doc, self.source_uri, entity))


def sse_events(lines: Iterable[bytes]) -> Iterator[tuple[str, bytes] | None]:
    """Server-sent events as ``(event, data)``; ``None`` for every comment line (heartbeats), so a reader can
    check its clock. Multi-line ``data`` is joined with newlines; an event cut off by the end is dropped."""
    event = ""
    data: list[bytes] = []
    for raw in lines:
        line = raw.rstrip(b"\r\n")
        if not line:
            if data:
                yield event or "message", b"\n".join(data)
            event, data = "", []
            continue
        if line.startswith(b":"):
            yield None
            continue
        name, _, value = line.partition(b":")
        value = value[1:] if value.startswith(b" ") else value
        if name == b"event":
            event = value.decode("utf-8", "replace").strip()
        elif name == b"data":
            data.append(value)


@dataclass
class TimelineStream:
    """A timeline through the streaming API, for ever (or until ``idle_timeout_s`` without a status)."""

    pull: TimelinePull
    idle_timeout_s: float | None = None
    clock: Callable[[], float] = time.monotonic
    max_seen: int = 10_000
    source: str = SOURCE
    streaming: bool = True
    _base: str | None = None

    @property
    def api(self) -> MastodonApi:
        return self.pull.api

    @property
    def cursor_key(self) -> str:
        return f"{self.pull.cursor_key}#stream"

    def stream_url(self) -> str:
        """The stream's URL: on the named streaming server when it is healthy, else on the instance."""
        if self._base is None:
            self._base = self.api.base
            named = self.api.streaming_base()
            if named is not None and named != self.api.base:
                try:
                    health = self.api.lookup.request("GET", f"{named}/api/v1/streaming/health")
                    if health.body.strip() == b"OK":
                        self._base = named
                except ApiError as exc:
                    log.info("streaming server %s not used: %s", named, exc)
        timeline = self.pull.timeline
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in timeline.stream_params.items())
        return f"{self._base}{timeline.stream_path}{'?' + query if query else ''}"

    def batches(self, cursor: str | None) -> Iterator[Batch]:
        client = self.api.client
        seen: OrderedDict[str, None] = OrderedDict()
        failures = 0
        last_event = self.clock()
        read_timeout = min(STREAM_READ_TIMEOUT_S, self.idle_timeout_s or STREAM_READ_TIMEOUT_S)
        while True:
            wait: float | None = None
            try:
                with client.stream(self.stream_url(), headers=self.api.auth, read_timeout_s=read_timeout) as lines:
                    if cursor is not None:  # what was posted while we were away
                        for batch in self._backfill(cursor):
                            self._note(seen, batch.records)
                            cursor = batch.cursor or cursor
                            last_event = self.clock()
                            yield batch
                    for item in sse_events(lines):
                        if item is not None:
                            event_batch = self._batch(item, seen, cursor)
                            if event_batch is not None:
                                failures, last_event = 0, self.clock()
                                cursor = event_batch.cursor or cursor
                                yield event_batch
                        if self._idle(last_event):
                            return
            except Refused:
                raise
            except ApiError as exc:
                if exc.status in _REFUSED:
                    raise
                wait = exc.wait_s
                log.warning("stream %s: %s; reconnecting", self.cursor_key, exc)
            except (OSError, HTTPException) as exc:
                log.warning("stream %s dropped: %s; reconnecting", self.cursor_key, exc)
            if self._idle(last_event):
                return
            if wait is None:
                wait = retry_delay(failures, client.backoff_base_s, client.backoff_cap_s, client.rng)
            client.sleep(wait)
            failures = min(failures + 1, 20)

    def _backfill(self, cursor: str) -> Iterator[Batch]:
        """The REST pull from ``cursor``; one the instance refuses is logged and the stream read without it
        (a live stream is worth more than none), while a failing one makes the connection start over."""
        try:
            yield from self.pull.newer_than(cursor, look_up=False)
        except Refused:
            raise
        except ApiError as exc:
            if exc.status not in _REFUSED:
                raise
            log.warning("stream %s: cannot fill the gap after %s: %s", self.cursor_key, cursor, exc)

    def _idle(self, last_event: float) -> bool:
        return self.idle_timeout_s is not None and self.clock() - last_event >= self.idle_timeout_s

    def _note(self, seen: OrderedDict[str, None], records: list[RawRecord]) -> None:
        for record in records:
            if record.position:
                seen[record.position] = None
        while len(seen) > self.max_seen:
            seen.popitem(last=False)

    def _batch(self, item: tuple[str, bytes], seen: OrderedDict[str, None], cursor: str | None) -> Batch | None:
        """The records of one event (``None`` for events that carry no status, or only ones already written)."""
        event, data = item
        if event not in ("update", "status.update"):
            return None
        source_uri = self.pull.source_uri
        try:
            status = loads_bounded(data)
        except (ValueError, UnicodeDecodeError) as exc:
            payload = unreadable(f"stream event {event!r} is not JSON: {exc}", data)
            return Batch([raw_record(fmt.NAME, source_uri, "?", payload)])
        records = self.api.records([status], source_uri, look_up=False)
        fresh = [r for r in records if r.position not in seen or event == "status.update"]
        if not fresh:
            return None
        self._note(seen, fresh)
        local = status_id(status)
        newer = event == "update" and local is not None and (cursor is None or id_order(local) > id_order(cursor))
        return Batch(fresh, local if newer else None)


def timeline_connector(
    settings: Settings,
    *,
    instance: str,
    timeline: str,
    stream: bool,
    idle_timeout_s: float | None = None,
    client: ApiClient | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> TimelinePull | TimelineStream:
    """A pull (or, with ``stream``, the stream) of ``timeline`` on ``instance``."""
    base = instance_base(instance)
    parsed = parse_timeline(timeline)
    token = settings.mastodon_token(urlsplit(base).hostname or "")
    if parsed.needs_token and not token:
        host = urlsplit(base).hostname
        raise ValueError(f"{timeline} needs an access token for {host}: set FLOCKWATCH_MASTODON_TOKENS={host}=TOKEN")
    api = MastodonApi(base=base, token=token, client=client or ApiClient(endpoint=base))
    pull = TimelinePull(api, parsed)
    if not stream:
        return pull
    if parsed.stream_path is None:
        raise ValueError(f"{timeline} has no stream; pull it instead (without --stream)")
    return TimelineStream(pull, idle_timeout_s, clock)
