"""The windowed graph job and the store export, on the in-memory fake store."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path

import networkx as nx  # type: ignore[import-untyped, unused-ignore]
import pytest

from flockwatch.schema import Post
from flockwatch.stages.graph_windows import (
    WindowOptions,
    edges_from_docs,
    export_graph,
    merge_layers,
    recompute_window,
    recompute_windows,
    rows_to_table,
    run_windows,
    windows,
)
from flockwatch.stages.index import post_document
from flockwatch.store.documents import IndexKind
from tests.fakes.store import InMemoryStore
from tests.unit.stages.test_graph import T0, post

HOUR = 3600.0
OPTIONS = WindowOptions(permutations=20, cluster_on="all", min_weight=1)


def _store(posts: list[Post]) -> InMemoryStore:
    store = InMemoryStore()
    for p in posts:
        store.engine.docs[IndexKind.posts][p.key] = post_document(p)
    return store


def _campaign() -> list[Post]:
    """Accounts a, b, c retweet the same sources within seconds in hour 0; a, b, c, d in hour 1; plus noise."""
    posts = []
    for hour, crew in ((0, "abc"), (1, "abcd")):
        for k in range(3):
            t = hour * HOUR + k * 600
            for j, author in enumerate(crew):
                posts.append(post(f"h{hour}s{k}{author}", author, t + j, "RT", reshare=f"src{hour}{k}"))
    posts.append(post("n1", "x", 100, "unrelated"))
    posts.append(post("n2", "y", HOUR + 100, "also unrelated"))
    return posts


def test_windows_are_successive() -> None:
    spans = windows(T0, timedelta(hours=2), 3)
    assert [s for s, _ in spans] == [T0 - timedelta(hours=6), T0 - timedelta(hours=4), T0 - timedelta(hours=2)]
    assert spans[-1][1] == T0
    with pytest.raises(ValueError):
        windows(T0, timedelta(0), 1)


def test_clusters_keep_their_id_across_windows_and_reruns_change_nothing() -> None:
    store = _store(_campaign())
    reports = recompute_windows(store, T0 + timedelta(hours=2), timedelta(hours=1), 2, OPTIONS)
    assert [r.posts for r in reports] == [10, 13]
    assert [r.clusters for r in reports] == [1, 1]
    assert [r.clusters_inherited for r in reports] == [0, 1]
    snapshots = store.engine.docs[IndexKind.clusters]
    assert len(snapshots) == 2
    first, second = sorted(snapshots.values(), key=lambda d: d["window_end"])
    assert first["cluster_id"] == second["cluster_id"]
    assert second["accounts"] == ["twitter:a", "twitter:b", "twitter:c", "twitter:d"]
    assert second["first_window_start"] == first["window_start"]
    assert second["kinds"] == ["co_retweet"]
    assert second["top_content"][0]["kind"] == "co_retweet"
    account = store.engine.docs[IndexKind.accounts]["twitter:d"]
    assert account["cluster_id"] == first["cluster_id"] and account["cluster_ids"] == [first["cluster_id"]]
    edge = store.engine.docs[IndexKind.coordination_edges]["co_retweet|twitter:a|twitter:b"]
    assert edge["weight"] == 6 and edge["significance_window"]["end"] == reports[1].end
    assert "p_value" in edge and "q_value" in edge
    cascade = store.engine.docs[IndexKind.cascades]["twitter:src10"]
    assert cascade["coordinated_share"] == 1.0
    before = json.dumps(store.engine.docs, sort_keys=True, default=str)
    # the same windows again, the older one last: nothing changes
    recompute_window(store, T0 + timedelta(hours=1), T0 + timedelta(hours=2), OPTIONS)
    again = recompute_window(store, T0, T0 + timedelta(hours=1), OPTIONS)
    assert (again.accounts_written, again.edges_written) == (0, 0)
    assert json.dumps(store.engine.docs, sort_keys=True, default=str) == before


def test_a_window_computed_again_drops_the_clusters_it_no_longer_finds() -> None:
    store = _store(_campaign())
    end = T0 + timedelta(hours=1)
    first = recompute_window(store, T0, end, OPTIONS)
    [old] = store.engine.docs[IndexKind.clusters].values()
    assert first.clusters == 1 and old["accounts"] == ["twitter:a", "twitter:b", "twitter:c"]
    # late posts: e retweeted the same sources with the crew; c's posts are gone (deleted at the source)
    late = [post(f"h0s{k}e", "e", k * 600 + 5, "RT", reshare=f"src0{k}") for k in range(3)]
    for p in late:
        store.engine.docs[IndexKind.posts][p.key] = post_document(p)
    for k in range(3):
        del store.engine.docs[IndexKind.posts][f"twitter:h0s{k}c"]
    again = recompute_window(store, T0, end, OPTIONS)
    [new] = store.engine.docs[IndexKind.clusters].values()
    assert (again.clusters, again.clusters_removed) == (1, 1) and new["cluster_id"] != old["cluster_id"]
    assert new["accounts"] == ["twitter:a", "twitter:b", "twitter:e"]
    accounts = store.engine.docs[IndexKind.accounts]
    for key in ("twitter:a", "twitter:b", "twitter:e"):
        assert (accounts[key]["cluster_ids"], accounts[key]["cluster_id"]) == ([new["cluster_id"]], new["cluster_id"])
    gone = accounts["twitter:c"]
    assert (gone["cluster_ids"], gone["cluster_id"], gone["cluster_window_end"]) == ([], None, None)
    # and a third time: nothing left to remove, nothing rewritten
    third = recompute_window(store, T0, end, OPTIONS)
    assert (third.clusters_removed, third.accounts_written) == (0, 0)


def test_an_account_that_left_a_cluster_which_goes_on_loses_it() -> None:
    store = _store(_campaign())
    recompute_windows(store, T0 + timedelta(hours=2), timedelta(hours=1), 2, OPTIONS)
    accounts = store.engine.docs[IndexKind.accounts]
    cid = accounts["twitter:d"]["cluster_id"]
    assert cid == accounts["twitter:a"]["cluster_id"]  # hour 1's cluster carries hour 0's id
    for k in range(3):
        del store.engine.docs[IndexKind.posts][f"twitter:h1s{k}d"]
    again = recompute_window(store, T0 + timedelta(hours=1), T0 + timedelta(hours=2), OPTIONS)
    assert again.clusters_removed == 0 and accounts["twitter:a"]["cluster_id"] == cid  # the cluster goes on
    assert (accounts["twitter:d"]["cluster_ids"], accounts["twitter:d"]["cluster_id"]) == ([], None)


def test_run_windows_reads_dag_params() -> None:
    store = _store(_campaign())
    params = {"end": "2016-10-01T14:00:00", "window_hours": 1, "windows": 2, "permutations": 0, "cluster_on": "all",
              "min_weight": 1}  # fmt: skip
    out = run_windows(store, params, T0)
    assert [r["end"] for r in out] == ["2016-10-01T13:00:00+00:00", "2016-10-01T14:00:00+00:00"]
    assert out[1]["clusters_inherited"] == 1
    assert out[0]["significant_edges"] == 0  # permutations 0: no significance test


def test_merge_layers_sums_weights() -> None:
    store = _store(_campaign())
    recompute_window(store, T0, T0 + timedelta(hours=2), OPTIONS)
    rows = edges_from_docs(store.graph.edges())
    table = rows_to_table(rows, {}, merge=False)
    merged = merge_layers([table, table], min_weight=1)
    assert int(merged.weight.sum()) == 2 * int(table.weight.sum())
    assert merge_layers([table], min_weight=10_000).users == []


def test_export_formats_and_period(tmp_path: Path) -> None:
    store = _store(_campaign())
    recompute_window(store, T0, T0 + timedelta(hours=2), OPTIONS)
    out = tmp_path / "edges.csv"
    report = export_graph(store, out, "csv")
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert report["edges"] == len(rows) == 12  # 6 ordered pairs in hour 0 (a, b, c), 12 in hour 1 (a..d)
    assert list(rows[0])[:4] == ["source", "target", "weight", "layer"]
    ab = next(r for r in rows if (r["source"], r["target"]) == ("twitter:a", "twitter:b"))
    assert ab["weight"] == "6" and ab["examples"]
    # a period keeps only the co-actions inside it, with that period's weights
    export_graph(store, out, "csv", T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    with out.open(encoding="utf-8") as handle:
        hour1 = {(r["source"], r["target"]): r["weight"] for r in csv.DictReader(handle)}
    assert len(hour1) == 12 and hour1[("twitter:a", "twitter:b")] == "3"
    graphml = tmp_path / "g.graphml"
    export_graph(store, graphml, "graphml")
    graph = nx.read_graphml(graphml)
    assert graph.number_of_edges() == 12 and graph.nodes["twitter:a"]["cluster_id"]
    export_graph(store, tmp_path / "g.gexf", "gexf")
    assert export_graph(store, tmp_path / "g.jsonl", "jsonl")["edges"] == 12
    first = json.loads((tmp_path / "g.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first["kind"] == "co_retweet" and first["n_coactions"] >= 1
    with pytest.raises(ValueError):
        export_graph(store, out, "dot")


def test_cluster_summaries_count_machine_text_and_manipulated_media() -> None:
    from flockwatch.schema import MediaScore, TextScore
    from flockwatch.stages.index import to_upsert

    posts = _campaign()
    store = _store(posts)
    by_key = {p.key: p for p in posts}

    def text(key: str, label: str) -> None:
        score = TextScore(post_key=key, post_created_at=by_key[key].created_at, label=label,
                          machine_score=None if label == "unscored" else 0.9, model="m")  # fmt: skip
        u = to_upsert(score)
        store.engine.docs[IndexKind.posts][key].update(u.doc)

    def media(key: str, score: float | None, matches: list[dict[str, str]]) -> None:
        u = to_upsert(MediaScore(post_key=key, post_created_at=by_key[key].created_at, media_url=f"https://m/{key}",
                                 manipulation_score=score, matches=matches))  # fmt: skip
        store.engine.docs[IndexKind.posts][key].update(u.doc)

    for key, label in (("h0s0a", "machine"), ("h0s1a", "machine"), ("h0s2a", "human"), ("h0s0b", "unscored")):
        text(f"twitter:{key}", label)
    text("twitter:n1", "machine")  # not a member: not counted
    media("twitter:h0s0c", 0.7, [])
    media("twitter:h0s1c", 0.2, [])
    media("twitter:h0s2c", None, [{"bank": "known_fakes", "id": "f1"}])
    media("twitter:h0s2b", None, [])  # looked at, nothing to say: not scored
    recompute_window(store, T0, T0 + timedelta(hours=1), OPTIONS)
    [doc] = store.engine.docs[IndexKind.clusters].values()
    assert sorted(doc["accounts"]) == ["twitter:a", "twitter:b", "twitter:c"]
    assert (doc["machine_text_posts"], doc["text_scored_posts"], doc["machine_text_share"]) == (2, 3, 2 / 3)
    assert (doc["manipulated_media_posts"], doc["media_scored_posts"]) == (2, 3)
    assert doc["manipulated_media_share"] == 2 / 3
    # the next hour nothing is scored: no evidence, not 0 %
    recompute_window(store, T0 + timedelta(hours=1), T0 + timedelta(hours=2), OPTIONS)
    clusters = store.engine.docs[IndexKind.clusters].values()
    later = [d for d in clusters if d is not doc and d["window_start"] != doc["window_start"]]
    assert later and later[0]["machine_text_share"] is None and later[0]["manipulated_media_share"] is None
    assert later[0]["text_scored_posts"] == 0 and later[0]["media_scored_posts"] == 0
