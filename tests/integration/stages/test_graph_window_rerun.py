"""A window computed again on the real store (posts that came late): the cluster snapshots it no longer finds are
deleted and their accounts' cluster fields rebuilt from the snapshots left (the repository's term queries on the
snapshots' window end and accounts, on whichever engine runs)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from flockwatch.config import Settings
from flockwatch.stages.graph_windows import recompute_window
from flockwatch.stages.index import to_upsert
from flockwatch.store import open_store
from flockwatch.store.documents import IndexKind
from tests.unit.stages.test_graph import T0, post
from tests.unit.stages.test_graph_windows import OPTIONS, _campaign

pytestmark = [pytest.mark.integration, pytest.mark.store]


def test_a_rerun_window_replaces_its_clusters_and_the_accounts_follow(settings: Settings) -> None:
    store = open_store(settings)
    end = T0 + timedelta(hours=1)
    store.engine.bulk_upsert([to_upsert(p) for p in _campaign()])
    store.engine.refresh(IndexKind.posts)
    assert recompute_window(store, T0, end, OPTIONS).clusters == 1
    [old] = store.graph.window_clusters(end).values()
    assert old["accounts"] == ["twitter:a", "twitter:b", "twitter:c"]
    late = [post(f"h0s{k}e", "e", k * 600 + 5, "RT", reshare=f"src0{k}") for k in range(3)]
    store.engine.bulk_upsert([to_upsert(p) for p in late])
    store.engine.refresh(IndexKind.posts)
    again = recompute_window(store, T0, end, OPTIONS)
    store.engine.refresh()
    [new] = store.graph.window_clusters(end).values()
    assert again.clusters_removed == 1 and new["cluster_id"] != old["cluster_id"]
    assert new["accounts"] == ["twitter:a", "twitter:b", "twitter:c", "twitter:e"]
    holding = store.graph.clusters_holding(["twitter:a", "twitter:x"])
    assert [d["cluster_id"] for d in holding["twitter:a"]] == [new["cluster_id"]] and holding["twitter:x"] == []
    accounts = store.engine.get_many(IndexKind.accounts, ["twitter:a", "twitter:c", "twitter:e"])
    assert {k: (d["cluster_ids"], d["cluster_id"]) for k, d in accounts.items()} == {
        k: ([new["cluster_id"]], new["cluster_id"]) for k in ("twitter:a", "twitter:c", "twitter:e")
    }
    assert store.graph.account_clusters(["twitter:b"]) == {"twitter:b": [new["cluster_id"]]}
