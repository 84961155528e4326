"""``flockwatch dead-letters --redrive``: put dead letters' originals back on their source topics.

The letters are read from where the last redrive of the same selection stopped (the committed offsets of group
``<prefix>.redrive.<stage>``, or ``<prefix>.redrive-all``) up to the topic's end as it was when the run started: a
letter that fails again while the run goes on is a new letter, left for the next run, so a run always ends. The
group's offsets are committed only after every redriven original is acknowledged: a crash in between redrives some
letters twice (at-least-once; every stage writes idempotently). The partitions are assigned, not joined: there is
no group membership to wait for or to lose.

An original goes back to its source partition, with the dead letter's key (its original key, or the sha256 of one
over 1 KiB), and is read again by every stage that reads
that topic (a redriven normalised post is indexed, scored and graphed again, all idempotently); a normalised post
loses the raw-partition header it carried, so the graph stage tracks its event time as a source of its own.
"""

from __future__ import annotations

from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata
from pydantic import ValidationError

from flockwatch.adapters.client_security import kafka_client_args
from flockwatch.adapters.kafka_bus import MAX_MESSAGE_BYTES, make_producer, when_kafka_ready
from flockwatch.config import Settings
from flockwatch.redrive import redrive_plan
from flockwatch.schema import DeadLetter
from flockwatch.topics import Topic, topic_name

# Polls in a row that return nothing before the run ends short of the snapshot (a broker that stopped answering).
IDLE_POLLS = 10
COMMITTED_TIMEOUT_MS = 30_000


def redrive_group(settings: Settings, stage: str | None) -> str:
    # No stage is called "redrive-all": the unfiltered group cannot be a stage's.
    return f"{settings.topic_prefix}.redrive.{stage}" if stage else f"{settings.topic_prefix}.redrive-all"


def redrive_dead_letters(
    settings: Settings, stage: str | None, limit: int, dry_run: bool = False
) -> tuple[list[dict[str, Any]], bool]:
    """One line per dead letter considered (of ``stage``'s, or all): redriven (or, with ``dry_run``, what would be),
    or skipped with why; at most ``limit``. The group's offsets are committed after the acknowledgements. The flag
    says whether the run reached its snapshot of the topic's end (or the limit); False if the broker stopped
    answering first."""
    topic = topic_name(settings.topic_prefix, Topic.dead_letter)
    consumer = when_kafka_ready(
        settings,
        lambda: KafkaConsumer(
            **kafka_client_args(settings),
            group_id=redrive_group(settings, stage),
            auto_offset_reset="earliest",  # a committed offset that retention deleted: from the oldest kept
            enable_auto_commit=False,
            max_partition_fetch_bytes=MAX_MESSAGE_BYTES + 1024 * 1024,
        ),
    )
    producer = None if dry_run else when_kafka_ready(settings, lambda: make_producer(settings))
    lines: list[dict[str, Any]] = []
    sent: list[Any] = []
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        end: dict[TopicPartition, int] = consumer.end_offsets(partitions)
        for tp in partitions:
            committed = consumer.committed(tp, timeout_ms=COMMITTED_TIMEOUT_MS)
            if committed is None:
                consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)
        done: dict[TopicPartition, int] = {}  # next offset per partition, once past a record
        pending = set(partitions)
        idle = 0
        while len(lines) < limit and idle < IDLE_POLLS:
            # A partition is finished once read to the snapshot (or empty: a retention-deleted one too); its
            # records since the start are the next run's, so it is not fetched any more.
            finished = {tp for tp in pending if _position(consumer, tp) >= end[tp]}
            if finished:
                consumer.pause(*finished)
                pending -= finished
            if not pending:
                break
            polled = consumer.poll(timeout_ms=1000)
            idle = 0 if polled else idle + 1
            for tp, records in polled.items():
                for record in records:
                    if record.offset >= end[tp] or len(lines) >= limit:
                        break
                    done[tp] = record.offset + 1
                    line = _redrive_one(settings, stage, record, producer, sent)
                    if line is not None:
                        lines.append(line)
        complete = len(lines) >= limit or not pending
        if producer is not None:
            producer.flush()
            for future in sent:
                future.get(timeout=0)  # raises the delivery error, if any: then nothing is committed
            if done:
                consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in done.items()})
    finally:
        consumer.close(autocommit=False)
        if producer is not None:
            producer.close(timeout=10)
    return lines, complete


def _position(consumer: KafkaConsumer, tp: TopicPartition) -> int:
    """Where the next fetch of ``tp`` starts; -1 (not finished) when the broker did not say in time."""
    position = consumer.position(tp, timeout_ms=COMMITTED_TIMEOUT_MS)
    return -1 if position is None else int(position)


def _redrive_one(
    settings: Settings, stage: str | None, record: Any, producer: Any, sent: list[Any]
) -> dict[str, Any] | None:
    line: dict[str, Any] = {"dead_letter_partition": record.partition, "dead_letter_offset": record.offset}
    try:
        letter = DeadLetter.model_validate_json(record.value or b"")
    except ValidationError as exc:
        return line | {"action": "skipped", "why": f"not a dead letter: {exc.errors()[0]['msg']}"}
    if stage is not None and letter.stage != stage:
        return None
    plan = redrive_plan(letter, settings.topic_prefix)
    line |= {"stage": letter.stage, "reason": letter.reason, "source_topic": letter.source_topic}
    line |= {"source_partition": letter.source_partition, "source_offset": letter.source_offset}
    if plan.topic is None:
        return line | {"action": "skipped", "why": plan.why_not}
    if producer is None:
        return line | {"action": "would redrive", "to": plan.topic}
    # Its source partition while the topic still has it (else by key, as a new record would be).
    count = len(producer.partitions_for(plan.topic))
    partition = (
        letter.source_partition
        if letter.source_partition is not None and 0 <= letter.source_partition < count
        else None
    )
    sent.append(producer.send(plan.topic, key=record.key, value=letter.original(), partition=partition))
    return line | {"action": "redriven", "to": plan.topic}
