"""``ytdlp``: one video of a channel, playlist or search page, as yt-dlp describes it (its sanitised info dict).

The connector (:mod:`flockwatch.adapters.connectors.video`) extracts a page flat (``extract_flat``), so an entry is
often a *flat* ``url`` result (``_type`` ``url``/``url_transparent``, the video's ``ie_key``, ``id``, ``url``,
title, maybe counts) and sometimes a full video info (``extractor_key``, ``webpage_url``, dates...), which is
what it becomes when the connector extracted it again to learn its date. The same normaliser reads JSON lines of
saved payloads.

Decisions, and why:

- **Platform** is the extractor's name, lower-cased, with its kind of page cut off (``YoutubeTab`` and
  ``Youtube`` are ``youtube``, ``TikTokUser`` is ``tiktok``, ``TwitchVod`` is ``twitch``); for a flat entry the
  entry's own ``ie_key``, not ``extractor_key`` (yt-dlp fills that with the *playlist's* extractor). Videos found
  by the generic extractor (a web page's ``<video>`` tags, a podcast-style feed) are on ``web``.
- **Ids.** A platform's video ``id`` (YouTube's ``dQw4w9WgXcQ``), unique on its platform and the same in every
  listing. A ``web`` video's id is its canonical URL: the generic extractor numbers a page's videos by position
  (``page-1``), which shifts when the page changes.
- **Watch URL** (the one ``video`` media item, which the media stage fetches through its guarded fetcher, by
  yt-dlp for platform hosts): a flat entry's ``url``; else ``webpage_url`` unless that is the playlist's own page
  (yt-dlp copies the playlist's onto entries it did not resolve), then the entry's ``url`` (a direct file).
- **Author**: ``channel_id``, else ``uploader_id``, ``channel``, ``uploader``; a channel's own listing often
  leaves them out of each entry, so the playlist's (``playlist_channel_id``...) follow. A video known only from
  a page that embeds or links it (no uploader anywhere) is attributed to that page's host, the one who posted it
  there; a ``web`` video without a listing page to its own host. Never a shared "unknown" account, which would
  tie unrelated videos together.
- **Text** is the title, a blank line, the description. Links in the description are ``urls`` (canonicalised
  like every link, :func:`flockwatch.graph.urls.canonicalize_url`); ``#tags`` in the text are hashtags.
- **Time** is ``timestamp``, else ``release_timestamp``, ``upload_date``, ``release_date`` (the first usable and
  plausible). Flat entries often have none: the connector then extracts the video itself (within a cap), and
  what still has no date is dated by the pull: the connector writes the pull's time into the payload
  (``"dated_by_pull"``, the flag that says so; else the record's ``collected_at``). Upcoming premieres and
  live streams that have not started (``live_status`` ``is_upcoming``) are not posts yet: ``None``.
- **Not posts**: nested playlists, channels and tabs (``_type`` ``playlist``, or a flat entry whose extractor
  lists rather than plays: ``...Tab``, ``...Playlist``, ``...User``, ``...Channel``, ``...Search``): ``None``.
- **Engagement**: ``view_count`` as views, ``like_count`` as likes, ``comment_count`` as replies,
  ``repost_count`` as reshares; a count that is not a count is left out (it does not cost the video).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flockwatch.graph.urls import canonicalize_url
from flockwatch.replay.base import source_ref
from flockwatch.replay.json_lines import first_object, read_json_lines
from flockwatch.replay.payload import opt_count, opt_str, reject_unreadable
from flockwatch.replay.pulled import pull_time
from flockwatch.replay.text_entities import extract_hashtags, extract_urls
from flockwatch.replay.timestamps import from_iso, from_unix
from flockwatch.schema import (
    EARLIEST_POST,
    FUTURE_SKEW,
    MAX_ENTITIES,
    MAX_ID_CHARS,
    MAX_TEXT_CHARS,
    Author,
    Engagement,
    MediaItem,
    MediaKind,
    Post,
    RawRecord,
)

NAME = "ytdlp"
PLATFORM = "video"  # the registry's label; each post's platform is its extractor's (see the module docstring)
DEFAULT_PATH = None
DESCRIPTION = "Videos of channels, playlists and searches as yt-dlp extracts them (one info dict a record)"
WEB = "web"
# Extractors that find videos on any web page rather than on one platform.
GENERIC_KEYS = frozenset({"generic", "html5mediaembed", "commonmistakes", "unicoderbom"})
FLAT_TYPES = ("url", "url_transparent")
# Platform names an extractor key may begin with, longest first where one is a prefix of another.
KNOWN_PLATFORMS = (
    "youtube", "tiktok", "vimeo", "dailymotion", "twitch", "rumble", "bitchute", "odysee", "instagram",
    "facebook", "twitter", "reddit", "bilibili", "streamable", "kick", "niconico", "peertube", "soundcloud",
    "bluesky", "telegram", "vk", "rutube", "weibo", "douyin", "kuaishou", "linkedin", "pinterest", "snapchat",
    "threads", "truthsocial", "gettr", "gab", "parler", "brighteon", "cbsnews", "nbcnews", "bbc", "cnn",
)  # fmt: skip
# Extractor kinds that list videos (a flat entry of one is a nested listing, not a video).
_LISTING = re.compile(r"(tab|playlist|user|channel|search|searchurl|album|collection|series|season|feed|list)$")
DATE_FIELDS = ("timestamp", "release_timestamp", "upload_date", "release_date")
_PLATFORM_CHARS = re.compile(r"[^a-z0-9_.-]")
_YYYYMMDD = re.compile(r"^\d{8}$")


def read(path: Path, data_dir: Path | None = None) -> Iterator[RawRecord]:
    """One record per non-empty line of saved info dicts."""
    return read_json_lines(path, data_dir, NAME, "a yt-dlp info dict", lambda payload: None)


def is_flat(info: dict[str, Any]) -> bool:
    return info.get("_type") in FLAT_TYPES


def extractor_of(info: dict[str, Any]) -> str | None:
    """The extractor that describes the video itself: a flat entry's ``ie_key``, else ``extractor_key``."""
    keys = ("ie_key",) if is_flat(info) else ("extractor_key", "ie_key")
    for key in keys:
        value = info.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def platform_of(extractor: str | None) -> str:
    """``Youtube``/``YoutubeTab`` → ``youtube``; generic (or unknown) extractors → ``web``."""
    if extractor is None:
        return WEB
    lowered = extractor.lower()
    if lowered in GENERIC_KEYS:
        return WEB
    for name in KNOWN_PLATFORMS:
        if lowered.startswith(name):
            return name
    cleaned = _PLATFORM_CHARS.sub("", lowered.split(":", 1)[0])[:64]
    return cleaned or WEB


