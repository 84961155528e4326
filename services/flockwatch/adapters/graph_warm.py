"""Warm restart of the graph stage: re-read the recent posts its consumer group had already processed.

The stage's sliding window lives in memory.  On start, for each partition of ``posts.normalized`` with a
committed offset ``c``, the posts just before ``c`` are read back (newest chunk first, without joining the
group or committing anything) until a whole chunk is older than ``W - 2 window - lateness``, where ``W`` is
the minimum over the stage's watermark sources of the latest event time read (its watermark when it stopped).  Fed to
:meth:`flockwatch.stages.graph.GraphStage.warm`, they refill the buffers and the dedupe memory exactly as an
uninterrupted run held them, so co-actions spanning the restart are found.

Only offsets before the commit are read: the batch in flight when a worker died is consumed again anyway.
Kafka retention bounds what can be refilled (a week on ``posts.normalized``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Collection

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from flockwatch.adapters.client_security import kafka_client_args
from flockwatch.adapters.kafka_bus import in_message
from flockwatch.config import Settings
from flockwatch.messages import InMessage
from flockwatch.stages.graph import (
    GraphSettings,
    GraphStage,
    GraphStore,
    build_graph_stage,
    input_partitions,
    parse_message,
)
from flockwatch.topics import Topic, topic_name

log = logging.getLogger(__name__)


def _read(
    consumer: KafkaConsumer, tp: TopicPartition, lo: int, hi: int, raw_topic: str, timeout_s: float = 30.0
) -> list[InMessage]:
    """Messages of ``tp`` with ``lo <= offset < hi`` (fewer if retention removed some)."""
    consumer.assign([tp])
    consumer.seek(tp, lo)
    out: list[InMessage] = []
    deadline = time.monotonic() + timeout_s
    while consumer.position(tp) < hi and time.monotonic() < deadline:
        for r in consumer.poll(timeout_ms=500).get(tp, []):
            if lo <= r.offset < hi:
                out.append(in_message(r, raw_topic))
    return out


def recent_messages(
    settings: Settings,
    group: str,
    span_s: float,
    source_of: Callable[[InMessage], tuple[str, float] | None],
    sources: Collection[str] = (),
    chunk: int = 2000,
    max_messages: int = 2_000_000,
    stage: Topic = Topic.normalized,
) -> list[InMessage]:
    """The messages before ``group``'s committed offsets with an event time at or after ``W - span_s``, where
    ``W`` is the minimum over watermark sources (``source_of``: message -> (source, event time), None for a
    bad message) of their latest event time; see the module docstring.  A declared source (``sources``) not
    read yet holds ``W`` at ``-inf``, as it held the stage's (so up to ``max_messages`` are read back)."""
    topic = topic_name(settings.topic_prefix, stage)
    raw_topic = topic_name(settings.topic_prefix, Topic.raw)
    admin = KafkaAdminClient(**kafka_client_args(settings))
    consumer = KafkaConsumer(**kafka_client_args(settings), enable_auto_commit=False,
                             auto_offset_reset="earliest", max_poll_records=chunk)  # fmt: skip
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            return []
        committed = admin.list_group_offsets({group: partitions}).get(group, {})
        ends = {tp: m.offset for tp, m in committed.items() if tp in partitions and m is not None and m.offset > 0}
        if not ends:
            return []
        begins: dict[TopicPartition, int] = consumer.beginning_offsets(list(ends))
        lows = dict(ends)
        read: dict[TopicPartition, list[tuple[InMessage, float | None]]] = {tp: [] for tp in ends}
        newest_in_chunk: dict[TopicPartition, float] = {tp: math.inf for tp in ends}
        marks: dict[str, float] = {}
        total = 0

        def horizon() -> float:
            if any(src not in marks for src in sources):
                return -math.inf
            return min(marks.values()) - span_s if marks else math.inf

        # newest chunk first, per partition, until its last chunk is wholly behind the horizon (which can only
        # move back as sources first seen in older chunks come in) or the partition's start
        while total < max_messages:
            todo = [tp for tp in ends if lows[tp] > begins.get(tp, 0) and newest_in_chunk[tp] >= horizon()]
            if not todo:
                break
            for tp in todo:
                hi, lows[tp] = lows[tp], max(begins.get(tp, 0), lows[tp] - chunk)
                older = []
                for m in _read(consumer, tp, lows[tp], hi, raw_topic):
                    found = source_of(m)
                    if found is not None:
                        marks[found[0]] = max(marks.get(found[0], -math.inf), found[1])
                    older.append((m, None if found is None else found[1]))
                times = [t for _, t in older if t is not None]
                newest_in_chunk[tp] = max(times) if times else -math.inf
                read[tp] = older + read[tp]
                total += len(older)
        cut = horizon()
        out = [m for msgs in read.values() for m, t in msgs if t is not None and t >= cut]
        if total >= max_messages:
            log.warning("graph warm start stopped at %d messages: co-actions spanning the restart may be missed", total)
        log.info("graph warm start: %d posts of %d partitions re-read", len(out), len(ends))
        return out
    finally:
        consumer.close(autocommit=False)
        admin.close()


def build_graph_stage_for(store: GraphStore, settings: Settings, group: str) -> GraphStage:
    """The worker's stage: watermark over the input partitions, window refilled from the topic."""
    graph = GraphSettings()
    n = settings.topic_partitions

    def source_of(msg: InMessage) -> tuple[str, float] | None:
        try:
            post, source = parse_message(msg, n)
        except Exception:  # skipped by the warm start as by the stage
            return None
        return source, post.time

    span = 2 * graph.window_s + graph.lateness_s
    sources = input_partitions(settings.topic_prefix, n)
    history = (
        recent_messages(settings, group, span, source_of, sources, max_messages=graph.warm_max_messages)
        if graph.warm_start
        else []
    )
    return build_graph_stage(store, graph, sources, history, origins=n)
