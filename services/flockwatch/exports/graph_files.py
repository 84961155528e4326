"""A coordination cluster or a cascade as a graph file for Gephi (GEXF 1.2, GraphML), through networkx's writers.

Inputs are store documents, passed straight in:

* :func:`cluster_graph` ``(cluster, edges)``: ``cluster`` is a **clusters** snapshot (graph_windows
  ``_cluster_documents``: ``cluster_id``, ``accounts``, ``window_start``/``window_end``, shares...); ``edges`` are
  **coordination_edges** documents (graph stage ``EdgeEntry.document``: ``kind``, ``source``, ``target``,
  ``weight``, ``n_coactions``, ``min_dt_s``, ``median_dt_s``, ``examples``, significance...). Only edges with both
  ends in the cluster are drawn. Directed edges of several kinds between the same two accounts become one
  undirected edge whose ``weight`` is the sum, ``kinds`` the kinds, and each kind's evidence is kept under
  ``<kind>_<field>`` (e.g. ``co_link_min_dt_s``), so Gephi can filter by layer. Optional ``accounts`` (accounts
  documents) add ``handle``, ``post_count``, ``machine_share`` to the nodes.
* :func:`cascade_graph` ``(cascade, posts)``: ``cascade`` is a **cascades** document (``cascade_id``, ``events``
  rows ``[post_key, parent_key, epoch_s, account]``); ``posts`` (optional) are stored **posts** documents (``key``,
  ``text``, ``text_score``, ``media_risk``...) that decorate the nodes. Edges go parent → child.

Gephi reads scalars only: every attribute is a str, int, float or bool; lists are joined with a space; None and
NaN are left out (GEXF has no null). Node ids are account keys (clusters) or post keys (cascades). The files are
valid XML whatever the posts say: characters XML 1.0 cannot hold are dropped from ids and texts, GraphML keys
have their own ids (``d0``, ``d1``... an attribute of both nodes and edges would otherwise declare one id twice)
and booleans are written ``true``/``false``. With
``pseudonymise`` (the researcher role) every account id is replaced (:mod:`flockwatch.exports.pseudonyms`) and
handles are not written at all.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import networkx as nx  # type: ignore[import-untyped, unused-ignore]

from flockwatch.exports import pseudonyms
from flockwatch.exports.pseudonyms import Pseudonymise
from flockwatch.graph.export import xml_safe

GraphFormat = Literal["gexf", "graphml"]
GRAPH_FORMATS: tuple[GraphFormat, ...] = ("gexf", "graphml")
# Evidence fields of an edge kept per kind on the undirected edge.
EDGE_FIELDS = (
    "weight",
    "n_coactions",
    "n_objects",
    "min_dt_s",
    "median_dt_s",
    "first_seen",
    "last_seen",
    "p_value",
    "q_value",
    "significant",
    "examples",
)
MAX_TEXT = 280


def scalar(value: Any) -> str | int | float | bool | None:
    """A Gephi-safe attribute value: scalars kept (NaN/inf → None), lists joined with a space, mappings as
    ``k=v`` pairs, None stays None (the caller drops it)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        parts = [f"{k}={s}" for k, v in value.items() if (s := scalar(v)) is not None]
        return " ".join(parts)
    if isinstance(value, Iterable):
        parts = [str(s) for v in value if (s := scalar(v)) is not None]
        return " ".join(parts)
    return str(value)


def attrs(values: Mapping[str, Any]) -> dict[str, str | int | float | bool]:
    """``values`` as Gephi-safe attributes, None dropped."""
    return {str(k): s for k, v in values.items() if (s := scalar(v)) is not None}


def _short(text: Any) -> str:
    raw = " ".join(str(text or "").split())
    return raw if len(raw) <= MAX_TEXT else raw[: MAX_TEXT - 1] + "…"


