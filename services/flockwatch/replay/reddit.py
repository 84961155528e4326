"""``reddit``: one Reddit listing child (``{"kind": "t3"|"t1", "data": {...}}``) as the API serves it.

The same normaliser serves the live connectors (:mod:`flockwatch.adapters.connectors.reddit`: listings, comment
trees, the comment stream) and JSON lines of saved children, so it takes one child exactly as Reddit sends it
(``raw_json=1`` or not).

Decisions, and why:

- **Ids** are base36 without their ``t1_``/``t3_`` prefix (``48dlnt``), the form Reddit's URLs and the trending
  pass's ``thread:reddit:ID`` targets use; ``reply_to`` (a comment's ``parent_id``), ``root_id`` (its
  ``link_id``) and ``reshare_of`` (a crosspost's ``crosspost_parent``) are stripped the same way, so parent links
  resolve to posts of the same platform. (Comments and submissions number separately; ids collected in the
  same years lie orders of magnitude apart, so the shared key space does not collide in practice.)
- **What is a post.** Submissions (``t3``) and comments (``t1``). ``more`` stubs (comments the tree did not
  load), accounts, messages, subreddits and awards (``t2``/``t4``/``t5``/``t6``) are not: ``None``.
- **Text.** A submission is its title, a blank line and its self text; a comment its body. The placeholders
  ``[deleted]``/``[removed]`` are not the author's words: they become empty text (otherwise every removed comment
  would join one giant "exact copy" narrative).
- **Authors** are usernames (permanent and unique on Reddit, present in every vintage of the API, unlike
  ``author_fullname``); a ``[deleted]`` author becomes ``deleted:<fullname>``, one unknown account per post,
  so deleted accounts do not merge into one hyperactive account.
- **The subreddit is not an entity.** It is the community the post was made in, not a topic the author chose:
  as a hashtag every post of a followed subreddit would count towards one "rising tag" (and the trending pass
  would follow an unrelated Mastodon tag of that name), as a URL every poster would co-share one link
  (a false coordination edge). It stays in ``source.uri`` (the listing's URL, ``.../r/NAME/...``).
- **URLs**: a link post's target (``url_overridden_by_dest``, else ``url``; a self post's ``url`` is its own
  permalink and is left out), then links in the text. **Mentions**: ``u/name`` in the text. **Hashtags**:
  ``#tag`` in the text (Reddit has none of its own).
- **Media**: gallery items (``gallery_data`` order, ``media_metadata``), the linked image (``post_hint``
  ``image``), Reddit-hosted video (``reddit_video.fallback_url``), else the preview image or thumbnail as a
  ``link_preview``. Malformed media entries are skipped, not fatal: their shapes changed over the years.
- **Engagement**: ``score`` as likes (none when ``score_hidden``/``hide_score``; a net-negative score counts as
  0 likes), ``num_comments`` as replies and ``num_crossposts`` as reshares (submissions only: on a comment in a
  listing ``num_comments`` is its submission's).
- **Time** is ``created_utc`` (``created`` is shifted by the server's zone in old payloads).
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from flockwatch.replay.base import source_ref
from flockwatch.replay.json_lines import first_object, read_json_lines
from flockwatch.replay.payload import opt_str, reject_unreadable, req_dict, text_field
from flockwatch.replay.text_entities import extract_hashtags, extract_urls
from flockwatch.replay.timestamps import from_unix, or_none
from flockwatch.schema import MAX_MEDIA, Author, Engagement, MediaItem, MediaKind, Post, RawRecord

NAME = "reddit"
PLATFORM = "reddit"
DEFAULT_PATH = None
DESCRIPTION = "Reddit API listing children: submissions (t3) and comments (t1); more-stubs are skipped"
SITE = "https://www.reddit.com"
POST_KINDS = ("t1", "t3")
NOT_POSTS = ("more", "t2", "t4", "t5", "t6")
PLACEHOLDERS = ("[deleted]", "[removed]")

_ID_RE = re.compile(r"^(?:(t[1-6])_)?([0-9a-z]{1,13})$")
_MENTION_RE = re.compile(r"(?<![\w/])/?u/([A-Za-z0-9_-]{3,20})(?![\w-])")
_IMAGE_EXT = (".jpg", ".jpeg", ".png", ".gif", ".webp")


def base36_id(value: object, what: str, kind: str | None = None) -> str:
    """A Reddit id or fullname (``t3_48dlnt``) as the bare base36 id; ``kind`` checks the fullname's prefix."""
    if not isinstance(value, str):
        raise ValueError(f"field {what!r} must be a Reddit id, got {type(value).__name__}")
    match = _ID_RE.match(value.strip())
    if match is None:
        raise ValueError(f"field {what!r} is not a Reddit id or fullname: {value[:40]!r}")
    prefix, bare = match.groups()
    if kind is not None and prefix is not None and prefix != kind:
        raise ValueError(f"field {what!r} names a {prefix} where a {kind} was expected: {value[:40]!r}")
    return bare


