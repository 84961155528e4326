"""The Jetstream connector against a local Jetstream serving the 152 recorded events over a real websocket.

Expected posts are the replay normaliser's output on the recorded file, computed here; the connector must give
the same posts (the source reference and collection time aside), in the same order, through drops, refusals,
filters and a SIGKILL of the CLI mid-stream.
"""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flockwatch.adapters.connectors.bluesky import (
    DEFAULT_COLLECTIONS,
    Emitted,
    JetstreamConnector,
    frame_record,
    jetstream_connector,
    subscribe_url,
)
from flockwatch.adapters.connectors.cursors import MemoryCursors
from flockwatch.adapters.connectors.http_api import ApiError
from flockwatch.adapters.connectors.runner import run_connector
from flockwatch.adapters.connectors.sink import FileSink
from flockwatch.config import Settings
from flockwatch.replay import normalize_record, read_dataset
from flockwatch.schema import Post
from tests.mutations import json_values, mutate, post_or_dead_lettered
from tests.platform_servers.jetstream import RECORDED, Jetstream, jetstream_server, recorded_lines

DATA = Settings().data_dir
FLOCKWATCH = str(Path(sys.executable).with_name("flockwatch"))
POST, REPOST = DEFAULT_COLLECTIONS


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return recorded_lines(DATA)


