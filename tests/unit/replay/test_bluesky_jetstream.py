"""Bluesky Jetstream: all 152 real events (32 posts, 120 skipped), plus the embed and facet shapes."""

from __future__ import annotations

import collections
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from flockwatch.config import Settings
from flockwatch.replay import normalize_record, read_dataset
from flockwatch.schema import MediaKind, Post, RawRecord

DATA = Settings().data_dir
DID = "did:plc:u4lmvw4wwzaql3z5kcf3r7h4"


@pytest.fixture(scope="module")
def records() -> list[RawRecord]:
    return list(read_dataset("bluesky_jetstream", None, DATA))


@pytest.fixture(scope="module")
def outcomes(records: list[RawRecord]) -> list[Post | None]:
    return [normalize_record(r) for r in records]


def event(record: dict[str, Any], *, collection: str = "app.bsky.feed.post", operation: str = "create") -> RawRecord:
    commit: dict[str, Any] = {"rev": "r", "operation": operation, "collection": collection, "rkey": "3abc"}
    if operation != "delete":
        commit["record"] = record
    payload = {"did": DID, "time_us": 1783175888189363, "kind": "commit", "commit": commit}
    return RawRecord(format="bluesky_jetstream", source_uri="live", payload=payload)


def test_every_event_is_a_post_or_a_skip(records: list[RawRecord], outcomes: list[Post | None]) -> None:
    assert len(records) == 152
    kinds = collections.Counter(
        (r.payload["commit"]["collection"], r.payload["commit"]["operation"], p is not None)
        for r, p in zip(records, outcomes, strict=True)
        if r.payload["kind"] == "commit"
    )
    assert kinds[("app.bsky.feed.post", "create", True)] == 17
    assert kinds[("app.bsky.feed.repost", "create", True)] == 15
    assert kinds[("app.bsky.feed.like", "create", False)] == 105
    assert kinds[("app.bsky.feed.post", "delete", False)] == 1
    assert sum(p is not None for p in outcomes) == 32
    assert all(p is None for r, p in zip(records, outcomes, strict=True) if r.payload["kind"] != "commit")


def test_a_reply_thread_post(records: list[RawRecord], outcomes: list[Post | None]) -> None:
    post = next(p for p in outcomes if p and p.platform_id.endswith("/app.bsky.feed.post/3mptbyoumc22i"))
    assert post.platform == "bluesky" and post.author.id == DID
    assert post.platform_id == f"at://{DID}/app.bsky.feed.post/3mptbyoumc22i"
    assert post.reply_to == f"at://{DID}/app.bsky.feed.post/3mptbyou7ls2i"
    assert post.root_id == f"at://{DID}/app.bsky.feed.post/3mptbyospqk2i"
    assert post.language == "tr"
    assert post.created_at == datetime(2026, 7, 4, 14, 38, 6, 692000, tzinfo=UTC)
    assert post.text.startswith("even know the country's election results")


def test_links_come_from_facets_not_the_shortened_text(outcomes: list[Post | None]) -> None:
    post = next(p for p in outcomes if p and p.text == "www.youtube.com/watch?v=V5lD...")
    assert post.urls == ["https://www.youtube.com/watch?v=V5lDo-jw8mA"]
    assert [m.kind for m in post.media] == [MediaKind.link_preview]
    assert post.media[0].url.startswith(
        "https://cdn.bsky.app/img/feed_thumbnail/plain/did:plc:dclwtltrt2ggsryagfzk7dp4/"
    )
    tagged = next(p for p in outcomes if p and p.hashtags == ["HowToTellAiToShutUp", "IndieRebellion"])
    assert tagged.language == "de"


def test_images_carry_mime_type(outcomes: list[Post | None]) -> None:
    post = next(p for p in outcomes if p and p.media and p.media[0].kind is MediaKind.image)
    assert post.media[0].mime_type == "image/jpeg"
    assert post.media[0].url.endswith("@jpeg")


