"""The AppView normaliser: a post view is the Jetstream post of the same record, plus its handle and counts; a
feed's repost reason is a repost; what does not hold together is refused with its reason."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from flockwatch.adapters.connectors.base import raw_record
from flockwatch.config import Settings
from flockwatch.replay import bluesky_appview, detect_format, normalize_record
from flockwatch.schema import Engagement, Post
from tests.platform_servers.appview import jetstream_events, post_views, repost_reasons

DATA = Settings().data_dir
VIEWS = post_views(DATA)
REASONS = repost_reasons(DATA)
REPOST = {"post": VIEWS[0], "reason": REASONS[0]}


def post_of(payload: dict[str, Any]) -> Post:
    post = normalize_record(raw_record("bluesky_appview", "appview", "x", payload))
    assert post is not None
    return post


def comparable(post: Post) -> dict[str, Any]:
    data = json.loads(post.model_dump_json(exclude_none=True))
    return {k: v for k, v in data.items() if k not in ("source", "collected_at", "author", "engagement")}


def test_a_post_view_is_the_jetstream_post_of_its_record_with_handle_and_counts() -> None:
    events = {
        f"at://{e['did']}/app.bsky.feed.post/{e['commit']['rkey']}": e
        for e in jetstream_events(DATA)
        if (e.get("commit") or {}).get("collection") == "app.bsky.feed.post"
    }
    for view in VIEWS:
        post = post_of({"post": view})
        from_stream = normalize_record(raw_record("bluesky_jetstream", "js", "x", events[view["uri"]]))
        assert from_stream is not None
        assert comparable(post) == comparable(from_stream)
        assert post.key == from_stream.key  # one post, whichever way it was collected
        assert post.author.id == view["author"]["did"] and post.author.handle == view["author"]["handle"]
        assert post.author.display_name == view["author"]["displayName"]
        assert post.engagement == Engagement(
            likes=view["likeCount"], reshares=view["repostCount"], replies=view["replyCount"], quotes=view["quoteCount"]
        )


def test_a_repost_reason_is_a_repost_by_its_reposter() -> None:
    post = post_of({"post": VIEWS[2], "reason": REASONS[4]})
    assert post.platform_id == REASONS[4]["uri"] and post.author.id == REASONS[4]["by"]["did"]
    assert post.reshare_of == post.root_id == VIEWS[2]["uri"] and post.text == ""
    assert post.created_at.isoformat().startswith(REASONS[4]["indexedAt"][:23])


def test_an_implausible_created_at_falls_back_to_indexed_at() -> None:
    view = copy.deepcopy(VIEWS[0])
    view["record"]["createdAt"] = "1970-01-01T00:00:00Z"
    assert post_of({"post": view}).created_at.isoformat().startswith(view["indexedAt"][:23])
    del view["indexedAt"]
    with pytest.raises(ValueError, match="no usable createdAt and no indexedAt"):
        post_of({"post": view})


def _with(path: tuple[str, ...], value: Any, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    data = copy.deepcopy(payload or {"post": VIEWS[0]})
    target = data
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        ({}, "post"),
        (_with(("post", "uri"), "at://alice.example/app.bsky.feed.post/1"), "not a record URI"),
        (_with(("post", "uri"), VIEWS[0]["uri"].replace("feed.post", "feed.like")), "not a post"),
        (_with(("post", "author", "did"), "did:plc:someoneelse"), "is not the account"),
        (_with(("post", "record"), "text"), "record"),
        (_with(("reason", "$type"), "app.bsky.feed.defs#reasonPin", REPOST), "not a repost"),
        (_with(("reason", "uri"), VIEWS[1]["uri"], REPOST), "names a"),
        (_with(("reason", "by", "did"), "did:plc:other", REPOST), "is not the account"),
    ],
)  # fmt: skip
def test_what_does_not_hold_together_is_refused_with_its_reason(payload: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        post_of(payload)


def test_saved_pulls_replay_and_are_recognised(tmp_path: Any) -> None:
    path = tmp_path / "appview.jsonl"
    path.write_text("".join(json.dumps({"post": v}) + "\n" for v in VIEWS))
    assert detect_format(path).name == "bluesky_appview"
    records = list(bluesky_appview.read(path))
    assert [post_of(r.payload).platform_id for r in records] == [v["uri"] for v in VIEWS]


@pytest.mark.parametrize(
    ("given", "uri"),
    [
        ("at://did:plc:abc/app.bsky.feed.generator/whats-hot", "at://did:plc:abc/app.bsky.feed.generator/whats-hot"),
        ("https://bsky.app/profile/did:plc:abc/feed/whats-hot", "at://did:plc:abc/app.bsky.feed.generator/whats-hot"),
    ],
)
def test_feed_uris(given: str, uri: str) -> None:
    assert bluesky_appview.feed_uri(given) == uri
