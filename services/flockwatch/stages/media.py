"""The media-scoring stage as a function: normalised posts in, one ``MediaScore`` per media item out.

The Kafka worker (``flockwatch worker media``) and the Airflow task (``index_stream.score_media``) both
run it through :class:`MediaScoreStage`; nothing here knows about Kafka. Media that cannot be
fetched or decoded still gets a ``MediaScore`` (no score, ``error`` set): the refusal is recorded
with the post, and the stage moves on. So does an item whose scoring raises anything else (a decoder
or detector bug): that item costs itself, never the worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flockwatch.media.score import MediaResult, MediaScorer
from flockwatch.media.signal import Tier
from flockwatch.messages import InMessage, OutMessage, StageOutcome, TransientError, describe_error, parse
from flockwatch.schema import Evidence, MediaScore, Observation, Post
from flockwatch.topics import Topic

STAGE = "media"
INPUTS: tuple[Topic, ...] = (Topic.normalized,)
# A post with dozens of attachments is rare and usually spam; cap the work one post can cause.
MAX_ITEMS_PER_POST = 4


def record_cost_s(scorer: MediaScorer, max_items: int = MAX_ITEMS_PER_POST) -> float | None:
    """Worst-case seconds one post costs (every item up to its deadline); None when items have no deadline."""
    return None if scorer.item_deadline_s is None else max_items * scorer.item_deadline_s


def media_score(post: Post, url: str, result: MediaResult) -> MediaScore:
    return MediaScore(
        post_key=post.key,
        post_created_at=post.created_at,
        media_url=url,
        manipulation_score=result.manipulation_score,
        provenance=result.provenance,
        matches=result.matches,
        signals=[
            Evidence(signal=f.signal, score=f.score, on=url, detail=f.detail)
            for f in result.findings
            if f.score is not None
        ],
        # Provenance observations are already the ``provenance`` summary.
        observations=[
            Observation(signal=f.signal, on=url, detail=f.detail, data=f.data)
            for f in result.findings
            if f.score is None and f.tier is not Tier.provenance
        ],
        sha256=result.sha256,
        media_kind=result.kind,
        error=result.error,
    )


def failed_score(post: Post, url: str, exc: Exception) -> MediaScore:
    """A score with no value whose ``error`` says what scoring raised (kept with the post, like a refusal)."""
    error = f"scoring failed: {describe_error(exc)}"[:2000]
    return MediaScore(post_key=post.key, post_created_at=post.created_at, media_url=url, error=error)


def score_batch(
    messages: Sequence[InMessage], scorer: MediaScorer, max_items: int = MAX_ITEMS_PER_POST
) -> StageOutcome:
    outcome = StageOutcome()
    for msg in messages:
        try:
            post = parse(msg.value, Post)
        except Exception as exc:  # a bad message costs itself, never the batch
            outcome.dead_letter(STAGE, msg, describe_error(exc))
            continue
        if not post.media:
            outcome.counts["media_none"] += 1
            continue
        scores: list[MediaScore] = []
        for item in post.media[:max_items]:
            try:
                score = media_score(post, item.url, scorer.score(item.url))
                score.to_bytes()  # so a signal's data that JSON cannot hold fails this item, not the batch
            except TransientError:
                raise  # a server away: the loop retries the batch
            # Broad on purpose: whatever scoring one item raises is recorded on its score, never crashes the worker.
            except Exception as exc:
                scores.append(failed_score(post, item.url, exc))
                outcome.counts["media_failed"] += 1
                continue
            scores.append(score)
            outcome.counts["media_refused" if score.error else "media_scored"] += 1
        # Every item of the post is scored in this pass, so their highest score is the post's risk now.
        risk = max((s.manipulation_score for s in scores if s.manipulation_score is not None), default=None)
        for score in scores:
            payload = score.model_copy(update={"post_media_risk": risk}).to_bytes()
            outcome.out.append(OutMessage(Topic.media_scores, post.key.encode(), payload))
        outcome.counts["media_over_cap"] += max(0, len(post.media) - max_items)
    return outcome


@dataclass
class MediaScoreStage:
    """Normalised posts → one media score per attached item (fetched safely, scored with evidence)."""

    scorer: MediaScorer
    name: str = STAGE
    inputs: tuple[Topic, ...] = INPUTS

    @property
    def record_cost_s(self) -> float | None:
        """Worst-case seconds per post: the loop sizes batches from it so none outlasts the poll interval."""
        return record_cost_s(self.scorer)

    def process(self, messages: Sequence[InMessage]) -> StageOutcome:
        return score_batch(messages, self.scorer)
