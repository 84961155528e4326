"""Poison isolation: a batch that fails for a reason retrying the batch cannot fix costs only its bad record.

The at-least-once loop hands whole batches to a stage. When a batch fails with an error that is not transient
(a server away is transient: the whole batch is retried later, as before), it is halved and each half is
processed and delivered on its own, recursively, until the failing record is alone. That record is tried
``max_attempts`` times in all (an error can be rarer than "always"), then dead-lettered with the stage's error
and its attempt count; every other record of the batch is processed normally.

Halves are processed again from scratch, so the outputs of a half that was delivered before a later failure
may be delivered twice: the same at-least-once redelivery every stage already absorbs (idempotent writes).
Pure: the stage, the delivery and the wait are passed in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from flockwatch.messages import InMessage, OutMessage, StageOutcome, describe_error

log = logging.getLogger(__name__)

# One attempt inside the failing batch, then two more alone before a record is dead-lettered.
MAX_ATTEMPTS = 3


def process_isolating(
    name: str,
    process: Callable[[Sequence[InMessage]], StageOutcome],
    deliver: Callable[[Sequence[OutMessage]], None],
    batch: Sequence[InMessage],
    *,
    is_transient: Callable[[BaseException], bool],
    wait: Callable[[float], object] = lambda _s: None,
    max_attempts: int = MAX_ATTEMPTS,
) -> StageOutcome:
    """Process and deliver ``batch``; return the counts of everything delivered (outputs already sent).

    Transient errors propagate (the caller retries the batch); any other error is narrowed down to one record,
    which is dead-lettered under ``name`` after ``max_attempts`` failures."""
    try:
        outcome = process(batch)
        deliver(outcome.out)
        return outcome
    except Exception as exc:
        if is_transient(exc):
            raise
        if len(batch) == 1:
            return _retry_alone(name, process, deliver, batch[0], exc, is_transient, wait, max_attempts)
        log.warning("%s: batch of %d failed (%.300s); halving it to find the record", name, len(batch), exc)
    middle = len(batch) // 2
    total = StageOutcome()
    total.counts["isolation_splits"] += 1
    for half in (batch[:middle], batch[middle:]):
        part = process_isolating(
            name, process, deliver, half, is_transient=is_transient, wait=wait, max_attempts=max_attempts
        )
        total.counts.update(part.counts)
    return total


def _retry_alone(
    name: str,
    process: Callable[[Sequence[InMessage]], StageOutcome],
    deliver: Callable[[Sequence[OutMessage]], None],
    msg: InMessage,
    first: Exception,
    is_transient: Callable[[BaseException], bool],
    wait: Callable[[float], object],
    max_attempts: int,
) -> StageOutcome:
    last = first
    for attempt in range(2, max_attempts + 1):
        wait(0.2 * 2 ** (attempt - 2))
        try:
            outcome = process([msg])
            deliver(outcome.out)
            return outcome
        except Exception as exc:
            if is_transient(exc):
                raise
            last = exc
    log.error(
        "%s: %s[%d]@%d failed %d times (%.300s); dead-lettered",
        name,
        msg.topic,
        msg.partition,
        msg.offset,
        max_attempts,
        last,
    )
    letter = StageOutcome()
    reason = f"{name} failed on this record {max_attempts} times: {describe_error(last)}"
    letter.dead_letter(name, msg, reason, attempts=max_attempts)
    deliver(letter.out)
    letter.counts["isolated"] += 1
    return letter
