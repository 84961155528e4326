"""The `alerts` DAG with dag.test() over real stored IRA posts, and the sweep it runs."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flockwatch.alerts.rules import default_config
from flockwatch.alerts.sweep import sweep
from flockwatch.config import Settings
from flockwatch.pipeline.index import to_upsert
from flockwatch.replay import normalize_record, read_dataset
from flockwatch.store import IndexKind, OpenSearchStore
from tests.dag_runner import dag_test

pytestmark = pytest.mark.integration


def test_alerts_dag_sweeps_a_window_of_stored_posts(settings: Settings, airflow_home: Path) -> None:
    store = OpenSearchStore(settings)
    raws = itertools.islice(read_dataset("ira_2016", None, settings.data_dir), 12_000)
    posts = [p for p in (normalize_record(r) for r in raws) if p is not None]
    store.bulk_upsert([to_upsert(p) for p in posts])
    store.refresh(IndexKind.posts)
    conf = {"end": "2016-10-06T00:00:00+00:00", "window": "24h", "lookback": "96h"}
    # The DAG runs the built-in rules, whatever a developer's shell points at.
    state = dag_test(airflow_home, settings, "alerts.py", "alerts_dag", conf, unset=("FLOCKWATCH_ALERTS_CONFIG",))
    assert state.endswith("success"), state

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
