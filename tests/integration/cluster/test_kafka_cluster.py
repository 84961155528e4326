"""A local Kafka cluster of three brokers on loopback (`FLOCKWATCH_KAFKA_BROKERS=3`): its topics are copied three
times with two in sync, and a broker killed (SIGKILL, left down) in the middle of a replay loses and duplicates
nothing while the stages keep going on the other two.

The cluster has its own ports (19092.. and 19093..) and state directory, so it runs beside the single broker the
other tests use; the store is the usual one."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from flockwatch.adapters import local_services
from flockwatch.adapters.client_security import kafka_client_args
from flockwatch.adapters.kafka_bus import ensure_topics
from flockwatch.adapters.scratch import scratch_namespace
from flockwatch.config import Settings
from flockwatch.topics import TOPICS, topic_name
from tests.replay_faults import N, assert_exact, replay_with_interruption

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Started once for the module (about 15 s), stopped and deleted after it."""
    with scratch_namespace("it") as settings:
        three = settings.model_copy(
            update={
                "state_dir": tmp_path_factory.mktemp("cluster") / "state",
                "kafka_port": 19092,
                "kafka_controller_port": 19093,
                "kafka_brokers": 3,
                "topic_replication_factor": 3,
            }
        )
        try:
            report = local_services.up(three, ["kafka"])
            assert sorted(report) == ["kafka-1", "kafka-2", "kafka-3"]
            assert all(node["healthy"] for node in report.values()), report
            yield three
        finally:
            local_services.down(three, ["kafka"], purge=True)


def test_the_settings_describe_the_cluster(cluster: Settings) -> None:
    assert cluster.kafka_bootstrap == "127.0.0.1:19092,127.0.0.1:19102,127.0.0.1:19112"
    nodes = local_services.kafka_nodes(cluster)
    assert [(n.kafka_node_id, n.kafka_port, n.kafka_controller_port) for n in nodes] == [
        (1, 19092, 19093),
        (2, 19102, 19103),
        (3, 19112, 19113),
    ]
    assert len({local_services.read_pid(n, "kafka") for n in nodes}) == 3  # three processes


def test_topics_have_three_copies_two_in_sync_and_a_killed_broker_loses_nothing(cluster: Settings) -> None:
    ensure_topics(cluster)
    admin = KafkaAdminClient(**kafka_client_args(cluster))
    try:
        names = [topic_name(cluster.topic_prefix, spec.topic) for spec in TOPICS]
        described = admin.describe_topics(names)
        deadline = time.monotonic() + 30
        # A topic just created reaches every broker's metadata a moment later: until then it lists no partitions.
        while any(not t["partitions"] for t in described) and time.monotonic() < deadline:
            time.sleep(0.5)
            described = admin.describe_topics(names)
        for topic in described:
            assert {len(p["replica_nodes"]) for p in topic["partitions"]} == {3}, topic["name"]
        leaders = {p["leader_id"] for topic in described for p in topic["partitions"]}
        assert 2 in leaders  # the broker killed below leads partitions: they must move
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, names[0])])
        assert configs["topic"][names[0]]["min.insync.replicas"]["value"] == "2"
    finally:
        admin.close()

    second = local_services.kafka_nodes(cluster)[1]
    pid = local_services.read_pid(second, "kafka")
    assert pid is not None

    def kill_one_broker() -> None:
        os.kill(pid, signal.SIGKILL)  # no clean shutdown, and it stays down

    report, _ = replay_with_interruption(cluster, kill_one_broker)
    assert not local_services.pid_alive(pid, "kafka"), "the broker was not killed"
    assert report.produced == N
    assert_exact(cluster)
