"""The Mastodon connector against local servers that speak Mastodon's API with its recorded payloads: the VCR
cassettes replayed, and a live stand-in (``tests.platform_servers.mastodon``) for cursors, reply lookups and the
streaming API.

The recorded trends are empty lists; trends are also tested with recorded statuses (from the other cassettes)
served at the trends path. Waits are recorded, not slept (``sleep=``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from pydantic import SecretStr

from flockwatch.adapters.connectors.base import Batch
from flockwatch.adapters.connectors.http_api import ApiClient, Refused
from flockwatch.adapters.connectors.mastodon import (
    TimelinePull,
    TimelineStream,
    link_params,
    parse_timeline,
    sse_events,
    timeline_connector,
)
from flockwatch.config import Settings
from flockwatch.replay import normalize_record
from flockwatch.schema import Post
from tests.platform_servers.cassettes import Cassettes, mastodon_cassettes, mastodon_statuses
from tests.platform_servers.http import PlatformServer, Request, Response, serve
from tests.platform_servers.mastodon import MastodonInstance, renumbered

FOLDER = Settings().data_dir / "connectors/mastodon"
SETTINGS = Settings(mastodon_tokens=SecretStr(""))


def recorded(name: str) -> list[dict[str, Any]]:
    return mastodon_statuses(FOLDER)[name]


def public_recorded() -> list[dict[str, Any]]:
    """Every distinct public status the cassettes hold, oldest first."""
    found = {s["id"]: s for items in mastodon_statuses(FOLDER).values() for s in items if s["visibility"] == "public"}
    return sorted(found.values(), key=lambda s: int(s["id"]))


@pytest.fixture
def cassette() -> Iterator[tuple[PlatformServer, Cassettes]]:
    answer = mastodon_cassettes(FOLDER)
    with serve(answer) as server:
        answer.server = server
        yield server, answer


def pull(server: PlatformServer, timeline: str, settings: Settings = SETTINGS, **kw: Any) -> TimelinePull:
    slept = kw.pop("slept", [])
    client = ApiClient(endpoint=server.url, sleep=slept.append, timeout_s=kw.pop("timeout_s", 2.0))
    connector = timeline_connector(settings, instance=server.url, timeline=timeline, stream=False, client=client)
    assert isinstance(connector, TimelinePull)
    return connector


def uris(batches: Iterator[Batch] | list[Batch]) -> list[str]:
    return [r.position or "" for b in batches for r in b.records]


def posts(batches: list[Batch]) -> list[Post]:
    out = [normalize_record(r) for b in batches for r in b.records]
    return [p for p in out if p is not None]


def test_the_recorded_hashtag_timeline(cassette: tuple[PlatformServer, Cassettes]) -> None:
    server, _ = cassette
    batches = list(pull(server, "tag:hoot").batches(None))
    (status,) = [s for s in recorded("test_hashtag_tl.yaml") if s["id"] == "117020593741189701"][:1]
    assert uris(batches) == [status["uri"]] and batches[-1].cursor == status["id"]
    (post,) = posts(batches)
    # The instance says its account domain (/api/v2/instance: localhost:3000); local accounts take it.
    assert post.author.id == "mastodonpy_test_2@localhost:3000" and post.hashtags == ["hoot"]
    timeline = server.requests[0]
    assert timeline.path == "/api/v1/timelines/tag/hoot" and timeline.query == {"limit": ["40"]}
    # The recorded Link header names http://localhost:3000; only its max_id is used, on this server.
    tag = "/api/v1/timelines/tag/hoot?limit=40"
    page_two = "/api/v1/timelines/tag/hoot?max_id=117020593741189701"  # unrecorded: asked with and without limit
    assert server.paths("/timelines/") == [tag, f"{tag}&max_id=117020593741189701", page_two]


def test_a_replay_that_knows_only_the_default_page_size_is_still_read() -> None:
    """A server matching queries exactly (as VCR does): the recorded request had no ``limit``."""
    answer = mastodon_cassettes(FOLDER)

    def strict(request: Request) -> Response:
        return Response(404, b"{}") if "limit" in request.query else answer(request)

    with serve(strict) as server:
        batches = list(pull(server, "tag:hoot").batches(None))
        assert len(uris(batches)) == 1
        assert server.paths("/timelines/")[:2] == ["/api/v1/timelines/tag/hoot?limit=40", "/api/v1/timelines/tag/hoot"]
        assert all("limit" not in r.query for r in server.requests[2:])


def test_list_timelines_need_and_send_the_token(cassette: tuple[PlatformServer, Cassettes]) -> None:
    server, _ = cassette
    with pytest.raises(ValueError, match="needs an access token"):
        pull(server, "list:6")
    settings = Settings(mastodon_tokens=SecretStr("127.0.0.1=sekrit,other.example=x"))
    batches = list(pull(server, "list:6", settings).batches(None))
    assert uris(batches) == [s["uri"] for s in recorded("test_list_timeline.yaml")[1:]]
    assert server.requests[0].headers["Authorization"] == "Bearer sekrit"


def test_trends_recorded_empty_and_with_recorded_statuses(cassette: tuple[PlatformServer, Cassettes]) -> None:
    server, answer = cassette
    assert list(pull(server, "trends").batches(None)) == []  # the recorded trends are empty
    # The same path serving statuses taken from the other cassettes (a reblog among them):
    statuses = recorded("test_list_timeline.yaml")[1:] + recorded("test_status_reblogged_by.yaml")[1:2]
    answer.interactions = [i for i in answer.interactions if i.path != "/api/v1/trends/statuses"]
    answer.serve_json("GET", "/api/v1/trends/statuses", statuses)
    batches = list(pull(server, "trends").batches(None))
    reblogged = statuses[-1]["reblog"]
    assert uris(batches) == [s["uri"] for s in statuses[:-1]] + [reblogged["uri"], statuses[-1]["uri"]]
    assert all(b.cursor is None for b in batches)  # a ranking: no cursor
    assert posts(batches)[-1].reshare_of == reblogged["uri"]


def test_trend_tags_and_links_are_recorded_but_are_not_posts() -> None:
    tag = {
        "name": "hoot",
        "url": "http://localhost:3000/tags/hoot",
        "history": [{"day": "1", "uses": "4", "accounts": "2"}],
    }
    instance = MastodonInstance(trends_tags=[tag])
    with serve(instance) as server:
        (batch,) = list(pull(server, "trends:tags").batches(None))
        assert [(r.position, r.context["entity"]) for r in batch.records] == [("tag:hoot", "tag")]
        assert normalize_record(batch.records[0]) is None
        assert server.requests[0].query == {"limit": ["20"]}
        (links,) = list(pull(server, "trends:links").batches(None))
        assert links.records == []


def live(count: int, reply_every: int = 0, **kw: Any) -> MastodonInstance:
    instance = MastodonInstance(server_info={"domain": "instance.example"}, **kw)
    instance.pending = renumbered(public_recorded(), count, reply_every)
    return instance


def test_pulls_resume_after_their_cursor_with_min_id_and_nothing_twice() -> None:
    instance = live(300)
    instance.publish(100)
    with serve(instance) as server:
        connector = pull(server, "public")
        first = list(connector.batches(None))
        ids = [s["id"] for s in instance.published]
        assert sorted(uris(first)) == sorted(s["uri"] for s in instance.published) and len(uris(first)) == 100
        assert first[-1].cursor == ids[-1] and not first[-1].records
        instance.publish(90)
        server.requests.clear()
        second = list(connector.batches(first[-1].cursor))
        newer = instance.published[100:]
        pages = (newer[0:40], newer[40:80], newer[80:90])  # min_id: the 40 just newer, served newest first
        assert uris(second) == [s["uri"] for page in pages for s in reversed(page)]
        min_ids = [r.query.get("min_id") for r in server.requests if r.path == "/api/v1/timelines/public"]
        assert min_ids == [[ids[-1]], [newer[39]["id"]], [newer[79]["id"]], [newer[89]["id"]]]
        assert [b.cursor for b in second] == [newer[39]["id"], newer[79]["id"], newer[89]["id"]]
        assert list(connector.batches(second[-1].cursor)) == []


def test_replies_are_linked_to_their_parents_uri() -> None:
    for multi in (True, False):
        instance = live(60, reply_every=3, multi_lookup=multi)
        instance.publish(60)
        with serve(instance) as server:
            connector = pull(server, "public")
            connector.max_pages = 1  # parents of the oldest replies lie beyond the page: looked up
            found = posts(list(connector.batches(None)))
            by_uri = {s["uri"]: s for s in instance.published}
            replies = [p for p in found if by_uri[p.platform_id].get("in_reply_to_id")]
            assert len(replies) == len([s for s in instance.published[20:] if s.get("in_reply_to_id")]) == 14
            for post in replies:
                parent_id = by_uri[post.platform_id]["in_reply_to_id"]
                assert post.reply_to == next(s["uri"] for s in instance.published if s["id"] == parent_id)
            lookups = server.paths("/api/v1/statuses")
            assert lookups == (["/api/v1/statuses?id[]=" + instance.published[19]["id"]] if multi else
                               ["/api/v1/statuses?id[]=" + instance.published[19]["id"],
                                "/api/v1/statuses/" + instance.published[19]["id"]])  # fmt: skip


@pytest.mark.parametrize(
    ("faults", "waits"), [(["429", "429"], [3.0, 3.0]), (["503"], None), (["truncate"], None), (["hang"], None)]
)
def test_bad_answers_are_retried_without_duplicates_or_gaps(faults: list[str], waits: list[float] | None) -> None:
    instance = live(70)
    instance.publish(70)
    with serve(instance) as server:
        clean = uris(list(pull(server, "public").batches(None)))
        server.faults.queue, server.faults.hang_s, server.faults.only = list(faults), 1.5, "/timelines/"
        slept: list[float] = []
        got = uris(list(pull(server, "public", slept=slept, timeout_s=0.5).batches(None)))
    assert got == clean and len(got) == len(set(got)) == 70
    assert len(slept) == len(faults) and (waits is None or slept == waits)


@pytest.mark.parametrize("target", ["http://127.0.0.2:{port}/api/v1/timelines/public", "http://169.254.169.254/"])
def test_redirects_to_private_addresses_are_refused(target: str) -> None:
    instance = live(5)
    with serve(instance) as server:
        server.faults.queue = ["redirect:" + target.format(port=server.server_address[1])]
        with pytest.raises(Refused):
            list(pull(server, "public").batches(None))
        assert len(server.requests) == 1


def stream_of(server: PlatformServer, timeline: str = "public", idle: float = 1.5, **kw: Any) -> TimelineStream:
    client = ApiClient(endpoint=server.url, sleep=kw.pop("slept", []).append, timeout_s=2.0)
    connector = timeline_connector(
        SETTINGS, instance=server.url, timeline=timeline, stream=True, client=client, idle_timeout_s=idle
    )
    assert isinstance(connector, TimelineStream)
    return connector


def test_the_recorded_stream_event_is_read(cassette: tuple[PlatformServer, Cassettes]) -> None:
    """The recorded user stream (``:)``, one ``update``) served at the public stream's path."""
    server, answer = cassette
    (recorded_stream,) = [i for i in answer.interactions if i.path == "/api/v1/streaming/user"]
    answer.add(replace(recorded_stream, path="/api/v1/streaming/public"))
    answer.hold_s = 0.6
    batches = list(stream_of(server, idle=1.0).batches(None))
    (status,) = recorded("test_stream_user_local.yaml")[1:]
    assert uris(batches) == [status["uri"]] and batches[0].cursor == status["id"]
    assert posts(batches)[0].text == "it's cool guy"
    streams = [r for r in server.requests if r.path == "/api/v1/streaming/public"]
    assert len(streams) >= 2 and all(r.headers["Accept"] == "text/event-stream" for r in streams)
    # After the recorded stream ended, the gap was asked of the REST timeline (not recorded: a 404, logged).
    assert any(r.path == "/api/v1/timelines/public" and "min_id" in r.query for r in server.requests)


