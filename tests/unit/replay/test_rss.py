"""The ``rss`` normaliser on the fixture feeds (tests/platform_servers/feeds/), parsed as the connector parses
them (feedparser on the bytes, then plain JSON), and on the edge cases real feeds have."""

from __future__ import annotations

import copy
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest

from flockwatch.adapters.connectors.rss import jsonable
from flockwatch.replay import detect_format, normalize_record, read_dataset
from flockwatch.replay.base import COLLECTED_AT
from flockwatch.replay.html_text import html_links, html_to_text
from flockwatch.replay.pulled import DATED_BY_PULL
from flockwatch.replay.rss import entry_id
from flockwatch.schema import MAX_ID_CHARS, MediaKind, Post, RawRecord
from tests.platform_servers.feeds import BROKEN, fixture

SEEN = "2026-01-02T03:04:05+00:00"


def payloads(name: str, url: str | None = None) -> list[dict[str, Any]]:
    """The connector's payloads for fixture ``name`` served at ``url``."""
    url = url or f"https://feeds.example.net/{name}"
    parsed = feedparser.parse(
        io.BytesIO(fixture(name)), response_headers={"content-location": url, "content-type": "application/xml"}
    )
    feed = jsonable(parsed.feed)
    info = {k: feed.get(k) for k in ("title", "link", "language", "author")} | {"url": url, "fetched_url": url}
    return [{"feed": info, "entry": jsonable(entry)} for entry in parsed.entries]


def post(payload: dict[str, Any], seen: str | None = SEEN) -> Post:
    context = {COLLECTED_AT: seen} if seen else {}
    result = normalize_record(
        RawRecord(format="rss", source_uri="test", position="1", payload=payload, context=context)
    )
    assert isinstance(result, Post)
    return result


def test_wordpress_article() -> None:
    first, podcast, _road = (post(p) for p in payloads("wordpress_rss20.xml"))
    assert first.platform == "news"
    assert first.platform_id == "https://gazette.example.org/?p=48211"  # the guid is a URI: kept as written
    assert first.author.id == "gazette.example.org/Priya Raman" and first.author.handle == "gazette.example.org"
    assert first.created_at == datetime(2025, 6, 3, 13, 45, tzinfo=UTC)
    assert first.language == "en-gb"
    assert first.text.startswith("Council confirms ferry timetable after “missing boats” rumour\n\nA post shared")
    assert "<" not in first.text and "trackRead" not in first.text
    # The article link first, without utm_*; the content's links canonicalised (fbclid, utm_*, fragments gone).
    assert first.urls[0] == "https://gazette.example.org/2025/06/03/council-confirms-ferry-timetable"
    assert "https://council.example.gov/transport/ferries" in first.urls
    assert "https://archive.example.net/2019/ferry-strike" in first.urls
    assert all("utm_" not in u and "fbclid" not in u and "#" not in u for u in first.urls)
    assert first.hashtags == ["FerryFacts"]
    assert first.engagement.replies == 12
    assert first.media == []  # pictures inside the HTML are not media
    assert [(m.kind, m.mime_type) for m in podcast.media] == [(MediaKind.audio, "audio/mpeg")]
    assert podcast.engagement.replies == 0


def test_news_desk_items_with_thumbnails_and_video() -> None:
    posts = [post(p) for p in payloads("news_rss20.xml")]
    assert [p.platform_id for p in posts] == [
        "https://www.newsdesk.example.com/news/articles/c4g7kq2x9ro#0",
        "https://www.newsdesk.example.com/news/articles/c9vv2l1p0do#1",
        "https://www.newsdesk.example.com/news/videos/c1w0r8ynn3ko#2",
    ]
    assert {p.author.id for p in posts} == {"www.newsdesk.example.com"}  # no byline: the outlet
    assert posts[0].author.display_name == "World News Desk - World"
    assert [m.kind for m in posts[0].media] == [MediaKind.link_preview]
    assert [m.kind for m in posts[2].media] == [MediaKind.video, MediaKind.link_preview]
    assert posts[2].media[0].url == "https://media.newsdesk.example.com/video/c1w0r8ynn3ko/clip.mp4"


def test_atom_entries_resolve_relative_links_and_read_xml_lang() -> None:
    photo, method = (post(p) for p in payloads("blog_atom.xml"))
    assert photo.platform_id == "tag:blog.faktenlage.example.de,2025-06-03:/2025/06/foto-flutwelle-hamburg"
    assert photo.text.startswith("Nein, das Foto zeigt keine Flutwelle in Hamburg\n\n")  # type="html" title
    assert photo.created_at == datetime(2025, 6, 3, 7, 30, tzinfo=UTC)  # published (+02:00), not updated
    assert photo.language == "de-de"
    assert photo.urls == [
        "https://blog.faktenlage.example.de/2025/06/foto-flutwelle-hamburg",  # relative to xml:base
        "https://social.example/@wetterwarner/11223344",
        "https://blog.faktenlage.example.de/2023/10/filmszenen-als-nachrichten",
    ]
    assert [(m.url, m.kind) for m in photo.media] == [
        ("https://blog.faktenlage.example.de/bilder/flutwelle-original.jpg", MediaKind.image)
    ]
    assert photo.author.id == "blog.faktenlage.example.de/Lena Vogt"
    assert method.author.id == "blog.faktenlage.example.de/Redaktion Faktenlage"  # the feed's author
    assert method.created_at == datetime(2025, 5, 30, 8, 0, tzinfo=UTC)  # only <updated>


