"""The ``reddit`` normaliser on every submission and comment the recorded Reddit cassettes hold, and on the
shapes today's API adds (galleries, hosted video, crossposts), written into real recorded children."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from flockwatch.config import Settings
from flockwatch.replay import detect_format, normalize_record, read_dataset
from flockwatch.schema import MediaKind, Post, RawRecord
from tests.platform_servers.cassettes import reddit_children

FOLDER = Settings().data_dir / "connectors/reddit"


def children() -> dict[str, list[dict[str, Any]]]:
    return reddit_children(FOLDER) if FOLDER.is_dir() else {}


def flat(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Comment trees walked by hand (independently of the connector's flattening)."""
    out = []
    for child in items:
        out.append(child)
        replies = child["data"].get("replies")
        if isinstance(replies, dict):
            out += flat(replies["data"]["children"])
    return out


ALL = [c for items in children().values() for c in flat(items)]


def post_of(child: dict[str, Any]) -> Post | None:
    return normalize_record(RawRecord(format="reddit", source_uri="test", position="1", payload=child))


def bare(fullname: str) -> str:
    return fullname.split("_", 1)[1]


def test_every_recorded_child_is_counted() -> None:
    kinds = [c["kind"] for c in ALL]
    # 102 hot + 100 new + 100 rising + 1 thread submission; 33 streamed comments + 2 in the thread.
    assert kinds.count("t3") == 303 and kinds.count("t1") == 35 and len(kinds) == 338


@pytest.mark.parametrize("child", ALL, ids=lambda c: f"{c['kind']}_{c['data']['id']}")
def test_each_recorded_child_becomes_its_post(child: dict[str, Any]) -> None:
    data = child["data"]
    post = post_of(child)
    assert isinstance(post, Post)
    assert post.platform == "reddit" and post.platform_id == data["id"] == bare(data["name"])
    assert post.created_at == datetime.fromtimestamp(data["created_utc"], tz=UTC)
    deleted = data["author"] == "[deleted]"
    assert post.author.id == (f"deleted:{data['name']}" if deleted else data["author"])
    hidden = data.get("score_hidden") or data.get("hide_score")
    assert post.engagement.likes == (None if hidden else max(0, data["score"]))
    if child["kind"] == "t3":
        body = data["selftext"] if data["selftext"] not in ("[deleted]", "[removed]") else ""
        assert post.text == (data["title"] + "\n\n" + body if body.strip() else data["title"])
        assert post.engagement.replies == data["num_comments"]
        assert post.reply_to is None and post.root_id is None
        if data["is_self"]:
            assert data["url"] not in post.urls
    else:
        assert post.text == ("" if data["body"] in ("[deleted]", "[removed]") else data["body"])
        assert post.reply_to == bare(data["parent_id"]) and post.root_id == bare(data["link_id"])
        assert post.engagement.replies is None
    for url in post.urls:
        assert url in post.text or url == data.get("url")


def test_recorded_posts_per_cassette_match_what_the_cassettes_hold() -> None:
    for name, items in children().items():
        everything = flat(items)
        posts = [post_of(c) for c in everything]
        assert len([p for p in posts if p is not None]) == sum(c["kind"] in ("t1", "t3") for c in everything), name
        assert len({p.platform_id for p in posts if p}) == len({c["data"]["id"] for c in everything}), name


def test_the_comment_tree_links_to_its_submission() -> None:
    tree = [post_of(c) for c in flat(children()["TestSubmission.test_comments.json"])]
    submission, first, reply = tree
    assert submission and first and reply
    assert first.reply_to == submission.platform_id == first.root_id
    assert reply.reply_to == first.platform_id and reply.root_id == submission.platform_id


def real(kind: str) -> dict[str, Any]:
    return copy.deepcopy(next(c for c in ALL if c["kind"] == kind))


