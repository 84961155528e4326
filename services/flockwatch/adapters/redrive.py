"""``flockwatch dead-letters --redrive``: put dead letters' originals back on their source topics.

The letters are read in a consumer group of their own per selection (``<prefix>.redrive.<stage or all>``), whose
offsets are committed only after every redriven original is acknowledged: run it again and it goes on from there,
and a crash in between redrives some letters twice (at-least-once; every stage writes idempotently).
"""

from __future__ import annotations

from typing import Any

from kafka import KafkaConsumer
from pydantic import ValidationError

from flockwatch.adapters.client_security import kafka_client_args
from flockwatch.adapters.kafka_bus import MAX_MESSAGE_BYTES, make_producer, when_kafka_ready
from flockwatch.config import Settings
from flockwatch.redrive import redrive_plan
from flockwatch.schema import DeadLetter
from flockwatch.topics import Topic, topic_name


def redrive_group(settings: Settings, stage: str | None) -> str:
    return f"{settings.topic_prefix}.redrive.{stage or 'all'}"


def redrive_dead_letters(
    settings: Settings, stage: str | None, limit: int, dry_run: bool = False, timeout_s: float = 5.0
) -> list[dict[str, Any]]:
    """One line per dead letter considered (of ``stage``'s, or all): redriven (or, with ``dry_run``, what would be),
    or skipped with why. The group's offsets are committed after every redriven original is acknowledged."""
    consumer = when_kafka_ready(
        settings,
        lambda: KafkaConsumer(
            topic_name(settings.topic_prefix, Topic.dead_letter),
            **kafka_client_args(settings),
            group_id=redrive_group(settings, stage),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            consumer_timeout_ms=int(timeout_s * 1000),
            max_partition_fetch_bytes=MAX_MESSAGE_BYTES + 1024 * 1024,
        ),
    )
    producer = None if dry_run else make_producer(settings)
    lines: list[dict[str, Any]] = []
    sent = []
    try:
        for record in consumer:
            line: dict[str, Any] = {"dead_letter_partition": record.partition, "dead_letter_offset": record.offset}
            try:
                letter = DeadLetter.model_validate_json(record.value or b"")
            except ValidationError as exc:
                lines.append(line | {"action": "skipped", "why": f"not a dead letter: {exc.errors()[0]['msg']}"})
                continue
            if stage is not None and letter.stage != stage:
                continue
            plan = redrive_plan(letter, settings.topic_prefix)
            line |= {"stage": letter.stage, "reason": letter.reason, "source_topic": letter.source_topic}
            line |= {"source_partition": letter.source_partition, "source_offset": letter.source_offset}
            if plan.topic is None:
                lines.append(line | {"action": "skipped", "why": plan.why_not})
            elif producer is None:
                lines.append(line | {"action": "would redrive", "to": plan.topic})
            else:
                # Its original key, so it lands on the partition it came from (a key over 1 KiB was hashed).
                sent.append(producer.send(plan.topic, key=record.key, value=letter.original()))
                lines.append(line | {"action": "redriven", "to": plan.topic})
            if len(lines) >= limit:
                break
        if producer is not None:
            producer.flush()
            for future in sent:
                future.get(timeout=0)  # raises the delivery error, if any: then nothing is committed
            consumer.commit()
    finally:
        consumer.close(autocommit=False)
        if producer is not None:
            producer.close(timeout=10)
    return lines
