"""Poison isolation: a batch that fails for a reason retrying the batch cannot fix costs only its bad record.

The at-least-once loop hands whole batches to a stage. When a batch fails with an error that is not transient
(a server away is transient: the whole batch is retried later, as before), it is halved and each half is
processed and delivered on its own, recursively, until the failing record is alone. That record is tried
``max_attempts`` times in all (an error can be rarer than "always"), then dead-lettered with the stage's error
and its attempt count; every other record of the batch is processed normally.

**Bad record or broken stage?** A stage that fails on every record (a full disk, a model that cannot run, a store
that answers every read with an error) would fail each record alone too, and blaming the records would empty the
stream into dead letters. So before a record is dead-lettered, the stage is checked on a record it processed
before (the *canary*, kept by the loop in :class:`StageHealth`): processed again (outputs not delivered; every stage
absorbs a record processed twice), it must still succeed. If it fails too, the stage is broken:
:class:`StageFailing` (transient) says so, with how many records of the batch were handled, and the loop commits
those and retries the rest later, with a backoff, one record at a time until one succeeds. A broken stage stalls,
loudly, and dead-letters nothing; a bad record never stalls a working stage. Without a canary (a worker that has
processed nothing yet), a record that fails alone waits for a later record of the batch to succeed (after
``UNJUDGED_RECORDS`` such records, each further one gets one try); if none does, the batch is retried later from
the first of them, in a window that doubles each time until a good record is in it (a stage that has never worked
is not trusted to judge its input).

A canary is a record whose attempt succeeded with no dead letter (a record the stage rejects by itself, as
malformed, proves nothing about the rest of the stage).

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
# With no canary, records failing alone in a row, none going through, after which each further one gets one try.
UNJUDGED_RECORDS = 4


@dataclass
class StageHealth:
    """What the loop knows of its stage across batches."""

    # A record the stage processed cleanly, re-run to tell a bad record from a broken stage.
    canary: InMessage | None = None
    # Set while the stage is failing: how many records its next try takes. One when a canary can judge it (a bad
    # first record is then dead-lettered); without one, a window that doubles, so a good record behind bad ones is
    # reached at last.
    probe: int | None = None

    @property
    def failing(self) -> bool:
        return self.probe is not None

    def failed(self) -> None:
        self.probe = 1 if self.canary is not None else min(2 * (self.probe or 4), 1 << 20)


class StageFailing(TransientError):
    """The stage failed on a record and on its canary too (or, with no canary, on records in a row with none after
    them going through): it is broken, not its input. ``done``: the records at the head of the batch that were
    handled (processed, delivered, or dead-lettered) before it; the rest is retried later, none of it
    dead-lettered."""

    def __init__(self, message: str, done: int) -> None:
        super().__init__(message)
        self.done = done


def process_isolating(
    name: str,
    process: Callable[[Sequence[InMessage]], StageOutcome],
    deliver: Callable[[Sequence[OutMessage]], None],
    batch: Sequence[InMessage],
    *,
    is_transient: Callable[[BaseException], bool],
    wait: Callable[[float], object] = lambda _s: None,
    max_attempts: int = MAX_ATTEMPTS,
    health: StageHealth | None = None,
) -> StageOutcome:
    """Process and deliver ``batch``; return the counts of everything delivered (outputs already sent).

    Transient errors propagate (the caller retries the batch); any other error is narrowed down to one record,
    which is dead-lettered under ``name`` after ``max_attempts`` failures if the stage still works
    (:class:`StageFailing` if not). ``health`` carries the canary from batch to batch and is updated."""
    run = _Isolation(name, process, deliver, is_transient, wait, max_attempts, health or StageHealth())
    try:
        outcome = run.attempt(batch)
    except Exception as exc:
        if is_transient(exc):
            raise
        outcome = run.narrow(batch, exc, 0)
    if run.held:  # no record after them succeeded, and there was no canary to ask
        raise run.untrusted()
    run.health.probe = None
    return outcome


@dataclass
class _Isolation:
    name: str
    process: Callable[[Sequence[InMessage]], StageOutcome]
    deliver: Callable[[Sequence[OutMessage]], None]
    is_transient: Callable[[BaseException], bool]
    wait: Callable[[float], object]
    max_attempts: int
    health: StageHealth
    # Records that failed alone while there was no canary: dead-lettered once a later record succeeds.
    held: list[tuple[InMessage, int, Exception]] = field(default_factory=list)
    held_from: int = 0  # the first held record's place in the batch

    def attempt(self, batch: Sequence[InMessage]) -> StageOutcome:
        """Process and deliver; a failure here is the batch's (the caller narrows it down)."""
        outcome = self.process(batch)
        self.deliver(outcome.out)
        if outcome.counts["dead_lettered"] == 0:
            self.health.canary = batch[-1]
        return outcome

    def narrow(self, batch: Sequence[InMessage], error: Exception, start: int) -> StageOutcome:
        """``start``: where ``batch`` begins in the whole batch (for :class:`StageFailing`'s ``done``)."""
        if len(batch) == 1:
            return self._retry_alone(batch[0], error, start)
        log.warning("%s: batch of %d failed (%.300s); halving it to find the record", self.name, len(batch), error)
        middle = len(batch) // 2
        total = StageOutcome()
        total.counts["isolation_splits"] += 1
        for offset, half in ((0, batch[:middle]), (middle, batch[middle:])):
            try:
                part = self.attempt(half)
            except Exception as exc:
                if self.is_transient(exc):
                    raise
                part = self.narrow(half, exc, start + offset)
            else:
                self._release_held(part, half)
            total.counts.update(part.counts)
        return total

    def _retry_alone(self, msg: InMessage, first: Exception, index: int) -> StageOutcome:
        # With no canary and several records failing in a row, one try each finds a good record sooner.
        tries = 1 if len(self.held) >= UNJUDGED_RECORDS else self.max_attempts
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
                self._release_held(outcome, [msg])
                return outcome
        outcome = StageOutcome()
        outcome.counts["isolated"] += 1
        outcome.counts["dead_lettered"] += 1
        if self.health.canary is None:
            self.held.append((msg, tries, last))
            self.held_from = index if len(self.held) == 1 else self.held_from
        else:
            self._check_stage(msg, last, index)
            self._dead_letter([(msg, tries, last)])
        return outcome

    def untrusted(self) -> StageFailing:
        """Records failed alone with no canary to judge them and no later record of the batch going through."""
        _msg, _tries, error = self.held[-1]
        self.health.failed()
        return StageFailing(
            f"{self.name}: {len(self.held)} record(s) in a row failed even alone and no later record succeeded, "
            f"with no earlier record to check the stage on (last error: {describe_error(error):.300}); retrying "
            "later",
            done=self.held_from,
        )

    def _check_stage(self, msg: InMessage, error: Exception, index: int) -> None:
        """Raise :class:`StageFailing` unless the canary still goes through (its outputs are not delivered again)."""
        canary = self.health.canary
        assert canary is not None
        try:
            self.process([canary])
        except Exception as exc:
            if self.is_transient(exc):
                raise
            self.health.failed()
            raise StageFailing(
                f"{self.name}: {msg.topic}[{msg.partition}]@{msg.offset} failed even alone, and so did a record the "
                f"stage processed before ({canary.topic}[{canary.partition}]@{canary.offset}): the stage is broken, "
                f"not the record (error: {describe_error(error):.300}); retrying later",
                done=index,
            ) from exc

    def _release_held(self, outcome: StageOutcome, batch: Sequence[InMessage]) -> None:
        """A later record went through: the held ones were bad records, not a broken stage. Called outside the
        ``try`` that blames a batch: a failure to deliver the letters is not the records' that went through."""
        if self.held and outcome.counts["dead_lettered"] < len(batch):
            held, self.held = self.held, []
            self._dead_letter(held)

    def _dead_letter(self, records: Sequence[tuple[InMessage, int, Exception]]) -> None:
        letters = StageOutcome()
        for msg, tries, error in records:
            log.error(
                "%s: %s[%d]@%d failed %d times (%.300s); dead-lettered",
                self.name,
                msg.topic,
                msg.partition,
                msg.offset,
                tries,
                error,
            )
            letters.dead_letter(
                self.name,
                msg,
                f"{self.name} failed on this record {tries} times: {describe_error(error)}",
                attempts=tries,
            )
        self.deliver(letters.out)
