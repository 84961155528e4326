"""One deterministic order across partitions, for the stages whose state depends on arrival order (pure).

Kafka orders records within a partition only. A single-writer stage reading several partitions sees them
interleaved however fetches and batches happen to fall, so its state (which post founds a narrative, which joins
it) changed from run to run, and with the number of upstream workers. :class:`PartitionMerge` buffers each
partition's records and releases them as a k-way merge by a key the stage chooses (event time, then post key):
a record is released only when every partition that may still deliver has a buffered head, so the released
sequence is always a prefix of the merge of the partitions' full sequences. That merge depends only on each
partition's own sequence, which the producers fix (a post's records are keyed by post key, so they stay in one
partition, in upstream order), not on timing.

The one place timing enters is the end of a stream: a partition that has nothing buffered and has delivered
nothing for a while (the adapter decides, with a wall-clock ``idle``) is declared *finished* and stops holding
the others. Records it delivers afterwards merge from then on. A replay is exact as long as no partition falls
silent for that long mid-stream; a live stream that does is no worse than without the merge.

Nothing is removed until the stage has processed it: :meth:`take` returns the next records without removing
them, :meth:`drop` removes them after the batch succeeded, so a failed batch is taken again, in the same order.
"""

from __future__ import annotations

import heapq
import json
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flockwatch.messages import InMessage

Partition = tuple[str, int]  # (topic, partition)
OrderKey = tuple[Any, ...]


def event_order(msg: InMessage) -> OrderKey:
    """Event time, then post key: ``created_at`` of a post, ``post_created_at`` of a score. A message that is not
    JSON orders first (the stage dead-letters it)."""
    try:
        doc = json.loads(msg.value)
    except (ValueError, TypeError):
        return ("", b"")
    if not isinstance(doc, dict):
        return ("", b"")
    when = doc.get("created_at") or doc.get("post_created_at") or ""
    return (str(when), msg.key or b"")


@dataclass
class PartitionMerge:
    """Per-partition buffers released as one k-way merge by ``key`` (ties: topic, then partition number)."""

    key: Callable[[InMessage], OrderKey] = event_order
    _buffers: dict[Partition, deque[tuple[OrderKey, InMessage]]] = field(default_factory=dict, repr=False)
    _next_offset: dict[Partition, int] = field(default_factory=dict, repr=False)

    def add(self, messages: Iterable[InMessage]) -> int:
        """Buffer polled records; a record at an offset already buffered or released (a re-fetch after a
        rebalance) is skipped. Returns how many were buffered."""
        added = 0
        for msg in messages:
            tp = (msg.topic, msg.partition)
            if msg.offset < self._next_offset.get(tp, -1):
                continue
            self._next_offset[tp] = msg.offset + 1
            self._buffers.setdefault(tp, deque()).append((self.key(msg), msg))
            added += 1
        return added

    def next_offset(self, tp: Partition) -> int | None:
        """The offset after the last record buffered from ``tp`` (None before its first)."""
        return self._next_offset.get(tp)

    def buffered(self, tp: Partition) -> int:
        return len(self._buffers.get(tp, ()))

    def __len__(self) -> int:
        return sum(len(b) for b in self._buffers.values())

    def take(self, limit: int, partitions: Iterable[Partition], finished: Iterable[Partition] = ()) -> list[InMessage]:
        """The next (at most ``limit``) records of the merge of ``partitions``, not removed. It stops where a
        partition not in ``finished`` has no buffered record left: its next record might come first."""
        done = set(finished)
        live = set(partitions)
        heap: list[tuple[OrderKey, str, int, int]] = []
        for tp in live:
            buf = self._buffers.get(tp)
            if buf:
                heapq.heappush(heap, (buf[0][0], tp[0], tp[1], 0))
            elif tp not in done:
                return []
        out: list[InMessage] = []
        while heap and len(out) < limit:
            _, topic, part, i = heapq.heappop(heap)
            buf = self._buffers[(topic, part)]
            out.append(buf[i][1])
            if i + 1 < len(buf):
                heapq.heappush(heap, (buf[i + 1][0], topic, part, i + 1))
            elif (topic, part) not in done:
                break
        return out

    def drop(self, released: Sequence[InMessage]) -> None:
        """Remove records :meth:`take` returned, once processed (they are each partition's oldest)."""
        for msg in released:
            buf = self._buffers[(msg.topic, msg.partition)]
            _, head = buf.popleft()
            if head.offset != msg.offset:
                raise ValueError(f"released {msg.topic}:{msg.partition}@{msg.offset} is not the head ({head.offset})")

    def forget(self, keep: Iterable[Partition]) -> None:
        """Drop the buffers of partitions no longer assigned: their new owner reads them from the committed
        offset."""
        kept = set(keep)
        for tp in [tp for tp in self._buffers if tp not in kept]:
            del self._buffers[tp]
        for tp in [tp for tp in self._next_offset if tp not in kept]:
            del self._next_offset[tp]
