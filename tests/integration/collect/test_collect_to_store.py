"""Collection into the real broker and store: cursors in the compacted topic survive a killed collector, every
post lands once, each sighting is an engagement snapshot, and the trending pass follows what rises."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flockwatch.adapters.connectors.cursors import KafkaCursors, cursor_topic
from flockwatch.adapters.connectors.runner import run_connector
from flockwatch.adapters.connectors.sink import KafkaSink
from flockwatch.adapters.connectors.targets import pull_specs
from flockwatch.adapters.connectors.trending_pass import trending_pass
from flockwatch.adapters.kafka_bus import make_producer, read_topic
from flockwatch.cli.app import app
from flockwatch.collect.collection_file import load_collection
from flockwatch.config import Settings
from flockwatch.schema import RawRecord
from flockwatch.store import open_store
from flockwatch.store.documents import IndexKind
from flockwatch.store.engagement import EngagementRepository
from flockwatch.topics import Topic
from flockwatch.workers import run_until_caught_up
from tests.fake_connectors import Numbered
from tests.local_http import serving, url_of

pytestmark = [pytest.mark.integration, pytest.mark.store]


def test_cursors_survive_in_the_compacted_topic(settings: Settings) -> None:
    producer = make_producer(settings)
    try:
        first = KafkaCursors(settings, producer)
        assert first.load("reddit:x/new") is None
        for value in ("t3_a", "t3_b", "t3_c"):
            first.save("reddit:x/new", value)
        first.save("mastodon:m/public", "117")
        again = KafkaCursors(settings, producer)  # a restarted worker reads the topic back
        assert again.load("reddit:x/new") == "t3_c" and again.load("mastodon:m/public") == "117"
    finally:
        producer.close()
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    from flockwatch.adapters.client_security import kafka_client_args

    admin = KafkaAdminClient(**kafka_client_args(settings))
    try:
        topic = cursor_topic(settings)
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        assert described["topic"][topic]["cleanup.policy"]["value"] == "compact"
    finally:
        admin.close()


def collect(settings: Settings, connector: Numbered) -> None:
    producer = make_producer(settings)
    try:
        run_connector(connector, KafkaSink(settings, producer), KafkaCursors(settings, producer))
    finally:
        producer.close()


def test_a_killed_collector_resumes_without_gap_and_the_store_holds_each_post_once(settings: Settings) -> None:
    n = 40
    first_seen = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    with pytest.raises(KeyboardInterrupt):
        collect(settings, Numbered(n, size=4, crash_after=21, collected_at=first_seen))
    collect(settings, Numbered(n, size=4, collected_at=first_seen))
    raw = [RawRecord.model_validate_json(v) for v in read_topic(settings, Topic.raw, 10 * n)]
    positions = [int(r.position or -1) for r in raw]
    assert sorted(set(positions)) == list(range(n))  # no gap
    assert len(positions) == n  # the kill came between batches: nothing was read twice either

    run_until_caught_up("normalize", settings)
    run_until_caught_up("index", settings)
    store = open_store(settings)
    store.engine.refresh()
    assert store.engine.count(IndexKind.posts) == n
    assert store.engine.count(IndexKind.engagement) == n

    # Collected again an hour later: one more snapshot per post, the post itself still once.
    producer = make_producer(settings)
    try:
        later = Numbered(n, size=8, collected_at=first_seen + timedelta(hours=1))
        from flockwatch.adapters.connectors.cursors import MemoryCursors

        run_connector(later, KafkaSink(settings, producer), MemoryCursors())
    finally:
        producer.close()
    run_until_caught_up("normalize", settings)
    run_until_caught_up("index", settings)
    store.engine.refresh()
    assert store.engine.count(IndexKind.posts) == n
    assert store.engine.count(IndexKind.engagement) == 2 * n
    key = "bluesky:at://did:plc:abc/app.bsky.feed.post/r7"
    history = EngagementRepository(store.engine).history(key)
    assert [h["collected_at"] for h in history] == ["2026-12-04T09:00:00+00:00", "2026-12-04T10:00:00+00:00"]

    # `flockwatch collect growth` shows the same history, as JSON lines and as CSV to plot.
    env = {"FLOCKWATCH_TOPIC_PREFIX": settings.topic_prefix, "FLOCKWATCH_INDEX_PREFIX": settings.index_prefix}
    shown = CliRunner().invoke(app, ["collect", "growth", key], env=env)
    assert shown.exit_code == 0, shown.output
    assert [json.loads(line)["collected_at"] for line in shown.stdout.splitlines()] == [
        h["collected_at"] for h in history
    ]
    table = CliRunner().invoke(app, ["collect", "growth", key, "--csv"], env=env)
    assert table.stdout.splitlines() == [
        "collected_at,likes,reshares,replies,quotes,views",
        "2026-12-04T09:00:00+00:00,,,,,",
        "2026-12-04T10:00:00+00:00,,,,,",
    ]
    missing = CliRunner().invoke(app, ["collect", "growth", "bluesky:nope"], env=env)
    assert missing.exit_code == 1 and "no engagement snapshots for bluesky:nope" in missing.output


@pytest.fixture
def mastodon_trends() -> Iterator[str]:
    """An instance whose trend list has one tag rising today (Mastodon's /api/v1/trends/tags shape)."""
    trends = [
        {"name": "Floodwatch", "url": "x", "history": [{"day": "1", "uses": "30", "accounts": "20"}, {"uses": "1"}]},
        {"name": "steady", "url": "y", "history": [{"day": "1", "uses": "5", "accounts": "5"}, {"uses": "5"}]},
    ]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(trends if self.path.startswith("/api/v1/trends/tags") else []).encode()
            self.send_response(200 if self.path.startswith("/api/v1/trends/tags") else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Handler) as server:
        yield url_of(server)


def test_the_trending_pass_follows_rising_tags_and_forgets_them(settings: Settings, mastodon_trends: str) -> None:
    collection = load_collection(
        f"sources:\n  mastodon:\n    trending: {{max_added: 2, keep_for: 2h}}\n"
        f"    targets:\n      - instance: {mastodon_trends}\n        timelines: [public]\n"
    )
    now = datetime.now(UTC)
    # Snapshots as the engagement index holds them: #election rises in the last hours across platforms.
    docs = [
        {
            "post_key": f"bluesky:p{i}",
            "collected_at": now.isoformat(),
            "created_at": (now - timedelta(hours=1)).isoformat(),
            "hashtags": ["election"],
            "likes": 1,
        }
        for i in range(12)
    ]
    producer = make_producer(settings)
    try:
        cursors = KafkaCursors(settings, producer)
        [report] = trending_pass(settings, collection, cursors, docs, now)
        # the trend list's tag (30 uses today against 1) outranks the snapshots' one (12 posts against 0)
        assert [a["target"] for a in report.added] == ["tag:floodwatch", "tag:election"]
        assert not report.problems
        names = [s.name for s in pull_specs(collection, KafkaCursors(settings, producer), ("mastodon",))]
        host = mastodon_trends.removeprefix("http://")
        assert names == [f"mastodon:{host}/public", f"mastodon:{host}/tag:election", f"mastodon:{host}/tag:floodwatch"]
        # Three hours on (keep_for 2h), no snapshot rises any more: both expire; the instance still lists
        # #floodwatch as trending, so that one is followed again.
        [later] = trending_pass(settings, collection, KafkaCursors(settings, producer), [], now + timedelta(hours=3))
        assert later.dropped == ["tag:election", "tag:floodwatch"] and later.followed == ["tag:floodwatch"]
    finally:
        producer.close()


def test_collect_trending_command(settings: Settings, mastodon_trends: str, tmp_path: Path) -> None:
    """`flockwatch collect trending --file F --cursors C`: the pass over the store's snapshots and the trend list,
    its additions printed and kept in the cursor file for the next `collect run`."""
    collection = tmp_path / "collection.yaml"
    collection.write_text(f"sources:\n  mastodon:\n    targets:\n      - instance: {mastodon_trends}\n")
    cursors = tmp_path / "cursors.json"
    env = {"FLOCKWATCH_TOPIC_PREFIX": settings.topic_prefix, "FLOCKWATCH_INDEX_PREFIX": settings.index_prefix}
    args = ["collect", "trending", "--file", str(collection), "--cursors", str(cursors)]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    [report] = [json.loads(line) for line in result.stdout.splitlines()]
    assert report["source"] == "mastodon" and report["followed"] == ["tag:floodwatch"]
    assert report["added"][0]["why"] == "30 uses today vs 1/day before (trend list)"
    assert "tag:floodwatch" in json.loads(json.loads(cursors.read_text())["trending:mastodon"])


def test_collect_run_into_kafka(settings: Settings, tmp_path: Path) -> None:
    """`flockwatch collect run --file F` without --output: the records on the raw topic, cursors in the
    compacted topic (so `new` asks only for what is newer next time)."""
    from tests.platform_servers.cassettes import reddit_cassettes, reddit_children
    from tests.platform_servers.http import serve

    data = settings.data_dir / "connectors" / "reddit"
    env = {"FLOCKWATCH_TOPIC_PREFIX": settings.topic_prefix, "FLOCKWATCH_INDEX_PREFIX": settings.index_prefix}
    with serve(reddit_cassettes(data)) as server:
        collection = tmp_path / "collection.yaml"
        collection.write_text(
            "sources:\n  reddit:\n    targets:\n      - subreddit: askreddit\n"
            f"        listings: [new]\n        endpoint: {server.url}\n"
        )
        result = CliRunner().invoke(app, ["collect", "run", "--file", str(collection)], env=env)
    assert result.exit_code == 0, result.output
    newest = reddit_children(data)["TestSubredditListings.test_new.json"]
    raw = [RawRecord.model_validate_json(v) for v in read_topic(settings, Topic.raw, 10_000)]
    assert sorted(r.position or "" for r in raw) == sorted(c["data"]["id"] for c in newest)  # each once
    producer = make_producer(settings)
    try:
        assert KafkaCursors(settings, producer).load("reddit:r/askreddit/new") == newest[0]["data"]["name"]
    finally:
        producer.close()
