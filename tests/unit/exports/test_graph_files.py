from __future__ import annotations

import io
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import networkx as nx  # type: ignore[import-untyped, unused-ignore]
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flockwatch.exports.graph_files import attrs, cascade_graph, cluster_graph, scalar, write_graph
from flockwatch.graph.coordination import EdgeTable
from flockwatch.graph.export import write_edges
from tests.unit.exports.case_data import ACCOUNTS, HANDLES, case_items

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=10,
)


@given(JSON)
def test_scalar_is_always_gephi_safe(value: Any) -> None:
    out = scalar(value)
    assert out is None or isinstance(out, str | int | float | bool)
    if isinstance(out, float):
        assert math.isfinite(out)


def test_attrs_join_lists_and_drop_none() -> None:
    assert attrs({"a": ["x", None, 2], "b": None, "c": float("nan"), "d": {"k": 1}}) == {"a": "x 2", "d": "k=1"}


def test_cluster_graph_merges_directions_and_kinds() -> None:
    items = case_items()
    g = cluster_graph(items["clusters"][0], items["edges"], items["accounts"])
    assert sorted(g.nodes) == sorted(ACCOUNTS[:3])
    assert g.nodes[ACCOUNTS[0]]["handle"] == HANDLES[0]
    # co_link both ways (3 + 3) and co_hashtag both ways (2 + 2) between accounts 0 and 1
    e = g.edges[ACCOUNTS[0], ACCOUNTS[1]]
    assert e["weight"] == 10
    assert e["kinds"] == "co_hashtag co_link"
    assert e["co_link_weight"] == 6 and e["co_hashtag_weight"] == 4
    assert e["co_link_min_dt_s"] == 1.0
    assert g.graph["cluster_id"] == "c-1"


def test_edges_outside_the_cluster_are_left_out() -> None:
    items = case_items()
    outside = dict(items["edges"][0], target=ACCOUNTS[3])
    g = cluster_graph(items["clusters"][0], [outside])
    assert g.number_of_edges() == 0


@pytest.mark.parametrize("fmt", ["gexf", "graphml"])
def test_written_files_read_back_with_attributes(fmt: str) -> None:
    items = case_items()
    g = cluster_graph(items["clusters"][0], items["edges"], items["accounts"])
    data = write_graph(g, fmt)  # type: ignore[arg-type]
    back = nx.read_gexf(io.BytesIO(data)) if fmt == "gexf" else nx.read_graphml(io.BytesIO(data))
    assert sorted(back.nodes) == sorted(g.nodes)
    edge = back.edges[ACCOUNTS[0], ACCOUNTS[1]]
    assert int(edge["weight"]) == 10
    assert edge["kinds"] == "co_hashtag co_link"


def test_cascade_graph_is_the_tree() -> None:
    items = case_items()
    g = cascade_graph(items["cascades"][0], items["posts"])
    assert isinstance(g, nx.DiGraph)
    assert set(g.successors("twitter:p00")) == {"twitter:p11", "twitter:p21", "twitter:p31"}
    assert g.nodes["twitter:p00"]["root"] is True
    assert g.nodes["twitter:p21"]["delay_s"] == 10.0
    assert g.nodes["twitter:p00"]["machine_score"] == 0.9
    for fmt in ("gexf", "graphml"):
        assert b"twitter:p31" in write_graph(g, fmt)


def test_mixed_types_are_harmonised_for_the_writers() -> None:
    g = nx.Graph()
    g.add_node("a", x=1)
    g.add_node("b", x=1.5)
    g.add_node("c", y="s")
    g.add_node("d", y=2)
    back = nx.read_graphml(io.BytesIO(write_graph(g, "graphml")))
    assert back.nodes["a"]["x"] == 1.0 and back.nodes["d"]["y"] == "2"


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown graph format"):
        write_graph(nx.Graph(), "dot")  # type: ignore[arg-type]


GRAPHML = "{http://graphml.graphdrawing.org/xmlns}"
NOT_XML = "\x01\x08\x0b\x1f\ufffe\ud800"  # control characters, a non-character, a lone surrogate


def read_back(data: bytes, fmt: str) -> nx.Graph[Any]:
    return nx.read_gexf(io.BytesIO(data)) if fmt == "gexf" else nx.read_graphml(io.BytesIO(data))


@pytest.mark.parametrize("fmt", ["gexf", "graphml"])
def test_what_xml_cannot_hold_is_dropped_from_ids_and_texts(fmt: str) -> None:
    items = case_items()
    items["posts"][0]["text"] = f"bad{NOT_XML} text"
    cascade = dict(items["cascades"][0], cascade_id=f"twitter:p00{NOT_XML}")
    cascade["events"] = [[f"{e[0]}\x02", e[1], *e[2:]] if e[0] == "twitter:p31" else e for e in cascade["events"]]
    back = read_back(write_graph(cascade_graph(cascade, items["posts"]), fmt), fmt)  # type: ignore[arg-type]
    assert "twitter:p31" in back.nodes and back.nodes["twitter:p00"]["text"].split() == ["bad", "text"]
    cluster = dict(items["clusters"][0], cluster_id=f"c-1{NOT_XML}")
    back = read_back(write_graph(cluster_graph(cluster, items["edges"], items["accounts"]), fmt), fmt)  # type: ignore[arg-type]
    assert back.nodes[ACCOUNTS[0]]["cluster_id"] == "c-1"


def test_graphml_declares_each_key_id_once_and_writes_booleans_as_xml_does() -> None:
    """The cascade has ``delay_s`` on nodes and edges and a boolean ``root``: one key each, ``true``/``false``."""
    items = case_items()
    root = ET.fromstring(write_graph(cascade_graph(items["cascades"][0], items["posts"]), "graphml"))
    keys = root.findall(f"{GRAPHML}key")
    ids = [k.get("id") for k in keys]
    assert len(ids) == len(set(ids))
    assert {k.get("for") for k in keys if k.get("attr.name") == "delay_s"} == {"node", "edge"}
    [boolean] = [k.get("id") for k in keys if k.get("attr.type") == "boolean"]
    assert {d.text for d in root.iter(f"{GRAPHML}data") if d.get("key") == boolean} == {"true", "false"}


@pytest.mark.parametrize("fmt", ["gexf", "graphml"])
def test_coordination_files_read_back_whatever_the_user_names_hold(fmt: str, tmp_path: Path) -> None:
    table = EdgeTable(
        kind="co_link",
        users=[f"u1{NOT_XML}", "u2"],
        usernames={f"u1{NOT_XML}": f"name{NOT_XML}", "u2": "two"},
        source=np.array([0]),
        target=np.array([1]),
        weight=np.array([3]),
        evidence={"examples": [f"x{NOT_XML}y"]},
    )
    write_edges(table, tmp_path / f"e.{fmt}", fmt)  # type: ignore[arg-type]
    back = read_back((tmp_path / f"e.{fmt}").read_bytes(), fmt)
    assert back.nodes["u1"]["username"] == "name" and back.edges["u1", "u2"]["examples"] == "xy"
