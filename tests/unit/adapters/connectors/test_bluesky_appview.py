"""Bluesky feed and search pulls against a local AppView (tests/platform_servers/appview.py) serving the Jetstream
capture's real post records as post views: the command with --feed/--search exactly; searches that resume with
no gap and no duplicate across pulls, unfinished windows and page boundaries inside one millisecond; sessions;
the public AppView's refusals; 429/503/hangs/truncation; ten thousand mutated post views through the file sink.

Expected posts are the normaliser's on the views (tests/unit/replay/test_bluesky_appview.py checks it field by
field). Waits are recorded, not slept.
"""

from __future__ import annotations

import copy
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from flockwatch.adapters.connectors import bluesky_appview as appview
from flockwatch.adapters.connectors.base import raw_record
from flockwatch.adapters.connectors.cursors import MemoryCursors
from flockwatch.adapters.connectors.http_api import ApiClient, ApiError, Refused
from flockwatch.adapters.connectors.runner import run_connector
from flockwatch.adapters.connectors.sink import FileSink
from flockwatch.config import Settings
from flockwatch.replay import normalize_record
from flockwatch.replay.payload import unreadable
from flockwatch.schema import Post
from tests.mutations import json_values, mutate, post_or_dead_lettered
from tests.platform_servers.appview import FEED, HANDLE, PASSWORD, AppView, appview_server, post_views, repost_reasons
from tests.platform_servers.http import PlatformServer

FLOCKWATCH = str(Path(sys.executable).with_name("flockwatch"))
DATA = Settings().data_dir
VIEWS = post_views(DATA)
REASONS = repost_reasons(DATA)


