"""The text-scoring stage as a pure function: normalised posts in, ``TextScore`` messages out.

The Kafka worker (``flockwatch worker text``) and the Airflow task (``index_stream.score_text``) both
run it through ``workers.TextScoreStage``; nothing here knows about Kafka.
"""

from __future__ import annotations

from collections.abc import Sequence

from flockwatch.pipeline.messages import InMessage, OutMessage, StageOutcome, describe_error
from flockwatch.schema import SCHEMA_VERSION, Post, TextScore
from flockwatch.text.detector import TextDetector
from flockwatch.topics import Stage

STAGE = "text"


def parse_post(value: bytes) -> Post:
    post = Post.model_validate_json(value)
    if post.schema_version != SCHEMA_VERSION:
        raise ValueError(f"unsupported schema_version {post.schema_version}")
    return post


def score_batch(messages: Sequence[InMessage], detector: TextDetector, fpr: float = 0.01) -> StageOutcome:
    """One ``TextScore`` per post (unscored ones included, with the reason); bad messages dead-lettered."""
    outcome = StageOutcome()
    posts: list[Post] = []
    for msg in messages:
        try:
            posts.append(parse_post(msg.value))
        except Exception as exc:  # a bad message costs itself, never the batch
            outcome.dead_letter(STAGE, msg, describe_error(exc))
    if not posts:
        return outcome
    results = detector.score([p.text for p in posts], languages=[p.language for p in posts], fpr=fpr)
    for post, result in zip(posts, results, strict=True):
        score = TextScore(
            post_key=post.key,
            post_created_at=post.created_at,
            machine_score=result.machine_score,
            label=result.label,
            evidence=result.evidence,
            model=detector.name,
        )
        outcome.out.append(OutMessage(Stage.text_scores, post.key.encode(), score.to_bytes()))
        outcome.counts[f"text_{result.label}"] += 1
        outcome.counts["text_scored"] += 1
    return outcome
