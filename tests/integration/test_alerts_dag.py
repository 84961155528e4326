"""The `alerts` DAG with dag.test() over real stored IRA posts, and the sweep it runs."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flockwatch.alerts.rules import default_config
from flockwatch.alerts.sweep import sweep
from flockwatch.config import REPO_ROOT, Settings
from flockwatch.pipeline.index import to_upsert
from flockwatch.replay import normalize_record, read_dataset
from flockwatch.store import IndexKind, OpenSearchStore

pytestmark = pytest.mark.integration

RUNNER = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("dagmod", sys.argv[1])
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
run = mod.alerts_dag.test(run_conf=json.loads(sys.argv[2]))
print("DAGRUN_STATE=" + str(run.state))
"""


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("airflow")
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True)
    return home


def test_alerts_dag_sweeps_a_window_of_stored_posts(settings: Settings, airflow_home: Path) -> None:
    store = OpenSearchStore(settings)
    raws = itertools.islice(read_dataset("ira_2016", None, settings.data_dir), 12_000)
    posts = [p for p in (normalize_record(r) for r in raws) if p is not None]
    store.bulk_upsert([to_upsert(p) for p in posts])
    store.refresh(IndexKind.posts)
    conf = {"end": "2016-10-06T00:00:00+00:00", "window": "24h", "lookback": "96h"}
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "FLOCKWATCH_TOPIC_PREFIX": settings.topic_prefix,
        "FLOCKWATCH_INDEX_PREFIX": settings.index_prefix,
    }
    env.pop("FLOCKWATCH_ALERTS_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, str(REPO_ROOT / "dags" / "alerts.py"), json.dumps(conf)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "DAGRUN_STATE=success" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]

    store.refresh(IndexKind.alerts)
    alerts = {a["entity"]: a for a in store.list_alerts(size=500)}
    game = alerts.get("hashtag:#ruinadinnerinonephrase")
    assert game is not None, sorted(alerts)
    assert game["rule"] == "entity-burst" and game["first_seen"].startswith("2016-10-05")
    assert game["post_count"] >= 500 and game["metrics"]["burst_weight"] > 100
    assert game["metrics"]["observed_rate_per_h"] > 5 * game["metrics"]["baseline_rate_per_h"]
    keys = game["post_keys"]
    assert keys and store.count(IndexKind.posts, {"ids": {"values": keys}}) == len(keys)
    # every alert's window touches the swept day; nothing from outside it
    for a in alerts.values():
        assert a["metrics"]["burst_end_ts"] > datetime(2016, 10, 5, tzinfo=UTC).timestamp()

    # the same sweep again (the next DAG run over an overlapping window) raises nothing new
    end = datetime(2016, 10, 6, tzinfo=UTC)
    again = sweep(store, default_config(), end=end, window=timedelta(hours=24), lookback=timedelta(hours=96))
    assert again.alerts_new == 0 and again.posts >= 7_000
    store.refresh(IndexKind.alerts)
    assert len(store.list_alerts(size=500)) == len(alerts)