def test_reposts_follow_via_and_root_at_the_subject(records: list[RawRecord], outcomes: list[Post | None]) -> None:
    raw, post = next(
        (r, p) for r, p in zip(records, outcomes, strict=True) if p and r.payload["commit"]["record"].get("via")
    )
    record = raw.payload["commit"]["record"]
    assert post.reshare_of == record["via"]["uri"]
    assert post.root_id == record["subject"]["uri"]
    assert post.text == "" and post.platform_id.startswith(f"at://{raw.payload['did']}/app.bsky.feed.repost/")
    plain = next(
        p
        for r, p in zip(records, outcomes, strict=True)
        if p and "subject" in r.payload["commit"]["record"] and "via" not in r.payload["commit"]["record"]
    )
    assert plain.reshare_of is not None and plain.reshare_of == plain.root_id
    assert "/app.bsky.feed.post/" in plain.reshare_of


def test_quotes_mentions_and_video() -> None:
    quoted = f"at://{DID}/app.bsky.feed.post/3quoted"
    text = "hey @alice.bsky.social look"
    record = {
        "$type": "app.bsky.feed.post",
        "createdAt": "2026-07-04T14:38:06.692Z",
        "text": text,
        "facets": [
            {
                "index": {"byteStart": 4, "byteEnd": 22},
                "features": [{"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:alice"}],
            }
        ],
        "embed": {
            "$type": "app.bsky.embed.recordWithMedia",
            "record": {"record": {"uri": quoted, "cid": "c"}},
            "media": {
                "$type": "app.bsky.embed.video",
                "alt": "a clip",
                "video": {"$type": "blob", "ref": {"$link": "bafyvid"}, "mimeType": "video/mp4"},
            },
        },
    }
    post = normalize_record(event(record))
    assert post is not None
    assert post.mentions == ["alice.bsky.social"]
    assert post.quote_of == quoted
    assert [(m.kind, m.alt_text, m.mime_type) for m in post.media] == [(MediaKind.video, "a clip", "video/mp4")]
    assert post.media[0].url == f"https://video.bsky.app/watch/{DID}/bafyvid/playlist.m3u8"
    # Quoting a list or feed generator is not a quote of a post.
    record["embed"] = {"$type": "app.bsky.embed.record", "record": {"uri": f"at://{DID}/app.bsky.graph.list/x"}}
    post = normalize_record(event(record))
    assert post is not None and post.quote_of is None


def test_updates_are_posts_and_deletes_are_skipped() -> None:
    record = {"$type": "app.bsky.feed.post", "createdAt": "2026-07-04T14:38:06Z", "text": "edited"}
    updated = normalize_record(event(record, operation="update"))
    created = normalize_record(event(record))
    assert updated is not None and created is not None and updated.key == created.key
    assert normalize_record(event({}, operation="delete")) is None


def test_an_implausible_client_clock_falls_back_to_the_relay_time() -> None:
    for claimed in ("1970-01-01T00:00:00Z", "2999-01-01T00:00:00Z", "yesterday", None):
        post = normalize_record(event({"$type": "app.bsky.feed.post", "createdAt": claimed, "text": "x"}))
        assert post is not None
        assert post.created_at == datetime(2026, 7, 4, 14, 38, 8, 189363, tzinfo=UTC)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"kind": "commit", "did": DID, "commit": {"operation": "create", "collection": "app.bsky.feed.post"}}, "rkey"),
        ({"kind": "mystery"}, "kind"),
        ({"kind": "commit", "did": DID, "commit": "nope"}, "commit"),
        ({"kind": "commit", "did": DID, "commit": {"operation": "undo", "collection": "x", "rkey": "1"}}, "operation"),
    ],
)
def test_malformed_events_raise_value_errors(payload: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        normalize_record(RawRecord(format="bluesky_jetstream", source_uri="live", payload=payload))


def test_unparseable_lines_are_passed_on_to_be_dead_lettered(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    good = (DATA / "connectors/bluesky_jetstream/expected_v1.jsonl").read_text().splitlines()[1]
    path.write_text("\n".join([good, "{broken", "[1, 2]", ""]))
    records = list(read_dataset("bluesky_jetstream", path, DATA))
    assert [r.position for r in records] == ["1", "2", "3"]
    assert normalize_record(records[0]) is not None
    for raw in records[1:]:
        with pytest.raises(ValueError, match="unreadable"):
            normalize_record(raw)
    assert json.loads(records[0].to_bytes())["payload"]["did"] == "did:plc:dclwtltrt2ggsryagfzk7dp4"
