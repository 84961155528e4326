"""Both Airflow DAGs run with dag.test() against the real broker and store."""

from __future__ import annotations

from pathlib import Path

import pytest

from flockwatch.config import Settings
from flockwatch.store import IndexKind, OpenSearchStore
from tests.dag_runner import dag_test
from tests.expected import expected_posts

pytestmark = pytest.mark.integration

N = 2_000


def test_ingest_then_index_dags(settings: Settings, airflow_home: Path) -> None:
    state = dag_test(airflow_home, settings, "ingest_replay.py", "ingest_replay_dag", {"limit": N})
    assert state.endswith("success"), state
    state = dag_test(airflow_home, settings, "index_stream.py", "index_stream_dag", {})
    assert state.endswith("success"), state

    store = OpenSearchStore(settings)
    store.refresh()
    assert store.count(IndexKind.posts) == len(expected_posts("ira_2016", N))
