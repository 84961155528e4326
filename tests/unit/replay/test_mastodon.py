"""The ``mastodon`` normaliser on every status the recorded Mastodon cassettes hold (REST responses, lists,
reblogs, stream events), and on the entity shapes the API documents for media, cards, quotes and replies,
written into real recorded statuses."""

from __future__ import annotations

import copy
import html
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from flockwatch.config import Settings
from flockwatch.replay import detect_format, normalize_record, read_dataset
from flockwatch.replay.mastodon import html_text
from flockwatch.schema import MediaKind, Post, RawRecord
from tests.platform_servers.cassettes import mastodon_statuses

FOLDER = Settings().data_dir / "connectors/mastodon"


def statuses() -> dict[str, list[dict[str, Any]]]:
    return mastodon_statuses(FOLDER) if FOLDER.is_dir() else {}


SERVED = [s for items in statuses().values() for s in items]
# Reblogged statuses ride inside the reblog: they are recorded statuses too.
ALL = SERVED + [s["reblog"] for s in SERVED if s.get("reblog")]


def post_of(status: dict[str, Any], **context: Any) -> Post | None:
    return normalize_record(RawRecord(format="mastodon", source_uri="test", payload=status, context=context))


def plain(content: str) -> str:
    """Mastodon's simple recorded HTML (``<p>`` paragraphs, anchors, spans) as text, by regex (independently)."""
    return html.unescape(re.sub(r"<[^>]+>", "", re.sub(r"</p>\s*<p>", "\n\n", content))).strip()


def test_the_cassettes_hold_the_statuses_counted_here() -> None:
    assert len(SERVED) == 19 and len(ALL) == 21
    assert len({s["uri"] for s in ALL}) == 15
    assert sorted({s["visibility"] for s in ALL}) == ["private", "public", "unlisted"]


@pytest.mark.parametrize("status", ALL, ids=lambda s: f"{s['id']}")
def test_each_recorded_status_becomes_its_post(status: dict[str, Any]) -> None:
    post = post_of(status, instance="localhost:3000")
    if status["visibility"] == "private":
        assert post is None
        return
    assert isinstance(post, Post)
    assert post.platform == "mastodon" and post.platform_id == status["uri"]
    assert post.author.id == f"{status['account']['acct']}@localhost:3000"
    assert post.author.followers == status["account"]["followers_count"]
    assert post.created_at == datetime.fromisoformat(status["created_at"].replace("Z", "+00:00"))
    assert post.language == status["language"]
    assert (post.engagement.likes, post.engagement.reshares, post.engagement.replies, post.engagement.quotes) == (
        status["favourites_count"],
        status["reblogs_count"],
        status["replies_count"],
        status["quotes_count"],
    )
    if status["reblog"]:
        assert post.reshare_of == status["reblog"]["uri"] and post.text == ""
        return
    assert post.reshare_of is None
    assert post.text == plain(status["content"])
    assert post.hashtags == [t["name"] for t in status["tags"]]
    assert post.mentions == [f"{m['acct']}@localhost:3000" for m in status["mentions"]]
    assert len(post.media) == len(status["media_attachments"])
    assert post.reply_to is None and post.quote_of is None


def test_posts_per_cassette_match_the_public_statuses_they_hold() -> None:
    for name, items in statuses().items():
        posts = [post_of(s) for s in items]
        public = [s for s in items if s["visibility"] != "private"]
        assert len([p for p in posts if p is not None]) == len(public), name


def test_without_context_local_accounts_take_the_host_of_their_url() -> None:
    status = copy.deepcopy(SERVED[0])
    post = post_of(status)
    assert post is not None and post.author.id == f"{status['account']['acct']}@localhost"
    status["account"]["acct"] = "Someone@Example.SOCIAL"
    post = post_of(status)
    assert post is not None and post.author.id == "Someone@example.social"


