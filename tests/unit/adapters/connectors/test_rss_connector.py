"""The RSS/Atom connector against a local news site (tests/platform_servers/feeds.py) that speaks conditional GET
and misbehaves on purpose; the contract's command exactly; ten thousand mutated entries through the file sink.

Expected posts are the normaliser's on the fixture as feedparser parses it, computed here (tests/unit/replay/
test_rss.py checks that normaliser field by field); the connector must give exactly those, once each, through
304s, changed ETags, broken XML, redirects, 429/503, hangs and truncated pages. Waits are recorded, not slept.
"""

from __future__ import annotations

import copy
import json
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flockwatch.adapters.connectors.base import Batch, raw_record
from flockwatch.adapters.connectors.cursors import MemoryCursors
from flockwatch.adapters.connectors.http_api import ApiClient, ApiError, Refused
from flockwatch.adapters.connectors.rss import MALFORMED_RETRIES, FeedConnector, FeedCursor, feed_connector
from flockwatch.adapters.connectors.runner import run_connector
from flockwatch.adapters.connectors.sink import FileSink
from flockwatch.config import Settings
from flockwatch.replay import normalize_record
from flockwatch.replay.payload import unreadable
from flockwatch.schema import Post
from tests.mutations import json_values, mutate, post_or_dead_lettered
from tests.platform_servers.feeds import BROKEN, FEEDS, FIXTURES, FeedSite, feed_server, fixture
from tests.platform_servers.http import PlatformServer
from tests.unit.replay.test_rss import payloads

FLOCKWATCH = str(Path(sys.executable).with_name("flockwatch"))
NEW_ITEM = b"""<item><title>Ferry back to normal</title>
<link>https://gazette.example.org/2025/06/04/ferry-back-to-normal/</link>
<dc:creator><![CDATA[Priya Raman]]></dc:creator><pubDate>Wed, 04 Jun 2025 08:00:00 +0000</pubDate>
<guid isPermaLink="false">https://gazette.example.org/?p=48250</guid>
<description><![CDATA[<p>All sailings ran on time.</p>]]></description></item>
"""


def comparable(post: Post | dict[str, Any]) -> dict[str, Any]:
    data = post if isinstance(post, dict) else json.loads(post.model_dump_json(exclude_none=True))
    return {k: v for k, v in data.items() if k not in ("source", "collected_at")}


def expected(name: str, url: str) -> list[dict[str, Any]]:
    out = []
    for payload in payloads(name, url):
        post = normalize_record(raw_record("rss", url, "x", payload))
        assert post is not None
        out.append(comparable(post))
    return out


def with_new_item(body: bytes) -> bytes:
    """The WordPress fixture with one more article on top, as the next publication adds it."""
    return body.replace(b"<item>", NEW_ITEM + b"<item>", 1)


