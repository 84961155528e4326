"""Posts and scores from Kafka → store upserts keyed by post key (idempotent by construction)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from flockwatch.messages import InMessage, StageOutcome, describe_error, parse
from flockwatch.schema import MediaScore, Post, TextScore
from flockwatch.store.documents import BulkResult, IndexKind, Upsert
from flockwatch.text.rollup import account_key
from flockwatch.topics import Topic

STAGE = "index"
INPUTS: tuple[Topic, ...] = (Topic.normalized, Topic.text_scores, Topic.media_scores)

_Indexable = Post | TextScore | MediaScore


@dataclass
class IndexPlan:
    upserts: list[Upsert] = field(default_factory=list)
    # Which input message each upsert came from, to dead-letter what the store rejects.
    origins: list[InMessage] = field(default_factory=list)
    outcome: StageOutcome = field(default_factory=StageOutcome)


def post_document(post: Post) -> dict[str, Any]:
    doc = post.model_dump(mode="json", exclude_none=True, exclude={"schema_version", "kind"})
    doc["key"] = post.key
    account = account_key(doc)
    if account:  # one keyword to count and list accounts by (platform:author id): no script needed
        doc["account_key"] = account
    parent = post.parent_key()
    if parent:
        doc["parent_key"] = parent
    return doc


def engagement_snapshot(post: Post) -> Upsert | None:
    """The engagement counts of a live post as a connector saw them at ``collected_at`` (None for replays).

    Its id is the post key and that time, so re-indexing the same message rewrites the same snapshot."""
    if post.collected_at is None:
        return None
    doc: dict[str, Any] = {
        "post_key": post.key,
        "platform": post.platform,
        "hashtags": post.hashtags,
        "source_uri": post.source.uri,
        "created_at": post.created_at.isoformat(),
        "collected_at": post.collected_at.isoformat(),
        **post.engagement.model_dump(exclude_none=True),
    }
    account = account_key({"platform": post.platform, "author": {"id": post.author.id}})
    if account:
        doc["account_key"] = account
    return Upsert(IndexKind.engagement, f"{post.key}@{post.collected_at.isoformat()}", doc, post.collected_at)


def media_url_key(url: str) -> str:
    """The key of a media score in its post's ``media_by_url``: one post can carry several media, so each score
    is keyed by its URL and partial updates merge instead of replacing."""
    return hashlib.sha1(url.encode()).hexdigest()[:16]


# What a post document holds of its scores (for reading them back: ``stored_scores``).
SCORE_FIELDS = ("text_score", "narrative_id", "narrative_how", "media_by_url")


def stored_scores(post: Post, doc: Mapping[str, Any]) -> tuple[TextScore | None, dict[str, MediaScore]]:
    """The text score and the media scores (by URL) that ``to_upsert`` merged into ``post``'s stored document."""
    text = None
    if isinstance(doc.get("text_score"), dict) and doc["text_score"].get("label"):
        fields = {k: doc[k] for k in ("narrative_id", "narrative_how") if doc.get(k)}
        text = TextScore.model_validate(
            {**doc["text_score"], **fields, "post_key": post.key, "post_created_at": post.created_at}
        )
    media = {}
    for stored in (doc.get("media_by_url") or {}).values():
        if not isinstance(stored, Mapping):  # an entry cleared for its rewrite, read between the two updates
            continue
        score = MediaScore.model_validate({**stored, "post_key": post.key})
        media[score.media_url] = score
    return text, media


def to_upsert(item: _Indexable) -> Upsert:
    if isinstance(item, Post):
        return Upsert(IndexKind.posts, item.key, post_document(item), item.created_at)
    if isinstance(item, TextScore):
        # Nulls are written, not left out: the store merges nested objects, so a re-score without a probability
        # (now unscored) would otherwise keep the previous score and interval beside its new label.
        score = item.model_dump(mode="json", include={"machine_score", "label", "interval", "evidence", "model"})
        doc: dict[str, Any] = {"text_score": score}
        if item.narrative_id:
            doc["narrative_id"] = item.narrative_id
            if item.narrative_how:
                doc["narrative_how"] = item.narrative_how
        return Upsert(IndexKind.posts, item.post_key, doc, item.post_created_at)
    media = item.model_dump(
        mode="json", exclude_none=True, exclude={"schema_version", "kind", "post_key", "post_media_risk"}
    )
    key = media_url_key(item.media_url)
    doc = {"media_by_url": {key: media}}
    if "post_media_risk" in item.model_fields_set:
        # Written even when null: a re-score that now scores none of the post's media clears the old risk.
        doc["media_risk"] = item.post_media_risk
    elif item.manipulation_score is not None:  # a score from before the media stage stated its post's risk
        doc["media_risk"] = item.manipulation_score
    # The entry replaces the URL's previous one whole: merged, a re-score that failed would keep the old score,
    # signals and provenance beside its error.
    return Upsert(IndexKind.posts, item.post_key, doc, item.post_created_at, replace=(f"media_by_url.{key}",))


def plan_index(messages: Sequence[InMessage]) -> IndexPlan:
    plan = IndexPlan()
    for msg in messages:
        try:
            item: _Indexable = parse(msg.value, Post, TextScore, MediaScore)
        except Exception as exc:  # a bad message costs itself, never the batch
            plan.outcome.dead_letter(STAGE, msg, describe_error(exc))
            continue
        plan.upserts.append(to_upsert(item))
        plan.origins.append(msg)
        snapshot = engagement_snapshot(item) if isinstance(item, Post) else None
        if snapshot is not None:
            plan.upserts.append(snapshot)
            plan.origins.append(msg)
    return plan


class BulkWriter(Protocol):
    def bulk_upsert(self, upserts: Sequence[Upsert]) -> BulkResult: ...


class IndexStore(Protocol):
    """What the stage needs of the store (:class:`flockwatch.store.Store`): its engine's bulk upsert."""

    @property
    def engine(self) -> BulkWriter: ...


@dataclass
class IndexStage:
    """Moves posts and scores into the store; raises StoreUnavailable so the loop retries.

    Posts and scores only: the narrative and account documents are the ``rollups`` stage's, off this path."""

    store: IndexStore
    name: str = STAGE
    inputs: tuple[Topic, ...] = INPUTS

    def process(self, messages: Sequence[InMessage]) -> StageOutcome:
        plan = plan_index(messages)
        result = self.store.engine.bulk_upsert(plan.upserts)
        outcome = plan.outcome
        outcome.counts["indexed"] += result.written
        rejected = dict(result.rejected)
        if rejected:
            for upsert, origin in zip(plan.upserts, plan.origins, strict=True):
                if upsert.doc_id in rejected:
                    outcome.dead_letter(self.name, origin, f"store rejected the document: {rejected[upsert.doc_id]}")
        return outcome
