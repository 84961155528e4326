"""`stage_lags` names where a pipeline stalls: what the demo's timeout message reports."""

from __future__ import annotations

import pytest

from flockwatch.adapters.kafka_bus import ensure_topics, make_producer
from flockwatch.cli.demo import stage_lags
from flockwatch.config import Settings
from flockwatch.topics import Topic, topic_name

pytestmark = [pytest.mark.integration]


def test_stage_lags_counts_what_each_stage_has_not_committed(settings: Settings) -> None:
    ensure_topics(settings)
    producer = make_producer(settings)
    for n in range(3):
        producer.send(topic_name(settings.topic_prefix, Topic.raw), key=f"k{n}".encode(), value=b"{}")
    producer.flush()
    producer.close()
    # No stage runs: normalize has the three raw records to read, the stages after it nothing yet.
    assert stage_lags(settings, ["normalize", "index"]) == {"normalize": 3, "index": 0}
