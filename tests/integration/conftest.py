"""Integration fixtures: real Kafka and OpenSearch on loopback, one namespace per test.

Each test gets its own topic and index prefix, so counts are exact no matter what
else ran against the same servers. Services that are not running are started here
(the same code as `flockwatch up`), never skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flockwatch.adapters import local_services
from flockwatch.adapters.scratch import scratch_namespace
from flockwatch.config import Settings
from tests.dag_runner import migrate

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session", autouse=True)
def services_up() -> None:
    settings = Settings()
    report = local_services.up(settings, list(local_services.default_services(settings)))
    assert all(s["healthy"] for s in report.values()), report


@pytest.fixture
def settings() -> Iterator[Settings]:
    with scratch_namespace("it") as s:
        yield s


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One Airflow metadata database for every DAG test of the session."""
    home = tmp_path_factory.mktemp("airflow")
    migrate(home)
    return home
