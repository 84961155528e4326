"""Narrative volume and the coordination-cluster graph, read back from the SVG and PNG they return."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flockwatch.plots import cluster_edges, cluster_graph, narrative_volume, render, volume_points
from tests.unit.plots.helpers import group_xml, has_group, markers, path_points, paths, png_size, texts

DAY_MS = 86_400_000
JAN_1 = 1_704_067_200  # 2024-01-01T00:00:00Z


def narrative(nid: str, text: str, counts: list[int]) -> dict[str, Any]:
    """A narratives document with the API's ``timeline`` (daily buckets from 2024-01-01)."""
    timeline = [{"at": f"2024-01-{d + 1:02d}T00:00:00.000Z", "posts": c} for d, c in enumerate(counts)]
    return {"narrative_id": nid, "representative_text": text, "post_count": sum(counts), "timeline": timeline}


def test_one_narrative_is_titled_by_what_it_says() -> None:
    svg = narrative_volume(narrative("n-1", "The vote was rigged", [1, 4, 9, 2]), "svg")
    assert "“The vote was rigged”" in texts(svg)
    assert "posts per day" in texts(svg)
    assert len(path_points(svg, "narrative-0")) == 4  # one vertex per bucket
    assert markers(svg, "narrative-0") == 4


def test_several_narratives_are_a_line_each_largest_first_in_the_legend() -> None:
    small = narrative("n-small", "small one", [1, 1])
    big = narrative("n-big", "big one", [10, 20, 30])
    svg = narrative_volume([small, big], "svg")
    shown = texts(svg)
    assert "Posts per day of 2 narratives" in shown
    assert shown.index("big one (60)") < shown.index("small one (2)")
    assert len(path_points(svg, "narrative-0")) == 3 and len(path_points(svg, "narrative-1")) == 2


def test_opensearch_histogram_buckets_are_read_too() -> None:
    buckets = [{"key": (JAN_1 + h * 3600) * 1000, "doc_count": h} for h in range(6)]
    svg = narrative_volume({"narrative_id": "n-2", "representative_text": "hourly", "buckets": buckets}, "svg")
    assert "posts per hour" in texts(svg)
    assert len(path_points(svg, "narrative-0")) == 6


def test_narratives_are_capped_with_a_note() -> None:
    many = [narrative(f"n-{i}", f"text {i}", [i + 1, i + 2]) for i in range(12)]
    svg = narrative_volume(many, "svg", max_narratives=5)
    assert [has_group(svg, f"narrative-{i}") for i in range(6)] == [True] * 5 + [False]
    assert "7 smaller narratives not drawn" in texts(svg)
    assert "text 11 (25)" in texts(svg)  # the largest


def test_legend_text_is_shortened_and_escaped() -> None:
    hostile = "<script>alert(1)</script> " + "very long claim " * 20
    svg = narrative_volume([narrative("n-1", hostile, [1, 2]), narrative("n-2", "$x$ and $y$", [1])], "svg")
    assert b"<script" not in svg and b"&lt;script&gt;" in svg
    entry = next(t for t in texts(svg) if t.startswith("<script>"))
    assert entry.endswith("… (3)") and len(entry) <= 60
    assert "$x$ and $y$ (1)" in texts(svg)  # not mathtext


def test_narrative_png_is_deterministic() -> None:
    data = [narrative("n-1", "a", [3, 1, 4, 1, 5]), narrative("n-2", "b", [2, 7, 1, 8])]
    png = narrative_volume(data, "png")
    assert png == narrative_volume(data, "png") and png_size(png) == (900, 480)
    assert narrative_volume(data, "svg") == narrative_volume(data, "svg")


@pytest.mark.parametrize(
    "data",
    [[], {"narrative_id": "n-1"}, {"timeline": [{"at": "not a time", "posts": 3}, {"at": None, "posts": 1}]}],
)
def test_no_buckets_is_an_error(data: Any) -> None:
    with pytest.raises(ValueError, match="no narrative"):
        narrative_volume(data, "svg")


