"""Video platforms through yt-dlp (as a library): the videos of a channel, playlist or search page as ``ytdlp``
records (:mod:`flockwatch.replay.ytdlp`). Metadata only: the media stage fetches each video later, by its watch
URL, through its own guarded fetcher (:mod:`flockwatch.adapters.video_platforms`).

- **What is asked.** A page URL (a channel, a playlist, any page yt-dlp reads as a list of videos, a single
  video) or a yt-dlp search (``ytsearch10:QUERY``, ``ytsearchdate10:QUERY``, ``scsearch5:QUERY``...; the count is
  capped at ``max_entries``). The page is extracted *flat* (``extract_flat: in_playlist``: each video is listed,
  not resolved), ``download=False``, at most ``max_entries`` videos (``playlistend``), with the media stage's
  options (:func:`~flockwatch.adapters.video_platforms.ydl_options`: no cookies, no post-processors, no external
  programs, no JavaScript runtime, no proxy).
- **Where it connects.** Every request yt-dlp makes goes through
  :class:`~flockwatch.adapters.ydl_guard.GuardedYoutubeDL`, under the media path's address rules (with
  ``Settings.media_allow_networks``). The page URL passes the same host and address checks first (http(s), no
  credentials, no internal names, every resolved address public; not the media path's list of platform hosts:
  the operator chose the page, and the generic extractor reads any site's videos), with one exception: a page
  whose host resolves to loopback is allowed when given explicitly (``--url``, a local test server), for its own
  origin only (scheme, host, port); a redirect or link from it to any other origin is checked as usual.
  ``localhost`` is read as ``127.0.0.1`` (the media rules refuse the name itself).
- **Retries.** A failed extraction is tried again (``attempts`` in all) with backoff and jitter when the
  failure can pass: HTTP 408/429/5xx (``Retry-After`` honoured), a timeout, a dropped connection, a page
  shorter than its ``Content-Length``. A refused address, a 404 or a page with no videos fails at once
  (:class:`~flockwatch.adapters.connectors.http_api.ApiError`, ``Refused`` for the address rules).
- **Dates.** Flat entries often have no date (YouTube's channel and search listings give none). Each new
  entry without one is extracted again on its own (not flat, within ``detail_cap`` a pull; a failure there
  keeps the flat entry), which gives its ``timestamp``/``upload_date``, counts and full description. An entry
  still without a date is dated by the pull, ``"dated_by_pull": <time>`` in its payload (logged); the generic
  extractor's direct files are not extracted again (that would download them only to read a ``Last-Modified``).
- **Payload**: the entry's sanitised info dict (``sanitize_info``, private keys dropped, cookies and headers
  scrubbed) without format lists, subtitles and other bulk; a flat entry's yt-dlp ``smuggle`` fragment removed;
  the playlist's ``playlist_*`` fields added where yt-dlp leaves them out of flat entries; a flat entry without
  ``ie_key``/``id`` (the generic extractor's feed entries) given those of the extractor yt-dlp would pick.
- **Cursor**: the ``platform:id`` keys of the videos listed recently (the newest ``MAX_SEEN``); a pull emits
  only videos it has not seen, in the page's order. Listings are ordered by the platform, not by time, so the
  keys, not a time, decide what is new.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import json
import logging
import random
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flockwatch.adapters.connectors.base import Batch, raw_record
from flockwatch.adapters.connectors.http_api import ApiError, Refused
from flockwatch.adapters.media_fetch import FetchPolicy, IPNetwork, parse_url, resolve_checked
from flockwatch.adapters.video_platforms import YoutubeDLLike, ydl_options
from flockwatch.collect.backoff import MAX_SERVER_WAIT_S, RETRY_STATUSES, retry_delay, server_wait_s
from flockwatch.config import Settings
from flockwatch.media.errors import MediaRefused
from flockwatch.replay import ytdlp as fmt
from flockwatch.replay.pulled import DATED_BY_PULL

log = logging.getLogger(__name__)

SOURCE = "video"
MAX_ENTRIES = 100
DETAIL_CAP = 25
ATTEMPTS = 4
MAX_SEEN = 5000
# yt-dlp search prefixes: KEY[N|all]:QUERY, e.g. ytsearch10:..., ytsearchdate5:..., scsearch:...
_SEARCH = re.compile(r"^(?P<key>[a-z]+search[a-z]*?)(?P<count>\d+|all)?:(?P<query>.+)$", re.DOTALL)
# Bulk that says nothing about the post and can be megabytes: format lists, captions, storyboards.
_BULK_KEYS = frozenset(
    {
        "formats", "requested_formats", "requested_downloads", "thumbnails", "subtitles", "automatic_captions",
        "heatmap", "fragments", "storyboards", "http_headers", "cookies", "_format_sort_fields", "_version",
        "requested_subtitles", "__post_extractor",
    }
)  # fmt: skip
# The selected format's own fields, merged into a processed platform video: its URL is a signed, expiring media
# URL, not the video's; generic videos keep theirs (it is the file itself).
_FORMAT_KEYS = frozenset({"url", "manifest_url", "format", "format_id", "format_note", "protocol"})
_PLAYLIST_KEYS = {
    "playlist_id": "id",
    "playlist_title": "title",
    "playlist_uploader": "uploader",
    "playlist_uploader_id": "uploader_id",
    "playlist_channel": "channel",
    "playlist_channel_id": "channel_id",
    "playlist_webpage_url": "webpage_url",
}
# Failures worth another try (the guard's reasons start so).
_TRANSIENT = ("page request failed", "deadline exceeded", "cannot resolve", "cannot connect")

YdlFactory = Callable[[dict[str, Any]], YoutubeDLLike]


@dataclass(frozen=True)
class Target:
    """What to extract: an http(s) page URL or a yt-dlp search (``ytsearch10:QUERY``)."""

    url: str
    search: bool


def check_target(value: str, max_entries: int = MAX_ENTRIES) -> Target:
    """A search (its count capped) or an http(s) page URL; ``ValueError`` for anything else."""
    text = value.strip()
    search = _SEARCH.match(text)
    if search is not None and "://" not in text.split(":", 1)[0]:
        count = search.group("count")
        wanted = 1 if count is None else (max_entries if count == "all" else min(int(count), max_entries))
        return Target(f"{search.group('key')}{wanted}:{search.group('query')}", search=True)
    try:
        parts = urlsplit(text)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise ValueError(f"--url is not a URL: {value!r} ({exc})") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise ValueError(
            f"--url must be an http(s) page URL or a yt-dlp search such as ytsearch10:QUERY, not {value!r}"
        )
    if host == "localhost":
        netloc = "127.0.0.1" + (f":{port}" if port is not None else "")
        text = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return Target(text, search=False)


def trusted_origin(url: str, policy: FetchPolicy) -> tuple[tuple[str, str, int] | None, frozenset[IPNetwork]]:
    """The page URL's origin and networks when its host is loopback (trusted as given); else the media path's
    checks (``Refused`` when they refuse it) and no trust."""
    try:
        target = parse_url(url)
    except MediaRefused as exc:
        raise Refused(f"{url}: {exc.reason}") from None
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ApiError(f"{url}: cannot resolve {target.host}: {exc}") from None
    addresses = {ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos}
    if addresses and all(address.is_loopback for address in addresses):
        return (target.scheme, target.host, target.port), frozenset(ipaddress.ip_network(a) for a in addresses)
    try:
        resolve_checked(target.host, target.port, policy)
    except MediaRefused as exc:
        raise Refused(f"{url}: {exc.reason}") from None
    return None, frozenset()


@dataclass(frozen=True)
class Failure:
    reason: str
    transient: bool
    wait_s: float | None = None
    refused: bool = False


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps: yt-dlp's ``exc_info`` and ``cause``, Python's ``__cause__``/``__context__``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 20:
        seen.add(id(current))
        yield current
        info = getattr(current, "exc_info", None)
        wrapped = info[1] if isinstance(info, tuple) and len(info) > 1 else None
        cause = getattr(current, "cause", None)
        current = next(
            (
                c
                for c in (wrapped, cause, current.__cause__, current.__context__)
                if isinstance(c, BaseException) and id(c) not in seen
            ),
            None,
        )


def classify(exc: BaseException) -> Failure:
    """Whether a failed extraction is worth another try, and how long the server asked us to wait."""
    from yt_dlp.networking.exceptions import HTTPError

    for cause in _causes(exc):
        if isinstance(cause, HTTPError):
            status = int(cause.status)
            headers = {k: v for k, v in cause.response.headers.items()}
            return Failure(f"HTTP {status}", status in RETRY_STATUSES, server_wait_s(status, headers))
        if isinstance(cause, MediaRefused):
            transient = cause.reason.startswith(_TRANSIENT)
            return Failure(cause.reason, transient, refused=cause.reason.startswith("refused"))
    return Failure(f"{type(exc).__name__}: {str(exc)[:300]}", transient=False)


def sanitized(ydl: YoutubeDLLike, info: dict[str, Any]) -> dict[str, Any]:
    """``info`` as JSON for a payload: sanitised by yt-dlp, private keys, headers, cookies and bulk dropped."""
    clean = ydl.sanitize_info(dict(info), remove_private_keys=True)
    if not isinstance(clean, dict):
        return {}
    out = {k: v for k, v in clean.items() if k not in _BULK_KEYS}
    generic = (fmt.extractor_of(out) or "").lower() in fmt.GENERIC_KEYS
    if not fmt.is_flat(out) and not generic and isinstance(info.get("formats"), list) and info["formats"]:
        out = {k: v for k, v in out.items() if k not in _FORMAT_KEYS}
    return out


def _unsmuggle(entry: dict[str, Any]) -> None:
    """Drop yt-dlp's ``#__youtubedl_smuggle=`` fragment from a flat entry's URL; a forced id becomes ``id``."""
    url = entry.get("url")
    if isinstance(url, str) and "__youtubedl_smuggle" in url:
        from yt_dlp.utils import unsmuggle_url

        plain, data = unsmuggle_url(url)
        entry["url"] = plain
        forced = data.get("force_videoid") if isinstance(data, dict) else None
        if isinstance(forced, str) and forced and not entry.get("id"):
            entry["id"] = forced


def _identify(entry: dict[str, Any]) -> None:
    """A flat entry without ``ie_key`` or ``id``: the extractor yt-dlp would pick for its URL, and the id that
    extractor reads from the URL (an embed's ``/embed/ID``, a feed item's link)."""
    url = entry.get("url")
    if (entry.get("ie_key") and entry.get("id")) or not isinstance(url, str):
        return
    from yt_dlp.extractor import gen_extractor_classes, get_info_extractor

    if entry.get("ie_key"):
        try:
            video_id = get_info_extractor(str(entry["ie_key"])).get_temp_id(url)
        except Exception:  # an unknown key, or an extractor's own URL matching failing: leave the entry as it is
            return
        if video_id:
            entry["id"] = str(video_id)
        return
    for ie in gen_extractor_classes():
        if ie.ie_key() == "Generic":
            continue
        try:
            if not ie.suitable(url):
                continue
            video_id = ie.get_temp_id(url)
        except Exception:  # an extractor's own URL matching must not stop the pull
            continue
        entry["ie_key"] = ie.ie_key()
        if video_id and not entry.get("id"):
            entry["id"] = str(video_id)
        return
    entry["ie_key"] = "Generic"


def entry_key(entry: dict[str, Any]) -> str:
    """``platform:id`` of an entry (the post key), or a hash for one the normaliser will reject."""
    try:
        platform, platform_id = fmt.post_id(entry)
        return f"{platform}:{platform_id}"
    except ValueError:
        return "sha256:" + hashlib.sha256(json.dumps(entry, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class VideoConnector:
    """One channel, playlist or search, pulled: each pull extracts it once and yields its new videos."""

    target: Target
    policy: FetchPolicy
    max_entries: int = MAX_ENTRIES
    detail_cap: int = DETAIL_CAP
    attempts: int = ATTEMPTS
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    # Builds the YoutubeDL for a given options dict (tests pass fakes); default: the guarded one.
    ydl_factory: YdlFactory | None = None
    rng: random.Random = field(default_factory=random.Random)
    source: str = SOURCE
    streaming: bool = False
    extractions: int = 0

    @property
    def cursor_key(self) -> str:
        return f"{SOURCE}:{self.target.url}"

    def _factory(self) -> YdlFactory:
        if self.ydl_factory is not None:
            return self.ydl_factory
        origin, networks = (None, frozenset[IPNetwork]())
        if not self.target.search:
            origin, networks = trusted_origin(self.target.url, self.policy)
        policy = self.policy

        def guarded(options: dict[str, Any]) -> YoutubeDLLike:
            from flockwatch.adapters.ydl_guard import GuardedYoutubeDL

            ydl: YoutubeDLLike = GuardedYoutubeDL(options, policy, trusted_origin=origin, trusted_networks=networks)
            return ydl

        return guarded

    def list_options(self) -> dict[str, Any]:
        options = ydl_options(self.policy) | {
            "noplaylist": False,
            "extract_flat": "in_playlist",
            "playlistend": self.max_entries,
        }
        options.pop("playlist_items", None)
        return options

    def detail_options(self) -> dict[str, Any]:
        return ydl_options(self.policy) | {"ignore_no_formats_error": True}

    def extract(
        self, factory: YdlFactory, url: str, options: dict[str, Any], attempts: int
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """(the sanitised info of ``url``, its entries sanitised), retrying what can pass (see module doc)."""
        for attempt in range(attempts):
            self.extractions += 1
            ydl = factory(options)
            try:
                info = ydl.extract_info(url, download=False)
                if not isinstance(info, dict):
                    raise ApiError(f"{url}: yt-dlp returned nothing")
                raw_entries = info.get("entries") if "entries" in info else None
                entries = [sanitized(ydl, e) for e in raw_entries or [] if isinstance(e, dict)]
                return sanitized(ydl, {k: v for k, v in info.items() if k != "entries"}), entries
            except ApiError:
                raise
            except Exception as exc:  # extractor code raises many types; classify decides
                failure = classify(exc)
                if failure.refused:
                    raise Refused(f"{url}: {failure.reason}") from None
                if not failure.transient or attempt == attempts - 1:
                    tried = f" after {attempt + 1} attempts" if failure.transient else ""
                    raise ApiError(f"{url}: extraction failed{tried}: {failure.reason}") from None
                wait = failure.wait_s
                if wait is None:
                    wait = retry_delay(attempt, self.backoff_base_s, self.backoff_cap_s, self.rng)
                if wait > MAX_SERVER_WAIT_S:
                    raise ApiError(f"{url}: server asked to wait {wait:.0f} s ({failure.reason}); giving up") from None
                log.info("retrying %s in %.2f s: %s", url, wait, failure.reason)
                self.sleep(wait)
            finally:
                ydl.close()
        raise ApiError(f"{url}: no extraction attempts")  # only with attempts < 1

    def entries(self, factory: YdlFactory) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The page's info (without its entries) and its videos, in the page's order, at most ``max_entries``."""
        info, entries = self.extract(factory, self.target.url, self.list_options(), self.attempts)
        if info.get("_type") not in ("playlist", "multi_video"):
            return info, [info]  # a single video
        context = {key: info.get(field) for key, field in _PLAYLIST_KEYS.items() if info.get(field) is not None}
        for entry in entries:
            for key, value in context.items():
                entry.setdefault(key, value)
            if fmt.is_flat(entry):
                _unsmuggle(entry)
                _identify(entry)
        return info, entries[: self.max_entries]

    def detailed(self, factory: YdlFactory, entry: dict[str, Any]) -> dict[str, Any]:
        """``entry`` extracted on its own (for its date); the flat entry itself when that fails."""
        url = fmt.watch_url(entry)
        if url is None:
            return entry
        try:
            info, _ = self.extract(factory, url, self.detail_options(), attempts=2)
        except ApiError as exc:
            log.info("could not extract %s on its own (%s); keeping its listing entry", url, exc)
            return entry
        if info.get("_type") in ("playlist", "multi_video") or fmt.platform_of(fmt.extractor_of(info)) == fmt.WEB:
            return entry
        kept = {k: v for k, v in entry.items() if k not in ("_type", "url", "ie_key")}
        return kept | info

    def _needs_detail(self, entry: dict[str, Any]) -> bool:
        return (
            not fmt.has_date(entry)
            and not fmt.is_listing(entry)
            and fmt.platform_of(fmt.extractor_of(entry)) != fmt.WEB
        )

    def batches(self, cursor: str | None) -> Iterator[Batch]:
        seen_before = _seen(cursor)
        factory = self._factory()
        _info, entries = self.entries(factory)
        seen = set(seen_before)
        pulled = datetime.now(UTC)
        listed: list[str] = []
        records = []
        details = 0
        for entry in entries:
            key = entry_key(entry)
            listed.append(key)
            if key in seen:
                continue
            seen.add(key)
            if self._needs_detail(entry) and details < self.detail_cap:
                details += 1
                entry = self.detailed(factory, entry)
            if not fmt.has_date(entry) and not fmt.is_listing(entry):
                entry[DATED_BY_PULL] = pulled.isoformat()
            position = key.split(":", 1)[1]
            when = fmt.video_time(entry)
            records.append(raw_record(fmt.NAME, self.target.url, position, entry, event_time=when, collected_at=pulled))
        undated = len([r for r in records if DATED_BY_PULL in r.payload])
        if undated:
            log.warning("%s: %d new videos have no date; they are dated by this pull", self.target.url, undated)
        ids = list(dict.fromkeys(listed + seen_before))[:MAX_SEEN]
        yield Batch(records, json.dumps({"ids": ids}, separators=(",", ":")))