class Waits(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(url: str, waits: Waits | None = None, timeout_s: float = 5.0) -> ApiClient:
    return ApiClient(
        endpoint=url, sleep=waits if waits is not None else Waits(), timeout_s=timeout_s, rng=random.Random(3)
    )


def sort_at(view: dict[str, Any]) -> datetime:
    when = appview.sort_at(view)
    assert when is not None
    return when


def key(view: dict[str, Any]) -> str:
    return f"bluesky:{view['uri']}"


def posts_of(batches: Iterator[Any]) -> tuple[list[Post], list[str | None]]:
    posts, cursors = [], []
    for batch in batches:
        cursors.append(batch.cursor)
        for record in batch.records:
            post = normalize_record(record)
            assert post is not None
            posts.append(post)
    return posts, cursors


def later(view: dict[str, Any], n: int, at: datetime) -> dict[str, Any]:
    """A new post: ``view``'s record under another key, written at ``at``."""
    new = copy.deepcopy(view)
    new["uri"] = view["uri"].rsplit("/", 1)[0] + f"/3new{n:09d}"
    new["record"]["createdAt"] = at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    new["indexedAt"] = (at + timedelta(milliseconds=300)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return new


@pytest.fixture
def site() -> Iterator[tuple[AppView, PlatformServer]]:
    state = AppView(copy.deepcopy(VIEWS), reasons={VIEWS[i]["uri"]: REASONS[i] for i in (0, 5)})
    with appview_server(state) as server:
        yield state, server


def search(server: PlatformServer, query: str = "lang:en", sort: str = "latest", **kw: Any) -> appview.SearchConnector:
    return appview.search_connector(
        Settings(), query=query, sort=sort, endpoint=server.url, client=client(server.url), **kw
    )


# --- feeds -----------------------------------------------------------------------------------------------------


def test_a_feed_pull_is_a_ranked_snapshot_with_reposts_and_reply_parents(site: tuple[AppView, PlatformServer]) -> None:
    _, server = site
    feed = appview.feed_connector(Settings(), feed=FEED, endpoint=server.url, page_size=4, client=client(server.url))
    posts, cursors = posts_of(feed.batches(None))
    ranked = sorted(VIEWS, key=lambda v: (v["likeCount"], v["uri"]), reverse=True)
    originals = [p for p in posts if "app.bsky.feed.post" in p.platform_id]
    held = {v["uri"] for v in VIEWS}
    # In rank order, each once; a reply's root and parent first when the AppView holds them (a thread here).
    order = [
        *(u for v in ranked for u in (*_thread(v, held), v["uri"])),
    ]
    assert [p.platform_id for p in originals] == list(dict.fromkeys(order))
    assert len(originals) == len(VIEWS)
    reposts = [p for p in posts if "app.bsky.feed.repost" in p.platform_id]
    assert {(p.platform_id, p.reshare_of) for p in reposts} == {(REASONS[i]["uri"], VIEWS[i]["uri"]) for i in (0, 5)}
    assert cursors == [None] * 5  # 17 posts, 4 a page; snapshots keep no cursor
    assert len(server.paths("getFeed")) == 5
    by_key = {p.key: p for p in originals}
    first = by_key[key(ranked[0])]
    assert first.author.handle == ranked[0]["author"]["handle"] and first.engagement.likes == ranked[0]["likeCount"]
    again, _ = posts_of(feed.batches("anything"))
    assert [p.key for p in again] == [p.key for p in posts]  # every pull is a new engagement snapshot


def _thread(view: dict[str, Any], held: set[str]) -> list[str]:
    reply = view["record"].get("reply") or {}
    return [reply[k]["uri"] for k in ("root", "parent") if k in reply and reply[k]["uri"] in held]


def test_feed_replies_bring_their_viewable_parents_first(site: tuple[AppView, PlatformServer]) -> None:
    state, server = site
    reply = next(v for v in VIEWS if v["record"].get("reply"))
    parent = copy.deepcopy(VIEWS[1])
    parent["uri"] = reply["record"]["reply"]["parent"]["uri"]
    parent["author"]["did"] = parent["uri"].split("/")[2]
    state.posts.append(parent)
    feed = appview.feed_connector(Settings(), feed=FEED, endpoint=server.url, client=client(server.url))
    keys = [p.key for p in posts_of(feed.batches(None))[0]]
    assert keys.index(key(parent)) < keys.index(key(reply)) and keys.count(key(parent)) == 1


def test_feed_uris_from_links_and_refusals(site: tuple[AppView, PlatformServer]) -> None:
    did = FEED.split("/")[2]
    assert (
        appview.feed_connector(Settings(), feed=f"https://bsky.app/profile/{did}/feed/whats-hot", endpoint=None).feed
        == FEED
    )
    for bad in ("whats-hot", "https://bsky.app/profile/bsky.app/feed/whats-hot", FEED.replace("generator", "post")):
        with pytest.raises(ValueError, match="feed generator"):
            appview.feed_connector(Settings(), feed=bad, endpoint=None)
    _, server = site
    unknown = appview.feed_connector(
        Settings(), feed=FEED.replace("whats-hot", "nope"), endpoint=server.url, client=client(server.url)
    )
    with pytest.raises(ApiError, match="UnknownFeed"):
        list(unknown.batches(None))


# --- searches --------------------------------------------------------------------------------------------------


def english() -> list[dict[str, Any]]:
    return sorted(
        (v for v in VIEWS if "en" in (v["record"].get("langs") or [])),
        key=lambda v: (sort_at(v), v["uri"]),
        reverse=True,
    )


def test_search_latest_walks_down_pages_and_the_next_pull_takes_only_what_is_new(
    site: tuple[AppView, PlatformServer],
) -> None:
    state, server = site
    conn = search(server, page_size=3, max_pages=20)
    cursors = MemoryCursors()
    first, _ = posts_of(conn.batches(None))
    assert [p.key for p in first] == [key(v) for v in english()]
    assert all("cursor" not in q for q in state.searches)  # pages by until, never by the refused cursor
    run_cursor = json.loads(list(conn.batches(None))[-1].cursor or "{}")
    assert run_cursor["since"] == appview.iso_ms(sort_at(english()[0]))
    cursors.save(conn.cursor_key, json.dumps(run_cursor))
    assert posts_of(conn.batches(cursors.load(conn.cursor_key)))[0] == []  # nothing new
    newest = sort_at(english()[0])
    fresh = [later(english()[i % 3], i, newest + timedelta(seconds=1 + i)) for i in range(7)]
    state.posts += fresh
    second, cursor_after = posts_of(conn.batches(cursors.load(conn.cursor_key)))
    assert [p.key for p in second] == [key(v) for v in reversed(fresh)]
    assert json.loads(cursor_after[-1] or "{}")["since"] == appview.iso_ms(sort_at(fresh[-1]))


def test_an_unfinished_window_is_finished_by_the_next_pulls_without_gap_or_duplicate(
    site: tuple[AppView, PlatformServer], tmp_path: Path
) -> None:
    state, server = site
    conn = search(server, page_size=3, max_pages=2)
    sink, cursors = FileSink(tmp_path / "out.jsonl"), MemoryCursors()
    try:
        first = run_connector(conn, sink, cursors)
        # A first pull: the newest two pages only; the second asks the first's oldest millisecond again.
        assert first.written == 5
        start = sort_at(english()[0])
        # Eleven new posts, three of them in one millisecond across a page boundary.
        times = [start + timedelta(seconds=1 + i) for i in range(8)] + [start + timedelta(seconds=20)] * 3
        fresh = [later(english()[i % 4], i, at) for i, at in enumerate(times)]
        state.posts += fresh
        reports = [run_connector(conn, sink, cursors) for _ in range(4)]
    finally:
        sink.close()
    written = [json.loads(line)["platform_id"] for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(written) == len(set(written))
    assert set(written[5:]) == {v["uri"] for v in fresh}
    # The three posts in one millisecond fill a page: the next is asked below it.
    assert [r.written for r in reports] == [3, 5, 3, 0]
    assert json.loads(cursors.load(conn.cursor_key) or "{}")["until"] is None  # the window is closed


def test_search_top_is_one_ranked_page(site: tuple[AppView, PlatformServer]) -> None:
    state, server = site
    posts, cursors = posts_of(search(server, sort="top", page_size=5).batches(None))
    top = sorted(english(), key=lambda v: (v["likeCount"], v["uri"]), reverse=True)[:5]
    assert [p.key for p in posts] == [key(v) for v in top] and cursors == [None]
    assert state.searches[-1]["sort"] == "top"


def test_a_refused_unauthenticated_search_says_to_configure_a_session(site: tuple[AppView, PlatformServer]) -> None:
    state, server = site
    state.search_needs_session = True
    with pytest.raises(ApiError, match="FLOCKWATCH_BLUESKY_HANDLE") as caught:
        list(search(server).batches(None))
    assert caught.value.status == 403
    authed = Settings(bluesky_handle=HANDLE, bluesky_app_password=SecretStr(PASSWORD))
    state.expire_next = 1  # the first session expires at once: made again, once
    conn = appview.search_connector(authed, query="lang:en", endpoint=server.url, client=client(server.url))
    posts, _ = posts_of(conn.batches(None))
    assert [p.key for p in posts] == [key(v) for v in english()] and state.sessions == 2
    wrong = Settings(bluesky_handle=HANDLE, bluesky_app_password=SecretStr("nope"))
    conn = appview.search_connector(wrong, query="lang:en", endpoint=server.url, client=client(server.url))
    with pytest.raises(ApiError, match="Invalid identifier or password"):
        list(conn.batches(None))


def test_without_an_endpoint_the_public_appview_or_the_pds_is_asked() -> None:
    public = appview.search_connector(Settings(), query="x", endpoint=None)
    assert public.api.base == "https://public.api.bsky.app" and public.api.client.endpoint is None
    authed = Settings(bluesky_handle=HANDLE, bluesky_app_password=SecretStr(PASSWORD))
    assert appview.search_connector(authed, query="x", endpoint=None).api.base == "https://bsky.social"
    for bad in ("ws://127.0.0.1:1/subscribe", "https://user:pw@appview.example"):
        with pytest.raises(ValueError, match="endpoint"):
            appview.search_connector(Settings(), query="x", endpoint=bad)
    with pytest.raises(ValueError, match="query"):
        appview.search_connector(Settings(), query="  ", endpoint=None)
    with pytest.raises(ValueError, match="sort"):
        appview.search_connector(Settings(), query="x", sort="hot", endpoint=None)


@pytest.mark.parametrize("fault", ["429", "503", "truncate", "hang"])
def test_misbehaving_servers_are_retried_and_nothing_repeats(site: tuple[AppView, PlatformServer], fault: str) -> None:
    _, server = site
    server.faults.queue = [fault, fault]
    server.faults.hang_s = 1.5
    waits = Waits()
    conn = appview.search_connector(
        Settings(),
        query="lang:en",
        endpoint=server.url,
        page_size=3,
        max_pages=20,
        client=client(server.url, waits, 0.5),
    )
    posts, _ = posts_of(conn.batches(None))
    assert [p.key for p in posts] == [key(v) for v in english()]
    assert len(waits) == 2 and (fault != "429" or waits == [3.0, 3.0])


def test_a_spent_rate_limit_budget_waits_for_its_reset(site: tuple[AppView, PlatformServer]) -> None:
    state, server = site
    state.remaining = 2
    waits = Waits()
    conn = appview.search_connector(
        Settings(), query="lang:en", endpoint=server.url, page_size=3, max_pages=3, client=client(server.url, waits)
    )
    posts_of(conn.batches(None))
    assert waits and 295 <= waits[0] <= 301  # RateLimit-Reset: a Unix time 300 s ahead


def test_a_redirect_to_a_private_address_is_refused(site: tuple[AppView, PlatformServer]) -> None:
    _, server = site
    server.faults.queue = ["redirect:http://169.254.169.254/xrpc/app.bsky.feed.searchPosts"]
    with pytest.raises(Refused, match=r"169\.254\.169\.254"):
        list(search(server).batches(None))


def test_broken_items_are_each_dead_lettered_not_dropped(site: tuple[AppView, PlatformServer], tmp_path: Path) -> None:
    state, server = site
    state.posts = copy.deepcopy(VIEWS[:2])
    state.broken_items = [{"post": {"uri": None, "n": 1}}, "not an item", {"post": {"record": {}}}, {"post": 5}]
    sink = FileSink(tmp_path / "out.jsonl")
    try:
        feed = appview.feed_connector(Settings(), feed=FEED, endpoint=server.url, client=client(server.url))
        report = run_connector(feed, sink, MemoryCursors())
    finally:
        sink.close()
    assert report.written == 3 and report.rejected == 4  # two posts and a repost of the first


def test_an_unreadable_saved_cursor_is_an_error_not_a_restart(site: tuple[AppView, PlatformServer]) -> None:
    _, server = site
    with pytest.raises(ApiError, match="remove it to start over"):
        list(search(server).batches('{"since": "yesterday"}'))


# --- the command -----------------------------------------------------------------------------------------------


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FLOCKWATCH, "collect", "bluesky", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_cli_feed_and_search_commands(site: tuple[AppView, PlatformServer], tmp_path: Path) -> None:
    _, server = site
    out = tmp_path / "OUT.jsonl"
    done = _cli("--feed", FEED, "--endpoint", server.url, "--output", str(out))
    assert done.returncode == 0, done.stderr
    feed = _lines(out)
    assert {p["platform_id"] for p in feed} == {v["uri"] for v in VIEWS} | {REASONS[i]["uri"] for i in (0, 5)}
    assert json.loads(done.stdout.strip().splitlines()[-1])["written"] == len(feed) == len(VIEWS) + 2
    found, cursors = tmp_path / "FOUND.jsonl", tmp_path / "cursors.json"
    args = ("--search", "lang:en", "--endpoint", server.url, "--output", str(found), "--cursors", str(cursors))
    assert _cli(*args).returncode == 0 and _cli(*args).returncode == 0  # the second appends nothing
    assert [p["platform_id"] for p in _lines(found)] == [v["uri"] for v in english()]
    assert "bluesky:search/latest/lang:en" in json.loads(cursors.read_text())


def test_cli_refusals(tmp_path: Path) -> None:
    out = str(tmp_path / "o.jsonl")
    both = _cli("--feed", FEED, "--search", "x", "--output", out)
    assert both.returncode == 2 and "not both" in both.stderr
    mixed = _cli("--search", "x", "--did", "did:plc:abc", "--output", out)
    assert mixed.returncode == 2 and "Jetstream" in mixed.stderr
    bad = _cli("--feed", "whats-hot", "--output", out)
    assert bad.returncode == 2 and "feed generator" in bad.stderr


# --- mutated post views: a post, a skip or a ValueError, and every reject dead-lettered -------------------------


JSON = json_values(
    ["", " ", "at://did:plc:x/app.bsky.feed.post/1", "app.bsky.feed.defs#reasonRepost", "did:plc:x",
     "2026-07-04T14:38:06.240Z", "0000-00-00", "app.bsky.feed.post", "app.bsky.embed.images", "en", "-1"]
)  # fmt: skip
PAYLOADS = [{"post": v} for v in VIEWS] + [{"post": VIEWS[i], "reason": REASONS[i]} for i in range(5)]


@st.composite
def mutated_records(draw: st.DrawFn) -> Any:
    payload = copy.deepcopy(draw(st.sampled_from(PAYLOADS)))
    if draw(st.integers(0, 19)) == 0:
        payload = unreadable("line 1 is not a post view: cut short", json.dumps(payload)[: draw(st.integers(0, 80))])
    mutate(draw, payload, JSON)
    return raw_record("bluesky_appview", "http://127.0.0.1/xrpc", "x", payload)


@pytest.fixture(scope="module")
def fuzz_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FileSink]:
    sink = FileSink(tmp_path_factory.mktemp("appview-fuzz") / "out.jsonl")
    yield sink
    sink.close()


@settings(
    max_examples=10_000, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(record=mutated_records())
def test_mutated_post_views_are_posts_or_value_errors_and_every_reject_is_dead_lettered(
    record: Any, fuzz_sink: FileSink
) -> None:
    post_or_dead_lettered(record, fuzz_sink)


def test_the_fixture_is_real_and_not_all_one_time() -> None:
    assert len(VIEWS) == 17 and len({sort_at(v) for v in VIEWS}) > 10
    assert all(sort_at(v) <= datetime.now(UTC) for v in VIEWS)
