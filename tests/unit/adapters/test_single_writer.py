"""The single-writer fence's decisions (the broker side is tests/integration/cluster/test_scale_out.py)."""

from __future__ import annotations

from typing import Any

from kafka import TopicPartition

from flockwatch.adapters.single_writer import foreign_members, missing_partitions, refusal
from flockwatch.stages.alerts import AlertStage
from flockwatch.stages.graph import GraphStage
from flockwatch.stages.text import TextScoreStage
from flockwatch.workers import SINGLE_WRITER_STAGES, STAGES


def test_a_restarted_static_member_is_not_a_second_writer() -> None:
    members: list[dict[str, Any]] = [
        {"group_instance_id": "text-1", "client_id": "kafka-python-3", "client_host": "/10.0.0.5"},
        {"group_instance_id": None, "client_id": "kafka-python-3", "client_host": "/10.0.0.7"},
    ]
    assert foreign_members(members, "text-1") == ["kafka-python-3@10.0.0.7"]
    assert foreign_members(members, None) == ["kafka-python-3@10.0.0.5", "kafka-python-3@10.0.0.7"]
    assert foreign_members([], None) == []


def test_the_refusal_says_where_the_other_worker_is_and_what_to_do() -> None:
    text = refusal("graph", "flockwatch.graph", ["kafka-python-3@10.0.0.7"])
    assert "single-writer" in text and "flockwatch.graph" in text and "10.0.0.7" in text
    assert "FLOCKWATCH_KAFKA_GROUP_INSTANCE_ID" in text


def test_a_partial_assignment_names_the_partitions_it_lacks() -> None:
    expected = [TopicPartition("p.posts.normalized", p) for p in range(3)]
    assert missing_partitions(expected, expected) == []
    assert missing_partitions(expected[:1], expected) == ["p.posts.normalized:1", "p.posts.normalized:2"]


def test_the_registry_and_the_stages_agree_on_who_is_single_writer() -> None:
    assert set(SINGLE_WRITER_STAGES) == {"text", "graph", "alerts"} and set(SINGLE_WRITER_STAGES) <= set(STAGES)
    assert GraphStage.single_writer and AlertStage.single_writer
    assert TextScoreStage(detector=None, narratives=object()).single_writer  # type: ignore[arg-type]
    assert not TextScoreStage(detector=None).single_writer  # type: ignore[arg-type]
