"""Malformed records on the real broker go to the dead-letter topic with reason and original bytes."""

from __future__ import annotations

import itertools
import json

import pytest
from kafka import KafkaConsumer
from typer.testing import CliRunner

from flockwatch.adapters.kafka_bus import make_producer
from flockwatch.cli.app import app
from flockwatch.config import Settings
from flockwatch.replay import read_dataset
from flockwatch.schema import DeadLetter
from flockwatch.store import open_store
from flockwatch.store.documents import IndexKind
from flockwatch.topics import Topic, topic_name
from flockwatch.workers import run_until_caught_up

pytestmark = [pytest.mark.integration, pytest.mark.store, pytest.mark.store_long]


def bad_messages(template: dict[str, object]) -> dict[str, bytes]:
    payload = dict(template["payload"])  # type: ignore[call-overload]

    def with_payload(**changes: object) -> bytes:
        return json.dumps({**template, "payload": {**payload, **changes}}).encode()

    missing = {k: v for k, v in template.items() if k != "format"}
    return {
        "invalid UTF-8": b'{"kind": "raw", "payload": {"content": "\xff\xfe"}}',
        "missing field": json.dumps(missing).encode(),
        "wrong type": json.dumps({**template, "payload": "not an object"}).encode(),
        "absurd timestamp": with_payload(publish_date="1970-01-01 00:00:00"),
        "10 MB text": with_payload(content="spam " * 2_000_000),
    }


def test_bad_records_are_dead_lettered_and_the_stage_keeps_going(settings: Settings) -> None:
    good = [r.to_bytes() for r in itertools.islice(read_dataset("ira_2016", None, settings.data_dir), 20)]
    template = json.loads(good[0])
    bad = bad_messages(template)
    producer = make_producer(settings)
    raw_topic = topic_name(settings.topic_prefix, Topic.raw)
    for i, value in enumerate([*good[:10], *bad.values(), *good[10:]]):
        producer.send(raw_topic, key=str(i).encode(), value=value)
    producer.flush()
    producer.close()

    normalized = run_until_caught_up("normalize", settings)
    run_until_caught_up("index", settings)
    assert normalized["normalized"] == 20
    assert normalized["dead_lettered"] == len(bad)

    store = open_store(settings)
    store.engine.refresh()
    assert store.engine.count(IndexKind.posts) == 20

    consumer = KafkaConsumer(
        topic_name(settings.topic_prefix, Topic.dead_letter),
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
        max_partition_fetch_bytes=32 * 1024 * 1024,
    )
    letters = [DeadLetter.model_validate_json(m.value) for m in consumer]
    consumer.close()
    by_original = {letter.original(): letter for letter in letters}
    assert len(letters) == len(bad)
    for what, original in bad.items():
        letter = by_original[original]  # the exact original bytes are kept
        assert letter.stage == "normalize", what
        assert letter.reason, what
        assert letter.source_topic == topic_name(settings.topic_prefix, Topic.raw)
    assert "UTF-8" in by_original[bad["invalid UTF-8"]].reason
    assert "created_at" in by_original[bad["absurd timestamp"]].reason
    assert "text" in by_original[bad["10 MB text"]].reason

    # Operators see the same through the CLI.
    result = CliRunner().invoke(
        app, ["dead-letters", "--limit", "50"], env={"FLOCKWATCH_TOPIC_PREFIX": settings.topic_prefix}
    )
    assert result.exit_code == 0, result.output
    shown = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(shown) == len(bad)
    assert all(s["reason"] and s["stage"] == "normalize" and s["original_bytes"] > 0 for s in shown)
    of_text = CliRunner().invoke(
        app, ["dead-letters", "--stage", "text"], env={"FLOCKWATCH_TOPIC_PREFIX": settings.topic_prefix}
    )
    assert of_text.exit_code == 0 and of_text.stdout == ""
