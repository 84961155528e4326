"""``rss``: one RSS or Atom feed entry, as :mod:`flockwatch.adapters.connectors.rss` records it.

The payload is ``{"feed": {...}, "entry": {...}}``: ``entry`` is the entry as ``feedparser`` parsed it, as plain
JSON (its ``*_parsed`` times as ISO 8601 UTC strings), and ``feed`` the feed's ``url`` (as configured: the
feed's identity), ``fetched_url`` (after redirects), ``title``, ``link``, ``language`` and ``author``. The same
normaliser reads JSON lines of saved payloads.

Decisions, and why:

- **Platform** is ``news`` for every feed, not the feed's host: a store, a dashboard or a rule asks for "news
  articles" as it asks for "reddit posts", and a per-host platform would make hundreds of platforms of one kind.
  The outlet is the author (below), so nothing is lost.
- **Ids** must stay the same from pull to pull and feed to feed. An entry's ``id`` (Atom ``<id>``, RSS
  ``<guid>``) that is an absolute URI (``https://...``, ``tag:...``, ``urn:...``) is globally unique by the
  specs and is the id as written. RSS allows any string as a guid (``12345``), unique only within its feed, so
  such a guid is prefixed by the canonical feed URL (``https://example.com/feed#12345``). An entry without one is
  known by its canonical article link. Ids over ``MAX_ID_CHARS`` keep their head and a sha256.
- **Author.** The outlet is the site's host (the feed's ``link``, else the feed URL's host); with a byline
  (the entry's author, else the feed's) the author is ``host/byline``, so "Reuters" at two outlets is two
  accounts and one outlet's writers stay apart.
- **Text** is the title, a blank line, then the summary (else the first content), HTML turned into plain text
  (:mod:`flockwatch.replay.html_text`), cut at ``MAX_TEXT_CHARS``.
- **Links.** ``urls`` is the canonical article link (FeedBurner's ``feedburner_origlink`` first, it is the
  real article behind a tracking redirect), then the ``<a href>`` targets of the summary and content, all
  canonicalised with :func:`flockwatch.graph.urls.canonicalize_url` (the co-link key: scheme and host
  lower-cased, ``https``, fragment, default port, trailing ``/`` and tracking parameters such as ``utm_*``,
  ``fbclid``, ``gclid`` dropped); only http(s) links are kept.
- **Media**: enclosures (``<enclosure>``, Atom ``rel="enclosure"`` links) and ``media:content`` by their MIME
  type or ``medium``; ``media:thumbnail`` as a ``link_preview`` (the picture a reader sees beside the link).
  Images inside the HTML are not media (tracking pixels and layout art would swamp the media stage).
- **Time** is ``published``, else ``updated``, else ``created`` (the first that parses and is plausible). An
  entry with none of them gets the pull time: feeds without dates exist, and the entry is new as of that pull.
  The connector writes that time into the payload (``"dated_by_pull": ISO time``, the flag that says so), so a
  saved payload replays the same; without it, the record's ``collected_at``. Dates that are all present but
  unusable are an error.
- **Language**: the entry's ``xml:lang`` (from its title, summary or content), else the feed's ``<language>``,
  lower-cased (``en-us``).
- **Engagement**: ``slash:comments`` as ``replies``, when the feed gives it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flockwatch.graph.urls import canonicalize_url
from flockwatch.replay.base import source_ref
from flockwatch.replay.html_text import html_links, html_to_text
from flockwatch.replay.json_lines import first_object, read_json_lines
from flockwatch.replay.payload import opt_count, opt_list, opt_str, reject_unreadable, req_dict, req_str
from flockwatch.replay.pulled import pull_time
from flockwatch.replay.text_entities import extract_hashtags
from flockwatch.replay.timestamps import from_iso
from flockwatch.schema import (
    EARLIEST_POST,
    FUTURE_SKEW,
    MAX_ENTITIES,
    MAX_ID_CHARS,
    MAX_MEDIA,
    MAX_TEXT_CHARS,
    Author,
    Engagement,
    MediaItem,
    MediaKind,
    Post,
    RawRecord,
)

NAME = "rss"
PLATFORM = "news"
DEFAULT_PATH = None
DESCRIPTION = "RSS/Atom feed entries (news articles) as the rss connector records them"
DATE_FIELDS = ("published", "updated", "created")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S")
_HTML_TYPES = ("text/html", "application/xhtml+xml", "html", "xhtml")
_ID_HEAD_CHARS = 200


def read(path: Path, data_dir: Path | None = None) -> Iterator[RawRecord]:
    """One record per non-empty line of saved ``{"feed", "entry"}`` payloads."""
    return read_json_lines(path, data_dir, NAME, "a feed entry", lambda payload: None)


def _bounded_id(value: str) -> str:
    if len(value) <= MAX_ID_CHARS:
        return value
    return f"{value[:_ID_HEAD_CHARS]}~sha256:{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()}"


def _http_url(value: object) -> str | None:
    """``value`` canonicalised when it is an http(s) URL with a host, else ``None``."""
    if not isinstance(value, str) or not value.strip():
        return None
    canonical = canonicalize_url(value)
    return canonical if canonical.startswith("https://") and len(canonical) > len("https://") else None


def article_link(entry: dict[str, Any]) -> str | None:
    """The canonical URL of the article: FeedBurner's original link, the entry's link, else an alternate link."""
    for candidate in (entry.get("feedburner_origlink"), entry.get("link")):
        link = _http_url(candidate)
        if link is not None:
            return link
    for item in opt_list(entry, "links"):
        if isinstance(item, dict) and item.get("rel", "alternate") == "alternate":
            link = _http_url(item.get("href"))
            if link is not None:
                return link
    return None


def entry_id(entry: dict[str, Any], feed_url: str) -> str:
    """The entry's stable id (see the module docstring); ``ValueError`` when it has neither id nor link."""
    guid = entry.get("id")
    if guid is not None and not isinstance(guid, str):
        raise ValueError(f"field 'id' must be a string, got {type(guid).__name__}")
    guid = (guid or "").strip()
    if guid:
        if _URI.match(guid):
            return _bounded_id(guid)
        return _bounded_id(f"{canonicalize_url(feed_url)}#{guid}")
    link = article_link(entry)
    if link is None:
        raise ValueError("entry has no id/guid and no http(s) link")
    return _bounded_id(link)


