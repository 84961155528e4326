"""Plain-data messages that stages consume and emit, free of any Kafka client type."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from pydantic import ValidationError

from flockwatch.schema import DeadLetter
from flockwatch.topics import Stage


class TransientError(RuntimeError):
    """A stage could not finish a batch for a reason that passes (a server away): retry it later."""


class UpstreamBehind(TransientError):
    """What a batch needs is not there yet because an earlier stage has not caught up: an expected wait."""


@dataclass(frozen=True)
class InMessage:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


@dataclass(frozen=True)
class OutMessage:
    stage: Stage
    key: bytes | None
    value: bytes


@dataclass
class StageOutcome:
    out: list[OutMessage] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def dead_letter(self, stage_name: str, msg: InMessage, reason: str, attempts: int | None = None) -> None:
        # DeadLetter.of truncates an original too large for the envelope (keeping its size and sha256).
        letter = DeadLetter.of(
            stage_name,
            reason,
            msg.value,
            attempts=attempts,
            source_topic=msg.topic,
            source_partition=msg.partition,
            source_offset=msg.offset,
        )
        self.out.append(OutMessage(Stage.dead_letter, msg.key, letter.to_bytes()))
        self.counts["dead_lettered"] += 1


def describe_error(exc: Exception) -> str:
    """One line an operator can act on: which field, what was wrong."""
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err["loc"]) or "record"
            parts.append(f"{where}: {err['msg']}")
        more = f" (+{exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
        return "; ".join(parts) + more
    return f"{type(exc).__name__}: {exc}"