class Waits(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def connector(url: str, waits: Waits | None = None, timeout_s: float = 5.0) -> FeedConnector:
    sleep = waits if waits is not None else Waits()
    client = ApiClient(endpoint=url, sleep=sleep, timeout_s=timeout_s, max_attempts=4, rng=random.Random(7))
    return feed_connector(Settings(), feed=url, client=client)


def pull(conn: FeedConnector, cursor: str | None = None) -> tuple[list[Post], str | None]:
    batches: list[Batch] = list(conn.batches(cursor))
    assert len(batches) <= 1
    if not batches:
        return [], cursor
    posts = [normalize_record(r) for r in batches[0].records]
    assert all(isinstance(p, Post) for p in posts)
    return [p for p in posts if p is not None], batches[0].cursor


@pytest.fixture
def wordpress() -> Iterator[tuple[FeedSite, PlatformServer]]:
    site = FeedSite({"/feed/": fixture("wordpress_rss20.xml")})
    with feed_server(site) as server:
        yield site, server


@pytest.mark.parametrize("name", [*FEEDS, BROKEN])
def test_each_feed_gives_its_entries_once(name: str) -> None:
    site = FeedSite({"/feed.xml": fixture(name)})
    with feed_server(site) as server:
        url = f"{server.url}/feed.xml"
        posts, cursor = pull(connector(url))
        assert [comparable(p) for p in posts] == expected(name, url)
        assert len({p.key for p in posts}) == len(posts) > 0
        again, _ = pull(connector(url), cursor)
    assert again == []
    state = FeedCursor.parse(cursor)
    assert state.etag == site.etag(fixture(name)) and state.last_modified == site.last_modified
    assert state.ids == [p.platform_id for p in posts]


def test_a_second_pull_is_conditional_and_304_yields_nothing(wordpress: tuple[FeedSite, PlatformServer]) -> None:
    site, server = wordpress
    url = f"{server.url}/feed/"
    cursors = MemoryCursors()
    first = run_connector(connector(url), _Collect(), cursors)
    second = run_connector(connector(url), _Collect(), cursors)
    assert (first.records, second.records, second.batches) == (3, 0, 0)
    assert site.served == [200, 304]
    sent = server.requests[-1].headers
    assert sent["If-None-Match"] == site.etag(fixture("wordpress_rss20.xml"))
    assert sent["If-Modified-Since"] == site.last_modified
    assert cursors.load(f"rss:{url}") == first.cursor  # a 304 keeps the cursor


def test_a_new_etag_alone_emits_nothing_and_a_new_article_is_emitted_once(
    wordpress: tuple[FeedSite, PlatformServer],
) -> None:
    site, server = wordpress
    url = f"{server.url}/feed/"
    _, cursor = pull(connector(url))
    site.etag_salt = "rebuilt"  # the CMS rebuilt the feed: new ETag, same entries
    posts, cursor = pull(connector(url), cursor)
    assert posts == [] and site.served == [200, 200]
    assert FeedCursor.parse(cursor).etag == site.etag(fixture("wordpress_rss20.xml"))
    site.feeds["/feed/"] = with_new_item(fixture("wordpress_rss20.xml"))
    posts, cursor = pull(connector(url), cursor)
    assert [p.platform_id for p in posts] == ["https://gazette.example.org/?p=48250"]
    assert pull(connector(url), cursor)[0] == []


def test_a_server_without_validators_is_still_read_once() -> None:
    site = FeedSite({"/rss": fixture("news_rss20.xml")}, conditional=False, last_modified="")
    with feed_server(site) as server:
        url = f"{server.url}/rss"
        posts, cursor = pull(connector(url))
        assert len(posts) == 3 and pull(connector(url), cursor)[0] == []  # the ids, not the validators, decide
        assert site.served == [200, 200] and FeedCursor.parse(cursor).last_modified is None


def test_a_feed_that_stays_broken_is_asked_again_then_read_leniently() -> None:
    site = FeedSite({"/feed.xml": fixture(BROKEN)})
    waits = Waits()
    with feed_server(site) as server:
        url = f"{server.url}/feed.xml"
        posts, _ = pull(connector(url, waits))
    assert site.served == [200] * (1 + MALFORMED_RETRIES) and len(waits) == MALFORMED_RETRIES
    assert [comparable(p) for p in posts] == expected(BROKEN, url)


def test_a_page_cut_short_behind_a_proxy_is_asked_again_and_read_whole(
    wordpress: tuple[FeedSite, PlatformServer],
) -> None:
    site, server = wordpress
    site.cut_next = 1  # half the feed, with a Content-Length that matches the half: only the XML shows it
    url = f"{server.url}/feed/"
    posts, _ = pull(connector(url))
    assert site.served == [200, 200]
    assert [comparable(p) for p in posts] == expected("wordpress_rss20.xml", url)


def test_what_is_not_a_feed_is_an_error() -> None:
    site = FeedSite({"/": b"<!DOCTYPE html><html><head><title>Shop</title></head><body><p>Hi</p></body></html>"})
    with feed_server(site) as server, pytest.raises(ApiError, match="not an RSS/Atom feed"):
        pull(connector(f"{server.url}/"))
    with feed_server(FeedSite({})) as server, pytest.raises(ApiError, match="HTTP 404"):
        pull(connector(f"{server.url}/missing.xml"))


@pytest.mark.parametrize("target", ["http://10.1.2.3/feed.xml", "http://169.254.169.254/latest/meta-data/"])
def test_a_redirect_to_a_private_address_is_refused(wordpress: tuple[FeedSite, PlatformServer], target: str) -> None:
    _site, server = wordpress
    server.faults.queue = [f"redirect:{target}"]
    with pytest.raises(Refused, match="refused address"):
        pull(connector(f"{server.url}/feed/"))
    assert len(server.requests) == 1  # refused, not retried


def test_a_redirect_inside_the_feeds_site_is_followed(wordpress: tuple[FeedSite, PlatformServer]) -> None:
    _site, server = wordpress
    server.faults.queue = [f"redirect:{server.url}/feed/"]
    posts, _ = pull(connector(f"{server.url}/old-feed"))
    assert len(posts) == 3


def test_429_and_503_are_retried_waiting_what_the_server_asks(wordpress: tuple[FeedSite, PlatformServer]) -> None:
    _site, server = wordpress
    server.faults.queue, server.faults.retry_after = ["503", "429", "503"], "7"
    waits = Waits()
    url = f"{server.url}/feed/"
    posts, _ = pull(connector(url, waits))
    assert [comparable(p) for p in posts] == expected("wordpress_rss20.xml", url)
    assert len(server.requests) == 4 and 7.0 in waits and len(waits) == 3


@pytest.mark.parametrize("fault", ["hang", "truncate", "drop"])
def test_a_hanging_truncating_or_dropping_server_is_retried(
    wordpress: tuple[FeedSite, PlatformServer], fault: str
) -> None:
    site, server = wordpress
    server.faults.queue, server.faults.hang_s = [fault], 1.5
    if fault == "drop":
        server.faults.queue, site.drop_next = [], 1
    waits = Waits()
    url = f"{server.url}/feed/"
    posts, _ = pull(connector(url, waits, timeout_s=0.4))
    assert [comparable(p) for p in posts] == expected("wordpress_rss20.xml", url)
    assert len(server.requests) == 2 and len(waits) == 1


def test_a_server_that_keeps_failing_ends_the_pull_without_moving_the_cursor(
    wordpress: tuple[FeedSite, PlatformServer],
) -> None:
    _site, server = wordpress
    server.faults.queue = ["503"] * 10
    cursors = MemoryCursors()
    with pytest.raises(ApiError, match="gave up after 4 attempts"):
        run_connector(connector(f"{server.url}/feed/"), _Collect(), cursors)
    assert cursors.values == {}


def test_feedparser_never_opens_what_the_body_names(tmp_path: Path) -> None:
    """``feedparser.parse(bytes)`` opens a body that names an existing file; the connector hands it a stream."""
    local = str(FIXTURES / "news_rss20.xml").encode()
    with feed_server(FeedSite({"/f": local})) as server, pytest.raises(ApiError, match="not an RSS/Atom feed"):
        pull(connector(f"{server.url}/f"))


def test_external_entities_are_not_fetched() -> None:
    site = FeedSite({})
    with feed_server(site) as server:
        site.feeds["/f"] = (
            f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "{server.url}/secret">'
            '<!ENTITY y SYSTEM "file:///etc/hostname">]><rss version="2.0"><channel><title>t</title>'
            "<link>https://n.example/</link><item><title>a &x; b &y;</title>"
            "<link>https://n.example/1</link><pubDate>Tue, 03 Jun 2025 13:45:00 +0000</pubDate></item>"
            "</channel></rss>"
        ).encode()
        posts, _ = pull(connector(f"{server.url}/f"))
    assert server.paths() == ["/f"]
    hostname = Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").exists() else "\0"
    assert len(posts) == 1 and hostname not in posts[0].text


def test_an_unreadable_cursor_starts_over(wordpress: tuple[FeedSite, PlatformServer]) -> None:
    _site, server = wordpress
    posts, _ = pull(connector(f"{server.url}/feed/"), "not json")
    assert len(posts) == 3
    assert FeedCursor.parse('{"ids": 5}') == FeedCursor()


def test_feed_urls_are_checked() -> None:
    for bad in ("ftp://example.org/feed", "example.org/feed", "http://"):
        with pytest.raises(ValueError, match="--feed"):
            feed_connector(Settings(), feed=bad)


class _Collect:
    """A sink that keeps what it is given."""

    def __init__(self) -> None:
        self.records: list[Any] = []

    def write(self, records: Any) -> tuple[int, dict[str, int]]:
        self.records += records
        return len(records), {}


# --- the contract's command ----------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FLOCKWATCH, "collect", "rss", *args], capture_output=True, text=True, timeout=120)


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_cli_contract_command(tmp_path: Path) -> None:
    out = tmp_path / "OUT.jsonl"
    with feed_server(FeedSite({"/feed.xml": fixture("blog_atom.xml")}, content_type="application/atom+xml")) as server:
        url = f"{server.url}/feed.xml"
        done = _cli("--feed", url, "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert [comparable(p) for p in _lines(out)] == expected("blog_atom.xml", url)
    assert json.loads(done.stdout.strip().splitlines()[-1])["written"] == 2


def test_cli_with_cursors_appends_only_new_articles(tmp_path: Path, wordpress: tuple[FeedSite, PlatformServer]) -> None:
    site, server = wordpress
    out, cursors = tmp_path / "OUT.jsonl", tmp_path / "cursors.json"
    url = f"{server.url}/feed/"
    args = ("--feed", url, "--output", str(out), "--cursors", str(cursors))
    assert _cli(*args).returncode == 0
    assert _cli(*args).returncode == 0  # 304: nothing appended
    site.feeds["/feed/"] = with_new_item(fixture("wordpress_rss20.xml"))
    assert _cli(*args).returncode == 0
    ids = [p["platform_id"] for p in _lines(out)]
    assert ids == [p["platform_id"] for p in expected("wordpress_rss20.xml", url)] + [
        "https://gazette.example.org/?p=48250"
    ]
    assert site.served == [200, 304, 200]


def test_cli_refuses_a_bad_feed_url_and_reports_a_refusal(tmp_path: Path) -> None:
    assert _cli("--feed", "file:///etc/passwd", "--output", str(tmp_path / "o.jsonl")).returncode == 2
    with feed_server(FeedSite({})) as server:
        server.faults.queue = ["redirect:http://192.168.0.10/feed"]
        done = _cli("--feed", f"{server.url}/feed", "--output", str(tmp_path / "o.jsonl"))
    assert done.returncode == 1 and "refused address 192.168.0.10" in done.stderr


# --- mutated entries: a post, a skip or a ValueError, and every reject dead-lettered -------------------------


JSON = json_values(
    ["", " ", "text/html", "enclosure", "alternate", "https://a.example/x?utm_source=1", "12345", "<p>x</p>",
     "2025-06-03T13:45:00+00:00", "Tue, 03 Jun 2025 13:45:00 +0000", "0000-00-00", "javascript:x", "http://["]
)  # fmt: skip
PAYLOADS = [p for name in (*FEEDS, BROKEN) for p in payloads(name)]


@st.composite
def mutated_records(draw: st.DrawFn) -> Any:
    payload = copy.deepcopy(draw(st.sampled_from(PAYLOADS)))
    if draw(st.integers(0, 19)) == 0:  # what a reader makes of a line it cannot parse
        payload = unreadable("line 1 is not a feed entry: cut short", json.dumps(payload)[: draw(st.integers(0, 80))])
    mutate(draw, payload, JSON)
    context_seen = draw(st.sampled_from(["2026-01-02T03:04:05+00:00"] * 8 + [None, "garbage"]))
    record = raw_record("rss", "http://127.0.0.1/feed", "x", payload)
    if context_seen != "2026-01-02T03:04:05+00:00":
        record.context = {} if context_seen is None else {"collected_at": context_seen}
    return record


@pytest.fixture(scope="module")
def fuzz_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FileSink]:
    sink = FileSink(tmp_path_factory.mktemp("rss-fuzz") / "out.jsonl")
    yield sink
    sink.close()


@settings(
    max_examples=10_000, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(record=mutated_records())
def test_mutated_entries_are_posts_or_value_errors_and_every_reject_is_dead_lettered(
    record: Any, fuzz_sink: FileSink
) -> None:
    post_or_dead_lettered(record, fuzz_sink)
