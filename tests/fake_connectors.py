"""A connector that needs no platform: numbered Jetstream post events, batch by batch, crashing on demand.

For tests of what surrounds connectors (runner, sinks, cursor stores, the pipeline after them)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from flockwatch.adapters.connectors.base import Batch, raw_record

POSTED = datetime(2026, 7, 4, tzinfo=UTC)


def jetstream_post(n: int, *, likes: int = 0, tags: tuple[str, ...] = ("tag",)) -> dict[str, Any]:
    """A Jetstream post event (the format whose normaliser exists everywhere)."""
    text = f"post {n} " + " ".join(f"#{t}" for t in tags)
    return {
        "did": "did:plc:abc",
        "time_us": 1_780_000_000_000_000 + n,
        "kind": "commit",
        "commit": {
            "operation": "create",
            "collection": "app.bsky.feed.post",
            "rkey": f"r{n}",
            "record": {"text": text, "createdAt": POSTED.isoformat()},
        },
    }


class Numbered:
    """Events ``0..stop-1``, ``size`` per batch, cursor = the batch's last number; raises ``KeyboardInterrupt``
    (a kill) before serving a number past ``crash_after``."""

    source = "bluesky"
    streaming = True
    cursor_key = "bluesky:numbered"

    def __init__(
        self, stop: int, size: int = 3, crash_after: int | None = None, collected_at: datetime = POSTED
    ) -> None:
        self.stop, self.size, self.crash_after, self.collected_at = stop, size, crash_after, collected_at

    def batches(self, cursor: str | None) -> Iterator[Batch]:
        n = int(cursor) + 1 if cursor else 0
        while n < self.stop:
            if self.crash_after is not None and n > self.crash_after:
                raise KeyboardInterrupt("killed")
            numbers = range(n, min(n + self.size, self.stop))
            records = [
                raw_record("bluesky_jetstream", "test", str(i), jetstream_post(i), collected_at=self.collected_at)
                for i in numbers
            ]
            yield Batch(records, str(numbers[-1]))
            n = numbers[-1] + 1
