"""Kafka adapter of the consumer-lag age check (:mod:`flockwatch.lag_age` is the pure core).

For each stage's consumer group and its input topics: the committed offsets (admin), each partition's
log start and end (a group-less probe consumer), the timestamp of the record at the committed offset,
that is the oldest record the group has not read (fetched by seeking to it), and the topic's
``retention.ms`` (admin ``describe_configs``). ``lag_verdict`` then says whether that record is getting
close to the age at which Kafka may delete it unread.

- A partition the group has no commit on is read from its log start (the stages' ``auto_offset_reset``).
- A committed offset below the log start means records were already deleted unread: that partition is
  ``critical`` whatever its age, with ``lost`` counting them.
- A group that has never committed anything (a stage this deployment does not run) is listed with
  ``active: false`` and does not set the overall state.

``raise_lag_alerts`` turns a warn/critical group into an operational alert (rule ``consumer_lag_age``)
stored and delivered through the configured sinks, like the burst sweeps' alerts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType

from flockwatch.adapters.client_security import kafka_client_args
from flockwatch.config import Settings
from flockwatch.lag_age import LagState, PartitionLag, lag_verdict
from flockwatch.schema import Alert
from flockwatch.stages.alerts import AlertStore, AlertWrites
from flockwatch.topics import Topic, topic_name

if TYPE_CHECKING:
    from flockwatch.alerts.delivery import Sink
    from flockwatch.alerts.rules import RetryPolicy

RULE = "consumer_lag_age"


class LagAlerts(AlertWrites, Protocol):
    def get(self, alert_id: str) -> dict[str, Any] | None: ...


class LagAlertStore(AlertStore, Protocol):
    @property
    def alerts(self) -> LagAlerts: ...


@dataclass(frozen=True)
class PartitionAge:
    topic: str
    partition: int
    committed: int | None  # None: the group has no commit on this partition
    log_start: int
    end: int
    lag: int
    oldest_unread_ts_ms: int | None
    age_ms: int
    retention_ms: int
    lost: int  # records deleted before the group read them (committed offset below the log start)
    state: LagState

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "committed": self.committed,
            "log_start": self.log_start,
            "end": self.end,
            "lag": self.lag,
            "oldest_unread_ts_ms": self.oldest_unread_ts_ms,
            "age_ms": self.age_ms,
            "retention_ms": self.retention_ms,
            "lost": self.lost,
            "state": self.state.value,
        }


@dataclass(frozen=True)
class GroupAge:
    group: str
    stage: str
    active: bool  # has committed at least one offset on its inputs
    partitions: list[PartitionAge]

    @property
    def state(self) -> LagState:
        order = [LagState.OK, LagState.WARN, LagState.CRITICAL]
        return max((p.state for p in self.partitions), key=order.index, default=LagState.OK)

    @property
    def worst_partition(self) -> PartitionAge | None:
        lagging = [p for p in self.partitions if p.lag > 0]
        return max(lagging, key=lambda p: (p.lost > 0, p.age_ms / max(p.retention_ms, 1)), default=None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "stage": self.stage,
            "active": self.active,
            "state": self.state.value,
            "lag": sum(p.lag for p in self.partitions),
            "partitions": [p.as_dict() for p in self.partitions],
        }


@dataclass
class LagAgeReport:
    checked_at_ms: int
    warn_fraction: float
    groups: list[GroupAge] = field(default_factory=list)

    @property
    def state(self) -> LagState:
        order = [LagState.OK, LagState.WARN, LagState.CRITICAL]
        return max((g.state for g in self.groups if g.active), key=order.index, default=LagState.OK)

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "checked_at_ms": self.checked_at_ms,
            "warn_fraction": self.warn_fraction,
            "groups": [g.as_dict() for g in self.groups],
        }


def retention_ms(admin: KafkaAdminClient, topics: Sequence[str]) -> dict[str, int]:
    """``retention.ms`` of each existing topic (its effective value: the broker default when not set)."""
    resources = [ConfigResource(ConfigResourceType.TOPIC, t, configs={"retention.ms": None}) for t in topics]
    described = admin.describe_configs(resources, config_filter="all").get("topic", {})
    out = {}
    for t in topics:
        entry = (described.get(t) or {}).get("retention.ms")
        if entry and entry.get("value") is not None:
            out[t] = int(entry["value"])
    return out


def record_timestamps(
    probe: KafkaConsumer, wanted: Sequence[tuple[TopicPartition, int]], timeout_s: float
) -> dict[tuple[TopicPartition, int], int]:
    """Timestamp (ms) of the record at each (partition, offset); the next one when that offset is gone.

    One partition at a time, one record each: a few small fetches however large the backlog."""
    out: dict[tuple[TopicPartition, int], int] = {}
    for tp, offset in wanted:
        probe.assign([tp])
        probe.seek(tp, offset)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            records = probe.poll(timeout_ms=200, max_records=1).get(tp, [])
            if records:
                out[(tp, offset)] = int(records[0].timestamp)
                break
    return out


def check_lag_age(
    settings: Settings,
    stage_inputs: Mapping[str, Sequence[Topic]] | None = None,
    warn_fraction: float = 0.5,
    now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    timeout_s: float = 10.0,
) -> LagAgeReport:
    """Every stage group's oldest unread record against its topic's retention (``stage_inputs``: all stages)."""
    if stage_inputs is None:
        from flockwatch.workers import STAGE_INPUTS

        stage_inputs = STAGE_INPUTS
    from flockwatch.workers import group_id

    client = kafka_client_args(settings)
    probe = KafkaConsumer(**client, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest")
    admin = KafkaAdminClient(**client)
    try:
        topics = sorted({topic_name(settings.topic_prefix, s) for inputs in stage_inputs.values() for s in inputs})
        parts = {t: [TopicPartition(t, p) for p in sorted(probe.partitions_for_topic(t) or ())] for t in topics}
        every = [tp for tps in parts.values() for tp in tps]
        start = probe.beginning_offsets(every) if every else {}
        end = probe.end_offsets(every) if every else {}
        retention = retention_ms(admin, [t for t in topics if parts[t]])
        plans: list[tuple[str, str, list[tuple[TopicPartition, int | None, int]]]] = []
        wanted: dict[tuple[TopicPartition, int], None] = {}
        for stage, inputs in stage_inputs.items():
            group = group_id(settings, stage)
            tps = [tp for s in inputs for tp in parts.get(topic_name(settings.topic_prefix, s), [])]
            committed = admin.list_group_offsets({group: tps}).get(group, {}) if tps else {}
            rows = []
            for tp in tps:
                meta = committed.get(tp)
                done = meta.offset if meta is not None and meta.offset >= 0 else None
                position = max(done if done is not None else 0, start[tp])
                rows.append((tp, done, position))
                if position < end[tp]:
                    wanted[(tp, position)] = None
            plans.append((stage, group, rows))
        stamps = record_timestamps(probe, list(wanted), timeout_s)
        now = now_ms()
        report = LagAgeReport(now, warn_fraction)
        for stage, group, rows in plans:
            ages = []
            for tp, done, position in rows:
                lag = end[tp] - position
                ts = stamps.get((tp, position)) if lag > 0 else None
                keep = retention.get(tp.topic, -1)
                verdict = lag_verdict(PartitionLag(tp.topic, tp.partition, ts), keep, now, warn_fraction)
                lost = max(0, start[tp] - done) if done is not None else 0
                state = LagState.CRITICAL if lost else verdict.state
                ages.append(
                    PartitionAge(
                        tp.topic, tp.partition, done, start[tp], end[tp], lag, ts, verdict.age_ms, keep, lost, state
                    )
                )
            active = any(done is not None for _, done, _ in rows)
            report.groups.append(GroupAge(group, stage, active, ages))
        return report
    finally:
        probe.close()
        admin.close()


# --- alerts -----------------------------------------------------------------------------------------


def lag_alerts(report: LagAgeReport) -> list[Alert]:
    """One operational alert per active group in warn or critical.

    The id is the group, the state and the UTC day: a group stuck all day is one alert (updated on each
    check, notified once), and an escalation from warn to critical is a new one, notified again."""
    now = datetime.fromtimestamp(report.checked_at_ms / 1000, UTC)
    out = []
    for g in report.groups:
        p = g.worst_partition
        if not g.active or g.state is LagState.OK or p is None:
            continue
        severity = "critical" if g.state is LagState.CRITICAL else "high"
        if p.lost:
            summary = f"consumer group {g.group}: {p.lost} record(s) of {p.topic}[{p.partition}] deleted unread"
        else:
            summary = (
                f"consumer group {g.group}: oldest unread record on {p.topic}[{p.partition}] is "
                f"{p.age_ms / 3_600_000:.1f} h old, retention.ms allows {p.retention_ms / 3_600_000:.1f} h"
            )
        out.append(
            Alert(
                alert_id=f"{RULE}:{g.group}:{g.state.value}:{now:%Y-%m-%d}",
                rule=RULE,
                severity=severity,
                entity=f"consumer_group:{g.group}",
                created_at=now,
                updated_at=now,
                summary=summary,
                metrics={
                    "lag": float(sum(x.lag for x in g.partitions)),
                    "age_ms": float(p.age_ms),
                    "retention_ms": float(p.retention_ms),
                    "lost": float(sum(x.lost for x in g.partitions)),
                },
            )
        )
    return out


def raise_lag_alerts(
    store: LagAlertStore, report: LagAgeReport, sinks: Sequence[Sink], policy: RetryPolicy
) -> dict[str, int]:
    """Store the report's alerts (new ones with their outbox) and deliver the new ones through ``sinks``.

    Without sinks the alerts are still stored (``flockwatch alerts list`` shows them)."""
    from flockwatch.alerts import outbox
    from flockwatch.alerts.delivery import deliver, wants
    from flockwatch.stages.alerts import alert_doc, recorder

    alerts = lag_alerts(report)
    counts = {"alerts_new": 0, "alerts_updated": 0, "deliveries_failed": 0}
    if not alerts:
        return counts
    # A real-time read by id (a search would miss an alert written a moment ago, before the refresh).
    fresh = [a for a in alerts if store.alerts.get(a.alert_id) is None]
    targets = {a.alert_id: [s.name for s in sinks if wants(s, a)] for a in fresh}
    store.alerts.upsert([outbox.with_outbox(alert_doc(a), a.severity, targets.get(a.alert_id, [])) for a in alerts])
    counts["alerts_new"], counts["alerts_updated"] = len(fresh), len(alerts) - len(fresh)
    record = recorder(store)
    for alert in fresh:
        for d in deliver(alert, sinks, policy):
            counts["deliveries_failed"] += not d.ok
            record(alert, [d])
    return counts


def state_exit_code(state: LagState) -> int:
    return 0 if state is LagState.OK else 1