def test_the_stream_reconnects_after_a_drop_and_backfills_the_gap() -> None:
    instance = live(40)
    instance.publish(5)
    stop = threading.Event()
    with serve(instance) as server:
        instance.server = server
        server.faults.queue, server.faults.only, server.faults.drop_after = ["drop"], "/streaming/", 3
        connector = stream_of(server, idle=2.0)
        got: list[str] = []
        instance.publish_every(0.05, stop)
        for batch in connector.batches(instance.published[4]["id"]):  # restarted from a cursor
            got += uris([batch])
        stop.set()
    expected = [s["uri"] for s in instance.published[5:]]
    assert sorted(got) == sorted(expected) and len(got) == len(set(got)) == 35
    streams = server.paths("/api/v1/streaming/public")
    backfills = [r for r in server.requests if r.path == "/api/v1/timelines/public"]
    assert len(streams) >= 2 and len(backfills) >= 2 and "min_id" in backfills[-1].query


def test_a_streaming_server_off_the_instance_on_a_private_address_is_not_used() -> None:
    instance = live(10)
    elsewhere = MastodonInstance()
    with serve(elsewhere) as other, serve(instance) as server:
        instance.server = server
        instance.streaming_url = other.url.replace("http://", "ws://")
        connector = stream_of(server, idle=0.5)
        assert connector.stream_url() == f"{server.url}/api/v1/streaming/public"
        assert other.requests == []  # its health check was refused before connecting
        instance.streaming_url = "wss://streaming.example"
        assert stream_of(server).api.streaming_base() == "https://streaming.example"


