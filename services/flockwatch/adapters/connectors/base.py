"""The contract every connector keeps: one target, batches of raw records, each with its resume point."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from flockwatch.replay.base import COLLECTED_AT
from flockwatch.schema import RawRecord


@dataclass(frozen=True)
class Batch:
    """Records in the order the platform served them, and the cursor to resume from once they are written.

    ``cursor`` is opaque to everyone but its connector (a Jetstream ``time_us``, a listing's newest
    fullname, a feed's ETag...); ``None`` keeps the previous one.
    """

    records: list[RawRecord]
    cursor: str | None = None


class Connector(Protocol):
    """A client of one platform following one target.

    ``batches(cursor)`` starts after ``cursor`` (``None``: from what the platform serves now). A pull ends
    when the target has nothing more to give; a stream (``streaming``) runs until the caller stops reading,
    reconnecting on its own from its latest cursor.
    """

    source: str
    streaming: bool

    @property
    def cursor_key(self) -> str:
        """The target's identity for cursors: ``source:target`` (``reddit:r/python/new``)."""
        ...

    def batches(self, cursor: str | None) -> Iterator[Batch]: ...


def raw_record(
    fmt: str,
    source_uri: str,
    position: str,
    payload: dict[str, Any],
    *,
    event_time: datetime | None = None,
    context: dict[str, Any] | None = None,
    collected_at: datetime | None = None,
) -> RawRecord:
    """A ``RawRecord`` as connectors emit it: ``position`` is the platform's id for the item (so the raw
    topic's key repeats when a record is collected twice), ``context`` notes when it was collected."""
    seen = (collected_at or datetime.now(UTC)).isoformat()
    return RawRecord(
        format=fmt,
        source_uri=source_uri,
        position=position,
        event_time=event_time,
        payload=payload,
        context={**(context or {}), COLLECTED_AT: seen},
    )


@dataclass
class CollectReport:
    """What one run of a connector did."""

    source: str
    target: str
    batches: int = 0
    records: int = 0
    written: int = 0
    rejected: int = 0
    cursor: str | None = None
    reasons: dict[str, int] = field(default_factory=dict)