def _detail_type(entry: dict[str, Any], key: str) -> str:
    detail = entry.get(f"{key}_detail")
    kind = detail.get("type") if isinstance(detail, dict) else None
    return kind.lower() if isinstance(kind, str) else "text/html"


def _as_text(value: str, kind: str) -> str:
    return html_to_text(value) if kind.lower() in _HTML_TYPES else value.strip()


def _contents(entry: dict[str, Any]) -> list[tuple[str, str]]:
    """(value, type) of each ``content`` item."""
    out = []
    for item in opt_list(entry, "content"):
        if isinstance(item, dict) and isinstance(item.get("value"), str):
            kind = item.get("type")
            out.append((item["value"], kind if isinstance(kind, str) else "text/html"))
    return out


def _text(entry: dict[str, Any]) -> str:
    title = opt_str(entry, "title")
    summary = opt_str(entry, "summary")
    parts = []
    if title is not None:
        parts.append(_as_text(title, _detail_type(entry, "title")))
    if summary is not None:
        parts.append(_as_text(summary, _detail_type(entry, "summary")))
    else:
        contents = _contents(entry)
        if contents:
            parts.append(_as_text(*contents[0]))
    return "\n\n".join(p for p in parts if p)[:MAX_TEXT_CHARS]


def _urls(entry: dict[str, Any], link: str | None) -> list[str]:
    found: list[str] = [link] if link else []
    base = link or None
    summary = opt_str(entry, "summary")
    htmls = [summary] if summary is not None and _detail_type(entry, "summary") in _HTML_TYPES else []
    htmls += [value for value, kind in _contents(entry) if kind.lower() in _HTML_TYPES]
    for html in htmls:
        for href in html_links(html, base):
            url = _http_url(href)
            if url is not None:
                found.append(url)
    return list(dict.fromkeys(found))[:MAX_ENTITIES]


def _kind(mime: object, medium: object = None) -> MediaKind:
    for value in (medium, mime):
        if isinstance(value, str) and value:
            head = value.split("/", 1)[0].strip().lower()
            if head in ("image", "video", "audio"):
                return MediaKind(head)
    return MediaKind.unknown


def _media(entry: dict[str, Any]) -> list[MediaItem]:
    items: dict[str, MediaItem] = {}

    def add(url: object, kind: MediaKind, mime: object = None, alt: object = None) -> None:
        if not isinstance(url, str) or not url.strip():
            return
        parts = urlsplit(url.strip())
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            return
        items.setdefault(
            url.strip(),
            MediaItem(
                url=url.strip(),
                kind=kind,
                mime_type=mime if isinstance(mime, str) and mime else None,
                alt_text=alt if isinstance(alt, str) and alt else None,
            ),
        )

    for link in opt_list(entry, "links"):
        if isinstance(link, dict) and link.get("rel") == "enclosure":
            add(link.get("href"), _kind(link.get("type")), link.get("type"))
    for content in opt_list(entry, "media_content"):
        if isinstance(content, dict):
            add(content.get("url"), _kind(content.get("type"), content.get("medium")), content.get("type"))
    for thumbnail in opt_list(entry, "media_thumbnail"):
        if isinstance(thumbnail, dict):
            add(thumbnail.get("url"), MediaKind.link_preview)
    return list(items.values())[:MAX_MEDIA]


def _plausible(value: datetime) -> bool:
    return EARLIEST_POST <= value <= datetime.now(UTC) + FUTURE_SKEW


