"""The fence of single-writer stages: a second worker of such a stage refuses to run.

Three stages keep state that every input partition feeds, so they must see the whole input: the text stage's
narrative index (a copy on one partition finds its original on another), the graph stage's co-action windows
(co-posting accounts' posts land on any partition) and the alerts stage's burst detector (an entity's share of
*all* posts per bin). A second worker in their consumer group would get part of the partitions and quietly compute
other narratives, miss co-actions and misjudge bursts. So a worker of such a stage (long-running or a DAG's catch-up
run) checks two things, and stops with :class:`SecondWriter` otherwise:

1. **before joining**: its group has no live member but, at most, its own static instance id (a restarted static
   member takes its place back). A member that died without leaving is waited for, up to the session timeout after
   which the broker drops it, so a restart after a crash is not refused;
2. **after each rebalance**: it was assigned every partition of its inputs. Two workers started at the same moment
   both pass the first check; the rebalance then splits the partitions and both stop rather than write half-answers.

Scaling those stages is done by making them faster (the text stage embeds on a thread per core), not by
adding workers; docs/scaling.md says why and what would partition them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kafka import KafkaAdminClient, TopicPartition

from flockwatch.adapters.client_security import kafka_client_args
from flockwatch.config import Settings


class SecondWriter(RuntimeError):
    """A single-writer stage found another live worker of its group."""


def foreign_members(members: Iterable[Mapping[str, Any]], instance_id: str | None) -> list[str]:
    """The members of a group description that are not this worker's own static instance, as
    ``client_id@host`` (the broker's view, to tell the operator where the other worker runs)."""
    others = []
    for member in members:
        if instance_id and member.get("group_instance_id") == instance_id:
            continue
        others.append(f"{member.get('client_id', '?')}@{str(member.get('client_host', '?')).lstrip('/')}")
    return sorted(others)


def refusal(stage: str, group: str, others: Sequence[str]) -> str:
    return (
        f"{stage}: this stage is single-writer and group {group} already has a live worker ({', '.join(others)}). "
        "Its narrative, co-action or burst state needs every input partition, so a second worker would compute "
        "wrong results: run one (stop the other first, or give it the same FLOCKWATCH_KAFKA_GROUP_INSTANCE_ID to "
        "replace it)."
    )


def missing_partitions(assigned: Iterable[TopicPartition], expected: Iterable[TopicPartition]) -> list[str]:
    """``topic:partition`` of the expected partitions not in the assignment."""
    have = set(assigned)
    return sorted(f"{tp.topic}:{tp.partition}" for tp in expected if tp not in have)


def claim(settings: Settings, stage: str, group: str, instance_id: str | None) -> None:
    """Return once ``group`` has no live member but this worker's own static instance; raise
    :class:`SecondWriter` if one is still there after the session timeout (a dead member is gone by then)."""
    admin = KafkaAdminClient(**kafka_client_args(settings))
    try:
        deadline = time.monotonic() + max(6.0, settings.kafka_session_timeout_s) + 2.0
        while True:
            described = admin.describe_groups([group]).get(group, {})
            others = foreign_members(described.get("members") or (), instance_id)
            if not others:
                return
            if time.monotonic() > deadline:
                raise SecondWriter(refusal(stage, group, others))
            time.sleep(1.0)
    finally:
        admin.close()


def missing_inputs(consumer: Any, topics: Sequence[str]) -> list[str]:
    """The partitions of ``topics`` the consumer's current assignment lacks (see module doc, 2)."""
    expected = [TopicPartition(topic, p) for topic in topics for p in (consumer.partitions_for_topic(topic) or ())]
    return missing_partitions(consumer.assignment(), expected)
