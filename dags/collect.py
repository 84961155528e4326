"""One DAG per pull source of the collection file (``FLOCKWATCH_COLLECTION_FILE``): ``collect_reddit``,
``collect_mastodon``, ``collect_rss``, ``collect_video``, ``collect_bluesky`` (its feeds and searches), each on
the schedule its ``every`` sets.

Each run follows what is trending (reddit, mastodon), then pulls every target once into the raw topic; cursors
and trending additions live in Kafka's compacted cursor topic, so runs continue from one another and
``max_active_runs=1`` keeps one writer per cursor. Logic lives in flockwatch.adapters.connectors.scheduled.
An invalid collection file is an import error of this file, listing each problem with its line; with no
collection file configured there are no collection DAGs. Streams (bluesky) run as workers, not here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task

from flockwatch.collect.collection_file import PULL_SOURCES, CollectionFile, plan, read_collection
from flockwatch.config import get_settings

START = datetime(2026, 1, 1)
TRENDING_SOURCES = ("reddit", "mastodon", "bluesky")


def current_collection() -> CollectionFile:
    """The collection file as it is now (a run reads it again: edits apply without a restart)."""
    path = get_settings().collection_file
    if path is None:
        raise RuntimeError("FLOCKWATCH_COLLECTION_FILE is not set any more; nothing to collect")
    return read_collection(path)


def build_collect_dag(collection: CollectionFile, source: str) -> DAG:
    block = getattr(collection.sources, source)
    with DAG(
        dag_id=f"collect_{source}",
        schedule=block.every,
        start_date=START,
        catchup=False,
        max_active_runs=1,
        tags=["flockwatch", "collect"],
    ) as dag:

        @task
        def follow_trending() -> list[dict[str, Any]]:
            from flockwatch.adapters.connectors.scheduled import trending_with_kafka_cursors

            reports = trending_with_kafka_cursors(get_settings(), current_collection())
            return [r.__dict__ for r in reports if r.source == source]

        @task
        def pull() -> list[dict[str, Any]]:
            from flockwatch.adapters.connectors.scheduled import pull_into_kafka

            reports = pull_into_kafka(get_settings(), current_collection(), (source,))
            if reports and all(r.reasons and not r.records for r in reports):
                raise RuntimeError("every target failed: " + "; ".join(str(r.reasons) for r in reports))
            return [r.__dict__ for r in reports]

        if source in TRENDING_SOURCES and block.trending.max_added > 0:
            follow_trending() >> pull()
        else:
            pull()
    return dag


_settings = get_settings()
if _settings.collection_file is not None:
    _collection = read_collection(_settings.collection_file)
    for _source in PULL_SOURCES:
        if any(not spec.streaming for spec in plan(_collection, (_source,))):
            globals()[f"collect_{_source}_dag"] = build_collect_dag(_collection, _source)
