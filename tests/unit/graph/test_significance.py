"""Null-model significance, BH FDR and clusters with stable ids (the cascade risk model: test_cascade_risk_*)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from flockwatch.graph.clusters import content_id, find_clusters, label_edges, stable_ids
from flockwatch.graph.coordination import Options, coordination_network
from flockwatch.graph.significance import add_significance, benjamini_hochberg, poisson_sf, shuffle_within
from flockwatch.graph.toolkit_csv import TableBuilder


def test_benjamini_hochberg_by_hand() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.20])
    # sorted 0.01, 0.03, 0.04, 0.20 -> 0.04, 0.06, 0.0533, 0.20 -> monotone 0.04, 0.0533, 0.0533, 0.20
    assert benjamini_hochberg(p) == pytest.approx([0.04, 0.05333333, 0.05333333, 0.2])
    assert len(benjamini_hochberg(np.zeros(0))) == 0


def test_poisson_tail() -> None:
    assert poisson_sf(0, 3.0) == 1.0
    assert poisson_sf(1, 2.0) == pytest.approx(1 - math.exp(-2))
    assert poisson_sf(3, 1.0) == pytest.approx(1 - math.exp(-1) * (1 + 1 + 0.5))
    assert 0 < poisson_sf(60, 0.01) < 1e-150


def test_shuffle_keeps_each_objects_times() -> None:
    obj = np.array([0, 1, 0, 1, 0, 2], dtype=np.int64)
    time = np.array([1.0, 10.0, 2.0, 20.0, 3.0, 99.0])
    out = shuffle_within(obj, time, np.random.default_rng(1))
    for o in (0, 1, 2):
        assert sorted(out[obj == o]) == sorted(time[obj == o])


def lockstep_table() -> TableBuilder:
    """u1 and u2 post the same 8 texts within seconds; u3 and u4 post the same texts hours apart."""
    b = TableBuilder()
    rng = np.random.default_rng(0)
    n = 0
    for k in range(8):
        t = float(k * 10_000)
        for user, dt in (("u1", 0.0), ("u2", 5.0), ("u3", float(rng.integers(3_000, 9_000))), ("u4", 20.0 + 4000)):
            n += 1
            b.add(f"m{n}", user, user, "", "", f"text {k}", t + dt, [""])
    # u3 and u4 also share one text at the same time once
    b.add("x1", "u3", "u3", "", "", "lonely", 500_000.0, [""])
    b.add("x2", "u4", "u4", "", "", "lonely", 500_010.0, [""])
    return b


def test_lockstep_pair_is_significant_and_chance_pair_is_not() -> None:
    table = lockstep_table().table
    opts = Options(window=60, min_weight=1)
    edges = coordination_network(table, "co_tweet", opts)
    add_significance(edges, table, "co_tweet", opts, permutations=200, fdr=0.05, seed=0)
    rows = {(r["source"], r["target"]): r for r in edges.rows()}
    assert rows[("u1", "u2")]["significant"] == 1 and float(rows[("u1", "u2")]["p_perm"]) < 0.01
    assert rows[("u3", "u4")]["significant"] == 0
    with pytest.raises(ValueError):
        add_significance(edges, table, "co_similar_tweet", opts)


def test_clusters_and_stable_ids() -> None:
    b = TableBuilder()
    for k in range(3):
        for user in ("a", "b", "c"):
            b.add(f"{user}{k}", user, user, "", "", f"t{k}", float(k * 1000), [""])
        for user in ("x", "y"):
            b.add(f"{user}{k}", user, user, "", "", f"s{k}", float(k * 1000 + 400), [""])
    edges = coordination_network(b.table, "co_tweet", Options(window=60, min_weight=2))
    clusters = find_clusters(edges)
    assert clusters == [{"a", "b", "c"}, {"x", "y"}]
    ids = stable_ids(clusters)
    assert ids == {content_id({"a", "b", "c"}): {"a", "b", "c"}, content_id({"x", "y"}): {"x", "y"}}
    # next window: abc gains d, xy is gone, a new pair appears
    later = stable_ids([{"a", "b", "c", "d"}, {"p", "q"}], previous=ids)
    assert later[content_id({"a", "b", "c"})] == {"a", "b", "c", "d"}
    assert content_id({"p", "q"}) in later and content_id({"x", "y"}) not in later
    label_edges(edges, ids)
    assert set(edges.evidence["cluster_id"]) == {content_id({"a", "b", "c"}), content_id({"x", "y"})}
