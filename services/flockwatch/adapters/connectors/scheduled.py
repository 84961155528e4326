"""The collection passes the CLI (`collect run`, `collect trending`) and the collection DAGs share, against Kafka.

Records go to the raw topic and cursors (and the trending pass's additions) to the compacted cursor topic,
so a DAG run, a CLI run and a restarted worker all continue from the same place.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flockwatch.adapters.connectors.base import CollectReport
from flockwatch.adapters.connectors.cursors import KafkaCursors
from flockwatch.adapters.connectors.sink import KafkaSink
from flockwatch.adapters.connectors.targets import pull_all, pull_specs
from flockwatch.adapters.connectors.trending_pass import WINDOW, TrendingReport, trending_pass
from flockwatch.adapters.kafka_bus import ensure_topics, make_producer, when_kafka_ready
from flockwatch.collect.collection_file import CollectionFile
from flockwatch.config import Settings


def pull_into_kafka(settings: Settings, collection: CollectionFile, sources: tuple[str, ...]) -> list[CollectReport]:
    """One pull of every target of ``sources`` (and their trending additions) into the raw topic."""
    ensure_topics(settings)
    producer = when_kafka_ready(settings, lambda: make_producer(settings))
    try:
        cursors = KafkaCursors(settings, producer)
        specs = pull_specs(collection, cursors, sources)
        return pull_all(settings, specs, KafkaSink(settings, producer), cursors)
    finally:
        producer.close(timeout=30)


def trending_with_kafka_cursors(
    settings: Settings, collection: CollectionFile, now: datetime | None = None
) -> list[TrendingReport]:
    """The trending pass over the store's recent engagement snapshots; additions kept in the cursor topic."""
    from flockwatch.store import prepare_store
    from flockwatch.store.engagement import EngagementRepository

    now = now or datetime.now(UTC)
    store = prepare_store(settings)
    docs = list(EngagementRepository(store.engine).since(now - 2 * WINDOW))
    producer = when_kafka_ready(settings, lambda: make_producer(settings))
    try:
        return trending_pass(settings, collection, KafkaCursors(settings, producer), docs, now)
    finally:
        producer.close(timeout=30)
