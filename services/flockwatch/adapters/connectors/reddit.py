"""Reddit: subreddit listings (hot, new, rising), a submission's comment tree, and a subreddit's comment stream.

- **Where it asks.** With ``settings.reddit_client_id`` set: app-only OAuth (``POST {base}/api/v1/access_token``,
  ``grant_type=client_credentials``, HTTP basic auth with the app's id and secret), then the API with the bearer
  token (``https://oauth.reddit.com``). Without credentials: the public JSON pages
  (``https://www.reddit.com/r/NAME/LISTING.json``), which Reddit throttles harder. ``--endpoint URL`` replaces
  both bases (a mirror, a test server); that server is then asked without ``.json`` (as the OAuth API is), and
  with it when it answers 404 without. Every request sends ``settings.reddit_user_agent``; rate-limit headers
  (``X-Ratelimit-Remaining``/``-Reset``) are honoured by :class:`ApiClient`.
- **Cursors** are fullnames (``t3_48f6io``). ``new`` keeps the newest submission written, and the next pull
  takes only newer ones: it walks up from the cursor with ``before`` (contiguous pages, each saved as it is
  written); when ``before`` answers nothing (the cursor's item was deleted, which makes ``before`` return an
  empty page for ever) it reads from the top with ``after`` down to the cursor. Reddit ids are minted in
  order, so "newer" is a comparison of base36 numbers and a page's older items are dropped, not written twice.
  ``hot`` and ``rising`` are rankings, not timelines: every pull is a fresh snapshot (engagement over time)
  and has no cursor. A comment tree (``thread``) is a snapshot too.
- **The comment stream** polls ``/r/NAME/comments`` like PRAW's ``stream``: newer than the cursor via ``before``,
  waits that double while nothing new arrives (1 s to 16 s, jittered), reset by the first new comment. It starts
  from the newest page (or its cursor); ``follow=False`` makes it one poll, for scheduled pulls.
- **Pages** hold 100 items; a pull reads at most ``max_pages``. A page after the first that fails for good ends
  the pull with what it has (logged): the cursor is only moved past what was written.
"""

from __future__ import annotations

import base64
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from flockwatch.adapters.connectors.base import Batch, raw_record
from flockwatch.adapters.connectors.http_api import ApiClient, ApiError
from flockwatch.collect.backoff import RETRY_STATUSES, retry_delay
from flockwatch.config import Settings
from flockwatch.replay import reddit as fmt
from flockwatch.replay.payload import unreadable
from flockwatch.schema import RawRecord

log = logging.getLogger(__name__)

SOURCE = "reddit"
PUBLIC_BASE = "https://www.reddit.com"
OAUTH_API = "https://oauth.reddit.com"
LISTINGS = ("hot", "new", "rising")
PAGE_SIZE = 100
MAX_PAGES = 10
# A comment tree's request, as PRAW asks it: Reddit sends what it will of these (the rest as `more` stubs).
THREAD_LIMIT = 2048
# PRAW's stream waits: 1, 2, 4, 8, 16 s (jittered), reset by the first new item.
STREAM_MAX_WAIT_S = 16.0
_SUBREDDIT_RE = re.compile(r"^[A-Za-z0-9_]{2,21}(\+[A-Za-z0-9_]{2,21})*$")


def subreddit_name(value: str) -> str:
    """``NAME`` from ``NAME``, ``r/NAME`` or ``/r/NAME/`` (``a+b`` multireddits too); ``ValueError`` otherwise."""
    name = value.strip().strip("/")
    name = name[2:] if name.lower().startswith("r/") else name
    if not _SUBREDDIT_RE.match(name):
        raise ValueError(f"not a subreddit name: {value!r} (letters, digits and _; 2 to 21 characters)")
    return name