def test_todays_shapes_media_crossposts_and_fullnames() -> None:
    gallery = real("t3")
    gallery["data"].update(
        author_fullname="t2_abc",
        is_gallery=True,
        is_self=False,
        url="https://www.reddit.com/gallery/48f6io",
        gallery_data={"items": [{"media_id": "m2", "caption": "second"}, {"media_id": "m1"}]},
        media_metadata={
            "m1": {"status": "valid", "e": "Image", "m": "image/jpg", "s": {"u": "https://preview.redd.it/a.jpg?w=1&amp;s=x"}},
            "m2": {"status": "valid", "e": "AnimatedImage", "m": "image/gif", "s": {"gif": "https://i.redd.it/b.gif"}},
        },
    )  # fmt: skip
    post = post_of(gallery)
    assert post is not None
    assert [(m.url, m.kind, m.alt_text) for m in post.media] == [
        ("https://i.redd.it/b.gif", MediaKind.gif, "second"),
        ("https://preview.redd.it/a.jpg?w=1&s=x", MediaKind.image, None),
    ]
    video = real("t3")
    video["data"].update(
        is_self=False,
        url="https://v.redd.it/xyz",
        secure_media={"reddit_video": {"fallback_url": "https://v.redd.it/xyz/DASH_720.mp4"}},
        crosspost_parent="t3_abc12",
        num_crossposts=4,
    )
    post = post_of(video)
    assert post is not None and post.reshare_of == "abc12" and post.engagement.reshares == 4
    assert [(m.url, m.kind) for m in post.media] == [("https://v.redd.it/xyz/DASH_720.mp4", MediaKind.video)]
    assert post.urls[0] == "https://v.redd.it/xyz"
    link = real("t3")
    link["data"].update(
        is_self=False,
        url="https://news.example.org/story",
        preview={"images": [{"source": {"url": "https://external-preview.redd.it/p.jpg?a=1&amp;b=2"}}]},
    )
    post = post_of(link)
    assert post is not None and post.urls[0] == "https://news.example.org/story"
    assert [(m.url, m.kind) for m in post.media] == [
        ("https://external-preview.redd.it/p.jpg?a=1&b=2", MediaKind.link_preview)
    ]
    image = real("t3")
    image["data"].update(is_self=False, url="https://i.redd.it/c.png", post_hint="image")
    post = post_of(image)
    assert post is not None and [(m.url, m.kind) for m in post.media] == [("https://i.redd.it/c.png", MediaKind.image)]


def test_deleted_authors_and_removed_text_are_not_words_or_accounts() -> None:
    comment = real("t1")
    comment["data"].update(author="[deleted]", body="[removed]", score=-7)
    post = post_of(comment)
    assert post is not None
    assert post.author.id == f"deleted:t1_{comment['data']['id']}" and post.author.handle is None
    assert post.text == "" and post.engagement.likes == 0
    other = real("t1")
    other["data"].update(author="[deleted]", id="zzzzz", name="t1_zzzzz")
    other_post = post_of(other)
    assert other_post is not None and other_post.author.id != post.author.id


def test_mentions_hashtags_and_links_in_text() -> None:
    comment = real("t1")
    comment["data"]["body"] = "ask /u/spez and u/kn0thing_ about #Elections [here](https://example.org/a_(b)) now"
    post = post_of(comment)
    assert post is not None
    assert post.mentions == ["spez", "kn0thing_"] and post.hashtags == ["Elections"]
    assert post.urls == ["https://example.org/a_(b)"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": None, "name": None}, "missing field 'id'"),
        ({"id": "NOT AN ID", "name": None}, "'id' is not a Reddit id"),
        ({"name": "t3_other"}, "does not match"),
        ({"created_utc": None}, "missing field 'created_utc'"),
        ({"created_utc": "soon"}, "created_utc"),
        ({"title": 5}, "'title' must be a string"),
        ({"score": "many"}, "'score' must be a number"),
        ({"crosspost_parent": "t1_abc"}, "names a t1 where a t3"),
    ],
)
def test_malformed_submissions_are_rejected_naming_the_field(change: dict[str, Any], reason: str) -> None:
    child = real("t3")
    child["data"].update(change)
    with pytest.raises(ValueError, match=reason):
        post_of(child)


def test_comments_need_their_parent_and_kinds_are_checked() -> None:
    comment = real("t1")
    del comment["data"]["parent_id"]
    with pytest.raises(ValueError, match="parent_id"):
        post_of(comment)
    with pytest.raises(ValueError, match="unknown Reddit thing kind"):
        post_of({"kind": "Listing", "data": {}})
    more = {"kind": "more", "data": {"count": 3, "children": ["a", "b", "c"], "parent_id": "t1_x", "id": "a"}}
    assert post_of(more) is None


def test_saved_children_replay_from_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "saved.jsonl"
    lines = [json.dumps(c) for c in ALL[:5]] + ["{not json"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert detect_format(path).name == "reddit"
    records = list(read_dataset("reddit", path, tmp_path))
    assert len(records) == 6 and records[0].event_time is not None
    assert [normalize_record(r).platform_id for r in records[:5]] == [c["data"]["id"] for c in ALL[:5]]  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="unreadable"):
        normalize_record(records[5])
