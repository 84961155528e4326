"""Real Kafka and OpenSearch from `flockwatch up`: health, and data kept across a stop/start.

CI runs `flockwatch up` first; these tests stop and start the services themselves and leave both
running (healthy) when they finish, pass or fail.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.structs import TopicPartition
from opensearchpy import OpenSearch

from flockwatch.adapters import local_services as ls
from flockwatch.config import Settings, get_settings

# These stop, restart or freeze the services every other test shares: run alone (`make test`).
pytestmark = [pytest.mark.integration, pytest.mark.exclusive]


@pytest.fixture(scope="module")
def settings() -> Iterator[Settings]:
    s = get_settings()
    ls.up(s, ls.SERVICES)
    yield s
    ls.up(s, ls.SERVICES)  # restore whatever a test stopped


def _admin(settings: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=30000)


def _read_all(settings: Settings, topic: str, partitions: int) -> list[bytes]:
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        consumer_timeout_ms=2000,
    )
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        values: list[bytes] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(consumer.position(tp) < end[tp] for tp in tps):
            for records in consumer.poll(timeout_ms=1000).values():
                values.extend(r.value for r in records)
        return values
    finally:
        consumer.close()


def _search(settings: Settings) -> OpenSearch:
    return OpenSearch(hosts=[settings.store_url], timeout=30)


def test_status_reports_healthy_after_up(settings: Settings) -> None:
    report = ls.up(settings, ls.SERVICES)
    assert set(report) == set(ls.SERVICES)
    current = ls.status(settings)
    for name in ls.SERVICES:
        info = current[name]
        assert info["healthy"] is True, (name, info)
        assert info["running"] is True, (name, info)
        assert isinstance(info["pid"], int) and ls.pid_alive(info["pid"], name)
        assert info["port"] == ls.service_port(settings, name)
    # `up` leaves running services alone: same pids.
    again = ls.up(settings, ls.SERVICES)
    assert {n: again[n]["pid"] for n in ls.SERVICES} == {n: current[n]["pid"] for n in ls.SERVICES}


def test_kafka_restart_keeps_topics_and_messages(settings: Settings) -> None:
    topic = f"test.local-services.{uuid.uuid4().hex[:8]}"
    admin = _admin(settings)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        for i in range(5):
            producer.send(topic, key=b"k%d" % i, value=b"before-restart-%d" % i).get(timeout=30)
    finally:
        producer.close()

    old_pid = ls.status(settings)["kafka"]["pid"]
    stopped = ls.stop(settings, "kafka")
    assert stopped["running"] is False and stopped["healthy"] is False
    assert not ls.pid_alive(old_pid)

    started = ls.start(settings, "kafka")
    assert started["healthy"] is True and started["pid"] != old_pid

    admin = _admin(settings)
    try:
        assert topic in admin.list_topics()
        values = _read_all(settings, topic, partitions=2)
        assert sorted(values) == [b"before-restart-%d" % i for i in range(5)]
        admin.delete_topics([topic])
    finally:
        admin.close()


def test_opensearch_restart_keeps_index(settings: Settings) -> None:
    index = f"test-local-services-{uuid.uuid4().hex[:8]}"
    client = _search(settings)
    client.indices.create(index=index, body={"settings": {"number_of_shards": 1, "number_of_replicas": 0}})
    client.index(index=index, id="doc-1", body={"text": "kept across restarts"}, refresh=True)

    old_pid = ls.status(settings)["opensearch"]["pid"]
    stopped = ls.stop(settings, "opensearch")
    assert stopped["running"] is False and stopped["healthy"] is False
    assert not ls.pid_alive(old_pid)

    ls.start(settings, "opensearch", wait=False)
    started = ls.wait_healthy(settings, "opensearch", timeout=settings.start_timeout_s)
    assert started["healthy"] is True and started["pid"] != old_pid

    client = _search(settings)
    client.cluster.health(index=index, wait_for_status="green")
    assert client.get(index=index, id="doc-1")["_source"] == {"text": "kept across restarts"}
    assert client.count(index=index)["count"] == 1
    client.indices.delete(index=index)


def test_store_runs_with_absolute_disk_watermarks(settings: Settings) -> None:
    """The running store took the watermarks `flockwatch up` wrote: writes stop before the disk is full."""
    flat = _search(settings).cluster.get_settings(params={"include_defaults": "true", "flat_settings": "true"})
    merged = {**flat["defaults"], **flat["persistent"], **flat["transient"]}
    prefix = "cluster.routing.allocation.disk."
    assert merged[prefix + "threshold_enabled"] == "true"
    assert merged[prefix + "watermark.enable_for_single_data_node"] == "true"
    assert merged[prefix + "watermark.low"] == settings.store_disk_watermark_low
    assert merged[prefix + "watermark.high"] == settings.store_disk_watermark_high
    assert merged[prefix + "watermark.flood_stage"] == settings.store_disk_watermark_flood_stage
