"""A store outage and a broker restart in the middle of a replay lose and duplicate nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from flockwatch.adapters import local_services
from flockwatch.adapters.kafka_bus import group_committed, group_lag
from flockwatch.adapters.replayer import replay
from flockwatch.config import Settings
from flockwatch.store import Store, open_store
from flockwatch.store.documents import IndexKind, StoreUnavailable
from flockwatch.store.engines.rest import RequestTimedOut
from flockwatch.workers import STAGE_INPUTS, group_id
from tests.expected import expected_posts
from tests.namespace_env import namespace_env
from tests.replay_faults import RATE, N, assert_exact, replay_with_interruption, streaming_workers

# Store outages are marked `store` (run on both engines); broker faults are not (the store is only where the posts
# are counted), so the Elasticsearch leg of `make test` skips them.
# These stop, restart or freeze the services every other test shares: run alone (`make test`).
pytestmark = [pytest.mark.integration, pytest.mark.exclusive]

INDEX_WORKER = [str(Path(sys.executable).with_name("flockwatch")), "worker", "index"]


@pytest.mark.store
@pytest.mark.long
def test_store_outage_mid_replay(settings: Settings) -> None:
    def outage() -> None:
        local_services.stop(settings, settings.store_engine)
        time.sleep(5)  # the index worker fails and retries while the store is down
        local_services.start(settings, settings.store_engine)
        local_services.wait_healthy(settings, settings.store_engine, settings.start_timeout_s)

    report, workers = replay_with_interruption(settings, outage)
    assert report.produced == N
    assert workers["index"].retries >= 1, "the index worker never saw the outage"
    assert_exact(settings)


def test_broker_restart_mid_replay(settings: Settings) -> None:
    before = local_services.read_pid(settings, "kafka")

    def restart() -> None:
        local_services.stop(settings, "kafka")
        time.sleep(3)
        local_services.start(settings, "kafka")
        local_services.wait_healthy(settings, "kafka", settings.start_timeout_s)

    report, _ = replay_with_interruption(settings, restart)
    assert local_services.read_pid(settings, "kafka") != before, "the broker was not restarted"
    assert report.produced == N
    assert_exact(settings)


def posts_now(store: Store) -> int:
    try:
        return store.engine.count(IndexKind.posts)
    except StoreUnavailable:  # the month's index is being created
        return 0


def test_killed_worker_loses_nothing(settings: Settings) -> None:
    """SIGKILL the index worker mid-stream; a new one resumes from the last committed offsets."""
    env, worker = namespace_env(settings), INDEX_WORKER
    store = open_store(settings)
    expected = len(expected_posts("ira_2016", N))
    first = subprocess.Popen(worker, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runner = threading.Thread(target=replay, args=(settings, "ira_2016"), kwargs={"limit": N, "rate": RATE})
    with streaming_workers(settings, stages=("normalize",)):
        runner.start()
        try:
            deadline = time.monotonic() + 60
            while posts_now(store) == 0:
                assert time.monotonic() < deadline, "the worker never indexed anything"
                time.sleep(0.1)
            first.kill()  # no shutdown hook runs: the batch in flight stays uncommitted
            first.wait(timeout=30)
        finally:
            if first.poll() is None:
                first.kill()
        store.engine.refresh()
        assert 0 < store.engine.count(IndexKind.posts) < expected, "the kill must land mid-stream"
        group = group_id(settings, "index")
        at_kill = group_committed(settings, group, STAGE_INPUTS["index"])
        started = time.monotonic()  # at once: the dead worker still holds its partitions until its session ends
        second = subprocess.Popen(worker, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # Only a live member commits: the first new commit is the second worker's, once the broker has freed
            # the dead worker's partitions (after kafka_session_timeout_s) and handed them over.
            while group_committed(settings, group, STAGE_INPUTS["index"]) == at_kill:
                assert time.monotonic() - started < 60, "the restarted worker never took over"
                time.sleep(0.1)
            takeover_s = time.monotonic() - started
            print(f"restarted index worker committing {takeover_s:.1f} s after its start (process start included)")
            assert takeover_s < 8 + settings.kafka_session_timeout_s, takeover_s
            runner.join(timeout=120)
            deadline = time.monotonic() + 120
            while group_lag(settings, group_id(settings, "index"), STAGE_INPUTS["index"]) > 0:
                assert time.monotonic() < deadline, "the restarted worker did not catch up"
                time.sleep(0.5)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=60)
    assert_exact(settings)


@pytest.mark.store
def test_frozen_store_is_noticed_in_seconds_and_loses_nothing(settings: Settings) -> None:
    """SIGSTOP the store's JVM mid-replay (it still accepts connections, answers nothing), SIGCONT it later."""
    pid = local_services.read_pid(settings, settings.store_engine)
    assert pid is not None
    probe = open_store(settings)
    noticed: list[float] = []

    def freeze() -> None:
        os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(RequestTimedOut):  # a read: a write would land once the store resumes
                probe.engine.count(IndexKind.posts)
            noticed.append(time.monotonic() - started)
            time.sleep(6)  # the index worker times out and retries while the store is frozen
        finally:
            os.kill(pid, signal.SIGCONT)

    report, workers = replay_with_interruption(settings, freeze)
    print(f"frozen store noticed after {noticed[0]:.1f} s (first request timeout {settings.store_timeout_s} s)")
    assert noticed[0] < settings.store_timeout_s + 2
    assert report.produced == N
    assert workers["index"].retries >= 1, "the index worker never saw the freeze"
    assert_exact(settings)
