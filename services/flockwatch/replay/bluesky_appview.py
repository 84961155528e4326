"""``bluesky_appview``: one post as a Bluesky AppView serves it (``app.bsky.feed.defs#postView``), from a feed
(``app.bsky.feed.getFeed``) or a search (``app.bsky.feed.searchPosts``).

The payload is ``{"post": PostView}``, or ``{"post": PostView, "reason": reasonRepost}`` for a feed item that
is there because someone reposted it (the feed's ``FeedViewPost`` without its ``reply`` context, which the
connector emits as posts of their own).

Decisions, and why:

- **The post is the record.** A PostView carries the author's record exactly as Jetstream does, so it is
  normalised by the same function (:func:`flockwatch.replay.bluesky_jetstream.record_post`): ids are the
  ``at://`` URIs, and a post collected from the firehose and from a feed is one post. The record's
  ``createdAt`` dates it; ``indexedAt`` (when the AppView saw it) when the client's clock is implausible.
- **What the view adds**: the author's ``handle`` and ``displayName``, and the counts (likes, reposts,
  replies, quotes) as the AppView knows them now: each pull of a post is an engagement snapshot.
- **Reposts.** A ``reasonRepost`` with the repost record's ``uri`` becomes a repost post by ``reason.by``,
  dated by ``reason.indexedAt``, resharing the post. Without its ``uri`` (older AppViews) the repost has no id
  that would match the firehose's, so the connector leaves it out rather than invent one.
- **Refused**: a view whose ``uri`` is not a post's, or whose author is not the account in the ``uri``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flockwatch.replay import bluesky_jetstream as jetstream
from flockwatch.replay.base import source_ref
from flockwatch.replay.json_lines import first_object, read_json_lines
from flockwatch.replay.payload import opt_count, opt_dict, opt_str, reject_unreadable, req_dict, req_str
from flockwatch.replay.timestamps import from_iso, or_none
from flockwatch.schema import Author, Engagement, Post, RawRecord

NAME = "bluesky_appview"
PLATFORM = jetstream.PLATFORM
DEFAULT_PATH = None
DESCRIPTION = "Bluesky AppView post views (feeds, search): posts with handles and counts, feed reposts"
REASON_REPOST = "app.bsky.feed.defs#reasonRepost"
# at://<did>/<collection>/<rkey>; DIDs are did:<method>:<id> (RFC-style charset), rkeys are record keys.
_AT_URI = re.compile(r"^at://(did:[a-z]+:[A-Za-z0-9._:%-]{1,2000})/([a-zA-Z0-9.-]{1,300})/([A-Za-z0-9._~:-]{1,512})$")


def parse_at_uri(uri: str) -> tuple[str, str, str]:
    """(did, collection, rkey) of a record URI; ``ValueError`` for anything else (a handle-based URI too)."""
    match = _AT_URI.match(uri)
    if match is None:
        raise ValueError(f"not a record URI (at://did/collection/rkey): {uri[:120]!r}")
    return match[1], match[2], match[3]


def feed_uri(value: str) -> str:
    """A feed generator's ``at://`` URI, from itself or from its ``https://bsky.app/profile/DID/feed/NAME`` link."""
    text = value.strip()
    parts = urlsplit(text)
    if parts.scheme in ("http", "https"):
        segments = [s for s in parts.path.split("/") if s]
        if len(segments) == 4 and segments[0] == "profile" and segments[2] == "feed" and segments[1].startswith("did:"):
            text = f"at://{segments[1]}/app.bsky.feed.generator/{segments[3]}"
    try:
        _, collection, _ = parse_at_uri(text)
    except ValueError:
        collection = ""
    if collection != "app.bsky.feed.generator":
        raise ValueError(
            f"a feed must be a feed generator's at://DID/app.bsky.feed.generator/NAME URI (or its bsky.app link "
            f"with a DID), not {value!r}"
        )
    return text


def post_time(view: dict[str, Any]) -> datetime | None:
    """When the AppView indexed the post (pacing, and the fallback for an implausible ``createdAt``)."""
    return or_none(from_iso, view.get("indexedAt"), what="indexedAt")


def event_time(payload: dict[str, Any]) -> datetime | None:
    view = payload.get("post")
    return post_time(view) if isinstance(view, dict) else None


def read(path: Path, data_dir: Path | None = None) -> Iterator[RawRecord]:
    """One ``{"post": ..., "reason"?: ...}`` object per line (what ``collect bluesky --feed/--search`` saw)."""
    return read_json_lines(path, data_dir, NAME, "an AppView post", event_time)


def _indexed(view: dict[str, Any], what: str = "post") -> Callable[[], datetime]:
    def when() -> datetime:
        value = post_time(view)
        if value is None:
            raise ValueError(f"{what} has no usable createdAt and no indexedAt")
        return value

    return when


def _author(profile: dict[str, Any], did: str) -> Author:
    if profile.get("did") != did:
        raise ValueError(f"author.did {str(profile.get('did'))[:80]!r} is not the account of the record ({did})")
    return Author(id=did, handle=opt_str(profile, "handle"), display_name=opt_str(profile, "displayName"))


def normalize(raw: RawRecord) -> Post | None:
    payload = raw.payload
    reject_unreadable(payload)
    view = req_dict(payload, "post")
    did, collection, rkey = parse_at_uri(req_str(view, "uri"))
    if collection != jetstream.POST:
        raise ValueError(f"post view of a {collection!r} record, not a post")
    reason = opt_dict(payload, "reason")
    if reason is not None:
        return _repost(raw, view, reason)
    counts = Engagement(
        likes=opt_count(view, "likeCount"),
        reshares=opt_count(view, "repostCount"),
        replies=opt_count(view, "replyCount"),
        quotes=opt_count(view, "quoteCount"),
    )
    author = _author(req_dict(view, "author"), did)
    record = req_dict(view, "record")
    return jetstream.record_post(raw, did, collection, rkey, record, _indexed(view), author=author, engagement=counts)


def _repost(raw: RawRecord, view: dict[str, Any], reason: dict[str, Any]) -> Post:
    if reason.get("$type") != REASON_REPOST:
        raise ValueError(f"feed reason {str(reason.get('$type'))[:80]!r} is not a repost")
    did, collection, _ = parse_at_uri(req_str(reason, "uri"))
    if collection != jetstream.REPOST:
        raise ValueError(f"repost reason's uri names a {collection!r} record")
    when = from_iso(reason.get("indexedAt"), what="reason.indexedAt")
    return Post(
        platform=PLATFORM,
        platform_id=reason["uri"],
        author=_author(req_dict(reason, "by"), did),
        created_at=when,
        reshare_of=view["uri"],
        root_id=view["uri"],
        source=source_ref(raw),
    )


def sniff(path: Path) -> bool:
    first = first_object(path)
    post = first.get("post") if first is not None else None
    return isinstance(post, dict) and "uri" in post and "record" in post and "author" in post