def watch_url(info: dict[str, Any]) -> str | None:
    """The page (or, for a web video, the file) where the video is watched (see the module docstring)."""
    own = info.get("url")
    if is_flat(info):
        return own if isinstance(own, str) and own.strip() else None
    page = info.get("webpage_url")
    if isinstance(page, str) and page.strip() and page != info.get("playlist_webpage_url"):
        return page
    for value in (own, info.get("original_url"), page):
        if isinstance(value, str) and value.strip():
            return value
    return None


def _http(url: str | None) -> str | None:
    if url is None:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return url.strip() if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def post_id(info: dict[str, Any]) -> tuple[str, str]:
    """(platform, platform id) of the video; ``ValueError`` when it has no id (or, on ``web``, no URL)."""
    platform = platform_of(extractor_of(info))
    if platform == WEB:
        url = _http(watch_url(info))
        if url is None:
            raise ValueError("web video has no http(s) url")
        return platform, canonicalize_url(url)[:MAX_ID_CHARS]
    value = info.get("id")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"missing field 'id' (or not a string: {type(value).__name__})")
    text = str(value).strip()
    if not text:
        raise ValueError("field 'id' is empty")
    return platform, text


def is_listing(info: dict[str, Any]) -> bool:
    """A nested playlist, channel or tab rather than a video."""
    if info.get("_type") in ("playlist", "multi_video"):
        return True
    extractor = extractor_of(info)
    return is_flat(info) and extractor is not None and bool(_LISTING.search(extractor.lower()))