def test_timeline_names_and_link_headers() -> None:
    assert parse_timeline("tag:#Élection").path == "/api/v1/timelines/tag/%C3%89lection"
    assert parse_timeline("local").params == {"local": "true"}
    assert parse_timeline("tag:x").stream_params == {"tag": "x"}
    for bad in ("home", "tag:", "list:abc", "tag:a/b"):
        with pytest.raises(ValueError, match="unknown timeline"):
            parse_timeline(bad)
    with pytest.raises(ValueError, match="has no stream"):
        timeline_connector(SETTINGS, instance="https://m.example", timeline="trends", stream=True)
    here = "http://x/api/v1/timelines/public"
    header = f'<{here}?max_id=7>; rel="next", <{here}?min_id=9>; rel="prev"'
    assert link_params(header) == {"next": {"max_id": "7"}, "prev": {"min_id": "9"}}


def test_server_sent_events_are_parsed_as_the_spec_says() -> None:
    lines = [b":)\n", b"event: update\r\n", b'data: {"a":\n', b"data: 1}\n", b"\n", b":thump\n",
             b"event: delete\n", b"data: 123\n", b"\n", b"event: update\n", b"data: {cut"]  # fmt: skip
    assert list(sse_events(lines)) == [None, ("update", b'{"a":\n1}'), None, ("delete", b"123")]
