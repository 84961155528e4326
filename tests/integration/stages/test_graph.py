"""The graph stage and the graph_windows DAG on real Kafka and OpenSearch, with real IRA 2016 posts.

The first 5,000 IRA records (4,947 distinct posts over 3.5 days) hold real co-retweeting: dozens of account
pairs retweeting the same tweet within 60 s. Expected values are computed in-process from the same
records with the batch core, so the stream is checked against it, not against magic numbers.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import networkx as nx  # type: ignore[import-untyped, unused-ignore]
import pytest
from typer.testing import CliRunner

from flockwatch.adapters.replayer import replay
from flockwatch.cli.app import app
from flockwatch.config import Settings
from flockwatch.schema import MediaScore, Post, TextScore
from flockwatch.stages.graph import STREAM_KINDS, GraphPost
from flockwatch.stages.graph_windows import WindowOptions, build_table, run_windows, window_coactions
from flockwatch.stages.index import to_upsert
from flockwatch.store import Store, open_store
from flockwatch.store.documents import IndexKind, Upsert
from flockwatch.workers import run_until_caught_up
from tests.dag_runner import dag_test
from tests.expected import expected_posts

pytestmark = [pytest.mark.integration, pytest.mark.store]

N = 5_000
GRAPH_KINDS = (IndexKind.cascades, IndexKind.accounts, IndexKind.coordination_edges)


@pytest.fixture(scope="module")
def posts() -> dict[str, Post]:
    return expected_posts("ira_2016", N)


def without_id(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "_id"}


def counts(store: Store) -> dict[str, int]:
    store.engine.refresh()
    return {k.value: store.engine.count(k) for k in GRAPH_KINDS}


def expected_edges(posts: dict[str, Post]) -> set[tuple[str, str, str]]:
    table = build_table(sorted((GraphPost.from_post(p) for p in posts.values()), key=lambda p: (p.time, p.key)))
    out = set()
    for kind in STREAM_KINDS:
        for c in window_coactions(table, kind, WindowOptions()):
            out.update({(kind, c.user_a, c.user_b), (kind, c.user_b, c.user_a)})
    return out


def test_stream_writes_graph_documents_once(settings: Settings, posts: dict[str, Post]) -> None:
    # default lateness (1 h): the full-speed replay reads partitions days apart in event time, which the
    # per-(partition, origin) watermark absorbs
    assert replay(settings, "ira_2016", limit=N).produced == N
    assert run_until_caught_up("normalize", settings)["normalized"] == N
    first = run_until_caught_up("graph", settings)
    # (a post captured twice counts once per batch it is in)
    assert first["posts"] >= len(posts) and first.get("dead_lettered", 0) == 0 and first["late"] == 0

    store = open_store(settings)
    got = counts(store)
    edges = expected_edges(posts)
    assert len(edges) >= 50
    stored = {(d["kind"], d["source"], d["target"]) for d in store.graph.edges()}
    assert stored == edges
    authors = {f"twitter:{p.author.id}" for p in posts.values()}
    assert got["accounts"] == len(authors)
    assert got["cascades"] == len({p.parent_key() for p in posts.values() if p.parent_key()})

    # evidence on the heaviest edge: its co-actions, times and Δt
    top = store.engine.search(IndexKind.coordination_edges, {"match_all": {}}, size=1, sort=[{"weight": "desc"}])[0]
    assert top["weight"] >= 3 and top["n_coactions"] >= top["weight"] and len(top["coactions"]) >= top["weight"]
    assert top["min_dt_s"] <= 60 and top["examples"].count(">") == 3 and top["first_seen"].startswith("2016-10")
    source = store.engine.get(IndexKind.accounts, top["source"])
    assert source is not None and top["target"] in source["partners"] and "co_retweet" in source["coordination_kinds"]
    assert sum(
        int(d["post_count"]) for d in store.engine.scan(IndexKind.accounts, {"match_all": {}}, [{"key": "asc"}])
    ) == len(posts)
    big = store.engine.search(IndexKind.cascades, {"match_all": {}}, size=1, sort=[{"size": "desc"}])[0]
    assert big["size"] >= 5 and 0 <= big["risk_score"] <= 1 and big["coordinated_share"] > 0

    # the same posts again (a new replay, new offsets, a fresh stage): nothing changes
    replay(settings, "ira_2016", limit=N)
    run_until_caught_up("normalize", settings)
    second = run_until_caught_up("graph", settings)
    assert second["posts"] >= len(posts)
    assert (second["changes"], second["cascades_written"], second["edges_written"]) == (0, 0, 0)
    assert counts(store) == got
    assert store.engine.get(IndexKind.coordination_edges, top["_id"]) == without_id(top)
    assert store.engine.get(IndexKind.cascades, big["_id"]) == without_id(big)


@pytest.mark.store_long
def test_graph_windows_dag_and_export(
    settings: Settings, posts: dict[str, Post], airflow_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replay(settings, "ira_2016", limit=N)
    run_until_caught_up("normalize", settings)
    assert run_until_caught_up("index", settings)["indexed"] == N
    # scores merged into the stored posts as the index stage merges them: every third post's text machine,
    # the others human; two media per post with a key ending in 0 (one manipulated when the key ends in 00)
    scores: list[Upsert] = []
    for i, p in enumerate(sorted(posts.values(), key=lambda p: p.key)):
        label = "machine" if i % 3 == 0 else "human"
        scores.append(to_upsert(TextScore(post_key=p.key, post_created_at=p.created_at, label=label, model="t")))
        if p.key.endswith("0"):
            for n, value in enumerate((0.1, 0.9 if p.key.endswith("00") else 0.2)):
                scores.append(to_upsert(MediaScore(post_key=p.key, post_created_at=p.created_at,
                                                   media_url=f"https://m/{n}", manipulation_score=value)))  # fmt: skip
    assert open_store(settings).engine.bulk_upsert(scores).written == len(scores)
    machine = {p.key for i, p in enumerate(sorted(posts.values(), key=lambda p: p.key)) if i % 3 == 0}
    # three successive days: the DAG alone (no stream) builds edges, significance, clusters and cascades
    conf: dict[str, Any] = {"end": "2016-10-04T00:00:00", "window_hours": 24, "windows": 3, "permutations": 50,
                            "cluster_on": "all", "min_weight": 1}  # fmt: skip
    state = dag_test(airflow_home, settings, "graph_windows.py", "graph_windows_dag", conf)
    assert state.endswith("success"), state

    store = open_store(settings)
    got = counts(store)
    assert got["coordination_edges"] > 50 and got["cascades"] > 500
    snapshots = list(
        store.engine.scan(IndexKind.clusters, {"match_all": {}}, [{"window_end": "asc"}, {"cluster_id": "asc"}])
    )
    ends = sorted({s["window_end"] for s in snapshots})
    assert len(ends) == 3
    # stable ids: clusters of a window that carry the id of one in the window before
    by_end = {e: {s["cluster_id"] for s in snapshots if s["window_end"] == e} for e in ends}
    inherited = by_end[ends[1]] & by_end[ends[0]] | by_end[ends[2]] & by_end[ends[1]]
    assert inherited
    carried = next(s for s in snapshots if s["cluster_id"] in inherited and s["previous_window_end"])
    assert carried["first_window_start"] < carried["window_start"] and carried["kinds"] == ["co_retweet"]
    member = store.engine.get(IndexKind.accounts, carried["accounts"][0])
    # machine text / manipulated media shares: recounted here from the posts of the members in the window
    for snap in snapshots:
        lo, hi = (datetime.fromisoformat(snap[k]) for k in ("window_start", "window_end"))
        mine = [p for p in posts.values() if f"twitter:{p.author.id}" in snap["accounts"] and lo <= p.created_at < hi]
        assert snap["text_scored_posts"] == len(mine) > 0
        assert snap["machine_text_posts"] == sum(p.key in machine for p in mine)
        assert snap["machine_text_share"] == snap["machine_text_posts"] / len(mine)
        assert snap["media_scored_posts"] == sum(p.key.endswith("0") for p in mine)
        assert snap["manipulated_media_posts"] == sum(p.key.endswith("00") for p in mine)
    assert any(s["manipulated_media_posts"] for s in snapshots) and any(s["machine_text_posts"] for s in snapshots)
    assert member is not None and carried["cluster_id"] in member["cluster_ids"]
    tested = store.engine.search(IndexKind.coordination_edges, {"exists": {"field": "p_value"}}, size=1)
    assert tested and 0 < tested[0]["q_value"] <= 1

    # rerunning the same windows changes nothing
    reports = run_windows(store, conf, datetime.now(UTC))
    assert [(r["accounts_written"], r["edges_written"]) for r in reports] == [(0, 0)] * 3
    assert counts(store) == got

    # export the stored graph of one day, as Gephi and as CSV with evidence
    monkeypatch.setenv("FLOCKWATCH_INDEX_PREFIX", settings.index_prefix)
    runner = CliRunner()
    day = ["--start", "2016-10-02T00:00:00", "--end", "2016-10-03T00:00:00"]
    graphml, table = tmp_path / "day.graphml", tmp_path / "day.csv"
    result = runner.invoke(app, ["graph", "export", "--format", "graphml", "--output", str(graphml), *day])
    assert result.exit_code == 0, result.output
    graph = nx.read_graphml(graphml)
    assert graph.number_of_edges() > 10
    result = runner.invoke(app, ["graph", "export", "--format", "csv", "--output", str(table), *day])
    assert result.exit_code == 0, result.output
    with table.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == graph.number_of_edges()
    assert all(r["first_time"] and "2016-10-02" <= datetime.fromtimestamp(float(r["first_time"]), UTC).isoformat()
               < "2016-10-03" for r in rows)  # fmt: skip