@dataclass
class RedditApi:
    """Authenticated GETs against Reddit (or the ``endpoint`` standing in for it), JSON back."""

    settings: Settings
    endpoint: str | None = None
    client: ApiClient = field(default_factory=ApiClient)
    _token: str | None = None
    _token_until: float = 0.0
    _suffix: bool | None = None

    @classmethod
    def of(cls, settings: Settings, endpoint: str | None, client: ApiClient | None = None) -> RedditApi:
        base = endpoint.rstrip("/") if endpoint else None
        if base is not None and not re.match(r"^https?://[^/\s]+", base):
            raise ValueError(f"--endpoint must be an http(s) URL, not {endpoint!r}")
        api_client = client or ApiClient(endpoint=base, user_agent=settings.reddit_user_agent)
        return cls(settings=settings, endpoint=base, client=api_client)

    @property
    def authenticated(self) -> bool:
        return bool(self.settings.reddit_client_id)

    @property
    def api_base(self) -> str:
        return self.endpoint or (OAUTH_API if self.authenticated else PUBLIC_BASE)

    def url(self, path: str) -> str:
        """The API URL of ``path`` (``/r/x/new``); public pages take ``.json``."""
        suffix = self._suffix if self._suffix is not None else (self.endpoint is None and not self.authenticated)
        return f"{self.api_base}{path}{'.json' if suffix else ''}"

    def _headers(self) -> dict[str, str]:
        """Reddit asks every client to name itself; with credentials, the bearer token too."""
        return {"User-Agent": self.settings.reddit_user_agent, **self._bearer()}

    def _bearer(self) -> dict[str, str]:
        if not self.authenticated:
            return {}
        if self._token is None or time.monotonic() >= self._token_until:
            secret = self.settings.reddit_client_secret.get_secret_value()
            basic = base64.b64encode(f"{self.settings.reddit_client_id}:{secret}".encode()).decode("ascii")
            response = self.client.request(
                "POST",
                f"{self.endpoint or PUBLIC_BASE}/api/v1/access_token",
                data=b"grant_type=client_credentials",
                headers={"Authorization": f"Basic {basic}", "User-Agent": self.settings.reddit_user_agent},
            )
            doc = response.json()
            token = doc.get("access_token") if isinstance(doc, dict) else None
            if not isinstance(token, str) or not token:
                raise ApiError(f"Reddit gave no access token: {response.body[:200]!r}", response.status)
            expires = doc.get("expires_in")
            lifetime = float(expires) if isinstance(expires, int | float) and not isinstance(expires, bool) else 3600
            self._token, self._token_until = token, time.monotonic() + max(lifetime - 60.0, 30.0)
        return {"Authorization": f"bearer {self._token}"}

    def get(self, path: str, params: dict[str, Any]) -> Any:
        """``GET path`` as JSON: a fresh token once on 401, ``.json`` once on a first 404 from an endpoint, and
        a page that is not JSON (cut short behind a proxy) asked again."""
        refreshed = False
        unparsed = 0
        not_found: ApiError | None = None
        while True:
            try:
                doc = self.client.request("GET", self.url(path), params=params, headers=self._headers()).json()
            except ApiError as exc:
                if exc.status == 401 and self.authenticated and not refreshed:
                    self._token, refreshed = None, True
                    continue
                if exc.status == 404 and self.endpoint is not None and self._suffix is None:
                    not_found, self._suffix = exc, True
                    continue
                if not_found is not None and exc.status == 404:  # not there in either form
                    self._suffix = None
                    raise not_found from None
                if exc.status == 200 and unparsed < 2:  # a 200 whose body is not JSON
                    self.client.sleep(retry_delay(unparsed, self.client.backoff_base_s, self.client.backoff_cap_s))
                    unparsed += 1
                    continue
                raise
            if self._suffix is None:
                self._suffix = self.endpoint is None and not self.authenticated
            return doc


def listing_children(doc: object, url: str) -> tuple[list[object], str | None]:
    """A Listing's children and its ``after``; :class:`ApiError` when ``doc`` is no Listing."""
    data = doc.get("data") if isinstance(doc, dict) and doc.get("kind") == "Listing" else None
    children = data.get("children") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(children, list):
        raise ApiError(f"{url}: not a Reddit listing")
    after = data.get("after")
    return children, after if isinstance(after, str) and after else None


def child_record(child: object, source_uri: str) -> RawRecord:
    """One listing child as a raw record; anything that is not a JSON object goes on to be dead-lettered."""
    if not isinstance(child, dict):
        payload = unreadable(f"listing child is not a JSON object but {type(child).__name__}", repr(child))
        return raw_record(fmt.NAME, source_uri, "?", payload)
    return raw_record(fmt.NAME, source_uri, fmt.child_id(child) or "?", child, event_time=fmt.event_time(child))


def _fullname(child: object) -> str | None:
    bare = fmt.child_id(child)
    kind = child.get("kind") if isinstance(child, dict) else None
    return f"{kind}_{bare}" if bare is not None and isinstance(kind, str) else None


def _number(child: object) -> int | None:
    bare = fmt.child_id(child)
    return fmt.id_number(bare) if bare is not None else None


def source_uri(api: RedditApi, path: str) -> str:
    """The page's URL without query or credentials: the records' ``source.uri``."""
    parts = urlsplit(api.url(path))
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"


