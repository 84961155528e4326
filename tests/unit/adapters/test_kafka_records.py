"""Records as stages see them: the Kafka adapter stamps the ``posts.raw`` partition a post entered at and
reads it back, so no stage recomputes Kafka's partitioner."""

from kafka.consumer.fetcher import ConsumerRecord

from flockwatch.adapters.kafka_bus import RAW_PARTITION_HEADER, _headers, in_message
from flockwatch.messages import OutMessage
from flockwatch.topics import Topic

RAW = "t.posts.raw"


def record(topic: str, partition: int, headers: list[tuple[str, bytes]]) -> ConsumerRecord:
    return ConsumerRecord(topic, partition, None, 7, 0, 0, b"k", b"v", headers, None, 1, 1, 0)


def test_a_raw_record_comes_from_its_own_partition() -> None:
    assert in_message(record(RAW, 3, []), RAW).raw_partition == 3


def test_a_derived_record_carries_the_raw_partition_its_producer_stamped() -> None:
    out = OutMessage(Topic.normalized, b"k", b"v", raw_partition=5)
    msg = in_message(record("t.posts.normalized", 1, _headers(out) or []), RAW)
    assert (msg.partition, msg.raw_partition, msg.offset) == (1, 5, 7)


def test_a_record_written_without_the_stamp_has_no_raw_partition() -> None:
    assert _headers(OutMessage(Topic.alerts, None, b"v")) is None
    assert in_message(record("t.posts.normalized", 1, [("other", b"1")]), RAW).raw_partition is None
    assert RAW_PARTITION_HEADER == "flockwatch-raw-partition"


def test_a_stamp_that_is_not_a_number_is_ignored_not_fatal() -> None:
    msg = in_message(record("t.posts.normalized", 1, [(RAW_PARTITION_HEADER, b"x")]), RAW)
    assert msg.raw_partition is None and msg.value == b"v"