def id_number(bare: str) -> int:
    """A base36 id's number: ids are minted in order, so the larger number is the newer item."""
    return int(bare, 36)


def child_id(child: object) -> str | None:
    """The bare id of a listing child, or ``None`` (connectors use it as the record's position and cursor)."""
    data = child.get("data") if isinstance(child, dict) else None
    if not isinstance(data, dict):
        return None
    for key in ("id", "name"):
        try:
            return base36_id(data.get(key), key)
        except ValueError:
            continue
    return None


def event_time(child: dict[str, Any]) -> datetime | None:
    """When the item was created (``created_utc``), for pacing."""
    data = child.get("data")
    return or_none(from_unix, data.get("created_utc"), what="created_utc") if isinstance(data, dict) else None


def read(path: Path, data_dir: Path | None = None) -> Iterator[RawRecord]:
    """One listing child per non-empty line (see :func:`~flockwatch.replay.json_lines.read_json_lines`)."""
    return read_json_lines(path, data_dir, NAME, "a Reddit listing child", event_time)


def _item_id(data: dict[str, Any], kind: str) -> str:
    bare = base36_id(data["id"], "id", kind) if data.get("id") is not None else None
    name = base36_id(data["name"], "name", kind) if data.get("name") is not None else None
    if bare is None and name is None:
        raise ValueError("missing field 'id'")
    if bare is not None and name is not None and bare != name:
        raise ValueError(f"field 'name' ({name}) does not match field 'id' ({bare})")
    return bare or name or ""


def _author(data: dict[str, Any], fullname: str) -> Author:
    name = opt_str(data, "author")
    if name is None or name.strip() in PLACEHOLDERS:
        return Author(id=f"deleted:{fullname}")
    return Author(id=name.strip(), handle=name.strip())


def _score(data: dict[str, Any]) -> int | None:
    """Net score as a like count: hidden scores are unknown, a negative one is no likes."""
    if data.get("score_hidden") is True or data.get("hide_score") is True:
        return None
    value = data.get("score")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"field 'score' must be a number, got {json.dumps(value, default=str)[:40]}")
    return max(0, int(value))


def _count(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"field {key!r} must be a non-negative number, got {json.dumps(value, default=str)[:40]}")
    return int(value)


def _text(data: dict[str, Any], key: str, required: bool) -> str:
    value = text_field(data, key, required=required)
    return "" if value.strip() in PLACEHOLDERS else value


def _url(value: object) -> str | None:
    """An absolute http(s) URL (Reddit's relative ``/r/...`` links made absolute; ``&amp;`` of non-raw JSON undone)."""
    if not isinstance(value, str) or not value.strip():
        return None
    url = html.unescape(value.strip()) if "&amp;" in value else value.strip()
    if url.startswith("/"):
        url = SITE + url
    return url if url.startswith(("https://", "http://")) and len(url) > 10 else None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class _Media:
    """A post's media, de-duplicated by URL and capped; malformed entries are skipped."""

    def __init__(self) -> None:
        self.items: list[MediaItem] = []
        self._seen: set[str] = set()

    def add(self, url: object, kind: MediaKind, mime: object = None, alt: object = None) -> None:
        link = _url(url)
        if link is None or link in self._seen or len(self.items) >= MAX_MEDIA:
            return
        self._seen.add(link)
        self.items.append(
            MediaItem(
                url=link,
                kind=kind,
                mime_type=mime if isinstance(mime, str) and mime else None,
                alt_text=alt if isinstance(alt, str) and alt.strip() else None,
            )
        )

    def gallery(self, data: dict[str, Any]) -> None:
        metadata = _dict(data.get("media_metadata"))
        items = _dict(data.get("gallery_data")).get("items")
        order: list[tuple[object, object]] = (
            [(_dict(i).get("media_id"), _dict(i).get("caption")) for i in items]
            if isinstance(items, list)
            else [(key, None) for key in metadata]
        )
        for media_id, caption in order:
            meta = _dict(metadata.get(media_id)) if isinstance(media_id, str) else {}
            source = _dict(meta.get("s"))
            kind = meta.get("e")
            if kind == "Image":
                self.add(source.get("u"), MediaKind.image, meta.get("m"), caption)
            elif kind == "AnimatedImage":
                self.add(source.get("mp4") or source.get("gif"), MediaKind.gif, meta.get("m"), caption)
            elif kind == "RedditVideo":
                self.add(meta.get("hlsUrl") or meta.get("dashUrl"), MediaKind.video, None, caption)

    def video(self, data: dict[str, Any]) -> None:
        for key in ("secure_media", "media"):
            video = _dict(_dict(data.get(key)).get("reddit_video"))
            if video:
                self.add(video.get("fallback_url") or video.get("hls_url"), MediaKind.video)
                return
        preview_video = _dict(_dict(data.get("preview")).get("reddit_video_preview"))
        if preview_video:
            self.add(preview_video.get("fallback_url"), MediaKind.video)

    def preview(self, data: dict[str, Any]) -> None:
        """The preview image of a link, else the embed's or the listing's thumbnail."""
        images = _dict(data.get("preview")).get("images")
        first = _dict(images[0]) if isinstance(images, list) and images else {}
        self.add(_dict(first.get("source")).get("url"), MediaKind.link_preview)
        if not self.items:
            oembed = _dict(_dict(data.get("secure_media") or data.get("media")).get("oembed"))
            self.add(oembed.get("thumbnail_url") or data.get("thumbnail"), MediaKind.link_preview)