@dataclass
class Pager:
    """Reads one listing path page by page."""

    api: RedditApi
    path: str
    max_pages: int = MAX_PAGES

    def page(self, **params: Any) -> tuple[list[object], str | None]:
        query = {"limit": PAGE_SIZE, "raw_json": 1, **params}
        return listing_children(self.api.get(self.path, query), self.api.url(self.path))

    def records(self, children: list[object]) -> list[RawRecord]:
        uri = source_uri(self.api, self.path)
        return [child_record(child, uri) for child in children]

    def snapshot(self) -> Iterator[Batch]:
        """Pages from the top (``after``) up to ``max_pages``; no cursor."""
        yield from self._down(None)

    def newer_than(self, cursor: str | None, start_pages: int | None = None) -> Iterator[Batch]:
        """Everything newer than ``cursor`` (a fullname), each batch with the newest fullname written so far;
        without a cursor, the newest ``start_pages`` pages (default ``max_pages``)."""
        floor = _cursor_number(cursor)
        if floor is None:
            yield from self._down(None, final_cursor=True, pages=start_pages)
            return
        assert cursor is not None
        before, pages, newest = cursor, 0, floor
        while pages < self.max_pages:
            children, _ = self.page(before=before)
            fresh = [c for c in children if (_number(c) or -1) > newest or _number(c) is None]
            dated = [c for c in fresh if _number(c) is not None]
            if not dated:
                if pages == 0:
                    # `before` an item that is gone answers nothing for ever: read down from the top instead.
                    yield from self._down(floor, final_cursor=True)
                return
            top = max(dated, key=lambda c: _number(c) or -1)
            newest = _number(top) or newest
            before = _fullname(top) or before
            pages += 1
            yield Batch(self.records(fresh), before)

    def _down(self, floor: int | None, final_cursor: bool = False, pages: int | None = None) -> Iterator[Batch]:
        """Pages from the top until an item at or below ``floor`` (or the end, or ``max_pages``). With
        ``final_cursor`` the newest fullname comes in a last, empty batch once every page is written (a crash
        in between re-reads the pages instead of skipping them); not when a failing page stopped the walk above
        ``floor``, so the next pull walks down again."""
        after: str | None = None
        seen: set[str] = set()
        newest: tuple[int, str] | None = None
        cut_short = False
        for number in range(pages or self.max_pages):
            try:
                children, after = self.page(after=after) if after else self.page()
            except ApiError as exc:
                if number == 0:
                    raise
                log.warning("%s: stopping after %d pages: %s", self.path, number, exc)
                cut_short = floor is not None
                break
            fresh: list[object] = []
            reached = False
            for child in children:
                key = fmt.child_id(child)
                if key is not None and key in seen:
                    continue
                if key is not None:
                    seen.add(key)
                value = _number(child)
                if floor is not None and value is not None and value <= floor:
                    reached = True
                    continue
                fresh.append(child)
                name = _fullname(child)
                if value is not None and name is not None and (newest is None or value > newest[0]):
                    newest = (value, name)
            if fresh:
                yield Batch(self.records(fresh))
            if reached or not fresh or after is None:
                break
        else:
            if floor is not None:
                log.warning("%s: over %d pages newer than the cursor; older ones are left", self.path, self.max_pages)
        if final_cursor and newest is not None and not cut_short:
            yield Batch([], newest[1])


