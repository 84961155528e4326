"""Which dead letters can go back to where they came from, once what rejected them is fixed.

A dead letter keeps its original bytes and the topic it was read from (:class:`~flockwatch.schema.DeadLetter`), so
after a stage bug is fixed (a record the stage crashed on, dead-lettered by poison isolation) an operator can put
the originals back on their source topics (``flockwatch dead-letters --redrive``) and the stages take them as new
records. Redriving is at-least-once like the rest of the pipeline: a letter may be redriven twice, and every stage
writes idempotently. A letter that still fails is dead-lettered again, with its new reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from flockwatch.schema import DeadLetter
from flockwatch.topics import Topic, topic_name


@dataclass(frozen=True)
class RedrivePlan:
    """Where a dead letter's original goes back to (``topic``), or why it cannot (``why_not``)."""

    topic: str | None
    why_not: str | None = None


def redrive_plan(letter: DeadLetter, topic_prefix: str) -> RedrivePlan:
    """A letter goes back to its source topic, if it has one in this deployment and its original was kept whole."""
    if letter.source_topic is None:
        # The replayer's oversize records and the documents the store rejected were never read from a topic.
        return RedrivePlan(
            None,
            "no source topic: it was not read from one (a rollup, graph or alert document the store rejected, "
            "or a record refused before it was produced)",
        )
    if letter.source_topic not in {topic_name(topic_prefix, t) for t in Topic if t is not Topic.dead_letter}:
        return RedrivePlan(None, f"source topic {letter.source_topic!r} is not one of this deployment's stage inputs")
    if letter.original_truncated:
        return RedrivePlan(None, f"only the first bytes of its {letter.original_size}-byte original were kept")
    return RedrivePlan(letter.source_topic)
