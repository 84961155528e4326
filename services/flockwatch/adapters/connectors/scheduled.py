"""The collection passes the CLI (`collect run`, `collect trending`) and the collection DAGs share, against Kafka.

Records go to the raw topic and cursors (and the trending pass's additions) to the compacted cursor topic,
so a DAG run, a CLI run and a restarted worker all continue from the same place.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from flockwatch.adapters.connectors.base import CollectReport
from flockwatch.adapters.connectors.cursors import KafkaCursors
from flockwatch.adapters.connectors.sink import KafkaSink
from flockwatch.adapters.connectors.targets import pull_all, pull_specs
from flockwatch.adapters.connectors.trending_pass import WINDOW, TrendingReport, trending_pass
from flockwatch.adapters.kafka_bus import ensure_topics, make_producer, when_kafka_ready
from flockwatch.collect.collection_file import CollectionFile
from flockwatch.config import Settings
from flockwatch.readiness import SETTINGS_BOUND


@contextmanager
def kafka_outputs(
    settings: Settings, wait_s: float | None = SETTINGS_BOUND
) -> Iterator[tuple[KafkaSink, KafkaCursors]]:
    """The raw topic and the cursor topic, over one producer (closed, every record flushed, when the block ends);
    ``wait_s``: how long to wait for a broker that is not up yet (``None``: without bound, for workers)."""
    ensure_topics(settings, wait_s=wait_s)
    producer = when_kafka_ready(settings, lambda: make_producer(settings))
    try:
        yield KafkaSink(settings, producer), KafkaCursors(settings, producer)
    finally:
        producer.close(timeout=30)


def recent_snapshots(settings: Settings, now: datetime) -> list[dict[str, Any]]:
    """The engagement snapshots the trending pass measures: the two windows before ``now``."""
    from flockwatch.store import prepare_store
    from flockwatch.store.engagement import EngagementRepository

    return list(EngagementRepository(prepare_store(settings).engine).since(now - 2 * WINDOW))


def pull_into_kafka(settings: Settings, collection: CollectionFile, sources: tuple[str, ...]) -> list[CollectReport]:
    """One pull of every target of ``sources`` (and their trending additions) into the raw topic."""
    with kafka_outputs(settings) as (sink, cursors):
        return pull_all(settings, pull_specs(collection, cursors, sources), sink, cursors)


def trending_with_kafka_cursors(
    settings: Settings, collection: CollectionFile, now: datetime | None = None
) -> list[TrendingReport]:
    """The trending pass over the store's recent engagement snapshots; additions kept in the cursor topic."""
    now = now or datetime.now(UTC)
    docs = recent_snapshots(settings, now)
    with kafka_outputs(settings) as (_, cursors):
        return trending_pass(settings, collection, cursors, docs, now)
