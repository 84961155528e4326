"""What a worker's loop does as it stops: the stage's final flush is published before the producer closes."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest

from flockwatch.adapters.kafka_bus import ensure_topics, make_producer, read_topic, run_stage
from flockwatch.config import Settings
from flockwatch.messages import InMessage, OutMessage, StageOutcome
from flockwatch.topics import Topic, topic_name
from flockwatch.workers import group_id

pytestmark = [pytest.mark.integration]


class HoldingStage:
    """Holds what it reads until its final flush, as the alerts stage holds its last burst interval."""

    name = "alerts"
    inputs: tuple[Topic, ...] = (Topic.raw,)

    def __init__(self, fail: bool = False) -> None:
        self.held: list[bytes] = []
        self.fail = fail

    def process(self, messages: Sequence[InMessage]) -> StageOutcome:
        self.held += [m.value for m in messages]
        return StageOutcome()

    def final_flush(self) -> StageOutcome:
        if self.fail:
            raise RuntimeError("store away at shutdown")
        outcome = StageOutcome()
        outcome.out = [OutMessage(Topic.alerts, None, b"flushed:" + v) for v in self.held]
        return outcome


def send_raw(settings: Settings, values: Sequence[bytes]) -> None:
    ensure_topics(settings)
    producer = make_producer(settings)
    for value in values:
        producer.send(topic_name(settings.topic_prefix, Topic.raw), value=value)
    producer.flush()
    producer.close()


def test_the_final_flush_is_published_before_the_producer_closes(settings: Settings) -> None:
    send_raw(settings, [b"a", b"b"])
    stage = HoldingStage()
    report = run_stage(
        settings, stage, group_id(settings, "alerts"), until_caught_up=True, flush_on_stop=stage.final_flush
    )
    assert report.counts["consumed"] == 2
    assert sorted(read_topic(settings, Topic.alerts, 100, timeout_s=3.0)) == [b"flushed:a", b"flushed:b"]


def test_a_final_flush_that_fails_is_logged_and_the_loop_still_ends(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    send_raw(settings, [b"a"])
    stage = HoldingStage(fail=True)
    with caplog.at_level(logging.ERROR):
        report = run_stage(
            settings, stage, group_id(settings, "alerts"), until_caught_up=True, flush_on_stop=stage.final_flush
        )
    assert report.counts["consumed"] == 1
    assert "the final flush failed" in caplog.text and "store away at shutdown" in caplog.text
    assert read_topic(settings, Topic.alerts, 100, timeout_s=3.0) == []