def _is_image_link(data: dict[str, Any], link: str | None) -> bool:
    if link is None:
        return False
    path = link.split("?", 1)[0].lower()
    return data.get("post_hint") == "image" or path.endswith(_IMAGE_EXT) or "://i.redd.it/" in path


def _mentions(text: str) -> list[str]:
    return list(dict.fromkeys(_MENTION_RE.findall(text))) if "u/" in text else []


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _submission(raw: RawRecord, data: dict[str, Any], post_id: str) -> Post:
    title = text_field(data, "title")
    body = _text(data, "selftext", required=False)
    text = f"{title}\n\n{body}" if body.strip() else title
    link = _url(data.get("url_overridden_by_dest") or data.get("url"))
    permalink = _url(data.get("permalink"))
    if data.get("is_self") is True or link == permalink:
        link = None
    media = _Media()
    media.gallery(data)
    if not media.items and _is_image_link(data, link):
        media.add(link, MediaKind.image)
    media.video(data)
    if not media.items:
        media.preview(data)
    crosspost = data.get("crosspost_parent")
    return Post(
        platform=PLATFORM,
        platform_id=post_id,
        author=_author(data, f"t3_{post_id}"),
        text=text,
        created_at=_created(data),
        urls=_unique(([link] if link else []) + extract_urls(text)),
        hashtags=extract_hashtags(text),
        mentions=_mentions(text),
        media=media.items,
        reshare_of=base36_id(crosspost, "crosspost_parent", "t3") if crosspost is not None else None,
        engagement=Engagement(
            likes=_score(data), replies=_count(data, "num_comments"), reshares=_count(data, "num_crossposts")
        ),
        source=source_ref(raw),
    )


def _comment(raw: RawRecord, data: dict[str, Any], post_id: str) -> Post:
    text = _text(data, "body", required=True)
    if data.get("parent_id") is None:
        raise ValueError("missing field 'parent_id'")
    parent = base36_id(data["parent_id"], "parent_id")
    link = data.get("link_id")
    root = base36_id(link, "link_id", "t3") if link is not None else None
    if root is None and str(data["parent_id"]).startswith("t3_"):
        root = parent
    media = _Media()
    media.gallery(data)
    return Post(
        platform=PLATFORM,
        platform_id=post_id,
        author=_author(data, f"t1_{post_id}"),
        text=text,
        created_at=_created(data),
        urls=extract_urls(text),
        hashtags=extract_hashtags(text),
        mentions=_mentions(text),
        media=media.items,
        reply_to=parent,
        root_id=root,
        engagement=Engagement(likes=_score(data)),
        source=source_ref(raw),
    )


def _created(data: dict[str, Any]) -> datetime:
    if data.get("created_utc") is None:
        raise ValueError("missing field 'created_utc'")
    return from_unix(data["created_utc"], what="created_utc")


def normalize(raw: RawRecord) -> Post | None:
    child = raw.payload
    reject_unreadable(child)
    kind = child.get("kind")
    if kind in NOT_POSTS:
        return None
    if kind not in POST_KINDS:
        raise ValueError(f"unknown Reddit thing kind {kind!r:.40} (expected t1 or t3)")
    data = req_dict(child, "data")
    post_id = _item_id(data, str(kind))
    if kind == "t3":
        return _submission(raw, data, post_id)
    return _comment(raw, data, post_id)


def sniff(path: Path) -> bool:
    first = first_object(path)
    return (
        first is not None
        and first.get("kind") in (*POST_KINDS, "more")
        and isinstance(first.get("data"), dict)
        and "did" not in first
    )
