"""A replay with a fault in the middle (a service stopped, restarted or killed), run under streaming stage workers,
and the check that the store then holds every expected post exactly once. Shared by the outage tests of the single
node services and of the local Kafka cluster."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flockwatch.adapters.kafka_bus import LoopReport, run_stage
from flockwatch.adapters.replayer import ReplayReport, replay
from flockwatch.config import Settings
from flockwatch.store import open_store
from flockwatch.store.documents import IndexKind
from flockwatch.workers import build_stage, group_id, run_until_caught_up
from tests.expected import expected_posts

N = 10_000
RATE = 1_500.0  # records/s: slow enough that the outage lands mid-replay


@contextmanager
def streaming_workers(
    settings: Settings, stages: tuple[str, ...] = ("normalize", "index")
) -> Iterator[dict[str, LoopReport]]:
    """Stages running as long-lived consumers, as `flockwatch worker ...` runs them."""
    stop = threading.Event()
    reports: dict[str, LoopReport] = {}

    def work(name: str) -> None:
        reports[name] = run_stage(settings, build_stage(name, settings), group_id(settings, name), stop=stop)

    threads = [threading.Thread(target=work, args=(name,), daemon=True) for name in stages]
    for t in threads:
        t.start()
    try:
        yield reports
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)


def replay_with_interruption(
    settings: Settings, interrupt: Callable[[], None]
) -> tuple[ReplayReport, dict[str, LoopReport]]:
    result: list[ReplayReport] = []
    runner = threading.Thread(target=lambda: result.append(replay(settings, "ira_2016", limit=N, rate=RATE)))
    with streaming_workers(settings) as workers:
        runner.start()
        time.sleep(N / RATE / 3)
        assert runner.is_alive(), "the interruption must land mid-replay"
        interrupt()
        runner.join(timeout=600)
        assert result, "replay did not finish"
    # Whatever the streaming workers left, a catch-up run finishes (same consumer groups).
    run_until_caught_up("normalize", settings)
    run_until_caught_up("index", settings)
    return result[0], workers


def assert_exact(settings: Settings) -> None:
    expected = expected_posts("ira_2016", N)
    store = open_store(settings)
    store.engine.refresh()
    assert store.engine.count(IndexKind.posts) == len(expected)
    # Every expected post is there (not just the right number of documents).
    assert store.engine.count(IndexKind.posts, {"ids": {"values": list(expected)}}) == len(expected)
