"""The graph stage's watermark sources: an input partition, split by the ``posts.raw`` partition each post
entered at (stamped on the message by the Kafka adapter)."""

from flockwatch.messages import InMessage
from flockwatch.stages.graph import input_partitions, parse_message
from tests.unit.stages.test_graph import post


def _msg(raw_partition: int | None) -> InMessage:
    return InMessage("t.posts.normalized", 1, 0, b"k", post("1", "a", 0).to_bytes(), raw_partition)


def test_a_post_counts_for_its_input_partition_and_raw_origin() -> None:
    graph_post, source = parse_message(_msg(2), origins=3)
    assert source == "t.posts.normalized:1/2" and graph_post.key == "twitter:1"
    assert source in input_partitions("t", 3)


def test_without_origins_or_a_stamp_a_post_counts_for_its_input_partition() -> None:
    assert parse_message(_msg(2), origins=0)[1] == "t.posts.normalized:1"
    assert parse_message(_msg(None), origins=3)[1] == "t.posts.normalized:1"
