"""Raw records → normalised posts; anything unusable goes to the dead-letter topic with its reason."""

from __future__ import annotations

import json
from collections.abc import Sequence

from flockwatch.pipeline.messages import InMessage, OutMessage, StageOutcome, describe_error
from flockwatch.replay import normalize_record
from flockwatch.schema import SCHEMA_VERSION, Post, RawRecord
from flockwatch.topics import Stage, fits, message_limit

STAGE = "normalize"


def parse_raw(value: bytes) -> RawRecord:
    """Decode one raw message strictly: UTF-8, JSON object, known schema version."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"invalid UTF-8 at byte {exc.start}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise ValueError(f"unsupported schema_version {version!r} (this build reads {SCHEMA_VERSION})")
    return RawRecord.model_validate(data)


def normalize_batch(messages: Sequence[InMessage]) -> StageOutcome:
    outcome = StageOutcome()
    for msg in messages:
        try:
            post = normalize_record(parse_raw(msg.value))
        # Broad on purpose: a normaliser bug on one odd record must cost that record, not the stage.
        except Exception as exc:
            outcome.dead_letter(STAGE, msg, describe_error(exc))
            continue
        if post is None:
            outcome.counts["skipped"] += 1
            continue
        key, value = post.key.encode(), post.to_bytes()
        if not fits(Stage.normalized, key, value):
            # The broker would refuse it for good: a retry could never deliver it.
            outcome.dead_letter(STAGE, msg, oversize_reason(post, len(value)))
            continue
        outcome.out.append(OutMessage(Stage.normalized, key, value))
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
    limit = message_limit(Stage.normalized)
    return f"normalized post of {size} bytes exceeds the {limit}-byte message limit of its topic (largest: {biggest})"
