"""Topics are created with the configured copies and ``min.insync.replicas``: 1 and 1 on the local broker, 3 and 2
on a cluster of three; an impossible pair is refused when the settings are read."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from kafka.admin import NewTopic

from flockwatch.adapters import kafka_bus
from flockwatch.adapters.connectors import cursors
from flockwatch.config import Settings
from flockwatch.topics import TOPICS


class FakeAdmin:
    created: ClassVar[list[NewTopic]] = []

    def __init__(self, **_: Any) -> None:
        pass

    def list_topics(self) -> list[str]:
        return []

    def create_topics(self, topics: list[NewTopic]) -> None:
        FakeAdmin.created += topics

    def close(self) -> None:
        pass


@pytest.fixture
def admin(monkeypatch: pytest.MonkeyPatch) -> type[FakeAdmin]:
    FakeAdmin.created = []
    monkeypatch.setattr(kafka_bus, "KafkaAdminClient", FakeAdmin)
    monkeypatch.setattr(cursors, "KafkaAdminClient", FakeAdmin)
    return FakeAdmin


@pytest.mark.parametrize(
    ("copies", "insync", "expected"),
    [(1, None, 1), (3, None, 2), (2, None, 1), (3, 3, 3), (5, 2, 2)],
)
def test_every_topic_gets_the_configured_durability(
    admin: type[FakeAdmin], copies: int, insync: int | None, expected: int
) -> None:
    settings = Settings(topic_prefix="t", topic_replication_factor=copies, topic_min_insync_replicas=insync)
    created = kafka_bus._ensure_topics(settings, 1.0)
    assert len(created) == len(TOPICS)
    cursors.KafkaCursors(settings, producer=None).ensure_topic()  # the producer is not used to create
    assert len(admin.created) == len(TOPICS) + 1
    for topic in admin.created:
        assert topic.replication_factor == copies, topic.name
        assert topic.topic_configs["min.insync.replicas"] == str(expected), topic.name


def test_more_insync_replicas_than_copies_is_refused() -> None:
    with pytest.raises(ValueError, match="no write could ever be acknowledged"):
        Settings(topic_replication_factor=2, topic_min_insync_replicas=3)
