"""Integration fixtures: real Kafka and OpenSearch on loopback, one namespace per test.

Each test gets its own topic and index prefix, so counts are exact no matter what
else ran against the same servers. Services that are not running are started here
(the same code as `flockwatch up`), never skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from flockwatch import local_services
from flockwatch.config import Settings
from flockwatch.kafka_bus import ensure_topics
from flockwatch.store import OpenSearchStore
from tests.dag_runner import migrate

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session", autouse=True)
def services_up() -> None:
    report = local_services.up(Settings(), list(local_services.SERVICES))
    assert all(s["healthy"] for s in report.values()), report


@pytest.fixture
def settings() -> Iterator[Settings]:
    tag = f"it{uuid.uuid4().hex[:10]}"
    s = Settings(topic_prefix=tag, index_prefix=tag)
    ensure_topics(s)
    store = OpenSearchStore(s)
    store.ensure_schema()
    yield s
    store.drop_all()
    admin = KafkaAdminClient(bootstrap_servers=s.kafka_bootstrap)
    try:
        admin.delete_topics([t for t in admin.list_topics() if t.startswith(f"{tag}.")])
    finally:
        admin.close()


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One Airflow metadata database for every DAG test of the session."""
    home = tmp_path_factory.mktemp("airflow")
    migrate(home)
    return home
