"""The same replay through one worker of every stage and through three workers of every stage that scales out
(normalize, media, index, rollups; text, graph and alerts are single-writer) stores the same documents.

What is compared (docs/scaling.md, "Exact results"): posts with their text and media scores and narrative ids,
narratives, accounts, cascades, coordination edges and alerts must be identical. The text stage assigns narratives,
and the alerts stage judges posts, in one order across partitions (event time, then post key:
flockwatch.stages.ordered_merge), so the interleaving of partitions decides neither; the alerts stage judges each
post with its stored scores, and bursts at event-time checkpoints, so neither the scoring stages' pace nor batch
boundaries change an alert. Left out: an alert's wall-clock times (when it was raised and last changed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flockwatch.adapters.scratch import scratch_namespace
from flockwatch.alerts.rules import CONFIG_ENV
from flockwatch.cli.demo import run_demo, worker_plan
from flockwatch.config import Settings
from flockwatch.store import open_store, prepare_store
from flockwatch.store.documents import IndexKind
from flockwatch.text.canonical import canonical_text, copy_form, decode_text
from flockwatch.workers import STAGES
from tests.expected import expected_normalized_records

pytestmark = pytest.mark.integration

# `make test` compares 1 and 3 workers on 1,500 posts; `make test-cluster` (FLOCKWATCH_CLUSTER_TESTS=full) compares
# 1, 2 and 4 workers (4 partitions) on 5,000.
FULL = os.environ.get("FLOCKWATCH_CLUSTER_TESTS") == "full"
N = 5_000 if FULL else 1_500
WORKERS = (2, 4) if FULL else (3,)
PARTITIONS = max(3, *WORKERS)
FLOCKWATCH = str(Path(sys.executable).with_name("flockwatch"))
COMPARED = (
    IndexKind.posts,
    IndexKind.narratives,
    IndexKind.accounts,
    IndexKind.cascades,
    IndexKind.coordination_edges,
    IndexKind.alerts,
)
WALL_CLOCK = {IndexKind.alerts: {"created_at", "updated_at"}}


def stored(settings: Settings) -> dict[IndexKind, dict[str, dict[str, Any]]]:
    store = open_store(settings)
    store.engine.refresh()
    return {
        kind: {d.pop("_id"): d for d in store.engine.search(kind, {"match_all": {}}, size=10_000)} for kind in IndexKind
    }


def order_free(post: dict[str, Any], repeated: bool) -> dict[str, Any]:
    return {k: v for k, v in post.items() if not (repeated and k == "source")}


# More sensitive than the default rules, and watching two candidates, so a short replay raises alerts of every
# kind to compare: bursts of hashtags and narratives, and posts about a watched entity.
ALERTS_CONFIG = """\
detector: {bin: 5m, warmup: 30m, min_posts: 5, min_weight: 5}
rules:
  - {name: burst, scope: burst, when: {signal: burst_weight, gte: 5}, escalate: [{posts: 40, severity: high}]}
  - name: watched
    scope: post
    group_by: watch
    when: {any: [{signal: machine_text, gte: 0.5}, {signal: bursting}, {signal: narrative}]}
    severity: high
    escalate: [{posts: 20, severity: critical}]
    dedupe_window: 30m
  - name: machine-narrative
    scope: post
    group_by: narrative
    when: {all: [{signal: machine_text, gte: 0.5}, {signal: bursting}]}
