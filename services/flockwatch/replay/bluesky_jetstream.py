"""``bluesky_jetstream``: Bluesky Jetstream v1 events (one JSON object a line), recorded or live.

The same normaliser serves the recorded corpus (``connectors/bluesky_jetstream/expected_v1.jsonl``)
and a live Jetstream connector, so it takes one event exactly as Jetstream sends it.

Decisions, and why:

- **What is a post.** ``app.bsky.feed.post`` creates become posts; ``app.bsky.feed.repost``
  creates become posts with ``reshare_of``. Likes, follows, blocks, profile/status records and
  ``identity``/``account`` events are not posts: ``None`` (counted as skipped).
- **Updates** of a post or repost are normalised like creates. The key is the record's URI, so
  the store keeps the latest version (idempotent overwrite).
- **Deletes** return ``None``: a tombstone is not a post, and retracting stored posts is a
  store/retention concern outside the ``Post`` contract; the delete stays in the raw topic.
- **Ids** are the records' ``at://<did>/<collection>/<rkey>`` URIs, the form every reference in
  the protocol (reply parent/root, quote, repost subject) already uses, so links resolve
  without translation.
- **Reposts.** ``reshare_of`` is ``via`` (the repost through which the author saw the post)
  when present, else ``subject``: the path the cascade took, as for Twitter15 and Weibo;
  ``root_id`` is the ``subject`` post.
- **Entities** come from facets (links, ``#tag``s, mentions, the mention's handle as written
  in the text), because clients shorten link text (``www.youtube.com/watch?v=V5lD...``); text
  is scanned only when a post has no facets of that kind.
- **Media.** Image and video blobs become CDN URLs (``cdn.bsky.app`` / ``video.bsky.app``,
  the public AppView's, derived from DID and CID) with MIME type and alt text; an external
  link card adds its URL to ``urls`` and its thumbnail as a ``link_preview``. Quoted records
  (``embed.record`` / ``recordWithMedia``) that are posts set ``quote_of``.
- **Time** is the record's ``createdAt`` (what the author's client claims); when it is missing,
  unreadable or implausible (before 2000 or in the future), Jetstream's ``time_us`` (when the
  relay saw it) is used instead, so a bad client clock does not lose the post.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flockwatch.replay.base import source_ref
from flockwatch.replay.json_lines import first_object, read_json_lines
from flockwatch.replay.payload import (
    opt_dict,
    opt_list,
    reject_unreadable,
    req_dict,
    req_str,
    text_field,
)
from flockwatch.replay.text_entities import extract_hashtags, extract_mentions, extract_urls
from flockwatch.replay.timestamps import from_iso, from_unix
from flockwatch.schema import EARLIEST_POST, FUTURE_SKEW, Author, Engagement, MediaItem, MediaKind, Post, RawRecord

NAME = "bluesky_jetstream"
DESCRIPTION = "Bluesky Jetstream v1 events: posts and reposts (likes, follows... are skipped)"
PLATFORM = "bluesky"
DEFAULT_PATH = "connectors/bluesky_jetstream/expected_v1.jsonl"
POST = "app.bsky.feed.post"
REPOST = "app.bsky.feed.repost"
IMAGE_URL = "https://cdn.bsky.app/img/feed_fullsize/plain/{did}/{cid}@jpeg"
THUMB_URL = "https://cdn.bsky.app/img/feed_thumbnail/plain/{did}/{cid}@jpeg"
VIDEO_URL = "https://video.bsky.app/watch/{did}/{cid}/playlist.m3u8"
_FACET = "app.bsky.richtext.facet#"


def event_time(event: dict[str, Any]) -> datetime | None:
    """When Jetstream saw the event (``time_us``), for pacing."""
    try:
        return _from_micros(event.get("time_us"))
    except ValueError:
        return None


def _from_micros(value: object) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"time_us must be a number, got {value!r:.40}")
    return from_unix(value / 1_000_000, what="time_us")


def read(path: Path, data_dir: Path | None = None) -> Iterator[RawRecord]:
    """One record per non-empty line (see :func:`~flockwatch.replay.json_lines.read_json_lines`)."""
    return read_json_lines(path, data_dir, NAME, "a Jetstream event", event_time)


def _plausible(value: datetime) -> bool:
    return EARLIEST_POST <= value <= datetime.now(UTC) + FUTURE_SKEW


def _created_at(record: dict[str, Any], fallback: Callable[[], datetime]) -> datetime:
    try:
        claimed = from_iso(record.get("createdAt"), what="createdAt")
        if _plausible(claimed):
            return claimed
    except ValueError:
        pass
    return fallback()


def _relay_time(event: dict[str, Any]) -> Callable[[], datetime]:
    def when() -> datetime:
        if event.get("time_us") is None:
            raise ValueError("record has no usable createdAt and the event has no time_us")
        return _from_micros(event.get("time_us"))

    return when


def _blob_cid(blob: object) -> str | None:
    """A blob's CID, in the current (``ref.$link``) or legacy (``cid``) shape."""
    if not isinstance(blob, dict):
        return None
    ref = blob.get("ref")
    if isinstance(ref, dict) and isinstance(ref.get("$link"), str):
        return str(ref["$link"])
    cid = blob.get("cid")
    return cid if isinstance(cid, str) else None


