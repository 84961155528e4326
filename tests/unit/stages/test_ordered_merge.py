"""The k-way merge across partitions: the released order depends on each partition's sequence only."""

from __future__ import annotations

import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from flockwatch.messages import InMessage
from flockwatch.stages.ordered_merge import PartitionMerge, event_order

TOPIC = "t.posts.normalized"


def post(partition: int, offset: int, when: int, key: str) -> InMessage:
    value = json.dumps({"created_at": f"2016-01-01T00:00:{when:02d}Z", "text": key}).encode()
    return InMessage(TOPIC, partition, offset, key.encode(), value)


def reference_merge(sequences: dict[int, list[InMessage]]) -> list[InMessage]:
    """The merge of the full sequences: repeatedly the smallest head (key, topic, partition)."""
    heads = {p: 0 for p in sequences}
    out = []
    while any(heads[p] < len(seq) for p, seq in sequences.items()):
        live = [p for p, seq in sequences.items() if heads[p] < len(seq)]
        p = min(live, key=lambda q: (event_order(sequences[q][heads[q]]), TOPIC, q))
        out.append(sequences[p][heads[p]])
        heads[p] += 1
    return out


partition_sequences = st.lists(
    st.lists(st.tuples(st.integers(0, 59), st.sampled_from("abcdef")), max_size=12), min_size=1, max_size=4
)


@settings(max_examples=200, deadline=None)
@given(partition_sequences, st.randoms(use_true_random=False), st.integers(1, 7))
def test_any_arrival_and_batching_releases_the_merge_of_the_full_sequences(
    raw: list[list[tuple[int, str]]], rnd: random.Random, limit: int
) -> None:
    sequences = {
        p: [post(p, off, when, f"{key}{p}") for off, (when, key) in enumerate(items)] for p, items in enumerate(raw)
    }
    # Arrivals: each partition's records in order, in random chunks, partitions interleaved at random.
    pending = {p: list(seq) for p, seq in sequences.items()}
    merge, released = PartitionMerge(), []
    partitions = [(TOPIC, p) for p in sequences]
    while any(pending.values()):
        p = rnd.choice([q for q, rest in pending.items() if rest])
        n = rnd.randint(1, 3)
        chunk, pending[p] = pending[p][:n], pending[p][n:]
        merge.add(chunk)
        if rnd.random() < 0.3:
            merge.add(chunk[:1])  # a re-fetch after a rebalance: skipped
        batch = merge.take(limit, partitions)
        if rnd.random() < 0.3:
            assert merge.take(limit, partitions) == batch  # a failed batch is taken again, the same
        merge.drop(batch)
        released += batch
    # The stream ended: every partition is finished.
    while batch := merge.take(limit, partitions, finished=partitions):
        merge.drop(batch)
        released += batch
    assert [(m.partition, m.offset) for m in released] == [(m.partition, m.offset) for m in reference_merge(sequences)]
    assert len(merge) == 0


def test_a_partition_with_nothing_buffered_holds_the_others_until_finished() -> None:
    merge = PartitionMerge()
    merge.add([post(0, 0, 5, "a"), post(0, 1, 9, "b")])
    partitions = [(TOPIC, 0), (TOPIC, 1)]
    assert merge.take(10, partitions) == []  # partition 1 might still deliver something earlier
    merge.add([post(1, 0, 7, "c")])
    # a@5 goes; c@7 is partition 1's last known record, so b@9 waits for partition 1's next one.
    assert [m.key for m in merge.take(10, partitions)] == [b"a", b"c"]
    assert [m.key for m in merge.take(10, partitions, finished=[(TOPIC, 1)])] == [b"a", b"c", b"b"]


def test_not_json_orders_first() -> None:
    bad = InMessage(TOPIC, 0, 0, b"k", b"not json")
    assert event_order(bad) < event_order(post(0, 1, 0, "a"))