def _plausible(value: datetime) -> bool:
    return EARLIEST_POST <= value <= datetime.now(UTC) + FUTURE_SKEW


def _date(info: dict[str, Any], name: str) -> datetime:
    value = info[name]
    if name.endswith("timestamp"):
        return from_unix(value, what=name)
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not _YYYYMMDD.match(text):
        raise ValueError(f"field {name!r} is not a YYYYMMDD date: {str(value)[:40]!r}")
    return from_iso(f"{text[:4]}-{text[4:6]}-{text[6:]}", what=name)


def video_time(info: dict[str, Any]) -> datetime | None:
    """The video's own time, ``None`` when it has none that is usable."""
    for name in DATE_FIELDS:
        if info.get(name) is None:
            continue
        try:
            value = _date(info, name)
        except ValueError:
            continue
        if _plausible(value):
            return value
    return None


def has_date(info: dict[str, Any]) -> bool:
    return any(info.get(name) is not None for name in DATE_FIELDS)


def _created_at(info: dict[str, Any], raw: RawRecord) -> datetime:
    value = video_time(info)
    if value is not None:
        return value
    present = [name for name in DATE_FIELDS if info.get(name) is not None]
    if present:
        shown = ", ".join(f"{name}={str(info[name])[:30]!r}" for name in present)
        raise ValueError(f"no usable date: {shown}")
    return pull_time(raw, "video has no date (timestamp, release_timestamp, upload_date)")


def _first_str(info: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = info.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _author(info: dict[str, Any], platform: str) -> Author:
    own = ("channel_id", "uploader_id", "channel", "uploader")
    author_id = _first_str(info, *own) or _first_str(info, *(f"playlist_{key}" for key in own))
    name = _first_str(info, "channel", "uploader", "playlist_channel", "playlist_uploader")
    if author_id is None:
        pages = [info.get("playlist_webpage_url")] + (
            [watch_url(info), info.get("webpage_url")] if platform == WEB else []
        )
        for value in pages:
            try:
                host = urlsplit(value).hostname if isinstance(value, str) else None
            except ValueError:
                host = None
            if host:
                author_id = host
                break
    if author_id is None:
        raise ValueError("video has no channel or uploader (channel_id, uploader_id, channel, uploader)")
    return Author(
        id=author_id[:MAX_ID_CHARS],
        handle=_first_str(info, "uploader_id"),
        display_name=name,
        followers=_count(info, "channel_follower_count"),
    )


def _count(info: dict[str, Any], key: str) -> int | None:
    try:
        return opt_count(info, key)
    except ValueError:
        return None


def normalize(raw: RawRecord) -> Post | None:
    info = raw.payload
    reject_unreadable(info)
    if is_listing(info) or info.get("live_status") == "is_upcoming":
        return None
    platform, platform_id = post_id(info)
    title = opt_str(info, "title") or opt_str(info, "fulltitle")
    description = opt_str(info, "description")
    text = "\n\n".join(part.strip() for part in (title, description) if part)[:MAX_TEXT_CHARS]
    page = _http(watch_url(info))
    urls = [canonicalize_url(u) for u in extract_urls(description or "")]
    return Post(
        platform=platform,
        platform_id=platform_id,
        author=_author(info, platform),
        text=text,
        language=(opt_str(info, "language") or "").strip().lower() or None,
        created_at=_created_at(info, raw),
        urls=list(dict.fromkeys(urls))[:MAX_ENTITIES],
        hashtags=extract_hashtags(text)[:MAX_ENTITIES],
        media=[MediaItem(url=page, kind=MediaKind.video)] if page else [],
        engagement=Engagement(
            views=_count(info, "view_count"),
            likes=_count(info, "like_count"),
            replies=_count(info, "comment_count"),
            reshares=_count(info, "repost_count"),
        ),
        source=source_ref(raw),
    )


def sniff(path: Path) -> bool:
    first = first_object(path)
    return (
        first is not None
        and ("ie_key" in first or "extractor_key" in first)
        and ("webpage_url" in first or first.get("_type") in FLAT_TYPES)
    )