bucket = st.fixed_dictionaries(
    {
        "at": st.one_of(
            st.integers(JAN_1, JAN_1 + 400 * 86400).map(lambda s: s * 1000),
            st.sampled_from(["garbage", "", None, "2024-13-01"]),
        ),
        "posts": st.one_of(st.integers(0, 10_000), st.just(-1), st.just("7"), st.just(True)),
    }
)


@given(st.lists(bucket, max_size=40))
def test_volume_points_keep_exactly_the_readable_buckets(rows: list[dict[str, Any]]) -> None:
    good = [r for r in rows if isinstance(r["at"], int) and type(r["posts"]) is int and r["posts"] >= 0]
    points = volume_points({"timeline": rows})
    assert [t for t, _ in points] == sorted({r["at"] / 1000 for r in good})
    assert sum(c for _, c in points) == sum(r["posts"] for r in good)


# --- cluster graph ------------------------------------------------------------------------------------------


def edge(kind: str, source: str, target: str, weight: int = 1) -> dict[str, Any]:
    return {"edge_id": f"{kind}|{source}|{target}", "kind": kind, "source": source, "target": target, "weight": weight}


CLUSTER = {"cluster_id": "c-1a2b", "accounts": ["tw:a", "tw:b", "tw:c", "tw:d"], "window_end": "2024-01-02T00:00:00"}
EDGES = [
    edge("co_link", "tw:a", "tw:b", 3),
    edge("co_link", "tw:b", "tw:a", 2),  # the other direction: one drawn edge, weights summed
    edge("co_tweet", "tw:a", "tw:b"),
    edge("co_tweet", "tw:c", "tw:d"),
    edge("co_media", "tw:a", "tw:c"),
    edge("co_hashtag", "tw:b", "tw:d", 4),
    edge("co_link", "tw:a", "tw:outsider", 9),  # outside the cluster: dropped
    edge("co_weird", "tw:c", "tw:b"),  # an unknown kind is drawn as "other"
]


def test_cluster_edges_merge_directions_and_drop_outsiders() -> None:
    accounts, weights = cluster_edges(CLUSTER, EDGES)
    assert accounts == ["tw:a", "tw:b", "tw:c", "tw:d"]
    assert weights[("co_link", "tw:a", "tw:b")] == 5.0
    assert len(weights) == 6 and not any("tw:outsider" in k for k in weights)
    assert weights[("other", "tw:b", "tw:c")] == 1.0


def test_cluster_graph_draws_accounts_and_edges_by_kind() -> None:
    svg = cluster_graph(CLUSTER, EDGES, "svg")
    assert markers(svg, "cluster-nodes") == 4
    counts = {k: paths(svg, f"edges-{k}") for k in ("co_link", "co_tweet", "co_media", "co_hashtag", "other")}
    assert counts == {"co_link": 1, "co_tweet": 2, "co_media": 1, "co_hashtag": 1, "other": 1}
    assert "#1f77b4" in group_xml(svg, "edges-co_link") and "#d62728" in group_xml(svg, "edges-co_media")
    shown = texts(svg)
    assert {"same link (1)", "same text (2)", "same media (1)", "same hashtags (1)", "other (1)"} <= set(shown)
    assert "Coordination cluster c-1a2b: 4 accounts, 6 edges (window ending 2024-01-02T00:00:00)" in shown
    assert {"tw:a", "tw:b", "tw:c", "tw:d"} <= set(shown)


def test_two_kinds_between_one_pair_are_drawn_apart() -> None:
    svg = cluster_graph(CLUSTER, EDGES, "svg")
    link, text = path_points(svg, "edges-co_link"), path_points(svg, "edges-co_tweet")
    assert link[0] not in text  # a-b by link and a-b by text do not overlap


