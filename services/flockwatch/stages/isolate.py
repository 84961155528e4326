"""Poison isolation: a batch that fails for a reason retrying the batch cannot fix costs only its bad record.

The at-least-once loop hands whole batches to a stage. When a batch fails with an error that is not transient
(a server away is transient: the whole batch is retried later, as before), it is halved and each half is
processed and delivered on its own, recursively, until the failing record is alone. That record is tried
``max_attempts`` times in all (an error can be rarer than "always"), then dead-lettered with the stage's error
and its attempt count; every other record of the batch is processed normally.

A batch in which no record succeeds, not even alone, is a stage that cannot work (a full disk, a model that cannot
run, a store that answers every read with an error), not that many bad records: from ``systemic_records``
records up, nothing of it is dead-lettered and :class:`StageFailing` (transient) makes the loop retry the batch
later, so a broken stage stalls (loudly) instead of emptying the stream into dead letters. Below that size a
batch is too small to tell, and its records are dead-lettered as before. Nothing is delivered before the first
success, so the verdict leaves nothing half done.

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
# Records that must all fail alone, with none succeeding, before the stage rather than its input is blamed. A
# batch made only of bad records this large stalls too: the price of not dead-lettering a broken stage's input.
SYSTEMIC_RECORDS = 4


class StageFailing(TransientError):
    """No record of a batch could be processed, not even alone: the stage is broken, not its input. Retried like a
    server away (nothing dead-lettered, nothing committed)."""


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
) -> StageOutcome:
    """Process and deliver ``batch``; return the counts of everything delivered (outputs already sent).

    Transient errors propagate (the caller retries the batch); any other error is narrowed down to one record,
    which is dead-lettered under ``name`` after ``max_attempts`` failures. :class:`StageFailing` when no record of
    a batch of at least ``systemic_records`` succeeds."""
    run = _Isolation(name, process, deliver, is_transient, wait, max_attempts, systemic_records)
    try:
        return run.attempt(batch)
    except Exception as exc:
        if is_transient(exc):
            raise
        first = exc
    outcome = run.narrow(batch, first)
    if not run.succeeded:
        if len(batch) >= systemic_records:
            raise StageFailing(
                f"{name}: none of the {len(batch)} records of the batch could be processed, not even alone "
                f"(last error: {describe_error(run.last_error or first):.300}); retrying the batch later"
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
    succeeded: bool = False
    last_error: Exception | None = None
    # Records that failed alone, held back until one succeeds: until then, the batch may be a broken stage's.
    held: list[tuple[InMessage, int, Exception]] = field(default_factory=list)

    def attempt(self, batch: Sequence[InMessage]) -> StageOutcome:
        outcome = self.process(batch)
        self.deliver(outcome.out)
        if not self.succeeded:
            self.succeeded = True
            self.release()
        return outcome

    def release(self) -> None:
        """Dead-letter the held records."""
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
        self.held = []
        if letters.out:
            self.deliver(letters.out)

    def narrow(self, batch: Sequence[InMessage], error: Exception) -> StageOutcome:
        if len(batch) == 1:
            return self._retry_alone(batch[0], error)
        log.warning("%s: batch of %d failed (%.300s); halving it to find the record", self.name, len(batch), error)
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
            total.counts.update(part.counts)
        return total

    def _retry_alone(self, msg: InMessage, first: Exception) -> StageOutcome:
        # Once several records failed alone and none succeeded, the stage looks broken: one try each is enough
        # to find out whether any record of the batch works.
        tries = 1 if not self.succeeded and len(self.held) >= self.systemic_records else self.max_attempts
        last = first
        for attempt in range(2, tries + 1):
            self.wait(0.2 * 2 ** (attempt - 2))
            try:
                return self.attempt([msg])
            except Exception as exc:
                if self.is_transient(exc):
                    raise
                last = exc
        self.last_error = last
        self.held.append((msg, tries, last))
        if self.succeeded:
            self.release()
        outcome = StageOutcome()
        outcome.counts["dead_lettered"] += 1
        outcome.counts["isolated"] += 1
        return outcome
