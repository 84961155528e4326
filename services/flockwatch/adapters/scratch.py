"""A throwaway namespace (topics and indices under a fresh prefix) on running servers.

Tests and benchmarks each get their own, so counts are exact whatever else shares the broker and store,
and everything is deleted afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from kafka import KafkaAdminClient

from flockwatch.adapters.client_security import kafka_client_args
from flockwatch.adapters.kafka_bus import ensure_topics
from flockwatch.config import Settings
from flockwatch.store import prepare_store


@contextmanager
def scratch_namespace(kind: str, base: Settings | None = None) -> Iterator[Settings]:
    """Settings (``base``'s, else from the environment) whose topics and indices exist for the block only; ``kind``
    starts the prefix ("it", "bench")."""
    tag = f"{kind}{uuid.uuid4().hex[:10]}"
    settings = (base or Settings()).model_copy(update={"topic_prefix": tag, "index_prefix": tag})
    ensure_topics(settings)
    store = prepare_store(settings)
    try:
        yield settings
    finally:
        store.engine.drop_all()
        admin = KafkaAdminClient(**kafka_client_args(settings))
        try:
            admin.delete_topics([t for t in admin.list_topics() if t.startswith(f"{tag}.")])
        finally:
            admin.close()
