"""Raw records → normalised posts; anything unusable goes to the dead-letter topic with its reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flockwatch.messages import InMessage, OutMessage, StageOutcome, describe_error, parse
from flockwatch.replay import normalize_record
from flockwatch.schema import Post, RawRecord
from flockwatch.topics import Topic, fits, message_limit

STAGE = "normalize"
INPUTS: tuple[Topic, ...] = (Topic.raw,)


def normalize_batch(messages: Sequence[InMessage]) -> StageOutcome:
    outcome = StageOutcome()
    for msg in messages:
        try:
            post = normalize_record(parse(msg.value, RawRecord))
        # Broad on purpose: a normaliser bug on one odd record must cost that record, not the stage.
        except Exception as exc:
            outcome.dead_letter(STAGE, msg, describe_error(exc))
            continue
        if post is None:
            outcome.counts["skipped"] += 1
            continue
        key, value = post.key.encode(), post.to_bytes()
        if not fits(Topic.normalized, key, value):
            # The broker would refuse it for good: a retry could never deliver it.
            outcome.dead_letter(STAGE, msg, oversize_reason(post, len(value)))
            continue
        outcome.out.append(OutMessage(Topic.normalized, key, value, msg.raw_partition, partition=msg.partition))
        outcome.counts["normalized"] += 1
    return outcome


def oversize_reason(post: Post, size: int) -> str:
    """Which fields make a normalised post too large for its topic, biggest first."""
    parts = {
        "text": len(post.text.encode("utf-8")),
        "urls": sum(len(u.encode("utf-8")) for u in post.urls),
        "hashtags": sum(len(h.encode("utf-8")) for h in post.hashtags),
        "mentions": sum(len(m.encode("utf-8")) for m in post.mentions),
        "media": sum(len(m.model_dump_json(exclude_none=True)) for m in post.media),
    }
    biggest = ", ".join(f"{name} {n} bytes" for name, n in sorted(parts.items(), key=lambda kv: -kv[1])[:2])
    limit = message_limit(Topic.normalized)
    return f"normalized post of {size} bytes exceeds the {limit}-byte message limit of its topic (largest: {biggest})"


@dataclass
class NormalizeStage:
    """Raw records → normalised posts (one contract for every platform and dataset)."""

    name: str = STAGE
    inputs: tuple[Topic, ...] = INPUTS

    def process(self, messages: Sequence[InMessage]) -> StageOutcome:
        return normalize_batch(messages)
