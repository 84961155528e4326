"""Kafka adapter: topic setup, producers, and the at-least-once stage loop.

The loop is the only place that knows about offsets. It polls a batch, hands plain
``InMessage``s to a stage, produces what the stage returns, waits for the broker to
acknowledge it, and only then commits the input offsets. If anything in between fails
(store outage, broker restart) it seeks back to the batch's first offsets and tries
again after a backoff: nothing is lost, and because every write downstream is keyed by
post id, a replayed batch duplicates nothing. A failure that retrying cannot fix (one poison
record) is narrowed down by halving the batch, and that record alone is dead-lettered
(:mod:`flockwatch.stages.isolate`).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import (
    CorruptRecordError,
    FencedInstanceIdError,
    InvalidRecordError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    TopicAlreadyExistsError,
)
from kafka.structs import OffsetAndMetadata

from flockwatch.adapters import local_services
from flockwatch.adapters.client_security import kafka_client_args
from flockwatch.adapters.single_writer import SecondWriter, claim, missing_inputs
from flockwatch.config import Settings
from flockwatch.messages import InMessage, OutMessage, StageOutcome, TransientError, UpstreamBehind
from flockwatch.readiness import SETTINGS_BOUND, resolve_wait, retry_until_ready
from flockwatch.stages.batching import poll_plan
from flockwatch.stages.isolate import IsolationPaused, process_isolating
from flockwatch.stages.ordered_merge import OrderKey, PartitionMerge
from flockwatch.topics import LARGE_MESSAGE_BYTES, TOPICS, Topic, topic_name

log = logging.getLogger(__name__)
T = TypeVar("T")

# The largest message any topic takes (raw and dead-letter; see topics.py): clients are sized for it.
MAX_MESSAGE_BYTES = LARGE_MESSAGE_BYTES


class StageRunner(Protocol):
    name: str
    inputs: tuple[Topic, ...]

    def process(self, messages: Sequence[InMessage]) -> StageOutcome: ...


class MergedInput:
    """A consumer's records in one deterministic order across its partitions
    (:mod:`flockwatch.stages.ordered_merge`), for a stage with an ``order_key``.

    The consumer's position runs ahead of what was processed, so commits name their offsets. A partition whose
    buffer grows past ``cap`` is paused until the others catch up, so one busy partition cannot fill memory while
    another is still being fetched."""

    def __init__(
        self,
        consumer: KafkaConsumer,
        key: Callable[[InMessage], OrderKey],
        idle_s: float,
        cap: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.consumer, self.idle_s, self.cap, self.clock = consumer, idle_s, cap, clock
        self.merge = PartitionMerge(key)
        self._last_record: dict[tuple[str, int], float] = {}

    def next_batch(self, polled: Sequence[InMessage], limit: int, caught_up: bool) -> list[InMessage]:
        """Buffer ``polled``; return the next records of the merge (not yet removed: see :meth:`processed`).
        ``caught_up``: nothing is left on the broker (a catch-up run's end), so empty partitions hold nothing."""
        assigned = {(tp.topic, tp.partition) for tp in self.consumer.assignment()}
        self.merge.forget(assigned)
        now = self.clock()
        self.merge.add(m for m in polled if (m.topic, m.partition) in assigned)
        for m in polled:
            self._last_record[(m.topic, m.partition)] = now
        for tp in assigned:
            self._last_record.setdefault(tp, now)
        finished = {tp for tp in assigned if not self.merge.buffered(tp) and (caught_up or self._silent(tp, now))}
        self._pace(assigned)
        return self.merge.take(limit, assigned, finished)

    def _silent(self, tp: tuple[str, int], now: float) -> bool:
        if now - self._last_record[tp] < self.idle_s:
            return False
        # Known to hold more on the broker: still being fetched, not finished.
        high = self.consumer.highwater(TopicPartition(*tp))
        seen = self.merge.next_offset(tp)
        return high is None or seen is None or seen >= high

    def _pace(self, assigned: set[tuple[str, int]]) -> None:
        paused = {(tp.topic, tp.partition) for tp in self.consumer.paused()}
        full = {tp for tp in assigned if self.merge.buffered(tp) >= self.cap}
        if pause := full - paused:
            self.consumer.pause(*(TopicPartition(*tp) for tp in pause))
        if resume := (paused & assigned) - full:
            self.consumer.resume(*(TopicPartition(*tp) for tp in resume))

    def processed(self, batch: Sequence[InMessage]) -> dict[TopicPartition, OffsetAndMetadata]:
        """Remove a processed batch; the offsets to commit for it."""
        self.merge.drop(batch)
        return offsets_after(batch)


def offsets_after(batch: Sequence[InMessage]) -> dict[TopicPartition, OffsetAndMetadata]:
    """The offsets to commit once ``batch`` is processed: each partition's last record, plus one."""
    last: dict[TopicPartition, int] = {}
    for m in batch:
        tp = TopicPartition(m.topic, m.partition)
        last[tp] = max(last.get(tp, m.offset), m.offset)
    return {tp: OffsetAndMetadata(offset + 1, "", -1) for tp, offset in last.items()}


@dataclass
class LoopReport:
    counts: Counter[str]
    batches: int
    retries: int
    elapsed_s: float


def kafka_transient(exc: BaseException) -> bool:
    """Errors a broker that is starting (or restarting) gives: cannot bootstrap yet (a timeout), no group
    coordinator yet, no leader yet. kafka-python marks exactly these ``retriable``."""
    return isinstance(exc, KafkaError) and bool(exc.retriable)


# The broker refuses these messages for good (too large, malformed): retrying the batch would loop forever.
_RECORD_ERRORS = (MessageSizeTooLargeError, RecordListTooLargeError, InvalidRecordError, CorruptRecordError)


def batch_transient(exc: BaseException) -> bool:
    """Errors worth retrying the whole batch for: a server away (the store, or any broker error but those
    that one message causes). Anything else isolates the record that causes it (``pipeline.isolate``)."""
    if isinstance(exc, TransientError):
        return True
    return isinstance(exc, KafkaError) and not isinstance(exc, _RECORD_ERRORS)


def when_kafka_ready(settings: Settings, call: Callable[[], T], wait_s: float | None = SETTINGS_BOUND) -> T:
    """``call()``, retried with backoff while the broker is starting; then ServiceNotReady, one line."""
    return retry_until_ready(
        f"Kafka at {settings.kafka_bootstrap}",
        call,
        is_transient=kafka_transient,
        wait_s=resolve_wait(wait_s, settings.service_wait_s),
        hint=local_services.hint(settings, "kafka"),
    )


def ensure_topics(settings: Settings, timeout_s: float = 30.0, wait_s: float | None = SETTINGS_BOUND) -> list[str]:
    """Create every topic that is missing (with its settings); return those created."""
    return when_kafka_ready(settings, lambda: _ensure_topics(settings, timeout_s), wait_s)


def _ensure_topics(settings: Settings, timeout_s: float) -> list[str]:
    admin = KafkaAdminClient(**kafka_client_args(settings), request_timeout_ms=int(timeout_s * 1000))
    try:
        existing = set(admin.list_topics())
        wanted = []
        for spec in TOPICS:
            name = topic_name(settings.topic_prefix, spec.topic)
            if name in existing:
                continue
            configs = {
                "retention.ms": str(spec.retention_ms),
                "compression.type": spec.compression,
                # Explicit, so the limit stages check against (topics.fits) is the broker's, whatever its default.
                "max.message.bytes": str(spec.max_message_bytes),
                "min.insync.replicas": str(settings.topic_insync_replicas),
            }
            wanted.append(
                NewTopic(name, settings.topic_partitions, settings.topic_replication_factor, topic_configs=configs)
            )
        created = []
        for topic in wanted:
            try:
                admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()


def make_producer(settings: Settings) -> KafkaProducer:
    return KafkaProducer(
        **kafka_client_args(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        batch_size=512 * 1024,
        max_request_size=MAX_MESSAGE_BYTES + 1024 * 1024,
        # A broker restart takes seconds: keep retrying for up to two minutes per record.
        delivery_timeout_ms=120_000,
        request_timeout_ms=30_000,
        retry_backoff_ms=200,
    )


def make_consumer(
    settings: Settings,
    group: str,
    stages: Iterable[Topic],
    max_poll_records: int,
    max_poll_interval_s: float | None = None,
    instance_id: str | None = None,
) -> KafkaConsumer:
    """A consumer of ``stages`` in ``group``; with ``instance_id``, a static member of it.

    A static member that restarts under the same id gets its partitions back at once, without waiting for the
    session timeout nor moving any other member's partitions. It never leaves the group, not even on a clean
    close: a worker stopped for good frees its partitions only after the session timeout. Two live consumers
    with one id fence each other out, so the id must be unique per worker of a stage."""
    poll_ms = int((max_poll_interval_s or settings.kafka_max_poll_interval_s) * 1000)
    # A dead worker's partitions move after the session timeout (kafka_session_timeout_s): never longer than the
    # poll interval (tests lower it), nor under the broker's 6 s minimum.
    session_ms = max(6_000, min(int(settings.kafka_session_timeout_s * 1000), poll_ms))
    consumer = KafkaConsumer(
        **kafka_client_args(settings),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=max_poll_records,
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES + 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
        session_timeout_ms=session_ms,
        heartbeat_interval_ms=2_000,
        max_poll_interval_ms=poll_ms,
        group_instance_id=instance_id,
    )
    consumer.subscribe([topic_name(settings.topic_prefix, s) for s in stages])
    return consumer


# Where a record entered the pipeline: set on every message derived from a ``posts.raw`` record.
RAW_PARTITION_HEADER = "flockwatch-raw-partition"


def in_message(record: ConsumerRecord, raw_topic: str) -> InMessage:
    """A consumed record as a stage sees it, with the ``posts.raw`` partition it came from: its own partition on
    the raw topic, else the header its producer stamped (None for records written without one)."""
    raw_partition: int | None = record.partition if record.topic == raw_topic else None
    for name, header in record.headers or ():
        if name == RAW_PARTITION_HEADER and raw_partition is None:
            raw_partition = _partition_number(header)
    # A null value (a tombstone, or a producer's bug) is empty bytes: the stage dead-letters it like any bad record.
    value = b"" if record.value is None else record.value
    return InMessage(record.topic, record.partition, record.offset, record.key, value, raw_partition)


def _partition_number(value: bytes | None) -> int | None:
    """The raw-partition header's number; None for one that is not a number (no producer of ours writes that)."""
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _headers(message: OutMessage) -> list[tuple[str, bytes]] | None:
    if message.raw_partition is None:
        return None
    return [(RAW_PARTITION_HEADER, str(message.raw_partition).encode())]


def produce_all(producer: KafkaProducer, prefix: str, messages: Sequence[OutMessage]) -> None:
    """Send and wait for every acknowledgement; raise KafkaError if any message failed."""
    counts: dict[str, int] = {}

    def partition(topic: str, wanted: int | None) -> int | None:
        if wanted is None:
            return None
        if topic not in counts:
            counts[topic] = len(producer.partitions_for(topic))
        return wanted % counts[topic]

    futures = []
    for m in messages:
        topic = topic_name(prefix, m.topic)
        futures.append(
            producer.send(topic, key=m.key, value=m.value, headers=_headers(m), partition=partition(topic, m.partition))
        )
    producer.flush()
    for future in futures:
        future.get(timeout=0)  # raises the delivery error, if any


def run_stage(
    settings: Settings,
    stage: StageRunner,
    group: str,
    *,
    stop: threading.Event | None = None,
    until_caught_up: bool = False,
    max_seconds: float | None = None,
    max_poll_records: int | None = None,
    on_batch: Callable[[Counter[str]], None] | None = None,
    wait_s: float | None = SETTINGS_BOUND,
    instance_id: str | None = None,
    flush_on_stop: Callable[[], StageOutcome] | None = None,
) -> LoopReport:
    """Consume ``stage.inputs`` until stopped (worker) or until caught up (batch/DAG mode).

    The clients are made once the broker answers (``wait_s``: how long to wait for it; None for a worker).
    ``flush_on_stop``: what the stage still holds when the loop ends without an error (the alerts stage's last
    burst interval), run while the producer can still publish its outputs.
    ``instance_id`` makes the consumer a static group member (see ``make_consumer``): long-running workers only,
    since a catch-up run in the same group under the same id would fence the worker out.
    Without ``max_poll_records``, a stage with a ``record_cost_s`` gets batches that fit the poll interval
    (``pipeline.batching.poll_plan``). A stage whose ``single_writer`` is true refuses to run beside another
    worker of its group (:mod:`flockwatch.adapters.single_writer`): ``SecondWriter``. A stage with an
    ``order_key`` gets its records in that order across partitions (:class:`MergedInput`)."""
    poll_interval_s = settings.kafka_max_poll_interval_s
    if max_poll_records is None:
        # A costly stage gets small batches (and, below a floor, a longer interval) so no batch outlasts it.
        cost = getattr(stage, "record_cost_s", None)
        max_poll_records, poll_interval_s = poll_plan(cost, settings.kafka_max_poll_interval_s)
    started = time.monotonic()
    raw_topic = topic_name(settings.topic_prefix, Topic.raw)
    stop = stop or threading.Event()
    counts: Counter[str] = Counter()
    batches = retries = 0
    backoff = 0.5
    stopped_cleanly = False
    single_writer = bool(getattr(stage, "single_writer", False))
    input_topics = [topic_name(settings.topic_prefix, s) for s in stage.inputs]
    if single_writer:
        when_kafka_ready(settings, lambda: claim(settings, stage.name, group, instance_id), wait_s)
    consumer = when_kafka_ready(
        settings,
        lambda: make_consumer(settings, group, stage.inputs, max_poll_records, poll_interval_s, instance_id),
        wait_s,
    )
    producer = when_kafka_ready(settings, lambda: make_producer(settings), wait_s)
    order_key = getattr(stage, "order_key", None)
    merged = (
        None if order_key is None else MergedInput(consumer, order_key, settings.merge_idle_s, cap=4 * max_poll_records)
    )

    def commit_handled(handled: Sequence[InMessage], rest: Sequence[InMessage]) -> bool:
        """Commit what was handled; what is left is read again (without merging: its partitions seek back to it;
        merged: it stays buffered). False if the commit failed (the handled records may come again)."""
        if rest and merged is None:
            _seek_to_batch_start(consumer, rest)
        if not handled:
            return True
        offsets = merged.processed(handled) if merged is not None else offsets_after(handled) if rest else None
        try:
            return _commit(consumer, stage.name, offsets)
        except FencedInstanceIdError as exc:
            raise _fenced(stage.name, group, instance_id) from exc

    try:
        while not stop.is_set():
            if max_seconds is not None and time.monotonic() - started > max_seconds:
                break
            try:
                polled = consumer.poll(timeout_ms=500, max_records=max_poll_records)
            except FencedInstanceIdError as exc:
                raise _fenced(stage.name, group, instance_id) from exc
            except KafkaError as exc:
                log.warning("%s: poll failed (%s); retrying", stage.name, exc)
                stop.wait(1.0)
                continue
            if single_writer and polled and (missing := missing_inputs(consumer, input_topics)):
                # Not processed, not committed: whichever worker is left redoes these records with the whole input.
                raise SecondWriter(
                    f"{stage.name}: this stage is single-writer, but group {group} gave this worker only part of "
                    f"its input (not {', '.join(missing)}): another worker joined. Stopping; run one worker of it."
                )
            batch = [in_message(r, raw_topic) for records in polled.values() for r in records]
            caught_up = until_caught_up and not batch and _caught_up(consumer)
            if merged is not None:
                batch = merged.next_batch(batch, max_poll_records, caught_up)
                caught_up = caught_up and not len(merged.merge)
            if not batch:
                if caught_up:
                    break
                continue
            try:
                # A failure retrying cannot fix is narrowed down to its record, which is dead-lettered; by half the
                # poll interval, what is handled is committed and the rest read again (no redelivery loop).
                outcome = process_isolating(
                    stage.name,
                    stage.process,
                    lambda out: produce_all(producer, settings.topic_prefix, out),
                    batch,
                    is_transient=batch_transient,
                    wait=stop.wait,
                    deadline=time.monotonic() + poll_interval_s / 2,
                )
            except IsolationPaused as paused:
                handled = batch[: paused.done]
                if not commit_handled(handled, batch[paused.done :]):
                    counts["commit_failed"] += 1
                counts.update(paused.outcome.counts)
                counts["consumed"] += len(handled)
                counts["isolation_paused"] += 1
                batches += 1
                if on_batch:
                    on_batch(paused.outcome.counts)
                continue
            except (TransientError, KafkaError) as exc:
                # A server is away: replay this batch later; its offsets stay uncommitted, so nothing is lost.
                retries += 1
                counts["retried_batches"] += 1
                # Waiting for an earlier stage is routine, not a failure worth a warning.
                level = logging.INFO if isinstance(exc, UpstreamBehind) else logging.WARNING
                log.log(level, "%s: batch of %d failed (%s); retrying in %.1fs", stage.name, len(batch), exc, backoff)
                commit_handled([], batch)
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            backoff = 0.5
            if not commit_handled(batch, []):
                counts["commit_failed"] += 1
            counts.update(outcome.counts)
            counts["consumed"] += len(batch)
            batches += 1
            if on_batch:
                on_batch(outcome.counts)
        stopped_cleanly = True
    finally:
        # Not after an error: a worker fenced out or displaced by a second writer must not publish its partial state.
        if flush_on_stop is not None and stopped_cleanly:
            _final_flush(stage.name, flush_on_stop, lambda out: produce_all(producer, settings.topic_prefix, out))
        # Everything produced was flushed before its offsets were committed; a slow close
        # (broker away) loses nothing, so it is logged rather than raised.
        try:
            consumer.close(autocommit=False)
            producer.close(timeout=10)
        except KafkaError as exc:
            log.warning("%s: closing the Kafka clients failed (%s)", stage.name, exc)
    return LoopReport(counts, batches, retries, time.monotonic() - started)


def _final_flush(name: str, flush: Callable[[], StageOutcome], deliver: Callable[[Sequence[OutMessage]], None]) -> None:
    # Shutting down already: a failure here is logged, and what the flush stored stays in the store.
    try:
        outcome = flush()
        deliver(outcome.out)
    except Exception:
        log.exception(
            "%s: the final flush failed; what it stored is in the store, what it published may be missing", name
        )


def _seek_to_batch_start(consumer: KafkaConsumer, batch: Sequence[InMessage]) -> None:
    first: dict[TopicPartition, int] = {}
    for m in batch:
        tp = TopicPartition(m.topic, m.partition)
        first[tp] = min(first.get(tp, m.offset), m.offset)
    for tp, offset in first.items():
        # A partition lost to a rebalance needs nothing: its new owner starts from the
        # last committed offset, which is at or before this batch.
        with contextlib.suppress(AssertionError, KafkaError, ValueError):
            consumer.seek(tp, offset)


def _fenced(name: str, group: str, instance_id: str | None) -> RuntimeError:
    # kafka-python only stops heartbeating when fenced; the fenced consumer would go on processing batches whose
    # commits fail, so the worker stops instead, saying why.
    return RuntimeError(
        f"{name}: another live worker of group {group} took instance id {instance_id!r}; "
        "give each worker its own FLOCKWATCH_KAFKA_GROUP_INSTANCE_ID"
    )


def _commit(consumer: KafkaConsumer, name: str, offsets: dict[TopicPartition, OffsetAndMetadata] | None = None) -> bool:
    try:
        consumer.commit(offsets)
    except FencedInstanceIdError:
        raise  # not a lost commit: this consumer is no longer a member (see _fenced)
    except KafkaError as exc:
        # The batch's effects are durable; it may be redelivered, which idempotent writes absorb.
        log.warning("%s: offset commit failed (%s); the batch may be processed again", name, exc)
        return False
    return True


def _caught_up(consumer: KafkaConsumer) -> bool:
    assignment = consumer.assignment()
    if not assignment:
        return False
    end: dict[Any, int] = consumer.end_offsets(list(assignment))
    return all(consumer.position(tp) >= end[tp] for tp in assignment)


def group_lag(settings: Settings, group: str, stages: Iterable[Topic]) -> int:
    """Messages in ``stages`` not yet committed by ``group`` (uncommitted partitions count in full).

    A fresh broker answers metadata before its group coordinator is up: that wait is bounded by the settings."""
    wanted = tuple(stages)
    end, committed = when_kafka_ready(settings, lambda: _group_offsets(settings, group, wanted))
    return sum(max(0, end[tp] - committed[tp]) for tp in end)


def group_committed(settings: Settings, group: str, stages: Iterable[Topic]) -> int:
    """Sum of the offsets ``group`` has committed on ``stages``: it grows only while a live member works."""
    wanted = tuple(stages)
    _, committed = when_kafka_ready(settings, lambda: _group_offsets(settings, group, wanted))
    return sum(committed.values())


def _group_offsets(
    settings: Settings, group: str, stages: Iterable[Topic]
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """(end offset, committed offset or 0) of every partition of ``stages``."""
    topics = [topic_name(settings.topic_prefix, s) for s in stages]
    probe = KafkaConsumer(**kafka_client_args(settings), enable_auto_commit=False)
    admin = KafkaAdminClient(**kafka_client_args(settings))
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(probe.partitions_for_topic(t) or ())]
        end: dict[TopicPartition, int] = probe.end_offsets(partitions)
        listed = admin.list_group_offsets({group: partitions}).get(group, {})
        committed = {}
        for tp in partitions:
            meta = listed.get(tp)
            committed[tp] = meta.offset if meta is not None and meta.offset >= 0 else 0
        return end, committed
    finally:
        probe.close()
        admin.close()


def read_topic(
    settings: Settings,
    stage: Topic,
    limit: int,
    timeout_s: float = 5.0,
    keep: Callable[[bytes], bool] | None = None,
) -> list[bytes]:
    """Up to ``limit`` message values of a topic (those ``keep`` accepts) from the beginning, without joining a
    group."""
    consumer = when_kafka_ready(
        settings,
        lambda: KafkaConsumer(
            topic_name(settings.topic_prefix, stage),
            **kafka_client_args(settings),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            consumer_timeout_ms=int(timeout_s * 1000),
            max_partition_fetch_bytes=MAX_MESSAGE_BYTES + 1024 * 1024,
        ),
    )
    try:
        values = (m.value for m in consumer)
        return list(itertools.islice(values if keep is None else filter(keep, values), limit))
    finally:
        consumer.close()
