"""``mastodon``: one Mastodon ``Status`` entity as the REST API or the streaming API serves it.

The same normaliser serves the live connector (:mod:`flockwatch.adapters.connectors.mastodon`: timelines,
trends, the streaming API) and JSON lines of saved statuses.

Decisions, and why:

- **Ids are the statuses' ``uri``** (their ActivityPub id, e.g. ``https://mastodon.social/users/a/statuses/1``),
  not ``host/id``: a status federates to every instance under one ``uri`` but a different local ``id`` on
  each, so the same status pulled from two instances is one post, not two. Reblogs and quotes embed the status
  they point to, so ``reshare_of``/``quote_of`` are that status's ``uri`` too.
- **Replies.** The API gives only the parent's *local* id (``in_reply_to_id``). The connector resolves it to
  the parent's ``uri`` (from statuses it has seen, or ``GET /api/v1/statuses``) and passes it as
  ``context["in_reply_to_uri"]`` (likewise ``context["quote_uri"]`` for a shallow quote); unresolved, the link
  is left out rather than filled with an id of another namespace that would never match a post.
- **Accounts** are ``user@host`` (``acct`` with the serving instance's host added to local accounts, host
  lower-cased): unique across the fediverse, the same on every instance; mentions are written the same way.
  The serving instance is ``context["instance"]`` (set by the connector), else the account URL's host.
- **Text.** ``content`` is HTML: it is turned into plain text with the stdlib's ``html.parser`` (paragraphs
  become blank lines, ``<br>`` a newline; Mastodon's hidden ``invisible`` spans are kept so shortened links read
  whole). A content warning (``spoiler_text``) comes first, then a blank line. Link targets (``href``) of
  anchors that are not mentions or hashtags are the post's ``urls``, with the preview card's URL.
- **Entities**: ``tags`` and ``mentions`` as the server parsed them; media from ``media_attachments``
  (``image``, ``video``, ``gifv`` as gif, ``audio``; alt text from ``description``); the card's image as a
  ``link_preview``.
- **Visibility.** Followers-only (``private``) and direct messages are not public speech: ``None``, even if a
  token-holding list timeline serves them. ``public`` and ``unlisted`` statuses are posts.
- **Trends.** ``/api/v1/trends/tags`` and ``/api/v1/trends/links`` serve tags and preview cards, not statuses:
  the connector records them (``context["entity"]`` is ``tag``/``link``) so the raw topic keeps what the
  instance said was trending, and this normaliser returns ``None`` for them; the trending pass reads the tag
  list from the instance itself (:mod:`flockwatch.adapters.connectors.trending_pass`).
- **Engagement**: favourites, reblogs, replies and quotes counts, as the serving instance knows them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flockwatch.replay.base import source_ref
from flockwatch.replay.html_text import html_links, html_to_text
from flockwatch.replay.json_lines import first_object, read_json_lines
from flockwatch.replay.payload import (
    opt_count,
    opt_dict,
    opt_list,
    opt_str,
    reject_unreadable,
    req_dict,
    req_id,
    req_str,
    text_field,
)
from flockwatch.replay.timestamps import from_iso, or_none
from flockwatch.schema import MAX_ENTITIES, MAX_MEDIA, Author, Engagement, MediaItem, MediaKind, Post, RawRecord

NAME = "mastodon"
PLATFORM = "mastodon"
DEFAULT_PATH = None
DESCRIPTION = "Mastodon Status entities (REST or streaming); trend tags/links and non-public statuses are skipped"
# Keys a connector may set in RawRecord.context.
INSTANCE = "instance"
IN_REPLY_TO_URI = "in_reply_to_uri"
QUOTE_URI = "quote_uri"
ENTITY = "entity"
NOT_STATUSES = ("tag", "link")
PRIVATE = ("private", "direct", "limited")
_MEDIA_KINDS = {
    "image": MediaKind.image,
    "video": MediaKind.video,
    "gifv": MediaKind.gif,
    "audio": MediaKind.audio,
}


def event_time(status: dict[str, Any]) -> datetime | None:
    return or_none(from_iso, status.get("created_at"), what="created_at")


def read(path: Path, data_dir: Path | None = None) -> Iterator[RawRecord]:
    """One status per non-empty line (see :func:`~flockwatch.replay.json_lines.read_json_lines`)."""
    return read_json_lines(path, data_dir, NAME, "a Mastodon status", event_time)


# Mastodon writes mentions and hashtags as links too; they are the post's mentions and tags, not its URLs.
_ENTITY_LINKS = frozenset({"mention", "hashtag"})


def html_text(content: str) -> tuple[str, list[str]]:
    """``(plain text, link targets)`` of status HTML (http(s) links that are not mentions or hashtags)."""
    links = [u for u in html_links(content, skip_classes=_ENTITY_LINKS) if u.startswith(("http://", "https://"))]
    return html_to_text(content), links


def host_of(url: object) -> str | None:
    """The lower-cased host of an http(s) URL (``None`` if there is none)."""
    if not isinstance(url, str) or "://" not in url:
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    return host.lower().rstrip(".") if host else None


def full_acct(acct: str, local_host: str | None) -> str:
    """``user@host`` for an ``acct`` (local accounts' acct has no host); the host part lower-cased."""
    name, _, host = acct.strip().lstrip("@").partition("@")
    if not name:
        raise ValueError(f"acct {acct[:40]!r} has no user name")
    host = host or local_host or ""
    if not host:
        raise ValueError(f"cannot tell the host of local account {acct[:40]!r}")
    return f"{name}@{host.lower()}"


def _local_host(raw: RawRecord, account: dict[str, Any], status: dict[str, Any]) -> str | None:
    configured = raw.context.get(INSTANCE)
    if isinstance(configured, str) and configured.strip():
        return host_of(configured) or configured.strip().lower()
    return host_of(account.get("url")) or host_of(account.get("uri")) or host_of(status.get("uri"))


def _author(account: dict[str, Any], local_host: str | None) -> Author:
    acct = full_acct(req_str(account, "acct"), local_host)
    return Author(
        id=acct,
        handle=acct,
        display_name=opt_str(account, "display_name"),
        followers=opt_count(account, "followers_count"),
        following=opt_count(account, "following_count"),
    )


def _media(status: dict[str, Any]) -> list[MediaItem]:
    items: list[MediaItem] = []
    for attachment in opt_list(status, "media_attachments")[:MAX_MEDIA]:
        if not isinstance(attachment, dict):
            continue
        url = next(
            (u for u in (attachment.get("url"), attachment.get("remote_url")) if isinstance(u, str) and "://" in u),
            None,
        )
        if url is None:
            continue
        description = attachment.get("description")
        items.append(
            MediaItem(
                url=url,
                kind=_MEDIA_KINDS.get(str(attachment.get("type")), MediaKind.unknown),
                alt_text=description if isinstance(description, str) and description.strip() else None,
            )
        )
    return items


def _quote_of(status: dict[str, Any], raw: RawRecord) -> str | None:
    """The quoted status's uri: Mastodon 4.5's ``quote.quoted_status``, a fork's embedded status, or the
    connector's resolution of a shallow quote's ``quoted_status_id``."""
    quote = opt_dict(status, "quote")
    if quote is not None:
        quoted = quote.get("quoted_status") if "quoted_status" in quote else quote
        if isinstance(quoted, dict) and isinstance(quoted.get("uri"), str) and quoted["uri"].strip():
            return str(quoted["uri"]).strip()
    resolved = raw.context.get(QUOTE_URI)
    return resolved if isinstance(resolved, str) and resolved.strip() else None


def _names(values: list[Any], key: str) -> list[str]:
    out = [v[key].strip() for v in values if isinstance(v, dict) and isinstance(v.get(key), str) and v[key].strip()]
    return list(dict.fromkeys(out))[:MAX_ENTITIES]


def is_trend_entity(payload: dict[str, Any], context: dict[str, Any]) -> bool:
    """A trend tag or link card (not a status)."""
    if context.get(ENTITY) in NOT_STATUSES:
        return True
    return "history" in payload and "account" not in payload and "content" not in payload


def normalize(raw: RawRecord) -> Post | None:
    status = raw.payload
    reject_unreadable(status)
    if is_trend_entity(status, raw.context):
        return None
    visibility = opt_str(status, "visibility")
    if visibility in PRIVATE:
        return None
    uri = req_str(status, "uri").strip()
    req_id(status, "id")
    if status.get("created_at") is None:
        raise ValueError("missing field 'created_at'")
    created_at = from_iso(status["created_at"], what="created_at")
    account = req_dict(status, "account")
    local_host = _local_host(raw, account, status)
    author = _author(account, local_host)
    engagement = Engagement(
        likes=opt_count(status, "favourites_count"),
        reshares=opt_count(status, "reblogs_count"),
        replies=opt_count(status, "replies_count"),
        quotes=opt_count(status, "quotes_count"),
    )
    reblog = opt_dict(status, "reblog")
    if reblog is not None:
        return Post(
            platform=PLATFORM,
            platform_id=uri,
            author=author,
            created_at=created_at,
            reshare_of=req_str(reblog, "uri").strip(),
            engagement=engagement,
            source=source_ref(raw),
        )
    text, links = html_text(text_field(status, "content", required=False))
    spoiler = opt_str(status, "spoiler_text")
    if spoiler:
        text = f"{spoiler.strip()}\n\n{text}" if text else spoiler.strip()
    media = _media(status)
    card = opt_dict(status, "card") or {}
    card_url = card.get("url")
    if isinstance(card_url, str) and card_url.startswith(("http://", "https://")):
        links.append(card_url)
    card_image = card.get("image")
    if isinstance(card_image, str) and card_image.startswith(("http://", "https://")) and len(media) < MAX_MEDIA:
        title = card.get("title")
        media.append(
            MediaItem(url=card_image, kind=MediaKind.link_preview, alt_text=title if isinstance(title, str) else None)
        )
    mentions = []
    for mention in opt_list(status, "mentions"):
        acct = mention.get("acct") if isinstance(mention, dict) else None
        if isinstance(acct, str) and acct.strip():
            mentions.append(full_acct(acct, local_host))
    reply_uri = raw.context.get(IN_REPLY_TO_URI)
    language = opt_str(status, "language")
    return Post(
        platform=PLATFORM,
        platform_id=uri,
        author=author,
        text=text,
        language=language.strip() if language else None,
        created_at=created_at,
        urls=list(dict.fromkeys(links))[:MAX_ENTITIES],
        hashtags=_names(opt_list(status, "tags"), "name"),
        mentions=list(dict.fromkeys(mentions))[:MAX_ENTITIES],
        media=media,
        reply_to=reply_uri.strip() if isinstance(reply_uri, str) and reply_uri.strip() else None,
        quote_of=_quote_of(status, raw),
        engagement=engagement,
        source=source_ref(raw),
    )


def sniff(path: Path) -> bool:
    first = first_object(path)
    return (
        first is not None
        and isinstance(first.get("account"), dict)
        and "uri" in first
        and "content" in first
        and "created_at" in first
    )
