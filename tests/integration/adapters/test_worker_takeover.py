"""A worker killed mid-stream and restarted under its static instance id takes its partitions back at once.

The session timeout is raised to 30 s here, so a restart that only beat the session timeout (a dynamic member)
could not pass: only static membership (``FLOCKWATCH_KAFKA_GROUP_INSTANCE_ID``) hands the partitions back before.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time

import pytest

from flockwatch.adapters.kafka_bus import group_committed, group_lag, run_stage
from flockwatch.adapters.replayer import replay
from flockwatch.config import Settings
from flockwatch.stages.normalize import NormalizeStage
from flockwatch.store import open_store
from flockwatch.store.documents import IndexKind
from flockwatch.workers import STAGE_INPUTS, group_id
from tests.expected import expected_posts
from tests.integration.adapters.test_outages import INDEX_WORKER, posts_now
from tests.namespace_env import namespace_env
from tests.replay_faults import RATE, N, assert_exact, streaming_workers

pytestmark = pytest.mark.integration

SESSION_S = 30.0
# Process start (imports, store templates) and one join round; the issue asks for seconds, not the session.
TAKEOVER_BOUND_S = 12.0


def test_restarted_static_member_takes_over_before_the_session_ends(settings: Settings) -> None:
    extra = {"FLOCKWATCH_KAFKA_SESSION_TIMEOUT_S": str(SESSION_S), "FLOCKWATCH_KAFKA_GROUP_INSTANCE_ID": "index-0"}
    env, worker = namespace_env(settings, extra), INDEX_WORKER
    store = open_store(settings)
    group = group_id(settings, "index")
    expected = len(expected_posts("ira_2016", N))
    first = subprocess.Popen(worker, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runner = threading.Thread(target=replay, args=(settings, "ira_2016"), kwargs={"limit": N, "rate": RATE})
    with streaming_workers(settings, stages=("normalize",)):
        runner.start()
        try:
            deadline = time.monotonic() + 60
            # A commit, not just a post: the group has its static member and the partitions are assigned.
            while group_committed(settings, group, STAGE_INPUTS["index"]) == 0:
                assert time.monotonic() < deadline, "the worker never committed anything"
                time.sleep(0.1)
            first.kill()  # SIGKILL: no shutdown hook, the batch in flight stays uncommitted
            first.wait(timeout=30)
        finally:
            if first.poll() is None:
                first.kill()
        store.engine.refresh()
        assert 0 < posts_now(store) < expected, "the kill must land mid-stream"
        at_kill = group_committed(settings, group, STAGE_INPUTS["index"])
        started = time.monotonic()  # at once: the broker still counts the dead process as the member
        second = subprocess.Popen(worker, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # Only a live member commits: a new commit means the restarted worker owns the partitions again.
            while group_committed(settings, group, STAGE_INPUTS["index"]) == at_kill:
                assert time.monotonic() - started < SESSION_S + 30, "the restarted worker never took over"
                time.sleep(0.1)
            takeover_s = time.monotonic() - started
            print(
                f"restarted static member committing {takeover_s:.1f} s after its start "
                f"(process start included; session timeout {SESSION_S:.0f} s)"
            )
            assert takeover_s < TAKEOVER_BOUND_S, takeover_s
            runner.join(timeout=120)
            assert not runner.is_alive(), "replay did not finish"
            deadline = time.monotonic() + 120
            while group_lag(settings, group, STAGE_INPUTS["index"]) > 0:
                assert time.monotonic() < deadline, "the restarted worker did not catch up"
                time.sleep(0.5)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=60)
    # Nothing lost (every post stored) and nothing doubled (exactly as many documents as distinct posts).
    assert_exact(settings)
    assert store.engine.count(IndexKind.posts) == expected


def test_a_second_live_worker_with_the_same_instance_id_stops_the_first(settings: Settings) -> None:
    """Two live consumers with one id would evict each other forever: the fenced one stops, saying why."""
    stop = threading.Event()
    errors: dict[str, BaseException] = {}

    def work(name: str) -> None:
        try:
            run_stage(settings, NormalizeStage(), group_id(settings, "normalize"), stop=stop, instance_id="dup")
        except RuntimeError as exc:
            errors[name] = exc

    first = threading.Thread(target=work, args=("first",), daemon=True)
    # Records keep coming for ~20 s, so the first worker has batches to commit after the second has joined.
    feed = threading.Thread(target=replay, args=(settings, "ira_2016"), kwargs={"limit": 3000, "rate": 150.0})
    first.start()
    feed.start()
    try:
        deadline = time.monotonic() + 60
        while group_committed(settings, group_id(settings, "normalize"), STAGE_INPUTS["normalize"]) == 0:
            assert time.monotonic() < deadline, "the first worker never committed"
            time.sleep(0.1)
        assert first.is_alive(), errors
        started = time.monotonic()
        second = threading.Thread(target=work, args=("second",), daemon=True)
        second.start()
        # kafka-python only stops a fenced consumer's heartbeats; its next commit is refused, which stops it.
        first.join(timeout=30)
        print(f"fenced worker stopped {time.monotonic() - started:.2f} s after the duplicate started")
        assert not first.is_alive(), "the fenced worker went on"
        assert "FLOCKWATCH_KAFKA_GROUP_INSTANCE_ID" in str(errors["first"])
        assert second.is_alive() and "second" not in errors
    finally:
        stop.set()
        first.join(timeout=30)
        feed.join(timeout=60)
