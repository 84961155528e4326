"""MergedInput: the Kafka side of the ordered merge (idle partitions, pacing, explicit commits)."""

from __future__ import annotations

import json

from kafka import TopicPartition

from flockwatch.adapters.kafka_bus import MergedInput
from flockwatch.messages import InMessage
from flockwatch.stages.ordered_merge import event_order

T = "t.posts.normalized"


class FakeConsumer:
    def __init__(self, partitions: int, highwater: dict[int, int] | None = None) -> None:
        self._assigned = {TopicPartition(T, p) for p in range(partitions)}
        self._paused: set[TopicPartition] = set()
        self._high = highwater or {}

    def assignment(self) -> set[TopicPartition]:
        return set(self._assigned)

    def paused(self) -> set[TopicPartition]:
        return set(self._paused)

    def pause(self, *tps: TopicPartition) -> None:
        self._paused |= set(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self._paused -= set(tps)

    def highwater(self, tp: TopicPartition) -> int | None:
        return self._high.get(tp.partition)


def msg(partition: int, offset: int, second: int) -> InMessage:
    value = json.dumps({"created_at": f"2016-01-01T00:00:{second:02d}Z"}).encode()
    return InMessage(T, partition, offset, f"k{partition}-{offset}".encode(), value)


def test_a_silent_partition_stops_holding_the_others_only_after_idle_and_when_nothing_is_left_on_the_broker() -> None:
    now = [0.0]
    consumer = FakeConsumer(2, highwater={1: 0})
    merged = MergedInput(consumer, event_order, idle_s=3.0, cap=100, clock=lambda: now[0])
    assert merged.next_batch([msg(0, 0, 1), msg(0, 1, 2)], 10, caught_up=False) == []
    now[0] = 2.9
    assert merged.next_batch([], 10, caught_up=False) == []
    now[0] = 3.1
    # Partition 0 delivered at t=0 too, so it is silent as well, and its buffer is what gets released.
    assert [m.offset for m in merged.next_batch([], 10, caught_up=False)] == [0, 1]
    # Known to hold more on the broker: never finished, however long it is silent.
    busy = MergedInput(FakeConsumer(2, highwater={1: 5}), event_order, 3.0, 100, clock=lambda: now[0])
    first = busy.next_batch([msg(1, 0, 0), msg(0, 0, 1), msg(0, 1, 2)], 10, caught_up=False)
    assert [(m.partition, m.offset) for m in first] == [(1, 0)]  # partition 1's next might come before 1 s
    busy.processed(first)
    now[0] = 20.0
    assert busy.next_batch([], 10, caught_up=False) == []  # offsets 1-4 of partition 1 are still to come
    assert len(busy.next_batch([], 10, caught_up=True)) == 2  # a catch-up run's end: nothing is left to come


def test_a_full_partition_is_paused_and_commits_name_the_processed_offsets() -> None:
    consumer = FakeConsumer(2)
    merged = MergedInput(consumer, event_order, idle_s=3.0, cap=3)
    assert merged.next_batch([msg(0, i, i) for i in range(4)], 10, caught_up=False) == []
    assert consumer.paused() == {TopicPartition(T, 0)}  # partition 1 has not delivered: 0 waits, paused
    batch = merged.next_batch([msg(1, 7, 0), msg(1, 8, 30)], 3, caught_up=False)
    assert [(m.partition, m.offset) for m in batch] == [(0, 0), (1, 7), (0, 1)]  # a tie at 0 s: by key
    offsets = merged.processed(batch)
    assert {tp.partition: o.offset for tp, o in offsets.items()} == {0: 2, 1: 8}
    assert merged.next_batch([], 10, caught_up=False)  # 2 left in partition 0: under the cap
    assert consumer.paused() == set()
