"""The text-scoring stage as a pure function: normalised posts in, ``TextScore`` messages out.

The Kafka worker (``flockwatch worker text``) and the Airflow task (``index_stream.score_text``) both
run it through :class:`TextScoreStage`; nothing here knows about Kafka. With a narrative index, each
post is also assigned to a narrative (the same :class:`~flockwatch.text.narratives.NarrativeIndex` as
``flockwatch narratives``) and the score carries ``narrative_id`` and ``narrative_how``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flockwatch.messages import InMessage, OutMessage, StageOutcome, describe_error, parse
from flockwatch.schema import Post, TextScore
from flockwatch.stages.ordered_merge import OrderKey, event_order
from flockwatch.text.canonical import assess, canonical_text, decode_text
from flockwatch.text.detector import TextDetector, TextResult
from flockwatch.text.narratives import Assignment, NarrativeIndex
from flockwatch.topics import Topic

STAGE = "text"
INPUTS: tuple[Topic, ...] = (Topic.normalized,)
TEXT_FPR = 0.01  # the stage labels posts at the detector's threshold for this false-positive rate


def assign_narratives(
    posts: Sequence[Post], results: Sequence[TextResult], index: NarrativeIndex, detector: TextDetector
) -> list[Assignment]:
    """Assign posts in order; only English texts long enough for the paraphrase tier are embedded
    (MiniLM is English: other scripts embed close to each other), the rest join by copies only."""
    norms = [canonical_text(decode_text(p.text)) for p in posts]
    min_words = index.config.min_paraphrase_words
    rows = [i for i, (n, p) in enumerate(zip(norms, posts, strict=True)) if assess(n, p.language, min_words).scoreable]
    # The detector embedded the scoreable ones already: the embedder's cache answers most of these.
    vecs = detector.embedder().embed([norms[i] for i in rows]) if rows else np.zeros((0, 0), dtype=np.float32)
    row_of = {i: r for r, i in enumerate(rows)}
    out = []
    for i, (post, norm, result) in enumerate(zip(posts, norms, results, strict=True)):
        out.append(
            index.assign(
                norm,
                vecs[row_of[i]] if i in row_of else None,
                raw=post.text,
                platform=post.platform,
                account=post.author.id,
                created_at=post.created_at,
                machine=None if result.label == "unscored" else result.label == "machine",
                item_id=post.key,
            )
        )
    return out


def score_batch(
    messages: Sequence[InMessage],
    detector: TextDetector,
    fpr: float = TEXT_FPR,
    narratives: NarrativeIndex | None = None,
) -> StageOutcome:
    """One ``TextScore`` per post (unscored ones included, with the reason); bad messages dead-lettered."""
    outcome = StageOutcome()
    posts: list[Post] = []
    for msg in messages:
        try:
            posts.append(parse(msg.value, Post))
        except Exception as exc:  # a bad message costs itself, never the batch
            outcome.dead_letter(STAGE, msg, describe_error(exc))
    if not posts:
        return outcome
    results = detector.score([p.text for p in posts], languages=[p.language for p in posts], fpr=fpr)
    joined: list[Assignment | None] = [None] * len(posts)
    if narratives is not None:
        joined = list(assign_narratives(posts, results, narratives, detector))
    for post, result, got in zip(posts, results, joined, strict=True):
        how = got.how if got is not None and got.how != "empty" else None
        score = TextScore(
            post_key=post.key,
            post_created_at=post.created_at,
            machine_score=result.machine_score,
            label=result.label,
            interval=result.interval,
            evidence=result.evidence,
            narrative_id=got.narrative_id if got is not None else None,
            narrative_how=how,
            model=detector.name,
        )
        outcome.out.append(OutMessage(Topic.text_scores, post.key.encode(), score.to_bytes()))
        outcome.counts[f"text_{result.label}"] += 1
        outcome.counts["text_scored"] += 1
        if got is not None:
            # "empty": nothing left to compare once URLs and mentions are gone; counted so the tiers add up.
            outcome.counts[f"narrative_{got.how}"] += 1
    return outcome


@dataclass
class TextScoreStage:
    """Normalised posts → text scores (machine-likeness with evidence) and narrative ids; the model is
    loaded once per process.

    **One text worker.** The narrative index is state shared by every partition (a copy on one partition
    must find its original on another) and lives in ``state_dir`` (``<state_dir>/narratives/<topic prefix>``):
    the stage is single-writer, and a second worker (or the ``index_stream`` DAG's text task beside a running
    worker) refuses to start. The state is committed (journal + fsync) at the end of ``process``, before the
    loop emits the scores: every narrative id that anyone saw is durable, so a batch redelivered after a crash
    gets the same ids (see :mod:`flockwatch.text.narratives`)."""

    detector: TextDetector
    narratives: NarrativeIndex | None = None
    state_dir: Path | None = None
    name: str = STAGE
    inputs: tuple[Topic, ...] = INPUTS

    @property
    def single_writer(self) -> bool:
        """With a narrative index, one worker must see every partition (flockwatch.adapters.single_writer)."""
        return self.narratives is not None

    @property
    def order_key(self) -> Callable[[InMessage], OrderKey] | None:
        """With a narrative index, posts are assigned in event-time order across partitions, so which post founds a
        narrative does not depend on how partitions interleave (:mod:`flockwatch.stages.ordered_merge`)."""
        return event_order if self.narratives is not None else None

    def process(self, messages: Sequence[InMessage]) -> StageOutcome:
        outcome = score_batch(messages, self.detector, narratives=self.narratives)
        if self.narratives is not None and self.state_dir is not None:
            self.narratives.commit(self.state_dir)
        return outcome