def _cursor_number(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        return fmt.id_number(fmt.base36_id(cursor, "cursor"))
    except ValueError:
        log.warning("ignoring a cursor that is not a Reddit fullname: %r", cursor[:40])
        return None


@dataclass
class ListingConnector:
    """One listing of one subreddit."""

    pager: Pager
    subreddit: str
    listing: str
    source: str = SOURCE
    streaming: bool = False

    @property
    def cursor_key(self) -> str:
        return f"{SOURCE}:r/{self.subreddit}/{self.listing}"

    def batches(self, cursor: str | None) -> Iterator[Batch]:
        if self.listing == "new":
            return self.pager.newer_than(cursor)
        return self.pager.snapshot()


@dataclass
class ThreadConnector:
    """A submission and its comment tree, flattened parents first; ``more`` stubs are recorded (their
    normaliser skips them) and counted in the log, not fetched."""

    api: RedditApi
    post_id: str
    source: str = SOURCE
    streaming: bool = False

    @property
    def cursor_key(self) -> str:
        return f"{SOURCE}:thread/{self.post_id}"

    def batches(self, cursor: str | None) -> Iterator[Batch]:
        path = f"/comments/{self.post_id}"
        doc = self.api.get(path, {"limit": THREAD_LIMIT, "raw_json": 1, "sort": "confidence"})
        if not isinstance(doc, list) or not doc:
            raise ApiError(f"{self.api.url(path)}: not a submission and its comments")
        children: list[object] = []
        for listing in doc:
            found, _ = listing_children(listing, self.api.url(path))
            children += flatten(found)
        stubs = [c for c in children if isinstance(c, dict) and c.get("kind") == "more"]
        if stubs:
            hidden = sum(_more_count(c) for c in stubs)
            log.info("%s: %d comments not loaded (%d more-stubs)", path, hidden, len(stubs))
        uri = source_uri(self.api, path)
        yield Batch([child_record(child, uri) for child in children])


def _more_count(stub: dict[str, Any]) -> int:
    count = stub.get("data", {}).get("count") if isinstance(stub.get("data"), dict) else None
    return count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 0


def flatten(children: list[object]) -> list[object]:
    """A comment forest depth-first, each parent before its replies; ``replies`` are left out of the children
    written (each reply is its own record). No recursion: threads can nest deeper than Python's stack."""
    out: list[object] = []
    stack: list[object] = list(reversed(children))
    while stack:
        child = stack.pop()
        data = child.get("data") if isinstance(child, dict) else None
        replies = data.get("replies") if isinstance(data, dict) else None
        if not (isinstance(child, dict) and isinstance(data, dict)):
            out.append(child)
            continue
        out.append({**child, "data": {k: v for k, v in data.items() if k != "replies"}})
        listing = replies.get("data") if isinstance(replies, dict) else None
        nested = listing.get("children") if isinstance(listing, dict) else None
        if isinstance(nested, list):
            stack.extend(reversed(nested))
    return out


@dataclass
class CommentStream:
    """A subreddit's new comments, polled for ever (or until ``idle_timeout_s`` passes without one)."""

    pager: Pager
    subreddit: str
    idle_timeout_s: float | None = None
    clock: Callable[[], float] = time.monotonic
    source: str = SOURCE
    streaming: bool = True

    @property
    def cursor_key(self) -> str:
        return f"{SOURCE}:r/{self.subreddit}/comments"

    def batches(self, cursor: str | None) -> Iterator[Batch]:
        if not self.streaming:  # one poll: what is new since the cursor (a scheduled pull)
            yield from self.pager.newer_than(cursor, start_pages=1)
            return
        client = self.pager.api.client
        waits = 0
        last_new = self.clock()
        while True:
            found = False
            try:
                for batch in self.pager.newer_than(cursor, start_pages=1):  # a stream starts from now
                    cursor = batch.cursor or cursor
                    found = found or bool(batch.records)
                    yield batch
            except ApiError as exc:
                if exc.status is not None and exc.status not in RETRY_STATUSES:
                    raise
                log.warning("comment stream r/%s: %s; polling again", self.subreddit, exc)
            if found:  # more may be waiting: ask again at once
                waits, last_new = 0, self.clock()
                continue
            if self.idle_timeout_s is not None and self.clock() - last_new >= self.idle_timeout_s:
                return
            wait = min(STREAM_MAX_WAIT_S, 2.0**waits)
            client.sleep(wait + client.rng.uniform(-wait / 16, wait / 16))
            waits = min(waits + 1, 5)


def _api(settings: Settings, endpoint: str | None, client: ApiClient | None) -> RedditApi:
    return RedditApi.of(settings, endpoint, client)


def listing_connector(
    settings: Settings,
    *,
    subreddit: str,
    listing: str,
    endpoint: str | None,
    max_pages: int = MAX_PAGES,
    client: ApiClient | None = None,
) -> ListingConnector | CommentStream:
    """``hot``, ``new`` or ``rising`` of ``subreddit`` (``comments``: :func:`comments_connector`)."""
    name = subreddit_name(subreddit)
    if listing == "comments":
        return comments_connector(settings, subreddit=name, endpoint=endpoint, client=client)
    if listing not in LISTINGS:
        raise ValueError(f"unknown listing {listing!r}: hot, new, rising or comments")
    pager = Pager(_api(settings, endpoint, client), f"/r/{quote(name, safe='+')}/{listing}", max_pages)
    return ListingConnector(pager, name, listing)


def comments_connector(
    settings: Settings,
    *,
    subreddit: str,
    endpoint: str | None,
    idle_timeout_s: float | None = None,
    follow: bool = True,
    client: ApiClient | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> CommentStream:
    """The stream of ``subreddit``'s new comments (``/r/NAME/comments``); ``follow=False``: one poll of what is
    new since the cursor, for scheduled pulls."""
    name = subreddit_name(subreddit)
    pager = Pager(_api(settings, endpoint, client), f"/r/{quote(name, safe='+')}/comments", MAX_PAGES)
    return CommentStream(pager, name, idle_timeout_s, clock, streaming=follow)


def thread_connector(
    settings: Settings, *, post_id: str, endpoint: str | None, client: ApiClient | None = None
) -> ThreadConnector:
    """A submission (``48dlnt`` or ``t3_48dlnt``) with its comment tree."""
    bare = fmt.base36_id(post_id, "thread", "t3")
    return ThreadConnector(_api(settings, endpoint, client), bare)
