"""`collect_reddit` from the collection file, run with dag.test() against the real broker and store and a local
server replaying Reddit's recorded API answers: every listed submission reaches the store once, with its
engagement snapshot, and the listings' cursors are in the compacted topic for the next run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flockwatch.adapters.connectors.cursors import KafkaCursors
from flockwatch.adapters.kafka_bus import make_producer, read_topic
from flockwatch.config import Settings
from flockwatch.schema import RawRecord
from flockwatch.store import open_store
from flockwatch.store.documents import IndexKind
from flockwatch.topics import Topic
from flockwatch.workers import run_until_caught_up
from tests.dag_runner import dag_test
from tests.integration.dags.test_dags import task_results
from tests.platform_servers.cassettes import reddit_cassettes, reddit_children
from tests.platform_servers.http import PlatformServer, serve

pytestmark = [pytest.mark.integration, pytest.mark.store, pytest.mark.store_long]

LISTINGS = ("hot", "new", "rising")


@pytest.fixture
def reddit() -> Iterator[PlatformServer]:
    with serve(reddit_cassettes(Settings().data_dir / "connectors" / "reddit")) as server:
        yield server


def test_collect_reddit_dag_pulls_every_listing_into_the_store(
    airflow_home: Path, settings: Settings, reddit: PlatformServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    collection = tmp_path / "collection.yaml"
    collection.write_text(
        "sources:\n  reddit:\n    every: 10m\n    trending: {max_added: 5}\n    targets:\n"
        f"      - subreddit: askreddit\n        listings: [{', '.join(LISTINGS)}]\n        endpoint: {reddit.url}\n"
    )
    monkeypatch.setenv("FLOCKWATCH_COLLECTION_FILE", str(collection))
    state = dag_test(airflow_home, settings, "collect.py", "collect_reddit_dag", {})
    assert state == "success", state

    children = reddit_children(settings.data_dir / "connectors" / "reddit")
    listed = {c["data"]["id"] for listing in LISTINGS for c in children[f"TestSubredditListings.test_{listing}.json"]}
    results = task_results(airflow_home, "collect_reddit")
    pulled: list[dict[str, Any]] = results["pull"]  # type: ignore[assignment]  # a list of reports
    assert sorted(r["target"] for r in pulled) == sorted(f"r/askreddit/{listing}" for listing in LISTINGS)
    assert sum(r["records"] for r in pulled) == sum(
        len(children[f"TestSubredditListings.test_{listing}.json"]) for listing in LISTINGS
    )
    raw = [RawRecord.model_validate_json(v) for v in read_topic(settings, Topic.raw, 10_000)]
    assert {r.format for r in raw} == {"reddit"} and {r.position for r in raw} == listed

    run_until_caught_up("normalize", settings)
    run_until_caught_up("index", settings)
    store = open_store(settings)
    store.engine.refresh()
    assert store.engine.count(IndexKind.posts) == len(listed)  # a submission in two listings is one post
    assert store.engine.count(IndexKind.engagement) >= len(listed)  # one snapshot per sighting
    doc = store.posts.get(f"reddit:{sorted(listed)[0]}")
    assert doc is not None and doc["source"]["format"] == "reddit" and "collected_at" in doc

    producer = make_producer(settings)
    try:
        cursors = KafkaCursors(settings, producer)
        assert cursors.load("reddit:r/askreddit/new")  # `new` resumes after its newest item next time
    finally:
        producer.close()
    assert json.dumps(results["follow_trending"])  # the trending pass ran first (nothing to follow yet)


def test_collect_bluesky_dag_pulls_feeds_and_searches_into_the_store(
    airflow_home: Path, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`collect_bluesky` (the file's feed and search; its Jetstream target is a worker's, not the DAG's) against a
    local AppView serving the Jetstream capture's real records as post views."""
    from tests.platform_servers.appview import FEED, AppView, appview_server, post_views

    views = post_views(settings.data_dir)
    with appview_server(AppView(views)) as appview:
        collection = tmp_path / "collection.yaml"
        collection.write_text(
            "sources:\n  bluesky:\n    every: 15m\n    targets:\n      - collections: [app.bsky.feed.post]\n"
            f"      - feed: {FEED}\n        endpoint: {appview.url}\n"
            f"      - search: 'lang:en'\n        endpoint: {appview.url}\n"
        )
        monkeypatch.setenv("FLOCKWATCH_COLLECTION_FILE", str(collection))
        state = dag_test(airflow_home, settings, "collect.py", "collect_bluesky_dag", {})
    assert state == "success", state
    pulled: list[dict[str, Any]] = task_results(airflow_home, "collect_bluesky")["pull"]  # type: ignore[assignment]
    assert sorted(r["target"] for r in pulled) == sorted([f"feed/{FEED}", "search/latest/lang:en"])
    raw = [RawRecord.model_validate_json(v) for v in read_topic(settings, Topic.raw, 10_000)]
    assert {r.format for r in raw} == {"bluesky_appview"} and {r.position for r in raw} == {v["uri"] for v in views}

    run_until_caught_up("normalize", settings)
    run_until_caught_up("index", settings)
    store = open_store(settings)
    store.engine.refresh()
    assert store.engine.count(IndexKind.posts) == len(views)  # a post in the feed and the search is one post
    doc = store.posts.get(f"bluesky:{views[0]['uri']}")
    assert doc is not None and doc["author"]["handle"] == views[0]["author"]["handle"]
    producer = make_producer(settings)
    try:
        saved = json.loads(KafkaCursors(settings, producer).load("bluesky:search/latest/lang:en") or "{}")
    finally:
        producer.close()
    assert saved["since"] and saved["until"] is None  # the next run asks only for what is newer
