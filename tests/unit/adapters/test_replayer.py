"""The replayer over a fake producer: oversize records are dead-lettered, broken files stop with a reason."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from flockwatch.adapters.kafka_bus import MAX_MESSAGE_BYTES
from flockwatch.adapters.replayer import ReplayReport, replay_records
from flockwatch.config import Settings
from flockwatch.schema import DeadLetter, RawRecord


class FakeFuture:
    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def add_errback(self, fn: Callable[[Exception], Any]) -> None:
        if self.fail:
            fn(RuntimeError("broker away"))


class FakeProducer:
    def __init__(self, fail_first: int = 0) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.fail_first = fail_first

    def send(self, topic: str, key: bytes, value: bytes) -> FakeFuture:
        fail = self.fail_first > 0
        self.fail_first -= 1
        if not fail:
            self.sent.append((topic, key, value))
        return FakeFuture(fail)

    def flush(self) -> None:
        pass


SETTINGS = Settings(topic_prefix="t")


def record(i: int, text: str = "hi") -> RawRecord:
    return RawRecord(format="cnt_csv", source_uri="mem.csv", position=str(i), payload={"message": text})


def run(records: Any, producer: FakeProducer, **kw: Any) -> ReplayReport:
    return replay_records(records, producer, SETTINGS, ReplayReport(format="cnt_csv"), **kw)


def test_records_go_to_the_raw_topic_up_to_the_limit() -> None:
    producer = FakeProducer()
    report = run((record(i) for i in range(10)), producer, limit=7)
    assert (report.read, report.produced) == (7, 7)
    assert {t for t, _, _ in producer.sent} == {"t.posts.raw"}
    assert len({k for _, k, _ in producer.sent}) == 7


def test_oversize_record_is_dead_lettered_with_its_head() -> None:
    producer = FakeProducer()
    report = run([record(0, "x" * (MAX_MESSAGE_BYTES + 10))], producer)
    assert (report.produced, report.oversize_dead_lettered) == (0, 1)
    [(topic, _, value)] = producer.sent
    letter = DeadLetter.model_validate_json(value)
    assert topic == "t.dead-letter"
    assert "exceeds" in letter.reason
    assert letter.original().startswith(b'{"schema_version":1')


def test_unacknowledged_records_are_sent_again() -> None:
    producer = FakeProducer(fail_first=3)
    report = run([record(i) for i in range(5)], producer)
    assert report.produced == 5
    assert sorted(RawRecord.model_validate_json(v).position or "" for _, _, v in producer.sent) == list("01234")


def test_a_broken_file_stops_the_replay_with_a_reason_and_keeps_what_was_read() -> None:
    def broken() -> Iterator[RawRecord]:
        yield record(0)
        yield record(1)
        raise EOFError("Compressed file ended before the end-of-stream marker was reached")

    producer = FakeProducer()
    report = run(broken(), producer)
    assert report.produced == 2 == len(producer.sent)
    assert report.errors and "after 2 records: EOFError" in report.errors[0]