def cluster_graph(
    cluster: Mapping[str, Any],
    edges: Iterable[Mapping[str, Any]],
    accounts: Iterable[Mapping[str, Any]] = (),
    *,
    pseudonymise: Pseudonymise | None = None,
) -> nx.Graph[Any]:
    """The cluster's accounts and the coordination between them (see the module docstring)."""
    names = pseudonymise
    if names:  # rewrite, then scrub raw tokens from every text (pseudonyms.items)
        docs = pseudonyms.items({"clusters": [cluster], "edges": edges, "accounts": accounts}, names)
        cluster, edges, accounts = docs["clusters"][0], docs["edges"], docs["accounts"]
    doc = dict(cluster)
    members = [str(a) for a in doc.get("accounts") or []]
    member_set = set(members)
    by_account = {}
    for a in accounts:
        view = dict(a)
        by_account[str(view.get("key") or "")] = view
    graph: nx.Graph[Any] = nx.Graph()
    graph.graph.update(
        attrs(
            {
                "cluster_id": doc.get("cluster_id"),
                "window_start": doc.get("window_start"),
                "window_end": doc.get("window_end"),
                "n_accounts": doc.get("n_accounts"),
                "layers": doc.get("layers") or doc.get("kinds"),
                "machine_text_share": doc.get("machine_text_share"),
                "manipulated_media_share": doc.get("manipulated_media_share"),
            }
        )
    )
    for key in members:
        info = by_account.get(key, {})
        graph.add_node(
            key,
            **attrs(
                {
                    "label": key if names else (info.get("handle") or key),
                    "platform": key.split(":", 1)[0] if ":" in key else None,
                    "handle": None if names else info.get("handle"),
                    "cluster_id": doc.get("cluster_id"),
                    "post_count": info.get("post_count"),
                    "machine_share": info.get("machine_share"),
                    "machine_label": info.get("machine_label"),
                }
            ),
        )
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    views = [dict(raw) for raw in edges]
    for e in sorted(views, key=lambda v: (str(v.get("kind")), str(v.get("source")), str(v.get("target")))):
        source, target, kind = str(e.get("source")), str(e.get("target")), str(e.get("kind") or "unknown")
        if source not in member_set or target not in member_set or source == target:
            continue
        pair = (min(source, target), max(source, target))
        entry = merged.setdefault(pair, {"weight": 0, "kinds": set()})
        entry["weight"] += int(e.get("weight") or 0)
        entry["kinds"].add(kind)
        for name in EDGE_FIELDS:
            if e.get(name) is None:
                continue
            field = f"{kind}_{name}"
            value = e[name]
            if name == "weight" and field in entry:  # both directions of one kind: sum
                value = int(entry[field]) + int(value)
            elif name in ("min_dt_s",) and field in entry:
                value = min(float(entry[field]), float(value))
            elif field in entry and name != "weight":
                continue  # keep the first direction's evidence (sorted below for stable output)
            entry[field] = value
    for (left, right), entry in sorted(merged.items()):
        entry["kinds"] = sorted(entry["kinds"])
        graph.add_edge(left, right, **attrs(entry))
    return graph


