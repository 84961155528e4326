"""Consumer-lag age: warn before Kafka's retention drops records a group has not read.

Pure core: no Kafka imports. An adapter supplies, per partition, the timestamp of the
oldest unread record (the one at the group's committed offset) and the topic's
retention.ms; this module decides whether that record is close to being deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class LagState(Enum):
    OK = "ok"
    WARN = "warn"  # oldest unread record has used up `warn_fraction` of retention
    CRITICAL = "critical"  # past retention: records may already be gone unread


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    oldest_unread_ts_ms: int | None  # None: nothing unread on this partition


@dataclass(frozen=True)
class LagVerdict:
    topic: str
    partition: int
    age_ms: int
    retention_ms: int
    state: LagState


def lag_verdict(lag: PartitionLag, retention_ms: int, now_ms: int, warn_fraction: float = 0.5) -> LagVerdict:
    """Age of the oldest unread record against the topic's retention.ms.

    retention_ms < 0 means infinite retention in Kafka: never alert on it.
    """
    if not 0.0 < warn_fraction < 1.0:
        raise ValueError(f"warn_fraction must be in (0, 1), got {warn_fraction}")
    if lag.oldest_unread_ts_ms is None:
        return LagVerdict(lag.topic, lag.partition, 0, retention_ms, LagState.OK)
    # A clock skewed behind the broker gives a negative age; treat it as fresh.
    age = max(0, now_ms - lag.oldest_unread_ts_ms)
    if retention_ms < 0:
        state = LagState.OK
    elif age >= retention_ms:
        state = LagState.CRITICAL
    elif age >= warn_fraction * retention_ms:
        state = LagState.WARN
    else:
        state = LagState.OK
    return LagVerdict(lag.topic, lag.partition, age, retention_ms, state)


def worst(verdicts: list[LagVerdict]) -> LagState:
    order = [LagState.OK, LagState.WARN, LagState.CRITICAL]
    return max((v.state for v in verdicts), key=order.index, default=LagState.OK)