def test_youtube_channel_feed_is_news_of_its_channel() -> None:
    (video,) = (post(p) for p in payloads("youtube_channel_atom.xml"))
    assert video.platform_id == "yt:video:Qm3xT9pLk2E"
    assert video.urls == ["https://www.youtube.com/watch?v=Qm3xT9pLk2E"]
    assert any(m.kind == MediaKind.link_preview for m in video.media)


def test_a_feed_that_is_not_well_formed_still_gives_its_entries() -> None:
    posts = [post(p) for p in payloads(BROKEN)]
    assert [p.text.split("\n")[0] for p in posts] == ["Prices & opening hours", "Summer sale"]
    assert posts[0].created_at == datetime(2025, 6, 1, 7, tzinfo=UTC)


def test_guids_that_are_not_uris_are_scoped_by_their_feed() -> None:
    payload = payloads("wordpress_rss20.xml", "http://Gazette.example.org/feed/")[2]
    payload["entry"]["id"] = "48177"
    assert post(payload).platform_id == "https://gazette.example.org/feed#48177"
    other = copy.deepcopy(payload)
    other["feed"]["url"] = "https://other.example.org/feed/"
    assert post(other).platform_id != post(payload).platform_id


def test_without_a_guid_the_canonical_link_is_the_id_and_without_either_it_is_rejected() -> None:
    payload = payloads("wordpress_rss20.xml")[0]
    del payload["entry"]["id"]
    assert post(payload).platform_id == "https://gazette.example.org/2025/06/03/council-confirms-ferry-timetable"
    for key in ("link", "links"):
        del payload["entry"][key]
    with pytest.raises(ValueError, match="no id/guid and no http"):
        post(payload)


def test_the_id_is_the_same_on_every_pull_and_bounded() -> None:
    first = [entry_id(p["entry"], p["feed"]["url"]) for p in payloads("news_rss20.xml")]
    again = [entry_id(p["entry"], p["feed"]["url"]) for p in payloads("news_rss20.xml")]
    assert first == again
    payload = payloads("news_rss20.xml")[0]
    payload["entry"]["id"] = "https://example.org/" + "x" * 2000
    long_id = post(payload).platform_id
    assert len(long_id) <= MAX_ID_CHARS and long_id == post(copy.deepcopy(payload)).platform_id


def test_undated_entries_take_the_pull_time_and_need_it() -> None:
    payload = payloads("wordpress_rss20.xml")[2]
    for key in ("published", "published_parsed"):
        del payload["entry"][key]
    assert post(payload).created_at == datetime.fromisoformat(SEEN)  # the record's collection time
    with pytest.raises(ValueError, match="no date"):
        post(payload, seen=None)
    payload[DATED_BY_PULL] = "2026-02-03T04:05:06+00:00"  # what the connector writes: a saved payload keeps it
    assert post(payload, seen=None).created_at == datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)


def test_dates_that_are_present_but_unusable_are_errors_unless_another_one_works() -> None:
    payload = payloads("blog_atom.xml")[0]
    payload["entry"]["published_parsed"] = "1970-01-01T00:00:00+00:00"
    payload["entry"]["published"] = "yesterday"
    assert post(payload).created_at == datetime(2025, 6, 3, 9, 20, tzinfo=UTC)  # updated
    future = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    payload["entry"]["updated_parsed"] = payload["entry"]["updated"] = future
    with pytest.raises(ValueError, match="published"):
        post(payload)


def test_unparsed_rfc_2822_dates_are_read() -> None:
    payload = payloads("news_rss20.xml")[0]
    del payload["entry"]["published_parsed"]
    assert post(payload).created_at == datetime(2025, 6, 3, 13, 58, 4, tzinfo=UTC)


def test_malformed_fields_are_value_errors_naming_them() -> None:
    payload = payloads("news_rss20.xml")[0]
    with pytest.raises(ValueError, match="'title'"):
        post(payload | {"entry": payload["entry"] | {"title": 5}})
    with pytest.raises(ValueError, match="'feed'"):
        post({"entry": payload["entry"]})
    with pytest.raises(ValueError, match="'url'"):
        post(payload | {"feed": {"title": "x"}})
    assert post(payload | {"entry": payload["entry"] | {"slash_comments": "lots"}}).engagement.replies is None


def test_saved_payloads_read_back_and_are_recognised(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    saved = payloads("wordpress_rss20.xml") + payloads("blog_atom.xml")
    path.write_text("".join(json.dumps(p) + "\n" for p in saved))
    assert detect_format(path).name == "rss"
    read = [normalize_record(r) for r in read_dataset("rss", path, tmp_path)]
    assert [p.platform_id for p in read if p] == [post(p).platform_id for p in saved]


def test_html_to_text_and_links() -> None:
    html = '<p>One &amp; <b>two</b></p><script>x()</script><ul><li>a</li><li>b<br/>c</li></ul><a href="/r">r</a>'
    assert html_to_text(html) == "One & two\n\na\n\nb\nc\n\nr"
    assert html_links(html, "https://site.example/a/b") == ["https://site.example/r"]
    assert html_to_text("plain < text & more") == "plain < text & more"
    assert html_links('<a href="http://[">x</a><a>y</a>', "https://site.example/") == []  # unparseable: no link
