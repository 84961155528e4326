"""Both Airflow DAGs run with dag.test() against the real broker and store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flockwatch.config import REPO_ROOT, Settings
from flockwatch.store import IndexKind, OpenSearchStore
from tests.expected import expected_posts

pytestmark = pytest.mark.integration

N = 2_000

# Runs in a fresh interpreter: Airflow reads AIRFLOW_HOME and its config at import time.
RUNNER = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("dagmod", sys.argv[1])
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
dag = getattr(mod, sys.argv[2])
run = dag.test(run_conf=json.loads(sys.argv[3]))
print("DAGRUN_STATE=" + str(run.state))
"""


def dag_test(airflow_home: Path, settings: Settings, module: str, attr: str, conf: dict[str, object]) -> str:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "FLOCKWATCH_TOPIC_PREFIX": settings.topic_prefix,
        "FLOCKWATCH_INDEX_PREFIX": settings.index_prefix,
    }
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, str(REPO_ROOT / "dags" / module), attr, json.dumps(conf)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    states = [line for line in done.stdout.splitlines() if line.startswith("DAGRUN_STATE=")]
    assert states, done.stdout[-2000:] + done.stderr[-2000:]
    return states[-1].split("=", 1)[1]


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("airflow")
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True)
    return home


def test_ingest_then_index_dags(settings: Settings, airflow_home: Path) -> None:
    state = dag_test(airflow_home, settings, "ingest_replay.py", "ingest_replay_dag", {"limit": N})
    assert state.endswith("success"), state
    state = dag_test(airflow_home, settings, "index_stream.py", "index_stream_dag", {})
    assert state.endswith("success"), state

    store = OpenSearchStore(settings)
    store.refresh()
    assert store.count(IndexKind.posts) == len(expected_posts("ira_2016", N))