def test_cluster_graph_is_deterministic() -> None:
    for fmt in ("svg", "png"):
        assert cluster_graph(CLUSTER, EDGES, fmt) == cluster_graph(CLUSTER, EDGES, fmt)
    assert png_size(cluster_graph(CLUSTER, EDGES, "png")) == (900, 800)
    # the seed is the layout: another seed moves the nodes
    assert cluster_graph(CLUSTER, EDGES, "svg", seed=1) != cluster_graph(CLUSTER, EDGES, "svg", seed=2)


def test_handles_label_nodes_and_pseudonyms_hide_them_all() -> None:
    handles = {"tw:a": "alice_real", "tw:b": "bob_real"}
    plain = texts(cluster_graph(CLUSTER, EDGES, "svg", handles=handles))
    assert "@alice_real" in plain and "tw:c" in plain
    svg = cluster_graph(CLUSTER, EDGES, "svg", handles=handles, pseudonymise=lambda a: "anon-" + a[-1].upper())
    body = svg.decode()
    for raw in ("tw:a", "tw:b", "tw:c", "tw:d", "alice_real", "bob_real"):
        assert raw not in body
    assert {"anon-A", "anon-B", "anon-C", "anon-D"} <= set(texts(svg))


def test_a_large_cluster_is_capped_with_a_note() -> None:
    accounts = [f"tw:{i:03d}" for i in range(400)]
    edges = [edge("co_link", accounts[i], accounts[(i * 7 + 3) % 400], 1 + i % 3) for i in range(400)]
    edges += [edge("co_tweet", accounts[i], accounts[(i + 1) % 400]) for i in range(400)]
    svg = cluster_graph({"cluster_id": "c-big", "accounts": accounts}, edges, "svg", max_nodes=50, max_edges=5)
    assert markers(svg, "cluster-nodes") == 50
    drawn = sum(paths(svg, f"edges-{k}") for k in ("co_link", "co_tweet") if has_group(svg, f"edges-{k}"))
    assert drawn == 5
    note = next(t for t in texts(svg) if t.startswith("showing"))
    assert note.startswith("showing the 50 most connected of 400 accounts; the 5 heaviest of ")
    assert not any(t.startswith("tw:") for t in texts(svg))  # too many nodes to label


def test_a_cluster_without_edges_still_shows_its_accounts() -> None:
    svg = cluster_graph({"cluster_id": "c-2", "accounts": ["tw:x", "tw:y"]}, [], "svg")
    assert markers(svg, "cluster-nodes") == 2
    assert not any(t.startswith("coordination") for t in texts(svg))


def test_edges_alone_give_the_accounts() -> None:
    svg = cluster_graph({"cluster_id": "c-3"}, [edge("co_reply", "tw:p", "tw:q")], "svg")
    assert markers(svg, "cluster-nodes") == 2 and paths(svg, "edges-co_reply") == 1


def test_hostile_ids_are_escaped() -> None:
    bad = "tw:<script>alert(1)</script>"
    svg = cluster_graph({"cluster_id": "<b>c</b>", "accounts": [bad, "tw:x"]}, [edge("co_link", bad, "tw:x")], "svg")
    assert b"<script" not in svg and b"<b>" not in svg
    assert bad in texts(svg)


@pytest.mark.parametrize(
    ("cluster", "edges"),
    [({"cluster_id": "c"}, []), ({"accounts": []}, [edge("co_link", "tw:a", "tw:a")]), ({}, [{"kind": "co_link"}])],
)
def test_nothing_to_draw_is_an_error(cluster: dict[str, Any], edges: list[dict[str, Any]]) -> None:
    with pytest.raises(ValueError, match="no accounts"):
        cluster_graph(cluster, edges, "svg")


def test_render_cluster_and_narrative() -> None:
    assert render("cluster_graph", {"cluster": CLUSTER, "edges": EDGES}, "svg") == cluster_graph(CLUSTER, EDGES, "svg")
    data = narrative("n-1", "x", [1, 2])
    assert render("narrative_volume", {"narratives": data}, "png") == narrative_volume(data, "png")