"""
WATCHED = [
    {"id": "clinton", "kind": "candidate", "name": "Hillary Clinton", "aliases": ["Hillary"]},
    {"id": "trump", "kind": "candidate", "name": "Donald Trump", "aliases": ["Trump"]},
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, dict[IndexKind, dict[str, dict[str, Any]]]]]:
    """One worker per stage through ``run_demo``; more through the command the README shows."""
    out = {}
    base = Settings(topic_partitions=PARTITIONS)
    rules = tmp_path_factory.mktemp("alerts") / "alerts.yaml"
    rules.write_text(ALERTS_CONFIG)
    with pytest.MonkeyPatch.context() as env:
        env.setenv(CONFIG_ENV, str(rules))  # the stage processes inherit it
        with scratch_namespace("it", base) as settings:
            watch(settings)
            assert run_demo(settings, "ira_2016", limit=N).indexed_in_store > 0
            out[1] = stored(settings)
        for workers in WORKERS:
            out[workers] = demo_with_workers(base, workers)
    yield out


def watch(settings: Settings) -> None:
    store = prepare_store(settings)
    store.watchlists.put(WATCHED)


def demo_with_workers(base: Settings, workers: int) -> dict[IndexKind, dict[str, dict[str, Any]]]:
    with scratch_namespace("it", base) as settings:
        watch(settings)
        env = {**os.environ, "FLOCKWATCH_TOPIC_PREFIX": settings.topic_prefix}
        env["FLOCKWATCH_INDEX_PREFIX"] = settings.index_prefix
        env["FLOCKWATCH_TOPIC_PARTITIONS"] = str(PARTITIONS)
        command = [FLOCKWATCH, "demo", "--limit", str(N), "--workers", str(workers), "--json"]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        stages = json.loads(done.stdout)["stages"]
        # Each stage's counts are its workers' summed; every raw record was normalised by one of them.
        assert set(stages) == set(STAGES) and stages["normalize"]["consumed"] >= N
        return stored(settings)


def test_the_plan_gives_single_writer_stages_one_worker() -> None:
    assert worker_plan(STAGES, 3) == {
        "normalize": 3,
        "text": 1,
        "media": 3,
        "index": 3,
        "rollups": 3,
        "alerts": 1,
        "graph": 1,
    }
    with pytest.raises(ValueError):
        worker_plan(STAGES, 0)


def test_one_and_more_workers_store_the_same_documents(runs: dict[int, Any]) -> None:
    """(Two and four workers under `make test-cluster`.)"""
    for workers in WORKERS:
        compare(runs[1], runs[workers])


def compare(one: dict[IndexKind, Any], many: dict[IndexKind, Any]) -> None:
    # A record repeated in the dataset is one post; which copy's position is kept depends on arrival order.
    repeated = {k for k, n in Counter(p.key for p in expected_normalized_records("ira_2016", N)).items() if n > 1}
    differ: list[str] = []
    for kind in COMPARED:
        assert one[kind], f"nothing stored of {kind.value}"
        assert set(one[kind]) == set(many[kind]), kind.value
        for doc_id, doc in one[kind].items():
            other = many[kind][doc_id]
            if kind is IndexKind.posts:
                doc, other = order_free(doc, doc_id in repeated), order_free(other, doc_id in repeated)
            skip = WALL_CLOCK.get(kind, set())
            doc, other = ({k: v for k, v in d.items() if k not in skip} for d in (doc, other))
            if doc != other:
                fields = sorted(k for k in {*doc, *other} if doc.get(k) != other.get(k))
                differ.append(f"{kind.value} {doc_id}{' (repeated)' if doc_id in repeated else ''}: {fields}")
    assert not differ, f"{len(differ)} documents differ, e.g. " + "; ".join(differ[:8])
    posts = one[IndexKind.posts]
    assert sum("text_score" in p for p in posts.values()) == len(posts)
    rules = Counter(a["rule"] for a in one[IndexKind.alerts].values())
    print(f"alerts compared: {rules.total()} ({dict(rules)})")
    assert set(rules) == {"burst", "watched", "machine-narrative"} and rules.total() >= 20, rules
    # Not only exact copies: some narratives were joined by near copies or paraphrases, and they match too.
    joined = Counter(p.get("narrative_how") for p in posts.values())
    assert joined["near_copy"] + joined["paraphrase"] > 0, joined


def test_exact_copies_share_a_narrative_in_both_runs(runs: dict[int, Any]) -> None:
    for stored_docs in runs.values():
        by_form: dict[str, set[str]] = defaultdict(set)
        for post in stored_docs[IndexKind.posts].values():
            form = copy_form(canonical_text(decode_text(post.get("text", ""))))
            if form and post.get("narrative_id"):
                by_form[form].add(post["narrative_id"])
        assert by_form and all(len(ids) == 1 for ids in by_form.values())
