"""Consumer-lag age against the real broker: old unread records near (or past) a small retention.ms."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.structs import OffsetAndMetadata

from flockwatch.adapters.client_security import kafka_client_args
from flockwatch.adapters.kafka_lag_age import RULE, check_lag_age, raise_lag_alerts
from flockwatch.alerts.rules import RetryPolicy, SinkSpec
from flockwatch.config import Settings
from flockwatch.lag_age import LagState
from flockwatch.schema import Alert
from flockwatch.store import open_store
from flockwatch.topics import Topic, topic_name
from flockwatch.workers import group_id
from tests.local_http import recording_endpoint
from tests.namespace_env import namespace_env

pytestmark = pytest.mark.integration

# normalize reads raw, text reads normalized: two groups on two topics of the scratch namespace.
STAGES: dict[str, tuple[Topic, ...]] = {"normalize": (Topic.raw,), "text": (Topic.normalized,)}


def _set_retention(settings: Settings, stage: Topic, retention_ms: int) -> None:
    admin = KafkaAdminClient(**kafka_client_args(settings))
    try:
        name = topic_name(settings.topic_prefix, stage)
        admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name, configs={"retention.ms": str(retention_ms)})]
        )
    finally:
        admin.close()


def _produce(settings: Settings, stage: Topic, n: int, timestamp_ms: int) -> None:
    producer = KafkaProducer(**kafka_client_args(settings), acks="all")
    try:
        for i in range(n):
            producer.send(
                topic_name(settings.topic_prefix, stage), value=b"x%d" % i, partition=0, timestamp_ms=timestamp_ms
            )
        producer.flush()
    finally:
        producer.close()


def _commit(settings: Settings, stage_name: str, stage: Topic, offset: int) -> None:
    consumer = KafkaConsumer(
        **kafka_client_args(settings), group_id=group_id(settings, stage_name), enable_auto_commit=False
    )
    try:
        tp = TopicPartition(topic_name(settings.topic_prefix, stage), 0)
        consumer.assign([tp])
        consumer.commit({tp: OffsetAndMetadata(offset, "", -1)})
    finally:
        consumer.close()


def _now_ms() -> int:
    return int(time.time() * 1000)


def test_old_unread_records_warn_and_a_caught_up_group_is_ok(settings: Settings) -> None:
    retention = 120_000
    _set_retention(settings, Topic.raw, retention)
    _produce(settings, Topic.raw, 5, _now_ms() - 80_000)  # 2/3 of retention: past the 0.5 warn line, not deleted
    _commit(settings, "normalize", Topic.raw, 0)
    _produce(settings, Topic.normalized, 3, _now_ms())
    _commit(settings, "text", Topic.normalized, 3)  # read everything

    report = check_lag_age(settings, STAGES)
    groups = {g.stage: g for g in report.groups}
    assert report.state is LagState.WARN
    norm = groups["normalize"]
    assert norm.active and norm.state is LagState.WARN
    (p0,) = [p for p in norm.partitions if p.partition == 0]
    assert (p0.lag, p0.committed, p0.retention_ms, p0.lost) == (5, 0, retention, 0)
    assert 80_000 <= p0.age_ms < 110_000, p0.age_ms
    assert all(p.lag == 0 and p.state is LagState.OK for p in norm.partitions if p.partition != 0)
    text = groups["text"]
    assert text.active and text.state is LagState.OK and sum(p.lag for p in text.partitions) == 0

    # The same backlog under a later warn line is fine: the verdict comes from the measured age.
    assert check_lag_age(settings, STAGES, warn_fraction=0.95).state is LagState.OK

    # Reading on (committing the end) clears it.
    _commit(settings, "normalize", Topic.raw, 5)
    assert check_lag_age(settings, STAGES).state is LagState.OK


def test_records_past_retention_are_critical(settings: Settings) -> None:
    _set_retention(settings, Topic.raw, 60_000)
    _produce(settings, Topic.raw, 4, _now_ms() - 600_000)
    _commit(settings, "normalize", Topic.raw, 0)
    report = check_lag_age(settings, {"normalize": (Topic.raw,)})
    (group,) = report.groups
    (p0,) = [p for p in group.partitions if p.partition == 0]
    # Either still there (age past retention) or already deleted unread (committed offset below the log start).
    assert p0.state is LagState.CRITICAL
    assert p0.age_ms >= 60_000 or p0.lost == 4, p0
    assert report.state is LagState.CRITICAL


def test_group_that_never_committed_does_not_set_the_state(settings: Settings) -> None:
    _set_retention(settings, Topic.raw, 120_000)
    _produce(settings, Topic.raw, 2, _now_ms() - 100_000)
    report = check_lag_age(settings, {"normalize": (Topic.raw,)})
    (group,) = report.groups
    assert not group.active and group.state is LagState.WARN  # shown as it is...
    assert report.state is LagState.OK  # ...but a stage nobody runs is no alarm


class Recorder:
    def __init__(self) -> None:
        self.spec = SinkSpec(type="webhook", url="http://127.0.0.1:1/", secret_env="K", name="rec")
        self.sent: list[Alert] = []

    @property
    def name(self) -> str:
        return "rec"

    def send(self, alert: Alert, timeout_s: float) -> None:
        self.sent.append(alert)


def test_warn_raises_one_alert_through_the_sinks(settings: Settings) -> None:
    _set_retention(settings, Topic.raw, 120_000)
    _produce(settings, Topic.raw, 3, _now_ms() - 90_000)
    _commit(settings, "normalize", Topic.raw, 0)
    store = open_store(settings)
    sink = Recorder()
    report = check_lag_age(settings, STAGES)
    first = raise_lag_alerts(store, report, [sink], RetryPolicy(attempts=1))
    assert first == {"alerts_new": 1, "alerts_updated": 0, "deliveries_failed": 0}
    (alert,) = sink.sent
    assert alert.rule == RULE and alert.severity == "high"
    assert alert.entity == f"consumer_group:{group_id(settings, 'normalize')}"
    stored = store.alerts.get(alert.alert_id)
    assert stored is not None and stored["metrics"]["lag"] == 3 and not stored.get("outbox")
    # The next check the same day updates the stored alert and notifies nobody again.
    again = raise_lag_alerts(store, check_lag_age(settings, STAGES), [sink], RetryPolicy(attempts=1))
    assert again == {"alerts_new": 0, "alerts_updated": 1, "deliveries_failed": 0}
    assert len(sink.sent) == 1


def test_lag_command_json_and_exit_code(settings: Settings) -> None:
    _set_retention(settings, Topic.raw, 120_000)
    _produce(settings, Topic.raw, 2, _now_ms() - 75_000)
    _commit(settings, "normalize", Topic.raw, 0)
    env = namespace_env(settings)
    cmd = [sys.executable, "-m", "flockwatch.cli.app", "lag", "--json", "--stage", "normalize", "--stage", "text"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    out = json.loads(done.stdout)
    assert out["state"] == "warn"
    groups = {g["stage"]: g for g in out["groups"]}
    assert set(groups) == {"normalize", "text"}
    (p0,) = [p for p in groups["normalize"]["partitions"] if p["partition"] == 0]
    assert p0["lag"] == 2 and p0["retention_ms"] == 120_000 and p0["state"] == "warn"
    assert 75_000 <= p0["age_ms"] < 110_000
    assert groups["text"]["active"] is False and groups["text"]["state"] == "ok"

    _commit(settings, "normalize", Topic.raw, 2)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["state"] == "ok"


def test_lag_command_alert_flag_stores_and_sends_one_alert(settings: Settings, tmp_path: Path) -> None:
    _set_retention(settings, Topic.raw, 120_000)
    _produce(settings, Topic.raw, 2, _now_ms() - 75_000)
    _commit(settings, "normalize", Topic.raw, 0)
    with recording_endpoint([200]) as (url, rec):
        config = tmp_path / "alerts.yaml"
        config.write_text(f'sinks:\n  - {{type: slack, name: ops, url: "{url}"}}\n', encoding="utf-8")
        env = namespace_env(settings, {"FLOCKWATCH_ALERTS_CONFIG": str(config)})
        cmd = [sys.executable, "-m", "flockwatch.cli.app", "lag", "--json", "--alert", "--stage", "normalize"]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 1, done.stderr
        assert json.loads(done.stdout)["alerts"] == {"alerts_new": 1, "alerts_updated": 0, "deliveries_failed": 0}
        (body,) = rec.bodies
        assert group_id(settings, "normalize") in json.loads(body)["text"]
    store = open_store(settings)
    store.engine.refresh()
    stored = store.alerts.find(rule=RULE)
    assert [a["entity"] for a in stored] == [f"consumer_group:{group_id(settings, 'normalize')}"]