def _mime(blob: object) -> str | None:
    mime = blob.get("mimeType") if isinstance(blob, dict) else None
    return mime if isinstance(mime, str) else None


def _post_uri(value: object) -> str | None:
    """``value.uri`` when it names a post (quotes can also embed lists, feeds, starter packs)."""
    uri = value.get("uri") if isinstance(value, dict) else None
    return uri if isinstance(uri, str) and f"/{POST}/" in uri else None


class _Embed:
    """What an embed contributes: media, link URLs and a quoted post."""

    def __init__(self, did: str) -> None:
        self.did = did
        self.media: list[MediaItem] = []
        self.urls: list[str] = []
        self.quote_of: str | None = None

    def add(self, embed: dict[str, Any]) -> None:
        kind = embed.get("$type")
        if kind == "app.bsky.embed.images":
            for image in opt_list(embed, "images"):
                if isinstance(image, dict):
                    self._blob(image.get("image"), MediaKind.image, IMAGE_URL, image.get("alt"))
        elif kind == "app.bsky.embed.video":
            self._blob(embed.get("video"), MediaKind.video, VIDEO_URL, embed.get("alt"))
        elif kind == "app.bsky.embed.external":
            external = opt_dict(embed, "external") or {}
            link = external.get("uri")
            if isinstance(link, str) and link:
                self.urls.append(link)
            self._blob(external.get("thumb"), MediaKind.link_preview, THUMB_URL, external.get("title"))
        elif kind == "app.bsky.embed.record":
            self.quote_of = _post_uri(embed.get("record"))
        elif kind == "app.bsky.embed.recordWithMedia":
            record = opt_dict(embed, "record") or {}
            self.quote_of = _post_uri(record.get("record"))
            media = opt_dict(embed, "media")
            if media is not None:
                self.add(media)

    def _blob(self, blob: object, kind: MediaKind, template: str, alt: object) -> None:
        cid = _blob_cid(blob)
        if cid is None:
            return
        self.media.append(
            MediaItem(
                url=template.format(did=self.did, cid=cid),
                kind=kind,
                mime_type=_mime(blob),
                alt_text=alt if isinstance(alt, str) and alt else None,
            )
        )


