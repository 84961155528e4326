"""A media backlog drains without livelock (#15): batches are sized from the stage's cost per post, so a batch
always ends inside ``max.poll.interval`` and no commit fails.

Scaled to seconds: production has 2,000 posts at 0.5 s each (1,000 s) against a 600 s poll interval; here the
scorer sleeps 5 ms a post and the interval is 6 s (the broker's minimum session), so a batch of all 2,000 posts
(10 s) would outlast the interval by the same factor (1.67) and get the consumer evicted.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from flockwatch.adapters.kafka_bus import ensure_topics, group_lag, make_producer, produce_all, run_stage
from flockwatch.config import Settings
from flockwatch.media.score import MediaResult, MediaScorer
from flockwatch.messages import OutMessage
from flockwatch.schema import Author, MediaItem, Post, SourceRef
from flockwatch.stages.batching import poll_plan
from flockwatch.stages.media import MediaScoreStage
from flockwatch.topics import Topic
from flockwatch.workers import group_id

pytestmark = [pytest.mark.integration, pytest.mark.store, pytest.mark.store_long]

POSTS = 2000
SCORE_S = 0.005
POLL_INTERVAL_S = 6.0


class SlowScorer(MediaScorer):
    """Takes ``SCORE_S`` per item and says so through its deadline (the stage's cost comes from it)."""

    def __init__(self) -> None:
        super().__init__([], item_deadline_s=2 * SCORE_S)
        self.calls = 0

    def score(self, target: str) -> MediaResult:
        self.calls += 1
        time.sleep(SCORE_S)
        return MediaResult(target, None, "none", kind="image")


def post(n: int) -> Post:
    return Post(
        platform="test",
        platform_id=f"b{n}",
        author=Author(id=f"a{n % 50}"),
        text=f"backlog {n}",
        created_at=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(seconds=n),
        media=[MediaItem(url=f"https://media.example/{n}.jpg")],
        source=SourceRef(format="test", uri="test_media_backlog"),
    )


def test_media_backlog_drains_to_lag_zero_without_failed_commits(settings: Settings) -> None:
    settings = settings.model_copy(update={"kafka_max_poll_interval_s": POLL_INTERVAL_S})
    ensure_topics(settings)
    producer = make_producer(settings)
    try:
        produce_all(
            producer,
            settings.topic_prefix,
            [OutMessage(Topic.normalized, p.key.encode(), p.to_bytes()) for p in map(post, range(POSTS))],
        )
    finally:
        producer.close()
    scorer = SlowScorer()
    stage = MediaScoreStage(scorer)
    per_poll, interval_s = poll_plan(stage.record_cost_s, POLL_INTERVAL_S)
    # The mechanism under test: without it, one batch (all 2,000 posts) would take longer than the interval;
    # with it, batches shrink and the interval stays the lowered one.
    assert POSTS * SCORE_S > POLL_INTERVAL_S == interval_s
    assert per_poll * SCORE_S < POLL_INTERVAL_S / 2
    group = group_id(settings, stage.name)
    report = run_stage(settings, stage, group, until_caught_up=True, max_seconds=120)
    print(f"{POSTS} posts in {report.elapsed_s:.1f} s, {report.batches} batches of <= {per_poll}")
    assert report.counts["commit_failed"] == 0, report.counts
    assert report.counts["consumed"] == POSTS, report.counts  # no batch was replayed
    assert report.counts["media_scored"] == POSTS == scorer.calls
    assert report.batches >= POSTS / per_poll
    assert group_lag(settings, group, stage.inputs) == 0
