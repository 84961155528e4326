"""A local store cluster (FLOCKWATCH_STORE_NODES): node settings, rendered node config, and a store client that
moves past a dead node instead of failing."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from flockwatch.adapters import local_services as ls
from flockwatch.config import Settings
from flockwatch.store.engines.opensearch import OpenSearchClient


def _three(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state", store_port=19200, store_transport_port=19300, store_nodes=3)


def test_every_node_url_and_the_first_for_messages(tmp_path: Path) -> None:
    three = _three(tmp_path)
    assert three.store_urls == ["http://127.0.0.1:19200", "http://127.0.0.1:19210", "http://127.0.0.1:19220"]
    assert three.store_url == "http://127.0.0.1:19200"
    assert three.store_node_ports == [(19200, 19300), (19210, 19310), (19220, 19320)]
    assert Settings(store_port=9200).store_urls == ["http://127.0.0.1:9200"]


def test_a_node_outside_the_cluster_is_refused() -> None:
    with pytest.raises(ValidationError, match="store_node_id 3"):
        Settings(store_nodes=2, store_node_id=3)
    with pytest.raises(ValidationError):
        Settings(store_nodes=10)


def test_a_remote_cluster_takes_several_urls() -> None:
    remote = Settings(store_address="https://a.example:9243/, https://b.example:9243")
    assert remote.store_urls == ["https://a.example:9243", "https://b.example:9243"]
    assert remote.store_url == "https://a.example:9243"
    assert Settings(store_address="https://a.example:9243/").store_urls == ["https://a.example:9243"]


def test_each_node_has_its_ports_name_and_files(tmp_path: Path) -> None:
    three = _three(tmp_path)
    nodes = ls.store_nodes(three)
    assert [(n.store_node_id, n.store_port, n.store_transport_port) for n in nodes] == [
        (1, 19200, 19300),
        (2, 19210, 19310),
        (3, 19220, 19320),
    ]
    roots = [ls.service_paths(n, "opensearch").root for n in nodes]
    assert roots == [(tmp_path / "state" / "store-cluster" / f"node-{n}" / "opensearch").resolve() for n in (1, 2, 3)]
    # Seen from any node, the cluster is the same three nodes.
    assert nodes[1].store_urls == three.store_urls
    labels = [label for label, _, _ in ls.members(three, ["kafka", "opensearch"])]
    assert labels == ["kafka", "opensearch-1", "opensearch-2", "opensearch-3"]


def test_a_cluster_node_discovers_the_others(tmp_path: Path) -> None:
    second = ls.store_nodes(_three(tmp_path))[1]
    yml = yaml.safe_load(ls.render_opensearch_yml(second))
    assert yml["transport.port"] == 19310
    assert yml["discovery.seed_hosts"] == ["127.0.0.1:19300", "127.0.0.1:19310", "127.0.0.1:19320"]
    assert yml["cluster.initial_cluster_manager_nodes"] == ["node-1", "node-2", "node-3"]
    assert "discovery.type" not in yml
    cmd = ls.opensearch_command(second)
    assert "-Dflockwatch.node.name=node-2" in cmd
    assert cmd[cmd.index("-baseHttpPort") + 1] == "19209"


def test_a_single_node_keeps_single_node_discovery(tmp_path: Path) -> None:
    yml = yaml.safe_load(ls.render_opensearch_yml(Settings(state_dir=tmp_path)))
    assert yml["discovery.type"] == "single-node"
    assert "discovery.seed_hosts" not in yml
    assert not any(
        arg.startswith("-Dflockwatch.node.name") for arg in ls.opensearch_command(Settings(state_dir=tmp_path))
    )
    assert [label for label, _, _ in ls.members(Settings(state_dir=tmp_path), ["opensearch"])] == ["opensearch"]


def test_elasticsearch_clusters_are_refused(tmp_path: Path) -> None:
    es = Settings(state_dir=tmp_path, store_engine="elasticsearch", store_nodes=3)
    with pytest.raises(ls.ServiceError, match="one node only"):
        ls.members(es, ["elasticsearch"])


class _OpenSearchRoot(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"version": {"number": "2.19.1", "distribution": "opensearch"}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def live_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _OpenSearchRoot)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again: connecting is refused


def test_the_client_moves_past_dead_nodes(live_port: int) -> None:
    urls = [f"http://127.0.0.1:{_dead_port()}", f"http://127.0.0.1:{_dead_port()}", f"http://127.0.0.1:{live_port}"]
    settings = Settings(store_address=",".join(urls))
    # Fresh clients start from a random node: each must reach the live one, whichever it tried first.
    for _ in range(8):
        client = OpenSearchClient(settings)
        assert len(client.client.transport.connection_pool.connections) == 3
        answer = client.request("GET", "/", timeout_s=2.0)
        assert answer.status == 200
        assert answer.body["version"]["distribution"] == "opensearch"


def test_writes_wait_for_two_copies_only_where_a_replica_can_exist() -> None:
    assert Settings(store_nodes=3, store_replicas=1).store_write_copies == 2
    assert Settings(store_address="https://a:9200,https://b:9200", store_replicas=1).store_write_copies == 2
    assert Settings(store_nodes=3, store_replicas=0).store_write_copies == 1
    # A single local node never gets its replicas: waiting for two copies would refuse every write.
    assert Settings(store_nodes=1, store_replicas=1).store_write_copies == 1
