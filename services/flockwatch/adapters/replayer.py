"""Replay a recorded dataset into the raw-posts topic at a chosen speed."""

from __future__ import annotations

import reprlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from kafka import KafkaProducer
from kafka.errors import KafkaError

from flockwatch.adapters.kafka_bus import MAX_MESSAGE_BYTES, make_producer, when_kafka_ready
from flockwatch.config import Settings
from flockwatch.replay import read_dataset
from flockwatch.replay.payload import reader_reject
from flockwatch.schema import DEAD_LETTER_KEEP_BYTES, DeadLetter, RawRecord
from flockwatch.topics import Topic, topic_name

# Part of an oversized record kept in its dead letter (the whole cannot fit in a message).
OVERSIZE_KEEP_BYTES = DEAD_LETTER_KEEP_BYTES


@dataclass
class Pacer:
    """How long to wait before sending the next record.

    ``rate``: at most this many records per second. ``speed``: a real-time factor over the
    records' own timestamps (1.0 = as they happened, 60 = a minute per second). Neither: as
    fast as the broker takes them.
    """

    rate: float | None = None
    speed: float | None = None
    _first_event: datetime | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.rate is not None and self.rate <= 0:
            raise ValueError("rate must be positive")
        if self.speed is not None and self.speed <= 0:
            raise ValueError("speed must be positive")

    def delay(self, sent: int, event_time: datetime | None, elapsed_s: float) -> float:
        due = 0.0
        if self.rate is not None:
            due = sent / self.rate
        if self.speed is not None and event_time is not None:
            if self._first_event is None:
                self._first_event = event_time
            # Out-of-order records are sent at once rather than holding the stream back.
            due = max(due, (event_time - self._first_event).total_seconds() / self.speed)
        return max(0.0, due - elapsed_s)


@dataclass
class ReplayReport:
    format: str
    read: int = 0
    produced: int = 0
    oversize_dead_lettered: int = 0
    # Source records the reader could not parse (bad line, bad row): dead-lettered with the reason.
    rejected: int = 0
    elapsed_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.produced / self.elapsed_s if self.elapsed_s else 0.0


def _stop_on_read_error(records: Iterable[RawRecord], report: ReplayReport) -> Iterator[RawRecord]:
    """Yield records until the source breaks (truncated archive, bad encoding), then record why."""
    iterator = iter(records)
    while True:
        try:
            record = next(iterator)
        except StopIteration:
            return
        # Broad on purpose: whatever the file's parser raised, what was read so far is kept
        # (already produced) and the report says where and why reading stopped.
        except Exception as exc:
            report.errors.append(f"reading stopped after {report.read} records: {type(exc).__name__}: {exc}")
            return
        yield record


def replay_records(
    records: Iterable[RawRecord],
    producer: KafkaProducer,
    settings: Settings,
    report: ReplayReport,
    *,
    limit: int | None = None,
    pacer: Pacer | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ReplayReport:
    raw_topic = topic_name(settings.topic_prefix, Topic.raw)
    dlq_topic = topic_name(settings.topic_prefix, Topic.dead_letter)
    pacer = pacer or Pacer()
    failed: list[tuple[str, bytes, bytes]] = []
    started = time.monotonic()

    def send(topic: str, key: bytes, value: bytes) -> None:
        future = producer.send(topic, key=key, value=value)
        future.add_errback(lambda _exc: failed.append((topic, key, value)))

    for record in _stop_on_read_error(records, report):
        if limit is not None and report.read >= limit:
            break
        report.read += 1
        wait = pacer.delay(report.read - 1, record.event_time, time.monotonic() - started)
        if wait > 0:
            time.sleep(wait)
        key = f"{record.format}:{record.source_uri}:{record.position}".encode()
        value, rejected = _serialise(record)
        if rejected is not None:  # a line or row its reader could not parse
            reason, original = rejected
            letter = DeadLetter.of("replay", f"{record.source_uri} at {record.position}: {reason}", original)
            send(dlq_topic, key, letter.to_bytes())
            report.rejected += 1
        elif len(value) > MAX_MESSAGE_BYTES - 4096:
            # DeadLetter.of keeps the record's head with its size and sha256 (the whole cannot fit).
            letter = DeadLetter.of(
                "replay",
                f"record of {len(value)} bytes exceeds the {MAX_MESSAGE_BYTES} byte message limit",
                value,
                max_original=OVERSIZE_KEEP_BYTES,
            )
            send(dlq_topic, key, letter.to_bytes())
            report.oversize_dead_lettered += 1
        else:
            send(raw_topic, key, value)
            report.produced += 1
        if on_progress and report.read % 1000 == 0:
            on_progress(report.read)
    _flush_with_resend(producer, failed, report)
    report.elapsed_s = time.monotonic() - started
    if on_progress:
        on_progress(report.read)
    return report


def _serialise(record: RawRecord) -> tuple[bytes, tuple[str, bytes] | None]:
    """The record's message, or why it has none (with what to keep as the original).

    A record its reader marked unreadable (a bad line or row) carries its reason and source
    bytes; a record that cannot be serialised at all is a reader bug, dead-lettered rather than
    ending the replay.
    """
    rejected = reader_reject(record.payload)
    if rejected is not None:
        return b"", rejected
    try:
        return record.to_bytes(), None
    # Broad on purpose: whatever pydantic raises for this one record, the replay goes on.
    except Exception as exc:
        return b"", (f"record cannot be serialised: {type(exc).__name__}: {exc}", reprlib.repr(record.payload).encode())


def _flush_with_resend(producer: KafkaProducer, failed: list[tuple[str, bytes, bytes]], report: ReplayReport) -> None:
    """Flush; re-send what the broker never acknowledged (duplicates are absorbed downstream)."""
    for _attempt in range(5):
        producer.flush()
        if not failed:
            return
        retry = list(failed)
        failed.clear()
        time.sleep(2.0)
        for topic, key, value in retry:
            future = producer.send(topic, key=key, value=value)
            future.add_errback(lambda _exc, t=topic, k=key, v=value: failed.append((t, k, v)))
    producer.flush()
    if failed:
        raise KafkaError(f"{len(failed)} records were never acknowledged by the broker")


def replay(
    settings: Settings,
    fmt: str,
    path: Path | None = None,
    *,
    limit: int | None = None,
    rate: float | None = None,
    speed: float | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Read ``fmt`` from ``path`` (or its default file under the data dir) into Kafka."""
    records = read_dataset(fmt, path, settings.data_dir)
    producer = when_kafka_ready(settings, lambda: make_producer(settings))
    try:
        return replay_records(
            records,
            producer,
            settings,
            ReplayReport(format=fmt),
            limit=limit,
            pacer=Pacer(rate=rate, speed=speed),
            on_progress=on_progress,
        )
    finally:
        producer.close(timeout=30)
