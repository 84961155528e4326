"""The spread-latency benchmark's pieces on a tiny slice: the CED records indexed by the stages' own code into an
in-memory store give posts and cascades the API answers from; the sample is fixed by its seed, uniform over
members and the largest cascades' roots first; percentiles are measured values."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bench.api_spread import (
    BATCH,
    CascadeRef,
    IndexReport,
    analyst_token,
    batches,
    draw_sample,
    index_posts,
    median_summary,
    percentile,
    replay_posts,
    reservoir,
    summary,
    time_spread,
)
from flockwatch.api.app import create_app
from flockwatch.config import Settings
from flockwatch.stages.graph import GraphSettings, GraphState
from flockwatch.store.documents import IndexKind
from tests.fakes.store import InMemoryStore

DATA = Settings().data_dir


def test_batches_cover_the_stream_in_order() -> None:
    assert [len(b) for b in batches(range(4500), BATCH)] == [2000, 2000, 500]
    assert list(itertools.chain.from_iterable(batches(range(7), 3))) == list(range(7))


def test_reservoir_is_seeded_uniform_and_keeps_short_streams_whole() -> None:
    assert reservoir(range(5), 10, random.Random(1)) == [0, 1, 2, 3, 4]
    assert reservoir(range(1000), 50, random.Random(1)) == reservoir(range(1000), 50, random.Random(1))
    assert reservoir(range(1000), 50, random.Random(1)) != reservoir(range(1000), 50, random.Random(2))
    # every item equally likely: over many draws, the late half is drawn as often as the early half
    late = sum(x >= 500 for seed in range(400) for x in reservoir(range(1000), 10, random.Random(seed)))
    assert 1800 < late < 2200 and all(len(set(reservoir(range(100), 30, random.Random(s)))) == 30 for s in range(5))


def cascades() -> list[CascadeRef]:
    sizes = {"weibo:a": 1, "weibo:b": 500, "weibo:c": 40, "weibo:d": 500, "weibo:e": 2}
    return [CascadeRef(cid, cid, n, tuple(f"{cid}/{i}" for i in range(n))) for cid, n in sizes.items()]


def test_sample_draws_members_by_size_and_the_largest_roots() -> None:
    sample = draw_sample(cascades(), 40, 3, seed=13, warmup=5)
    assert sample == draw_sample(cascades(), 40, 3, seed=13, warmup=5)
    assert sample.random != draw_sample(cascades(), 40, 3, seed=14, warmup=5).random
    assert sample.largest == ["weibo:b", "weibo:d", "weibo:c"]  # by size, ties by id
    assert len(sample.random) == 40 and len(sample.warmup) == 5
    assert len(set(sample.random + sample.warmup)) == 45
    members = {m for c in cascades() for m in c.members}
    assert set(sample.random) <= members
    drawn = Counter(k.split("/")[0] for k in sample.random)
    assert drawn["weibo:b"] + drawn["weibo:d"] > 30  # 1,000 of the 1,043 members are in the two big ones


def test_percentiles_are_nearest_rank() -> None:
    ms = [float(x) for x in range(1, 101)]
    assert (percentile(ms, 50), percentile(ms, 95), percentile(ms, 100)) == (50.0, 95.0, 100.0)
    assert percentile([7.0], 95) == 7.0
    assert summary([3.0, 1.0, 2.0]) == {"n": 3, "p50": 2.0, "p95": 3.0, "max": 3.0}
    rounds = [{"n": 3, "p50": 1.0, "p95": 9.0, "max": 9.0}, {"n": 3, "p50": 2.0, "p95": 5.0, "max": 6.0},
              {"n": 3, "p50": 3.0, "p95": 7.0, "max": 8.0}]  # fmt: skip
    assert median_summary(rounds) == {"n": 3, "p50": 2.0, "p95": 7.0, "max": 8.0}


# The shared data is required, as for every other dataset test: a missing archive fails here, it is not skipped.
def test_a_slice_of_ced_indexed_by_the_stages_answers_spread_over_the_api(tmp_path: Path) -> None:
    # The archive holds the 3,387 sources first, then each cascade's reposts: the slice ends inside the first ones.
    store = InMemoryStore()
    report = IndexReport()
    state = GraphState(store, GraphSettings(), None)
    index_posts(store, state, replay_posts(DATA, report, limit=3387 + 1200), report)
    posts, stored = store.engine.docs[IndexKind.posts], store.engine.docs[IndexKind.cascades]
    assert report.records == 4587 and report.posts + report.not_normalized == 4587
    assert 4500 < len(posts) <= report.posts  # one document per post key (a mid repeated in its file: one)
    assert report.rejected == 0 and report.cascades_written >= len(stored) > 0
    spread = [d for d in stored.values() if d["size"] > 1]
    assert spread and sum(d["size"] for d in stored.values()) == len(posts)  # every post is in one cascade
    assert all(set(d["members"]) <= set(posts) for d in stored.values())

    refs = [CascadeRef(cid, d["root_key"], d["size"], tuple(d["members"])) for cid, d in sorted(stored.items())]
    sample = draw_sample(refs, 20, 2, seed=13, warmup=2)
    assert sample.largest[0] == max(spread, key=lambda d: d["size"])["root_key"]
    settings = Settings(state_dir=tmp_path, index_prefix="benchspreadtest")
    token = analyst_token(settings)
    with TestClient(create_app(settings, store)) as client:  # type: ignore[arg-type]  # the in-memory store
        client.headers["Authorization"] = f"Bearer {token}"
        timed = time_spread(client, sample.largest + sample.random)
    assert len(timed.ms) == 22 and all(ms > 0 for ms in timed.ms)
    assert timed.nodes[0] == max(spread, key=lambda d: d["size"])["size"]
    app = create_app(settings, store)  # type: ignore[arg-type]
    with TestClient(app) as client, pytest.raises(RuntimeError, match="401"):
        time_spread(client, sample.largest)  # no token: the bench stops rather than time errors
