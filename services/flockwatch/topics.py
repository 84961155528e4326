"""Kafka topics: names and settings in one place.

Each stage reads one topic and writes the next; keys are post keys
(``platform:id``) so every message about a post lands on the same partition and
per-post order holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Stage(StrEnum):
    raw = "posts.raw"
    normalized = "posts.normalized"
    text_scores = "scores.text"
    media_scores = "scores.media"
    alerts = "alerts"
    dead_letter = "dead-letter"


@dataclass(frozen=True)
class TopicSpec:
    stage: Stage
    retention_ms: int
    # "producer" keeps what the producer sent (uncompressed: on loopback CPU is scarcer
    # than bandwidth). Codecs other than gzip would need extra client libraries.
    compression: str = "producer"


WEEK_MS = 7 * 24 * 3600 * 1000

TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(Stage.raw, retention_ms=WEEK_MS),
    TopicSpec(Stage.normalized, retention_ms=WEEK_MS),
    TopicSpec(Stage.text_scores, retention_ms=WEEK_MS),
    TopicSpec(Stage.media_scores, retention_ms=WEEK_MS),
    TopicSpec(Stage.alerts, retention_ms=4 * WEEK_MS),
    # Kept longest, compressed: an operator must be able to inspect and replay rejected input.
    TopicSpec(Stage.dead_letter, retention_ms=4 * WEEK_MS, compression="gzip"),
)


def topic_name(prefix: str, stage: Stage) -> str:
    return f"{prefix}.{stage.value}"