def test_html_becomes_text_with_link_targets() -> None:
    content = (
        '<p>Read <a href="https://news.example.org/a/very/long/path" rel="nofollow noopener" target="_blank">'
        '<span class="invisible">https://</span><span class="ellipsis">news.example.org/a/very</span>'
        '<span class="invisible">/long/path</span></a> &amp; weep</p><p>line one<br />line two</p>'
        '<p><span class="h-card"><a href="https://example.social/@bob" class="u-url mention">@<span>bob</span></a>'
        '</span> <a href="https://example.social/tags/tag" class="mention hashtag" rel="tag">#<span>tag</span></a></p>'
    )
    text, links = html_text(content)
    assert text == "Read https://news.example.org/a/very/long/path & weep\n\nline one\nline two\n\n@bob #tag"
    assert links == ["https://news.example.org/a/very/long/path"]
    assert html_text("no markup") == ("no markup", [])
    broken, _ = html_text("<p>ok</p><![if whatever<p>more</p>")
    assert "ok" in broken


def real(index: int = 0) -> dict[str, Any]:
    return copy.deepcopy([s for s in SERVED if s["visibility"] == "public" and not s["reblog"]][index])


def test_media_cards_spoilers_quotes_and_replies() -> None:
    status = real()
    status["spoiler_text"] = "CW politics"
    status["media_attachments"] = [
        {"id": "1", "type": "image", "url": "https://files.example/a.png", "description": "a chart"},
        {"id": "2", "type": "gifv", "url": "https://files.example/b.mp4", "description": None},
        {"id": "3", "type": "video", "url": None, "remote_url": "https://remote.example/c.mp4"},
        {"id": "4", "type": "audio", "url": "https://files.example/d.mp3"},
        {"id": "5", "type": "unknown", "url": "https://files.example/e.bin"},
    ]
    status["card"] = {"url": "https://news.example.org/x", "title": "News", "image": "https://cards.example/x.jpg"}
    status["quote"] = {"state": "accepted", "quoted_status": real(1)}
    post = post_of(status, in_reply_to_uri="https://example.social/users/a/statuses/1")
    assert post is not None
    assert post.text.startswith("CW politics\n\n")
    assert [(m.url, m.kind, m.alt_text) for m in post.media] == [
        ("https://files.example/a.png", MediaKind.image, "a chart"),
        ("https://files.example/b.mp4", MediaKind.gif, None),
        ("https://remote.example/c.mp4", MediaKind.video, None),
        ("https://files.example/d.mp3", MediaKind.audio, None),
        ("https://files.example/e.bin", MediaKind.unknown, None),
        ("https://cards.example/x.jpg", MediaKind.link_preview, "News"),
    ]
    assert "https://news.example.org/x" in post.urls
    assert post.quote_of == real(1)["uri"]
    assert post.reply_to == "https://example.social/users/a/statuses/1"
    shallow = real()
    shallow["quote"] = {"state": "accepted", "quoted_status_id": "42"}
    assert post_of(shallow).quote_of is None  # type: ignore[union-attr]
    assert post_of(shallow, quote_uri="https://x.example/s/42").quote_of == "https://x.example/s/42"  # type: ignore[union-attr]


def test_direct_messages_and_trend_entities_are_not_posts() -> None:
    direct = real()
    direct["visibility"] = "direct"
    assert post_of(direct) is None
    tag = {
        "name": "hoot",
        "url": "http://localhost:3000/tags/hoot",
        "history": [{"day": "1", "uses": "3", "accounts": "2"}],
    }
    assert post_of(tag) is None and post_of(tag, entity="tag") is None
    link = {"url": "https://news.example.org", "title": "x", "type": "link", "history": []}
    assert post_of(link, entity="link") is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"uri": None}, "missing field 'uri'"),
        ({"id": None}, "missing field 'id'"),
        ({"created_at": "yesterday"}, "created_at"),
        ({"account": "bob"}, "'account' must be an object"),
        ({"content": 7}, "'content' must be a string"),
        ({"favourites_count": -1}, "must not be negative"),
        ({"reblog": {"id": "1"}}, "missing field 'uri'"),
        ({"media_attachments": "many"}, "must be a list"),
    ],
)
def test_malformed_statuses_are_rejected_naming_the_field(change: dict[str, Any], reason: str) -> None:
    status = real()
    status.update(change)
    with pytest.raises(ValueError, match=reason):
        post_of(status)


def test_saved_statuses_replay_from_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "statuses.jsonl"
    path.write_text("".join(json.dumps(s) + "\n" for s in SERVED[:4]), encoding="utf-8")
    assert detect_format(path).name == "mastodon"
    records = list(read_dataset("mastodon", path, tmp_path))
    assert [normalize_record(r).platform_id for r in records] == [s["uri"] for s in SERVED[:4]]  # type: ignore[union-attr]