@pytest.fixture(scope="module")
def events(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


def comparable(post: Post | dict[str, Any]) -> dict[str, Any]:
    """A post as JSON without where and when it was read (a file position vs. a live stream)."""
    data = post if isinstance(post, dict) else json.loads(post.model_dump_json(exclude_none=True))
    return {k: v for k, v in data.items() if k not in ("source", "collected_at")}


def expected_posts(
    events: list[dict[str, Any]], collections: tuple[str, ...] = DEFAULT_COLLECTIONS, dids: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """The normaliser on the recorded file, restricted as the subscription is; first version of each post."""
    out: dict[str, dict[str, Any]] = {}
    for record, event in zip(read_dataset("bluesky_jetstream", None, DATA), events, strict=True):
        if dids and event["did"] not in dids:
            continue
        if event["kind"] == "commit" and event["commit"]["collection"] not in collections:
            continue
        post = normalize_record(record)
        if post is not None and post.key not in out:
            out[post.key] = comparable(post)
    return list(out.values())


def connector(url: str, **kwargs: Any) -> JetstreamConnector:
    made = jetstream_connector(
        Settings(),
        endpoint=url,
        collections=kwargs.pop("collections", []),
        dids=kwargs.pop("dids", []),
        start_cursor=kwargs.pop("start_cursor", None),
        idle_timeout_s=kwargs.pop("idle_timeout_s", 0.6),
    )
    for key, value in kwargs.items():
        setattr(made, key, value)
    return made


def collect(made: JetstreamConnector, out: Path) -> list[dict[str, Any]]:
    sink = FileSink(out)
    try:
        run_connector(made, sink, MemoryCursors())
    finally:
        sink.close()
    return [json.loads(line) for line in out.read_text().splitlines()]


def ids(posts: list[dict[str, Any]]) -> list[str]:
    return [p["platform_id"] for p in posts]


# --- the stream ----------------------------------------------------------------------------------------------


def test_posts_and_reposts_as_the_normaliser_makes_them(events: list[dict[str, Any]], tmp_path: Path) -> None:
    stream = Jetstream(recorded_lines(DATA))
    with jetstream_server(stream) as url:
        got = collect(connector(url), tmp_path / "out.jsonl")
    want = expected_posts(events)
    assert len(want) == 32
    assert [comparable(p) for p in got] == want
    assert {p["source"]["format"] for p in got} == {"bluesky_jetstream"}
    assert all(p["source"]["position"] == p["platform_id"] and p["collected_at"] for p in got)
    # Asked for posts and reposts, without compression.
    (query,) = stream.queries
    assert query["wantedCollections"] == [POST, REPOST] and "compress" not in query and "cursor" not in query


def test_collections_filter_reaches_the_server(events: list[dict[str, Any]], tmp_path: Path) -> None:
    stream = Jetstream(recorded_lines(DATA))
    with jetstream_server(stream) as url:
        got = collect(connector(url, collections=[REPOST]), tmp_path / "out.jsonl")
    assert [comparable(p) for p in got] == expected_posts(events, (REPOST,))
    assert got and all(p.get("reshare_of") for p in got)
    assert stream.queries[0]["wantedCollections"] == [REPOST]


def test_likes_only_give_records_but_no_posts(events: list[dict[str, Any]], tmp_path: Path) -> None:
    stream = Jetstream(recorded_lines(DATA))
    records: list[str] = []
    with jetstream_server(stream) as url:
        for batch in connector(url, collections=["app.bsky.feed.like"]).batches(None):
            records += [r.payload["kind"] for r in batch.records]
    likes = sum(e.get("commit", {}).get("collection") == "app.bsky.feed.like" for e in events)
    # Identity and account events come whatever the collections, as Jetstream sends them.
    assert sorted(records) == sorted(["commit"] * likes + ["identity", "account"])


def test_dids_filter(events: list[dict[str, Any]], tmp_path: Path) -> None:
    posters = list(dict.fromkeys(e["did"] for e in events if e.get("commit", {}).get("collection") == POST))[:3]
    stream = Jetstream(recorded_lines(DATA))
    with jetstream_server(stream) as url:
        got = collect(connector(url, dids=posters), tmp_path / "out.jsonl")
    assert got and {p["author"]["id"] for p in got} <= set(posters)
    assert [comparable(p) for p in got] == expected_posts(events, dids=tuple(posters))
    assert stream.queries[0]["wantedDids"] == posters


def test_start_cursor_skips_what_came_before(events: list[dict[str, Any]], tmp_path: Path) -> None:
    times = sorted(e["time_us"] for e in events)
    cut = times[len(times) // 2]
    stream = Jetstream(recorded_lines(DATA))
    with jetstream_server(stream) as url:
        got = collect(connector(url, start_cursor=cut), tmp_path / "out.jsonl")
    later = [e for e in events if e["time_us"] >= cut]
    want = {
        f"at://{e['did']}/{e['commit']['collection']}/{e['commit']['rkey']}"
        for e in later
        if e["kind"] == "commit" and e["commit"]["collection"] in DEFAULT_COLLECTIONS
    }
    assert stream.queries[0]["cursor"] == [str(cut)]
    assert got and set(ids(got)) <= want and len(got) < 32


# --- drops, reconnects, refusals -----------------------------------------------------------------------------


def _drop_points(lines: list[str]) -> list[int]:
    """Drop points right after an event whose ``time_us`` is higher than a later one's (the hard case)."""
    stream = Jetstream(lines)
    served = [json.loads(line)["time_us"] for line in stream.selected({"wantedCollections": [POST, REPOST]})]
    return [k for k in range(1, len(served)) if max(served[:k]) > min(served[k:])]


def test_recorded_time_us_is_not_monotonic(lines: list[str]) -> None:
    """Why the connector rewinds: resuming at the last ``time_us`` would skip what follows with a smaller one."""
    assert len(_drop_points(lines)) >= 5


@pytest.mark.parametrize("which", [0, 1, -1])
def test_reconnects_after_drops_without_gap_or_duplicate(
    events: list[dict[str, Any]], lines: list[str], tmp_path: Path, which: int
) -> None:
    hard = _drop_points(lines)[which]
    stream = Jetstream(lines, drops=[hard, 3, 4])
    waits: list[float] = []
    records: list[str] = []
    with jetstream_server(stream) as url:
        made = connector(url, sleep=waits.append)
        sink = FileSink(tmp_path / "out.jsonl")
        try:
            for batch in made.batches(None):
                records += [r.position or "" for r in batch.records]
                sink.write(batch.records)
        finally:
            sink.close()
    got = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [comparable(p) for p in got] == expected_posts(events)
    # No record twice: each event once, although every reconnect replayed from before its cursor.
    served = stream.selected({"wantedCollections": [POST, REPOST]})
    assert len(records) == len(set(records)) == len(served)
    assert made.connections == 4 and len(waits) >= 3  # backed off before each reconnect
    assert all("cursor" in q for q in stream.queries[1:])


def test_control_resuming_at_the_last_time_us_would_lose_events(
    events: list[dict[str, Any]], lines: list[str], tmp_path: Path
) -> None:
    """The same drop with no rewind: the events after the drop with an older ``time_us`` are lost (a gap)."""
    stream = Jetstream(lines, drops=[_drop_points(lines)[0]])
    with jetstream_server(stream) as url:
        got = collect(connector(url, rewind_s=0.0, sleep=lambda _s: None), tmp_path / "out.jsonl")
    assert len(got) < len(expected_posts(events))


def test_server_refusals_are_retried_with_backoff(events: list[dict[str, Any]], tmp_path: Path) -> None:
    stream = Jetstream(recorded_lines(DATA), refuse=[503, 429, 502])
    waits: list[float] = []
    with jetstream_server(stream) as url:
        got = collect(connector(url, sleep=waits.append), tmp_path / "out.jsonl")
    assert [comparable(p) for p in got] == expected_posts(events)
    assert len(waits) >= 3 and len(stream.queries) == 1


def test_not_found_is_an_error_at_once(tmp_path: Path) -> None:
    with jetstream_server(Jetstream(recorded_lines(DATA))) as url:
        made = connector(url.replace("/subscribe", "/nope"), idle_timeout_s=30.0)
        started = time.monotonic()
        with pytest.raises(ApiError, match="HTTP 404"):
            list(made.batches(None))
    assert time.monotonic() - started < 5


def test_redirects_are_refused(tmp_path: Path) -> None:
    """Even the configured endpoint may not send us elsewhere (the server points at 10.0.0.1)."""
    with (
        jetstream_server(Jetstream(recorded_lines(DATA), refuse=[302])) as url,
        pytest.raises(ApiError, match=re.escape("redirected to ws://10.0.0.1/subscribe; redirects are not followed")),
    ):
        list(connector(url, idle_timeout_s=30.0).batches(None))


def test_no_server_at_all_is_an_error_after_the_idle_timeout() -> None:
    with jetstream_server(Jetstream([])) as url:
        pass  # the port is free again
    made = connector(url, idle_timeout_s=0.5, backoff_base_s=0.05)
    with pytest.raises(ApiError, match="no connection"):
        list(made.batches(None))
    assert made.connections == 0


def test_a_silent_server_ends_through_the_idle_timeout() -> None:
    with jetstream_server(Jetstream(recorded_lines(DATA)[:0])) as url:
        started = time.monotonic()
        batches = list(connector(url, idle_timeout_s=1.5).batches(None))
    took = time.monotonic() - started
    assert 1.4 <= took < 4 and all(not b.records for b in batches)
    assert batches, "an idle stream yields empty batches so its reader can stop it"


def test_unreadable_frames_are_dead_lettered(tmp_path: Path) -> None:
    bad: list[str | bytes] = ["not json", "[1, 2]", b"\xff\xfe\x00", "[" * 100 + "]" * 100, '{"kind": "commit"}']
    stream = Jetstream(recorded_lines(DATA)[:3], extra_frames=bad)
    out = tmp_path / "out.jsonl"
    with jetstream_server(stream) as url:
        sink = FileSink(out)
        report = run_connector(connector(url, collections=["app.bsky.feed.like"]), sink, MemoryCursors())
        sink.close()
    letters = [json.loads(line) for line in sink.dead_path.read_text().splitlines()]
    reasons = [letter["reason"] for letter in letters]
    assert len(letters) == report.rejected == len(bad), reasons
    assert any("not a Jetstream event" in r and "Expecting value" in r for r in reasons)
    assert any("not a JSON object but list" in r for r in reasons)
    assert any("not valid UTF-8" in r for r in reasons)
    assert any("nested" in r for r in reasons)
    assert any("missing field 'commit'" in r for r in reasons)


def test_the_caller_stops_a_stream_that_never_ends(lines: list[str]) -> None:
    stream = Jetstream(lines, events_per_s=200)
    with jetstream_server(stream) as url:
        sink = FileSink(Path(os.devnull))
        report = run_connector(connector(url, idle_timeout_s=None), sink, MemoryCursors(), limit=7)
    assert report.records == 7


# --- pieces --------------------------------------------------------------------------------------------------


def test_subscribe_url_and_factory_checks() -> None:
    url = subscribe_url("wss://js.example/subscribe?x=1", [POST, REPOST], ["did:plc:a"], 17)
    assert url == (
        "wss://js.example/subscribe?x=1&wantedCollections=app.bsky.feed.post&wantedCollections=app.bsky.feed.repost"
        "&wantedDids=did%3Aplc%3Aa&cursor=17&maxMessageSizeBytes=2097152"
    )
    made = jetstream_connector(
        Settings(), endpoint=None, collections=[], dids=[], start_cursor=None, idle_timeout_s=None
    )
    assert made.endpoint == Settings().jetstream_url and made.collections == list(DEFAULT_COLLECTIONS)
    assert made.cursor_key == "bluesky:jetstream/app.bsky.feed.post,app.bsky.feed.repost" and made.streaming
    for endpoint in ("https://js.example/subscribe", "js.example", "ws://user:pw@js.example/subscribe"):
        with pytest.raises(ValueError, match="Jetstream endpoint"):
            jetstream_connector(
                Settings(), endpoint=endpoint, collections=[], dids=[], start_cursor=None, idle_timeout_s=None
            )


def test_a_saved_cursor_resumes_before_itself() -> None:
    stream = Jetstream(recorded_lines(DATA))
    with jetstream_server(stream) as url:
        list(connector(url, idle_timeout_s=0.3).batches("1783175888300000"))
    assert stream.queries[0]["cursor"] == ["1783175886300000"]  # 2 s earlier
    with pytest.raises(ApiError, match="not a time_us"):
        next(connector("ws://127.0.0.1:9/subscribe").batches("yesterday"))


def test_emitted_prunes_outside_the_window() -> None:
    emitted = Emitted(window_us=1_000, min_prune=10)
    for t in range(0, 100_000, 100):
        assert emitted.admit(frame_record(json.dumps({"did": "d", "time_us": t, "kind": "identity"}), "u"))
    assert emitted.high == 99_900 and len(emitted.seen) <= 40
    assert not emitted.admit(frame_record(json.dumps({"did": "d", "time_us": 99_500, "kind": "identity"}), "u"))


# --- mutated events: ValueError or None/Post, and every reject dead-lettered -------------------------------


JSON = json_values(
    ["", "commit", "identity", "create", "delete", "app.bsky.feed.post", "2026-07-04T14:38:06Z"],
    nan=False,
    key_size=6,
    leaves=5,
)
EVENTS = [json.loads(line) for line in recorded_lines(DATA)] if (DATA / RECORDED).exists() else [{}]
# Half the examples start from a post or repost (most recorded events are likes, which are never posts).
POST_EVENTS = [e for e in EVENTS if e.get("commit", {}).get("collection") in DEFAULT_COLLECTIONS] or EVENTS


@st.composite
def mutated_frames(draw: st.DrawFn) -> str | bytes:
    event = copy.deepcopy(draw(st.sampled_from(POST_EVENTS) | st.sampled_from(EVENTS)))
    mutate(draw, event, JSON)
    text = json.dumps(event)
    how = draw(st.sampled_from(["json", "json", "json", "cut", "bytes"]))
    if how == "cut":
        return text[: draw(st.integers(0, max(0, len(text) - 1)))]
    if how == "bytes":
        raw = bytearray(text.encode())
        if raw:
            raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0x80, 0xFF))
        return bytes(raw)
    return text


@pytest.fixture(scope="module")
def fuzz_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FileSink]:
    sink = FileSink(tmp_path_factory.mktemp("fuzz") / "out.jsonl")
    yield sink
    sink.close()