def _facets(record: dict[str, Any], text: str) -> tuple[list[str], list[str], list[str]]:
    """(links, tags, mention handles) from rich-text facets; byte offsets index UTF-8 text."""
    links: list[str] = []
    tags: list[str] = []
    mentions: list[str] = []
    encoded = text.encode("utf-8")
    for facet in opt_list(record, "facets"):
        if not isinstance(facet, dict):
            continue
        for feature in opt_list(facet, "features"):
            if not isinstance(feature, dict):
                continue
            kind = feature.get("$type")
            if kind == _FACET + "link" and isinstance(feature.get("uri"), str):
                links.append(feature["uri"])
            elif kind == _FACET + "tag" and isinstance(feature.get("tag"), str):
                tags.append(feature["tag"])
            elif kind == _FACET + "mention":
                mentions.append(_mention_handle(facet, encoded) or str(feature.get("did", "")))
    return links, tags, [m for m in mentions if m]


def _mention_handle(facet: dict[str, Any], encoded: bytes) -> str | None:
    index = facet.get("index")
    if not isinstance(index, dict):
        return None
    start, end = index.get("byteStart"), index.get("byteEnd")
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(encoded)):
        return None
    handle = encoded[start:end].decode("utf-8", "replace").lstrip("@").strip()
    return handle or None


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def normalize(raw: RawRecord) -> Post | None:
    event = raw.payload
    reject_unreadable(event)
    kind = event.get("kind")
    if kind in ("identity", "account"):
        return None
    if kind != "commit":
        raise ValueError(f"unknown Jetstream event kind {kind!r}")
    commit = req_dict(event, "commit")
    collection = req_str(commit, "collection")
    operation = req_str(commit, "operation")
    if operation not in ("create", "update", "delete"):
        raise ValueError(f"unknown commit operation {operation!r}")
    if collection not in (POST, REPOST) or operation == "delete":
        return None
    did = req_str(event, "did")
    rkey = req_str(commit, "rkey")
    return record_post(raw, did, collection, rkey, req_dict(commit, "record"), _relay_time(event))


def record_post(
    raw: RawRecord,
    did: str,
    collection: str,
    rkey: str,
    record: dict[str, Any],
    fallback_time: Callable[[], datetime],
    *,
    author: Author | None = None,
    engagement: Engagement | None = None,
) -> Post:
    """The post a post or repost record of ``did`` makes (shared with :mod:`flockwatch.replay.bluesky_appview`);
    ``fallback_time`` dates it when its ``createdAt`` is missing or implausible."""
    uri = f"at://{did}/{collection}/{rkey}"
    created_at = _created_at(record, fallback_time)
    author = author or Author(id=did)
    counts = engagement or Engagement()
    if collection == REPOST:
        subject = _post_uri(record.get("subject"))
        if subject is None:
            raise ValueError("repost has no subject post URI")
        via = record.get("via")
        via_uri = via.get("uri") if isinstance(via, dict) else None
        return Post(
            platform=PLATFORM,
            platform_id=uri,
            author=author,
            created_at=created_at,
            reshare_of=via_uri if isinstance(via_uri, str) and via_uri else subject,
            root_id=subject,
            engagement=counts,
            source=source_ref(raw),
        )

    text = text_field(record, "text")
    links, tags, mentions = _facets(record, text)
    embed = _Embed(did)
    embed_value = opt_dict(record, "embed")
    if embed_value is not None:
        embed.add(embed_value)
    reply = opt_dict(record, "reply") or {}
    langs = [lang for lang in opt_list(record, "langs") if isinstance(lang, str) and lang]
    return Post(
        platform=PLATFORM,
        platform_id=uri,
        author=author,
        text=text,
        language=langs[0] if langs else None,
        created_at=created_at,
        urls=_unique((links or extract_urls(text)) + embed.urls),
        hashtags=_unique(tags or extract_hashtags(text, "bluesky")),
        mentions=_unique(mentions or extract_mentions(text, "bluesky")),
        media=embed.media,
        reply_to=_post_uri(reply.get("parent")),
        root_id=_post_uri(reply.get("root")),
        quote_of=embed.quote_of,
        engagement=counts,
        source=source_ref(raw),
    )


def sniff(path: Path) -> bool:
    first = first_object(path)
    return first is not None and "did" in first and "kind" in first and "time_us" in first
