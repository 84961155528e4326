"""The single-writer fence on the real broker: a second worker of such a stage refuses to start, and a worker that
a rebalance leaves with part of the input stops before processing it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import pytest
from kafka import KafkaAdminClient, KafkaConsumer

from flockwatch.adapters.client_security import kafka_client_args
from flockwatch.adapters.kafka_bus import LoopReport, make_producer, run_stage
from flockwatch.adapters.single_writer import SecondWriter
from flockwatch.config import Settings
from flockwatch.messages import InMessage, StageOutcome
from flockwatch.topics import Topic, topic_name

pytestmark = pytest.mark.integration


@dataclass
class CountingStage:
    """A single-writer stage that only counts what it is given."""

    single_writer: ClassVar[bool] = True
    name: str = "single"
    inputs: tuple[Topic, ...] = (Topic.normalized,)
    seen: list[str] = field(default_factory=list)

    def process(self, messages: Sequence[InMessage]) -> StageOutcome:
        self.seen.extend(f"{m.partition}:{m.offset}" for m in messages)
        return StageOutcome()


def members(settings: Settings, group: str) -> int:
    admin = KafkaAdminClient(**kafka_client_args(settings))
    try:
        return len(admin.describe_groups([group]).get(group, {}).get("members") or ())
    finally:
        admin.close()


def produce(settings: Settings, n: int) -> None:
    producer = make_producer(settings)
    for i in range(n):
        producer.send(topic_name(settings.topic_prefix, Topic.normalized), key=f"k{i}".encode(), value=b"{}")
    producer.flush()
    producer.close()


def wait_for(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def test_a_second_worker_refuses_and_the_first_keeps_going(settings: Settings) -> None:
    group, stop = f"{settings.topic_prefix}.single", threading.Event()
    first, reports = CountingStage(), list[LoopReport]()
    worker = threading.Thread(target=lambda: reports.append(run_stage(settings, first, group, stop=stop)))
    worker.start()
    try:
        produce(settings, 30)
        wait_for(lambda: len(first.seen) == 30)
        started = time.monotonic()
        with pytest.raises(SecondWriter, match=f"single-writer and group {group} already has a live worker"):
            run_stage(settings, CountingStage(), group, until_caught_up=True)
        # It waited out the session timeout, in case the member it saw was a dead one.
        assert time.monotonic() - started >= settings.kafka_session_timeout_s
        produce(settings, 10)
        wait_for(lambda: len(first.seen) == 40)
        assert members(settings, group) == 1
    finally:
        stop.set()
        worker.join(timeout=30)
    assert reports and reports[0].counts["consumed"] == 40
    # Once it is gone (a clean close leaves the group at once), a new worker starts without waiting.
    started = time.monotonic()
    later = CountingStage()
    run_stage(settings, later, group, until_caught_up=True, max_seconds=60)
    assert time.monotonic() - started < settings.kafka_session_timeout_s
    assert later.seen == []  # everything was committed by the first


def test_a_worker_left_with_part_of_the_input_stops_before_processing_it(settings: Settings) -> None:
    group, stop = f"{settings.topic_prefix}.single", threading.Event()
    stage, errors = CountingStage(), list[BaseException]()

    def work() -> None:
        try:
            run_stage(settings, stage, group, stop=stop)
        except SecondWriter as exc:
            errors.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    intruder = KafkaConsumer(**kafka_client_args(settings), group_id=group, enable_auto_commit=False)
    try:
        produce(settings, 5)
        wait_for(lambda: len(stage.seen) == 5)
        # Another member joins without the fence (as two workers started at the same moment would): the rebalance
        # splits the partitions, and the worker stops at its next records instead of processing half the input.
        intruder.subscribe([topic_name(settings.topic_prefix, Topic.normalized)])
        deadline = time.monotonic() + 60
        while not errors and time.monotonic() < deadline:
            intruder.poll(timeout_ms=500)
            produce(settings, 3)
        assert errors, "the worker went on with part of its input"
        assert "only part of its input" in str(errors[0])
    finally:
        stop.set()
        worker.join(timeout=30)
        intruder.close(autocommit=False)
    assert len(stage.seen) >= 5