@settings(
    max_examples=10_000, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(frame=mutated_frames())
def test_mutated_events_are_posts_skips_or_value_errors(frame: str | bytes, fuzz_sink: FileSink) -> None:
    received = frame_record(frame, "ws://127.0.0.1/subscribe")
    post_or_dead_lettered(received.record, fuzz_sink)


# --- the command ---------------------------------------------------------------------------------------------


def _cli(*args: str) -> list[str]:
    return [FLOCKWATCH, "collect", "bluesky", *args]


@pytest.mark.parametrize("limit", [3, 9])
def test_cli_small_limit(events: list[dict[str, Any]], lines: list[str], tmp_path: Path, limit: int) -> None:
    stream = Jetstream(lines)
    out = tmp_path / "out.jsonl"
    with jetstream_server(stream) as url:
        done = subprocess.run(
            _cli("--endpoint", url, "--limit", str(limit), "--output", str(out)),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr
    served = [json.loads(line) for line in stream.selected({"wantedCollections": [POST, REPOST]})[:limit]]
    first = {f"at://{e['did']}/{e['commit']['collection']}/{e['commit']['rkey']}" for e in served if "commit" in e}
    want = [p for p in expected_posts(events) if p["platform_id"] in first]
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [comparable(p) for p in got] == want
    assert json.loads(done.stdout.splitlines()[-1])["records"] == limit


def test_cli_limit_above_the_stream_ends_through_the_idle_timeout(
    events: list[dict[str, Any]], lines: list[str], tmp_path: Path
) -> None:
    """The contract's command exactly, with more asked for than the server has: it ends (default idle 10 s)."""
    stream = Jetstream(lines)  # stays open and silent once everything is sent
    out = tmp_path / "out.jsonl"
    with jetstream_server(stream) as url:
        started = time.monotonic()
        done = subprocess.run(
            _cli("--endpoint", url, "--limit", "1000", "--output", str(out)), capture_output=True, text=True, timeout=60
        )
        took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert [comparable(json.loads(line)) for line in out.read_text().splitlines()] == expected_posts(events)
    assert took < 30


def test_cli_killed_mid_stream_resumes_without_gap_or_duplicate(
    events: list[dict[str, Any]], lines: list[str], tmp_path: Path
) -> None:
    """SIGKILL while the firehose is live, then a restart with the same output and cursor file: the exact list."""
    stream = Jetstream(lines, events_per_s=40, live=True)
    out, cursors = tmp_path / "out.jsonl", tmp_path / "cursors.json"
    with jetstream_server(stream) as url:
        command = _cli("--endpoint", url, "--output", str(out), "--cursors", str(cursors), "--idle-timeout", "2")
        first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
            cursors.exists() and out.exists() and len(out.read_text().splitlines()) >= 6
        ):
            time.sleep(0.02)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        written_before = len(out.read_text().splitlines())
        time.sleep(0.8)  # events are published while nobody listens
        second = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    got = [json.loads(line) for line in out.read_text().splitlines()]
    want = expected_posts(events)
    assert 6 <= written_before < len(want), "the kill did not land mid-stream: the test proves nothing"
    assert ids(got) == ids(want) and len(set(ids(got))) == len(got)
    assert [comparable(p) for p in got] == want
    assert "cursor" in stream.queries[-1]  # the restart resumed from its cursor (a live tail would have a gap)
