"""Poison isolation: a batch that fails for a reason retrying the batch cannot fix costs only its bad record.

The at-least-once loop hands whole batches to a stage. When a batch fails with an error that is not transient
(a server away is transient: the whole batch is retried later, as before), it is halved and each half is
processed and delivered on its own, recursively, until the failing record is alone. That record is tried
``max_attempts`` times in all (an error can be rarer than "always"), then dead-lettered with the stage's error
and its attempt count; every other record of the batch is processed normally.

Isolation has a deadline (the loop gives half its poll interval): past it, :class:`IsolationPaused` says how many
records at the head of the batch were handled (halves go left to right, so they are a prefix), and the loop
commits those and reads on from the next, so a batch that fails record after record cannot outlast
``max.poll.interval`` and be redelivered forever. At least one record is handled before a pause.

A stage that fails on every record (a full disk, a model that cannot run) dead-letters every record it reads,
each after its attempts, each logged as an error; once it is mended, ``flockwatch dead-letters --redrive`` puts
the originals back on their topics (:mod:`flockwatch.redrive`).

Halves are processed again from scratch, so the outputs of a half that was delivered before a later failure
may be delivered twice: the same at-least-once redelivery every stage already absorbs (idempotent writes).
Pure: the stage, the delivery, the wait and the clock are passed in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from flockwatch.messages import InMessage, OutMessage, StageOutcome, describe_error

log = logging.getLogger(__name__)

# One attempt inside the failing batch, then two more alone before a record is dead-lettered.
MAX_ATTEMPTS = 3


class IsolationPaused(Exception):
    """Isolating a batch reached its deadline: ``done`` records at its head are handled (delivered or
    dead-lettered) and their counts are in ``outcome``; the rest is for the next poll."""

    def __init__(self, done: int, outcome: StageOutcome) -> None:
        super().__init__(f"isolation paused after {done} records")
        self.done, self.outcome = done, outcome


def process_isolating(
    name: str,
    process: Callable[[Sequence[InMessage]], StageOutcome],
    deliver: Callable[[Sequence[OutMessage]], None],
    batch: Sequence[InMessage],
    *,
    is_transient: Callable[[BaseException], bool],
    wait: Callable[[float], object] = lambda _s: None,
    max_attempts: int = MAX_ATTEMPTS,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> StageOutcome:
    """Process and deliver ``batch``; return the counts of everything delivered (outputs already sent).

    Transient errors propagate (the caller retries the batch); any other error is narrowed down to one record,
    which is dead-lettered under ``name`` after ``max_attempts`` failures. Past ``deadline`` (on ``clock``),
    :class:`IsolationPaused` once at least one record is handled."""
    try:
        outcome = process(batch)
        deliver(outcome.out)
        return outcome
    except Exception as exc:
        if is_transient(exc):
            raise
        first = exc
    run = _Isolation(name, process, deliver, is_transient, wait, max_attempts, deadline, clock)
    return run.narrow(batch, first, 0)


@dataclass
class _Isolation:
    name: str
    process: Callable[[Sequence[InMessage]], StageOutcome]
    deliver: Callable[[Sequence[OutMessage]], None]
    is_transient: Callable[[BaseException], bool]
    wait: Callable[[float], object]
    max_attempts: int
    deadline: float | None
    clock: Callable[[], float]

    def narrow(self, batch: Sequence[InMessage], error: Exception, start: int) -> StageOutcome:
        """``start``: where ``batch`` begins in the whole batch (the records before it are handled)."""
        if len(batch) == 1:
            return self._retry_alone(batch[0], error)
        log.warning("%s: batch of %d failed (%.300s); halving it to find the record", self.name, len(batch), error)
        # Out of time before anything is handled: the head record alone, so the first pause comes after one
        # record's attempts rather than after a descent through ever smaller halves.
        middle = 1 if start == 0 and self._past_deadline() else len(batch) // 2
        total = StageOutcome()
        total.counts["isolation_splits"] += 1
        for offset, half in ((0, batch[:middle]), (middle, batch[middle:])):
            if start + offset > 0 and self._past_deadline():
                raise IsolationPaused(start + offset, total)
            try:
                part = self.process(half)
                self.deliver(part.out)
            except Exception as exc:
                if self.is_transient(exc):
                    raise
                try:
                    part = self.narrow(half, exc, start + offset)
                except IsolationPaused as paused:
                    total.counts.update(paused.outcome.counts)
                    raise IsolationPaused(paused.done, total) from None
            total.counts.update(part.counts)
        return total

    def _past_deadline(self) -> bool:
        return self.deadline is not None and self.clock() > self.deadline

    def _retry_alone(self, msg: InMessage, first: Exception) -> StageOutcome:
        last = first
        for attempt in range(2, self.max_attempts + 1):
            self.wait(0.2 * 2 ** (attempt - 2))
            try:
                outcome = self.process([msg])
                self.deliver(outcome.out)
                return outcome
            except Exception as exc:
                if self.is_transient(exc):
                    raise
                last = exc
        log.error(
            "%s: %s[%d]@%d failed %d times (%.300s); dead-lettered",
            self.name,
            msg.topic,
            msg.partition,
            msg.offset,
            self.max_attempts,
            last,
        )
        letter = StageOutcome()
        reason = f"{self.name} failed on this record {self.max_attempts} times: {describe_error(last)}"
        letter.dead_letter(self.name, msg, reason, attempts=self.max_attempts)
        self.deliver(letter.out)
        letter.counts["isolated"] += 1
        return letter