def cascade_graph(
    cascade: Mapping[str, Any],
    posts: Iterable[Mapping[str, Any]] = (),
    *,
    pseudonymise: Pseudonymise | None = None,
) -> nx.DiGraph[Any]:
    """The cascade's reshare tree, parent → child, one node per post (see the module docstring)."""
    names = pseudonymise
    if names:
        docs = pseudonyms.items({"cascades": [cascade], "posts": posts}, names)
        cascade, posts = docs["cascades"][0], docs["posts"]
    doc = dict(cascade)
    by_key: dict[str, dict[str, Any]] = {}
    for p in posts:
        view = dict(p)
        by_key[str(view.get("key") or "")] = view
    graph: nx.DiGraph[Any] = nx.DiGraph()
    metric_names = ("size", "depth", "max_breadth", "structural_virality", "risk_score", "first_seen", "last_seen")
    graph.graph.update(attrs({"cascade_id": doc.get("cascade_id"), **{m: doc.get(m) for m in metric_names}}))
    rows: Sequence[Sequence[Any]] = doc.get("events") or []
    root = str(doc.get("root_key") or doc.get("cascade_id") or "")
    times = [float(r[2]) for r in rows if len(r) > 2 and r[2] is not None]
    t0 = min(times) if times else None
    for row in sorted(rows, key=lambda r: (float(r[2]) if r[2] is not None else math.inf, str(r[0]))):
        key, parent = str(row[0]), None if row[1] is None else str(row[1])
        when = None if row[2] is None else float(row[2])
        account = None if len(row) < 4 or row[3] is None else str(row[3])
        post = by_key.get(key, {})
        score = post.get("text_score") if isinstance(post.get("text_score"), Mapping) else {}
        author = post.get("author") if isinstance(post.get("author"), Mapping) else {}
        graph.add_node(
            key,
            **attrs(
                {
                    "label": key,
                    "account": account,
                    "handle": None if names else (author or {}).get("handle"),
                    "time": when,
                    "delay_s": None if when is None or t0 is None else when - t0,
                    "root": key == root,
                    "text": _short(post["text"]) if post.get("text") else None,
                    "machine_score": (score or {}).get("machine_score"),
                    "text_label": (score or {}).get("label"),
                    "media_risk": post.get("media_risk"),
                    "narrative_id": post.get("narrative_id"),
                }
            ),
        )
        if parent is not None and parent != key:
            if parent not in graph:
                graph.add_node(parent, label=parent, placeholder=True)
            graph.add_edge(parent, key, **attrs({"delay_s": None if when is None or t0 is None else when - t0}))
    return graph


def harmonised(graph: nx.Graph[Any]) -> nx.Graph[Any]:
    """A copy whose every attribute name has one type over all nodes (and over all edges): both writers declare
    one type per attribute, so ints mixed with floats become floats and any other mix becomes strings."""
    out = graph.copy()
    for items in (list(out.nodes(data=True)), [(u, v, d) for u, v, d in out.edges(data=True)]):
        datas = [entry[-1] for entry in items]
        types: dict[str, set[type]] = {}
        for d in datas:
            for k, v in d.items():
                types.setdefault(k, set()).add(type(v))
        for k, seen in types.items():
            if len(seen) < 2:
                continue
            cast: type = float if seen <= {int, float} else str
            for d in datas:
                if k in d:
                    d[k] = cast(d[k])
    return out


class _GraphMLWriter(nx.GraphMLWriter):  # type: ignore[misc, unused-ignore]
    """networkx's GraphML writer (ElementTree), with booleans as XML Schema's ``true``/``false`` (it writes
    Python's ``True``, which a schema-checking reader refuses)."""

    def add_data(self, name: str, element_type: type, value: Any, scope: str = "all", default: Any = None) -> Any:
        element = super().add_data(name, element_type, value, scope, default)
        if element_type is bool:
            element.text = str(value).lower()
        return element


def write_graph(graph: nx.Graph[Any], fmt: GraphFormat = "gexf") -> bytes:
    """``graph`` as GEXF 1.2 or GraphML bytes (UTF-8 XML: networkx escapes every text it writes, :func:`xml_safe`
    drops what XML cannot hold)."""
    graph = harmonised(xml_safe(graph))
    buffer = io.BytesIO()
    if fmt == "gexf":
        nx.write_gexf(graph, buffer, version="1.2draft")
    elif fmt == "graphml":
        writer = _GraphMLWriter(encoding="utf-8", prettyprint=True)
        writer.add_graph_element(graph)
        writer.dump(buffer)
    else:
        raise ValueError(f"unknown graph format {fmt!r}; expected one of {', '.join(GRAPH_FORMATS)}")
    return buffer.getvalue()
