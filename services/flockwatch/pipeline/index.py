"""Posts and scores from Kafka → store upserts keyed by post key (idempotent by construction)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from flockwatch.pipeline.messages import InMessage, StageOutcome, describe_error
from flockwatch.schema import SCHEMA_VERSION, MediaScore, Post, TextScore
from flockwatch.store import IndexKind, Upsert

STAGE = "index"

_Indexable = Post | TextScore | MediaScore
_PARSER: TypeAdapter[_Indexable] = TypeAdapter(Annotated[_Indexable, Field(discriminator="kind")])


@dataclass
class IndexPlan:
    upserts: list[Upsert] = field(default_factory=list)
    # Which input message each upsert came from, to dead-letter what the store rejects.
    origins: list[InMessage] = field(default_factory=list)
    outcome: StageOutcome = field(default_factory=StageOutcome)


def post_document(post: Post) -> dict[str, Any]:
    doc = post.model_dump(mode="json", exclude_none=True, exclude={"schema_version", "kind"})
    doc["key"] = post.key
    parent = post.parent_key()
    if parent:
        doc["parent_key"] = parent
    return doc


def to_upsert(item: _Indexable) -> Upsert:
    if isinstance(item, Post):
        return Upsert(IndexKind.posts, item.key, post_document(item), item.created_at)
    if isinstance(item, TextScore):
        score = item.model_dump(mode="json", exclude_none=True, include={"machine_score", "label", "evidence", "model"})
        doc: dict[str, Any] = {"text_score": score}
        if item.narrative_id:
            doc["narrative_id"] = item.narrative_id
            if item.narrative_how:
                doc["narrative_how"] = item.narrative_how
        return Upsert(IndexKind.posts, item.post_key, doc, item.post_created_at)
    # One post can carry several media: key each score by its URL so partial updates merge, not replace.
    url_key = hashlib.sha1(item.media_url.encode()).hexdigest()[:16]
    media = item.model_dump(mode="json", exclude_none=True, exclude={"schema_version", "kind", "post_key"})
    doc = {"media_by_url": {url_key: media}}
    if item.manipulation_score is not None:
        # Posts rarely carry more than one media item; the field holds the latest scored one's risk.
        doc["media_risk"] = item.manipulation_score
    return Upsert(IndexKind.posts, item.post_key, doc, item.post_created_at)


def plan_index(messages: Sequence[InMessage]) -> IndexPlan:
    plan = IndexPlan()
    for msg in messages:
        try:
            item = _PARSER.validate_json(msg.value)
            if item.schema_version != SCHEMA_VERSION:
                raise ValueError(f"unsupported schema_version {item.schema_version}")
        except Exception as exc:  # a bad message costs itself, never the batch
            plan.outcome.dead_letter(STAGE, msg, describe_error(exc))
            continue
        plan.upserts.append(to_upsert(item))
        plan.origins.append(msg)
    return plan
