"""`flockwatch up elasticsearch` (FLOCKWATCH_STORE_ENGINE=elasticsearch): a real Elasticsearch 7.17 node from the
Maven Central jars, on ports 25200/25300 with its state in a tmp dir, driven through the command line.

It leaves the default stack alone: the package's autouse `services_up` fixture is overridden here, and Kafka's
ports are moved off 9092/9093 so `flockwatch down`/`status` (Kafka + the store) never touch a CI broker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flockwatch.adapters import local_services as ls

pytestmark = pytest.mark.integration

# Below Linux's ephemeral range (32768-60999): a client socket holding the port made the bind fail in CI.
ES_PORT, ES_TRANSPORT_PORT = 25200, 25300
FLOCKWATCH = str(Path(sys.executable).parent / "flockwatch")


@pytest.fixture(scope="module")
def services_up() -> None:
    """Overrides tests/integration/conftest.py: no default Kafka/OpenSearch for this module."""


@pytest.fixture
def es_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOCKWATCH_")}
    env.update(
        FLOCKWATCH_STATE_DIR=str(tmp_path / "state"),
        FLOCKWATCH_STORE_ENGINE="elasticsearch",
        FLOCKWATCH_STORE_PORT=str(ES_PORT),
        FLOCKWATCH_STORE_TRANSPORT_PORT=str(ES_TRANSPORT_PORT),
        FLOCKWATCH_KAFKA_PORT="25092",
        FLOCKWATCH_KAFKA_CONTROLLER_PORT="25093",
    )
    yield env
    subprocess.run([FLOCKWATCH, "down"], env=env, capture_output=True, timeout=120, check=False)  # pass or fail


def _cli(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run([FLOCKWATCH, *args], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.stdout.startswith("{"), proc.stdout + proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _http(method: str, path: str, body: object = None) -> tuple[dict[str, Any], Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{ES_PORT}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.loads(resp.read()), resp.headers


def test_up_index_search_down(es_env: dict[str, str]) -> None:
    rc, report = _cli(es_env, "up", "elasticsearch")
    assert rc == 0 and report["elasticsearch"]["healthy"] is True, report
    pid = report["elasticsearch"]["pid"]
    assert report["elasticsearch"]["state_dir"] == str(Path(es_env["FLOCKWATCH_STATE_DIR"]) / "elasticsearch")
    assert ls.pid_alive(pid, "elasticsearch")

    root, headers = _http("GET", "/")
    assert headers["X-Elastic-Product"] == "Elasticsearch"
    assert root["version"]["number"].startswith("7.17."), root

    _http("PUT", "/flock-it", {"settings": {"number_of_shards": 1, "number_of_replicas": 0}})
    _http("PUT", "/flock-it/_doc/1?refresh=true", {"text": "coordinated flock of accounts"})
    hits, _ = _http("POST", "/flock-it/_search", {"query": {"match": {"text": "flock"}}})
    assert [h["_id"] for h in hits["hits"]["hits"]] == ["1"]

    # `status` lists Kafka and the configured store (exit 1: Kafka is not running here).
    rc, current = _cli(es_env, "status")
    assert list(current) == ["kafka", "elasticsearch"] and rc == 1
    assert current["elasticsearch"]["healthy"] is True and current["elasticsearch"]["pid"] == pid

    rc, stopped = _cli(es_env, "down")
    assert rc == 0 and stopped["elasticsearch"]["running"] is False, stopped
    assert not ls.pid_alive(pid, "elasticsearch")
    assert "closed" in (Path(es_env["FLOCKWATCH_STATE_DIR"]) / "elasticsearch" / "elasticsearch.log").read_text()