def _parse_date(entry: dict[str, Any], name: str) -> datetime | None:
    """``name``'s time from feedparser's ``<name>_parsed`` (ISO) or, failing that, the raw text (ISO or RFC 2822);
    ``None`` when the entry does not have it; ``ValueError`` when it has it but it is unusable."""
    parsed, raw = entry.get(f"{name}_parsed"), entry.get(name)
    if parsed is None and (raw is None or (isinstance(raw, str) and not raw.strip())):
        return None
    candidates = [v for v in (parsed, raw) if isinstance(v, str) and v.strip()]
    for text in candidates:
        try:
            value = from_iso(text, what=name)
        except ValueError:
            try:
                value = parsedate_to_datetime(text.strip())
            except (TypeError, ValueError, IndexError, OverflowError):
                continue
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
        try:
            value = value.astimezone(UTC)
        except (OverflowError, ValueError):
            continue
        if _plausible(value):
            return value
    raise ValueError(f"field {name!r} has no usable time: {str(raw if raw is not None else parsed)[:60]!r}")


def entry_time(entry: dict[str, Any]) -> datetime | None:
    """The entry's own time (as :func:`normalize` reads it), ``None`` when it has none that is usable."""
    for name in DATE_FIELDS:
        try:
            value = _parse_date(entry, name)
        except ValueError:
            continue
        if value is not None:
            return value
    return None


def has_date(entry: dict[str, Any]) -> bool:
    """Whether the entry carries any date field at all (usable or not)."""
    return any(entry.get(name) is not None or entry.get(f"{name}_parsed") is not None for name in DATE_FIELDS)


def _created_at(entry: dict[str, Any], raw: RawRecord) -> datetime:
    problems = []
    for name in DATE_FIELDS:
        try:
            value = _parse_date(entry, name)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if value is not None:
            return value
    if problems:
        raise ValueError("; ".join(problems))
    return pull_time(raw, "entry has no date (published, updated, created)")


def _language(entry: dict[str, Any], feed: dict[str, Any]) -> str | None:
    details = [entry.get(f"{key}_detail") for key in ("title", "summary")]
    details += [item for item in opt_list(entry, "content") if isinstance(item, dict)]
    for detail in details:
        language = detail.get("language") if isinstance(detail, dict) else None
        if isinstance(language, str) and language.strip():
            return language.strip().lower()
    language = opt_str(feed, "language")
    return language.strip().lower() if language else None


def _byline(source: dict[str, Any]) -> str | None:
    detail = source.get("author_detail")
    name = detail.get("name") if isinstance(detail, dict) else None
    if isinstance(name, str) and name.strip():
        return name.strip()
    author = source.get("author")
    if isinstance(author, str) and author.strip():
        return author.strip()
    for item in opt_list(source, "authors"):
        if isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"].strip():
            return str(item["name"]).strip()
    return None


def site_host(feed: dict[str, Any]) -> str:
    """The outlet: the host of the feed's site link, else of the feed URL."""
    for value in (feed.get("link"), feed.get("url")):
        if isinstance(value, str):
            try:
                host = (urlsplit(value.strip()).hostname or "").rstrip(".")
            except ValueError:
                continue
            if host:
                return host
    raise ValueError("feed has no usable 'link' or 'url' host")


def _author(entry: dict[str, Any], feed: dict[str, Any]) -> Author:
    host = site_host(feed)
    byline = _byline(entry) or _byline(feed)
    title = opt_str(feed, "title")
    return Author(
        id=_bounded_id(f"{host}/{byline}" if byline else host),
        handle=host,
        display_name=(byline or (title.strip() if title else None) or host)[:MAX_ID_CHARS],
    )


def _comments(entry: dict[str, Any]) -> int | None:
    """``slash:comments``; a count that is not one is left out rather than costing the article."""
    try:
        return opt_count(entry, "slash_comments")
    except ValueError:
        return None


def normalize(raw: RawRecord) -> Post | None:
    payload = raw.payload
    reject_unreadable(payload)
    feed = req_dict(payload, "feed")
    entry = req_dict(payload, "entry")
    feed_url = req_str(feed, "url")
    link = article_link(entry)
    text = _text(entry)
    return Post(
        platform=PLATFORM,
        platform_id=entry_id(entry, feed_url),
        author=_author(entry, feed),
        text=text,
        language=_language(entry, feed),
        created_at=_created_at(entry, raw),
        urls=_urls(entry, link),
        hashtags=extract_hashtags(text)[:MAX_ENTITIES],
        media=_media(entry),
        engagement=Engagement(replies=_comments(entry)),
        source=source_ref(raw),
    )


def sniff(path: Path) -> bool:
    first = first_object(path)
    feed = first.get("feed") if first is not None else None
    return first is not None and isinstance(feed, dict) and "url" in feed and isinstance(first.get("entry"), dict)