def _seen(cursor: str | None) -> list[str]:
    if not cursor:
        return []
    try:
        data = json.loads(cursor)
        ids = data.get("ids") if isinstance(data, dict) else None
        if not isinstance(ids, list):
            raise ValueError("no ids list")
        return [str(i) for i in ids]
    except ValueError as exc:
        log.warning("video cursor %r is unreadable (%s); reading the page from scratch", cursor[:80], exc)
        return []


def media_policy(settings: Settings) -> FetchPolicy:
    """The media stage's address rules (``Settings.media_allow_networks`` let through)."""
    allowed = frozenset(
        ipaddress.ip_network(n.strip(), strict=False) for n in settings.media_allow_networks.split(",") if n.strip()
    )
    return dataclasses.replace(FetchPolicy(), allow_addresses=allowed)


def video_connector(
    settings: Settings,
    *,
    url: str,
    policy: FetchPolicy | None = None,
    sleep: Callable[[float], None] | None = None,
    ydl_factory: YdlFactory | None = None,
) -> VideoConnector:
    """The connector of one channel, playlist or search; ``policy``, ``sleep``, ``ydl_factory`` for tests."""
    connector = VideoConnector(
        target=check_target(url), policy=policy or media_policy(settings), ydl_factory=ydl_factory
    )
    if sleep is not None:
        connector.sleep = sleep
    return connector
