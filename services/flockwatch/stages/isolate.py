"""Poison isolation: a batch that fails for a reason retrying the batch cannot fix costs only its bad record.

The at-least-once loop hands whole batches to a stage. When a batch fails with an error that is not transient
(a server away is transient: the whole batch is retried later, as before), it is halved and each half is
processed and delivered on its own, recursively, until the failing record is alone. That record is tried
``max_attempts`` times in all (an error can be rarer than "always"; once the stage looks broken, below, once),
then dead-lettered with the stage's error and its attempt count; every other record of the batch is processed
normally.

A stage that fails on every record, even alone, is broken (a full disk, a model that cannot run, a store that
answers every read with an error), and blaming its records would empty the stream into dead letters. So the
records that fail alone are held back until a record succeeds. When ``systemic_records`` of them have failed in a
row with none succeeding (a :class:`FailureStreak` the loop keeps across batches, so a trickle of one-record
batches counts too), nothing held is dead-lettered and :class:`StageFailing` (transient) makes the loop retry the
batch later: a broken stage stalls, loudly, and loses nothing. While it fails, the loop tries it on one record at
a time (a probe), not on whole batches. Nothing of a batch is delivered before its first success, so the verdict
leaves nothing half done. A success is an attempt that did more than dead-letter its own input (a malformed
record the stage rejects by itself proves nothing about the stage). The price: a run of ``systemic_records`` bad
records with no good one between them stalls the stage too.

Halves are processed again from scratch, so the outputs of a half that was delivered before a later failure
may be delivered twice: the same at-least-once redelivery every stage already absorbs (idempotent writes).
Pure: the stage, the delivery and the wait are passed in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from flockwatch.messages import InMessage, OutMessage, StageOutcome, TransientError, describe_error

log = logging.getLogger(__name__)

# One attempt inside the failing batch, then two more alone before a record is dead-lettered.
MAX_ATTEMPTS = 3
# Records failing alone in a row, none succeeding, before the stage rather than its input is blamed.
SYSTEMIC_RECORDS = 4


@dataclass
class FailureStreak:
    """Records that failed alone in a row, none succeeding between them, across the loop's batches."""

    records: int = 0

    @property
    def stage_failing(self) -> bool:
        return self.records >= SYSTEMIC_RECORDS


class StageFailing(TransientError):
    """Records keep failing even alone and none succeeds: the stage is broken, not its input. Retried like a server
    away (nothing dead-lettered, nothing committed)."""


def process_isolating(
    name: str,
    process: Callable[[Sequence[InMessage]], StageOutcome],
    deliver: Callable[[Sequence[OutMessage]], None],
    batch: Sequence[InMessage],
    *,
    is_transient: Callable[[BaseException], bool],
    wait: Callable[[float], object] = lambda _s: None,
    max_attempts: int = MAX_ATTEMPTS,
    systemic_records: int = SYSTEMIC_RECORDS,
    streak: FailureStreak | None = None,
) -> StageOutcome:
    """Process and deliver ``batch``; return the counts of everything delivered (outputs already sent).

    Transient errors propagate (the caller retries the batch); any other error is narrowed down to one record,
    which is dead-lettered under ``name`` after ``max_attempts`` failures. :class:`StageFailing` when no record of
    the batch succeeds and ``systemic_records`` records have failed alone in a row (those of the batches before
    included: ``streak``, which the loop keeps and this updates)."""
    streak = streak if streak is not None else FailureStreak()
    run = _Isolation(name, process, deliver, is_transient, wait, max_attempts, systemic_records, streak.records)
    try:
        outcome = run.attempt(batch)
    except Exception as exc:
        if is_transient(exc):
            raise  # (the streak stays as it was: this batch comes again)
        outcome = run.narrow(batch, exc)
    streak.records = run.streak
    if run.held:
        if run.failing:
            raise StageFailing(
                f"{name}: {run.streak} records in a row failed even alone and none succeeded "
                f"(last error: {describe_error(run.held[-1][2]):.300}); retrying the batch later"
            )
        run.release()
    return outcome


@dataclass
class _Isolation:
    name: str
    process: Callable[[Sequence[InMessage]], StageOutcome]
    deliver: Callable[[Sequence[OutMessage]], None]
    is_transient: Callable[[BaseException], bool]
    wait: Callable[[float], object]
    max_attempts: int
    systemic_records: int
    failed_before: int
    succeeded: bool = False
    streak: int = 0  # records failed alone since the last success (or, before one, since the batches before)
    # Records that failed alone, held back until one succeeds: until then, the batch may be a broken stage's.
    held: list[tuple[InMessage, int, Exception]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.streak = self.failed_before

    @property
    def failing(self) -> bool:
        """No success yet, and enough records failed alone in a row to blame the stage."""
        return not self.succeeded and self.streak >= self.systemic_records

    def attempt(self, batch: Sequence[InMessage]) -> StageOutcome:
        """Process and deliver; a failure here is the batch's (the caller narrows it down)."""
        outcome = self.process(batch)
        self.deliver(outcome.out)
        if outcome.counts["dead_lettered"] < len(batch):
            self.succeeded = True
            self.streak = 0
        return outcome

    def release(self) -> None:
        """Dead-letter the held records. Called outside the ``try`` that blames a batch: a failure to deliver the
        letters is not the fault of the records that happened to succeed before it."""
        if not self.held:
            return
        letters = StageOutcome()
        for msg, tries, error in self.held:
            log.error(
                "%s: %s[%d]@%d failed %d times (%.300s); dead-lettered",
                self.name,
                msg.topic,
                msg.partition,
                msg.offset,
                tries,
                error,
            )
            reason = f"{self.name} failed on this record {tries} times: {describe_error(error)}"
            letters.dead_letter(self.name, msg, reason, attempts=tries)
        self.deliver(letters.out)
        self.held = []

    def narrow(self, batch: Sequence[InMessage], error: Exception) -> StageOutcome:
        if len(batch) == 1:
            return self._retry_alone(batch[0], error)
        # Once the stage looks broken, every split would say the same.
        level = logging.DEBUG if self.failing else logging.WARNING
        log.log(level, "%s: batch of %d failed (%.300s); halving it to find the record", self.name, len(batch), error)
        middle = len(batch) // 2
        total = StageOutcome()
        total.counts["isolation_splits"] += 1
        for half in (batch[:middle], batch[middle:]):
            try:
                part = self.attempt(half)
            except Exception as exc:
                if self.is_transient(exc):
                    raise
                part = self.narrow(half, exc)
            else:
                self._release_if_proven()
            total.counts.update(part.counts)
        return total

    def _release_if_proven(self) -> None:
        if self.succeeded:
            self.release()

    def _retry_alone(self, msg: InMessage, first: Exception) -> StageOutcome:
        # Once the stage looks broken, one try each is enough to find out whether any record works.
        tries = 1 if self.failing else self.max_attempts
        last = first
        for attempt in range(2, tries + 1):
            self.wait(0.2 * 2 ** (attempt - 2))
            try:
                outcome = self.attempt([msg])
            except Exception as exc:
                if self.is_transient(exc):
                    raise
                last = exc
            else:
                self._release_if_proven()
                return outcome
        self.streak += 1
        self.held.append((msg, tries, last))
        self._release_if_proven()
        outcome = StageOutcome()
        outcome.counts["dead_lettered"] += 1
        outcome.counts["isolated"] += 1
        return outcome
