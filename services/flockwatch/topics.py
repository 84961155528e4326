"""Kafka topics: names and settings in one place.

Each stage reads one topic and writes the next; keys are post keys (``platform:id``), and scores are
partitioned by them, so a post's messages on one topic keep their order. Normalised posts are the exception to
the partitioning: each stays in its raw record's partition, so a normalised partition is exactly one raw
partition's sequence in the replayer's order, whichever normalize worker wrote it (more workers interleave
nothing). That is what lets the text stage merge partitions into one reproducible order
(:mod:`flockwatch.stages.ordered_merge`). A post captured twice (two raw records) may so sit in two partitions;
its document is written idempotently either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Topic(StrEnum):
    """A topic of the pipeline (its name after the deployment's prefix: see :func:`topic_name`)."""

    raw = "posts.raw"
    normalized = "posts.normalized"
    text_scores = "scores.text"
    media_scores = "scores.media"
    alerts = "alerts"
    dead_letter = "dead-letter"


# The broker's default record-batch limit (``message.max.bytes``: 1 MiB plus 12 bytes of header).
DEFAULT_MESSAGE_BYTES = 1024 * 1024
# Raw records may carry huge (hostile) payloads; they must still reach the dead-letter topic
# intact, so those two topics accept messages up to this size.
LARGE_MESSAGE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class TopicSpec:
    topic: Topic
    retention_ms: int
    # "producer" keeps what the producer sent (uncompressed: on loopback CPU is scarcer
    # than bandwidth). Codecs other than gzip would need extra client libraries.
    compression: str = "producer"
    # Largest record batch the topic accepts (``max.message.bytes``); a stage must not emit a message
    # near it (see ``fits``).
    max_message_bytes: int = DEFAULT_MESSAGE_BYTES


WEEK_MS = 7 * 24 * 3600 * 1000

TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(Topic.raw, retention_ms=WEEK_MS, max_message_bytes=LARGE_MESSAGE_BYTES),
    TopicSpec(Topic.normalized, retention_ms=WEEK_MS),
    TopicSpec(Topic.text_scores, retention_ms=WEEK_MS),
    TopicSpec(Topic.media_scores, retention_ms=WEEK_MS),
    TopicSpec(Topic.alerts, retention_ms=4 * WEEK_MS),
    # Kept longest, compressed: an operator must be able to inspect and replay rejected input.
    TopicSpec(Topic.dead_letter, retention_ms=4 * WEEK_MS, compression="gzip", max_message_bytes=LARGE_MESSAGE_BYTES),
)
# Room for the record batch's own header and the record's framing around key and value.
_BATCH_OVERHEAD = 1024


def message_limit(topic: Topic) -> int:
    return next(spec.max_message_bytes for spec in TOPICS if spec.topic is topic)


def fits(topic: Topic, key: bytes | None, value: bytes) -> bool:
    """Whether one message fits its topic (the broker refuses a larger one for good: retrying cannot help)."""
    return len(value) + len(key or b"") + _BATCH_OVERHEAD <= message_limit(topic)


def topic_name(prefix: str, topic: Topic) -> str:
    return f"{prefix}.{topic.value}"
