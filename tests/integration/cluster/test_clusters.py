"""Local clusters on loopback: three OpenSearch nodes (`FLOCKWATCH_STORE_NODES=3`) and three KRaft brokers
(`FLOCKWATCH_KAFKA_BROKERS=3`). Every index has one replica and the store is green; every topic has three copies with
two in sync; and a replay during which one store node and one broker are killed (SIGKILL, left down) stores every
post exactly once while the stages keep going.

Its own ports (store 19200/19210/19220, transport 19300.., Kafka 19092..) and state directory: it runs beside the
single-node services the other tests use, and touches none of them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from flockwatch.adapters import local_services
from flockwatch.adapters.client_security import kafka_client_args
from flockwatch.adapters.kafka_bus import ensure_topics
from flockwatch.config import Settings
from flockwatch.store import prepare_store
from flockwatch.topics import TOPICS, topic_name
from tests.replay_faults import N, assert_exact, replay_with_interruption

# Long (`make test-cluster`, `make test-long`): `make test`'s short cluster test is test_scale_out.py.
pytestmark = [pytest.mark.integration, pytest.mark.long]

_SERVICES = ["kafka", "opensearch"]


# The sizes on the command line (`flockwatch up` options), everything else from the environment, as a user would.
SIZES = ["--kafka-brokers", "3", "--store-nodes", "3"]
FLOCKWATCH = str(Path(sys.executable).with_name("flockwatch"))


def flockwatch(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run([FLOCKWATCH, *args, *SIZES], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout)
    return report


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Three store nodes and three brokers (`flockwatch up --kafka-brokers 3 --store-nodes 3`), started once for
    the module, stopped and deleted after it (`flockwatch down --purge ...`)."""
    tag = f"it{uuid.uuid4().hex[:10]}"
    fields = {
        "state_dir": str(tmp_path_factory.mktemp("store-cluster") / "state"),
        "topic_prefix": tag,
        "index_prefix": tag,
        "kafka_port": "19092",
        "kafka_controller_port": "19093",
        "topic_replication_factor": "3",
        "store_engine": "opensearch",
        "store_port": "19200",
        "store_transport_port": "19300",
        "store_replicas": "1",
        "store_heap": "512m",
    }
    env = {**os.environ, **{f"FLOCKWATCH_{k.upper()}": v for k, v in fields.items()}}
    settings = Settings.model_validate({**fields, "kafka_brokers": 3, "store_nodes": 3})
    try:
        report = flockwatch(env, "up")
        assert sorted(report) == [f"{s}-{n}" for s in _SERVICES for n in (1, 2, 3)]
        assert all(node["healthy"] for node in report.values()), report
        assert sorted(flockwatch(env, "status")) == sorted(report)
        yield settings
    finally:
        stopped = flockwatch(env, "down", "--purge")
        assert all(not node["running"] for node in stopped.values()), stopped


def _get(settings: Settings, path: str) -> Any:
    with urllib.request.urlopen(f"{settings.store_url}{path}", timeout=30) as resp:
        return json.loads(resp.read())


def test_the_settings_describe_the_kafka_cluster(cluster: Settings) -> None:
    assert cluster.kafka_bootstrap == "127.0.0.1:19092,127.0.0.1:19102,127.0.0.1:19112"
    nodes = local_services.kafka_nodes(cluster)
    assert [(n.kafka_node_id, n.kafka_port, n.kafka_controller_port) for n in nodes] == [
        (1, 19092, 19093),
        (2, 19102, 19103),
        (3, 19112, 19113),
    ]
    assert len({local_services.read_pid(n, "kafka") for n in nodes}) == 3  # three processes


def test_topics_have_three_copies_two_in_sync(cluster: Settings) -> None:
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


def test_three_nodes_form_one_green_cluster_with_replicas(cluster: Settings) -> None:
    ensure_topics(cluster)
    prepare_store(cluster)
    nodes = local_services.store_nodes(cluster)
    assert len({local_services.read_pid(n, "opensearch") for n in nodes}) == 3  # three processes
    health = _get(cluster, "/_cluster/health?wait_for_status=green&timeout=30s")
    assert health["number_of_nodes"] == 3
    assert health["status"] == "green", health
    indices = _get(cluster, f"/_cat/indices/{cluster.index_prefix}*?format=json")
    assert indices, "the store created no index"
    assert {row["rep"] for row in indices} == {"1"}


def test_a_killed_store_node_and_broker_lose_nothing(cluster: Settings) -> None:
    store_node = local_services.store_nodes(cluster)[0]  # the first: the URL messages name, no special role
    broker = local_services.kafka_nodes(cluster)[1]
    pids = [local_services.read_pid(store_node, "opensearch"), local_services.read_pid(broker, "kafka")]
    assert None not in pids

    def kill_a_store_node_and_a_broker() -> None:
        # Once the month's posts index the replay just created has its replica (a second or so). A node that dies
        # before then takes the index's only copy with it: no acknowledged write is lost (writes wait for two active
        # copies, Settings.store_write_copies), but the index stays red until an operator recreates it
        # (docs/scaling.md), which this test is not about.
        health = _get(cluster, "/_cluster/health?wait_for_status=green&timeout=30s")
        assert health["status"] == "green", health
        for pid in pids:
            assert pid is not None
            os.kill(pid, signal.SIGKILL)  # no clean shutdown, and both stay down

    report, _ = replay_with_interruption(cluster, kill_a_store_node_and_a_broker)
    assert not local_services.pid_alive(pids[0] or 0, "opensearch"), "the store node was not killed"
    assert not local_services.pid_alive(pids[1] or 0, "kafka"), "the broker was not killed"
    assert report.produced == N
    assert_exact(cluster)
    # The posts indices written during the replay have their copy too.
    survivor = local_services.store_nodes(cluster)[1]
    indices = _get(survivor, f"/_cat/indices/{cluster.index_prefix}*?format=json")
    assert {row["rep"] for row in indices} == {"1"}
    settings = _get(survivor, f"/{cluster.index_prefix}-posts-*/_settings/index.write.wait_for_active_shards")
    assert {v["settings"]["index"]["write"]["wait_for_active_shards"] for v in settings.values()} == {"2"}
