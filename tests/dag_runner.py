"""Run an Airflow DAG with dag.test() in a fresh interpreter, against a namespaced Flockwatch deployment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from flockwatch.config import REPO_ROOT, Settings

# A fresh interpreter: Airflow reads AIRFLOW_HOME and its config at import time.
RUNNER = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("dagmod", sys.argv[1])
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
dag = getattr(mod, sys.argv[2])
run = dag.test(run_conf=json.loads(sys.argv[3]))
print("DAGRUN_STATE=" + str(run.state))
"""


def airflow_env(airflow_home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
    }


def migrate(airflow_home: Path) -> None:
    """Create Airflow's metadata database (SQLite) under ``airflow_home``."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=airflow_env(airflow_home),
        check=True,
        capture_output=True,
    )


def dag_test(
    airflow_home: Path,
    settings: Settings,
    module: str,
    attr: str,
    conf: Mapping[str, object],
    unset: tuple[str, ...] = (),
) -> str:
    """Run ``dags/<module>``'s ``attr`` DAG once; return its final state (e.g. ``DagRunState.SUCCESS``).

    ``unset``: environment variables the DAG must not see.
    """
    full_env = airflow_env(airflow_home) | {
        "FLOCKWATCH_TOPIC_PREFIX": settings.topic_prefix,
        "FLOCKWATCH_INDEX_PREFIX": settings.index_prefix,
    }
    for name in unset:
        full_env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, str(REPO_ROOT / "dags" / module), attr, json.dumps(conf)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    states = [line for line in done.stdout.splitlines() if line.startswith("DAGRUN_STATE=")]
    assert states, done.stdout[-2000:] + done.stderr[-2000:]
    return states[-1].split("=", 1)[1]
