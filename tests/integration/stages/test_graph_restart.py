"""The graph worker restarted mid-stream (stopped, or killed mid-batch) on real Kafka and OpenSearch, with
the default lateness: it stores exactly the co-actions of an uninterrupted run.

The uninterrupted run is the batch core on the same 5,000 IRA records (test_graph_stage checks that the
stream equals it); here the worker is stopped every 2 batches of 500 and once killed half-way through a
batch, and every co-action spanning a restart must still be found.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence

import pytest

from flockwatch.adapters.kafka_bus import ensure_topics, run_stage
from flockwatch.adapters.replayer import replay
from flockwatch.config import Settings
from flockwatch.messages import InMessage, StageOutcome
from flockwatch.schema import Post
from flockwatch.stages.graph import STREAM_KINDS, GraphPost, GraphStage
from flockwatch.stages.graph_windows import WindowOptions, build_table, window_coactions
from flockwatch.store import Store, open_store
from flockwatch.workers import build_stage, group_id, run_until_caught_up
from tests.expected import expected_posts

pytestmark = [pytest.mark.integration, pytest.mark.store]

N = 5_000


class Killed(BaseException):
    """A process death: not an ``Exception``, so record isolation does not catch it and run_stage lets it through
    with the batch's offsets uncommitted."""


class DiesMidBatch:
    """The real stage, which dies after writing the first half of one batch."""

    def __init__(self, stage: GraphStage) -> None:
        self.stage, self.name, self.inputs = stage, stage.name, stage.inputs

    def process(self, messages: Sequence[InMessage]) -> StageOutcome:
        self.stage.process(messages[: len(messages) // 2])
        raise Killed


def expected_coactions(posts: dict[str, Post]) -> set[tuple[str, str, str, str]]:
    table = build_table(sorted((GraphPost.from_post(p) for p in posts.values()), key=lambda p: (p.time, p.key)))
    return {
        (kind, x, y, c.obj)
        for kind in STREAM_KINDS
        for c in window_coactions(table, kind, WindowOptions())
        for x, y in ((c.post_a, c.post_b), (c.post_b, c.post_a))
    }


def stored_coactions(store: Store) -> set[tuple[str, str, str, str]]:
    store.engine.refresh()
    return {(d["kind"], str(r[0]), str(r[1]), str(r[2])) for d in store.graph.edges() for r in d["coactions"]}


def test_restarts_mid_stream_find_the_uninterrupted_coactions(settings: Settings) -> None:
    posts = expected_posts("ira_2016", N)
    assert replay(settings, "ira_2016", limit=N).produced == N
    assert run_until_caught_up("normalize", settings)["normalized"] == N
    ensure_topics(settings)
    group = group_id(settings, "graph")
    totals: Counter[str] = Counter()
    runs = 0
    while True:
        stop = threading.Event()
        batches = [0]

        def after(counts: Counter[str], stop: threading.Event = stop, batches: list[int] = batches) -> None:
            batches[0] += 1
            if batches[0] >= 2:
                stop.set()

        stage = build_stage("graph", settings)  # a new process: empty memory, window refilled from Kafka
        assert isinstance(stage, GraphStage)
        if runs == 3:
            with pytest.raises(Killed):
                run_stage(settings, DiesMidBatch(stage), group, until_caught_up=True, max_poll_records=500)
        else:
            report = run_stage(settings, stage, group, stop=stop, until_caught_up=True, max_poll_records=500,
                               on_batch=after)  # fmt: skip
            totals.update(report.counts)
            if report.batches == 0:
                break
        runs += 1
    assert runs >= 6 and totals["consumed"] >= N and totals["late"] == 0
    expected = expected_coactions(posts)
    assert len(expected) > 100
    assert stored_coactions(open_store(settings)) == expected
