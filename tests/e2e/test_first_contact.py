"""First contact on a new machine: empty state directory, freshly formatted broker, empty store.

A fresh broker answers metadata before its group coordinator is ready, and a store answers before it takes
templates; a small demo, or a worker started before its services, must wait for them, not crash.
These tests run their own Kafka and OpenSearch on other ports, from an empty state directory each.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer

from flockwatch.config import Settings
from flockwatch.store import open_store
from flockwatch.store.documents import IndexKind, StoreUnavailable
from flockwatch.topics import Topic, topic_name
from tests.expected import expected_normalize_counts, expected_posts

pytestmark = [pytest.mark.e2e, pytest.mark.store]

FLOCKWATCH = str(Path(sys.executable).with_name("flockwatch"))


def fresh_env(state_dir: Path, base_port: int) -> dict[str, str]:
    assert not state_dir.exists(), f"{state_dir} must start empty"  # a fresh machine: nothing formatted yet
    return {
        **os.environ,
        "FLOCKWATCH_STATE_DIR": str(state_dir),
        "FLOCKWATCH_KAFKA_PORT": str(base_port),
        "FLOCKWATCH_KAFKA_CONTROLLER_PORT": str(base_port + 1),
        "FLOCKWATCH_STORE_PORT": str(base_port + 2),
        "FLOCKWATCH_STORE_TRANSPORT_PORT": str(base_port + 3),
    }


def settings_of(env: dict[str, str]) -> Settings:
    return Settings(
        state_dir=Path(env["FLOCKWATCH_STATE_DIR"]),
        kafka_port=int(env["FLOCKWATCH_KAFKA_PORT"]),
        kafka_controller_port=int(env["FLOCKWATCH_KAFKA_CONTROLLER_PORT"]),
        store_port=int(env["FLOCKWATCH_STORE_PORT"]),
        store_transport_port=int(env["FLOCKWATCH_STORE_TRANSPORT_PORT"]),
    )


@pytest.fixture
def fresh(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    base = 19400 + 10 * int(getattr(request, "param", 0))
    env = fresh_env(tmp_path / "state", base)
    try:
        yield env
    finally:
        subprocess.run([FLOCKWATCH, "down", "--purge"], env=env, capture_output=True, timeout=120)


@pytest.mark.store_long
def test_small_demo_from_an_empty_state_directory(fresh: dict[str, str]) -> None:
    # The 500 posts replay in well under a second: the stages ask for group lag while the new broker's
    # group coordinator is still starting, which used to end the demo with CoordinatorNotAvailableError.
    done = subprocess.run(
        [FLOCKWATCH, "demo", "--limit", "500", "--json"], env=fresh, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    summary = json.loads(done.stdout)
    split = expected_normalize_counts("ira_2016", 500)
    distinct = len(expected_posts("ira_2016", 500))
    assert summary["posts_read"] == summary["posts_produced"] == 500
    assert (summary["normalized"], summary["skipped_not_posts"], summary["dead_lettered"]) == (
        split["normalized"],
        split["skipped"],
        split["dead_lettered"],
    )
    assert summary["indexed_in_store"] == distinct
    assert summary["stored_text_scored_posts"] == distinct
    # The services it started live under the fresh state directory, not the default one.
    assert (Path(fresh["FLOCKWATCH_STATE_DIR"]) / "kafka" / "kafka.log").exists()


@pytest.mark.store_long
@pytest.mark.parametrize("fresh", [1], indirect=True)
def test_worker_started_before_the_store_waits_then_indexes(fresh: dict[str, str]) -> None:
    settings = settings_of(fresh)
    subprocess.run([FLOCKWATCH, "up", "kafka"], env=fresh, check=True, capture_output=True, timeout=300)
    log_path = Path(fresh["FLOCKWATCH_STATE_DIR"]) / "worker-index.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen([FLOCKWATCH, "worker", "index"], env=fresh, stdout=log, stderr=subprocess.STDOUT)
    try:
        posts = list(expected_posts("ira_2016", 60).values())
        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        for post in posts:
            producer.send(
                topic_name(settings.topic_prefix, Topic.normalized), key=post.key.encode(), value=post.to_bytes()
            )
        producer.flush()
        producer.close()
        time.sleep(8)
        assert worker.poll() is None, log_path.read_text()[-3000:]  # still waiting, not exited
        assert f"waiting for {settings.store_name}" in log_path.read_text()

        subprocess.run(
            [FLOCKWATCH, "up", settings.store_engine], env=fresh, check=True, capture_output=True, timeout=300
        )
        store = open_store(settings)
        deadline = time.monotonic() + 120
        count = 0
        while time.monotonic() < deadline:
            try:
                store.engine.refresh(IndexKind.posts)  # nothing to refresh (and a count of 0) until the index exists
                count = store.engine.count(IndexKind.posts)
            except StoreUnavailable:
                # The worker has just created the index and its shards are not active yet (503): ask again.
                count = 0
            if count == len(posts):
                break
            time.sleep(1)
        assert count == len(posts), log_path.read_text()[-3000:]
        assert {d["_id"] for d in store.engine.search(IndexKind.posts, {"match_all": {}}, size=100)} == {
            p.key for p in posts
        }
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
    assert worker.returncode == 0, log_path.read_text()[-3000:]


def test_a_command_against_a_service_that_is_not_there_fails_with_one_line(tmp_path: Path) -> None:
    env = {**fresh_env(tmp_path / "state", 19480), "FLOCKWATCH_SERVICE_WAIT_S": "2"}
    done = subprocess.run([FLOCKWATCH, "search", "text:x"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    engine = settings_of(env).store_engine  # the store CI runs these tests on
    assert lines[0].startswith(f"flockwatch: {settings_of(env).store_name} is not ready")
    assert "flockwatch status" in lines[0] and f"{engine}.log" in lines[0]


def test_the_other_engine_s_server_is_one_line_naming_the_setting() -> None:
    """The running store, asked for by the other engine's name: the client notices and says which setting to fix."""
    running = Settings()
    other = "opensearch" if running.store_engine == "elasticsearch" else "elasticsearch"
    env = {**os.environ, "FLOCKWATCH_STORE_ENGINE": other, "FLOCKWATCH_STORE_PORT": str(running.store_port)}
    done = subprocess.run([FLOCKWATCH, "search", "text:x"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"is not {'OpenSearch' if other == 'opensearch' else 'Elasticsearch'}" in lines[0]
    assert f"FLOCKWATCH_STORE_ENGINE={running.store_engine}" in lines[0]


def test_a_wrong_engine_name_is_one_line() -> None:
    env = {**os.environ, "FLOCKWATCH_STORE_ENGINE": "solr"}
    done = subprocess.run([FLOCKWATCH, "status"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "flockwatch: invalid settings: FLOCKWATCH_STORE_ENGINE: Input should be 'opensearch' or 'elasticsearch'"
    ]
