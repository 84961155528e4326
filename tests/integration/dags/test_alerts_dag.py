"""The `alerts` DAG with dag.test() over real stored IRA posts, and the sweep it runs."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flockwatch.alerts.rules import default_config
from flockwatch.config import Settings
from flockwatch.replay import normalize_record, read_dataset
from flockwatch.stages.alert_sweep import sweep
from flockwatch.stages.index import to_upsert
from flockwatch.store import open_store
from flockwatch.store.documents import IndexKind
from flockwatch.topics import Topic
from tests.dag_runner import dag_test
from tests.integration.adapters.test_kafka_lag_age import _commit, _now_ms, _produce, _set_retention

pytestmark = [pytest.mark.integration, pytest.mark.store, pytest.mark.store_long]


def test_alerts_dag_sweeps_a_window_of_stored_posts(settings: Settings, airflow_home: Path) -> None:
    store = open_store(settings)
    raws = itertools.islice(read_dataset("ira_2016", None, settings.data_dir), 12_000)
    posts = [p for p in (normalize_record(r) for r in raws) if p is not None]
    store.engine.bulk_upsert([to_upsert(p) for p in posts])
    store.engine.refresh(IndexKind.posts)
    end = datetime(2016, 10, 6, tzinfo=UTC)
    window, lookback = timedelta(hours=24), timedelta(hours=96)
    conf = {"end": end.isoformat(), "window": "24h", "lookback": "96h"}
    # The DAG's lag_age task: a normalize group whose oldest unread record used 3/4 of the raw topic's retention.
    _set_retention(settings, Topic.raw, 400_000)
    _produce(settings, Topic.raw, 2, _now_ms() - 300_000)
    _commit(settings, "normalize", Topic.raw, 0)
    # The DAG runs the built-in rules, whatever a developer's shell points at.
    state = dag_test(airflow_home, settings, "alerts.py", "alerts_dag", conf, unset=("FLOCKWATCH_ALERTS_CONFIG",))
    assert state.endswith("success"), state

    store.engine.refresh(IndexKind.alerts)
    alerts = {a["entity"]: a for a in store.alerts.find(size=500)}
    lag = alerts.pop(f"consumer_group:{settings.topic_prefix}.normalize", None)
    assert lag is not None and lag["rule"] == "consumer_lag_age" and lag["severity"] == "high", lag
    assert lag["metrics"]["lag"] == 2 and lag["metrics"]["retention_ms"] == 400_000
    assert alerts, "the sweep raised no alert"
    game = alerts.get("hashtag:#ruinadinnerinonephrase")
    assert game is not None, sorted(alerts)
    assert game["rule"] == "entity-burst" and game["first_seen"].startswith("2016-10-05")
    assert game["post_count"] >= 500 and game["metrics"]["burst_weight"] > 100
    assert game["metrics"]["observed_rate_per_h"] > 5 * game["metrics"]["baseline_rate_per_h"]
    keys = game["post_keys"]
    assert keys and store.engine.count(IndexKind.posts, {"ids": {"values": keys}}) == len(keys)
    # Every alert's burst touches the swept day [end - window, end) and lies inside the scanned span
    # [end - window - lookback, end); the stored posts reach 14:24 on the 6th, so nothing after `end` may show.
    start, span_start = end - window, end - window - lookback
    for a in alerts.values():
        m = a["metrics"]
        assert span_start.timestamp() <= m["burst_start_ts"] < m["burst_end_ts"], a
        assert start.timestamp() < m["burst_end_ts"] <= end.timestamp(), a
        assert span_start <= datetime.fromisoformat(a["first_seen"]) < end, a
        assert datetime.fromisoformat(a["last_seen"]) <= end, a
        # The evidence posts are stored and were posted inside the scanned span.
        keys = a["post_keys"]
        evidence = store.engine.search(IndexKind.posts, {"ids": {"values": keys}}, size=len(keys))
        assert keys and len(evidence) == len(set(keys)), a
        for doc in evidence:
            assert span_start <= datetime.fromisoformat(doc["created_at"]) < end, (a["entity"], doc["key"])

    # the same sweep again (the next DAG run over an overlapping window) raises nothing new
    again = sweep(store, default_config(), end=end, window=window, lookback=lookback)
    assert again.alerts_new == 0 and again.posts >= 7_000
    store.engine.refresh(IndexKind.alerts)
    assert len(store.alerts.find(size=500)) == len(alerts) + 1  # the bursts' and the lag alert
