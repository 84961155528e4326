"""Write coordination networks: CSV (edges with evidence), GEXF and GraphML (Gephi), JSONL.

CSV and JSONL stream the edge table; GEXF and GraphML go through ``networkx.DiGraph`` and
``networkx.write_gexf`` / ``write_graphml``.  As in the toolkit's GraphML, nodes are user ids with a
``username`` attribute and edges carry ``weight`` (integer) and ``edge_type`` (the kind); every evidence
value is written as a string attribute (NaN as the empty string) so Gephi shows it verbatim. CSV text
cells that a spreadsheet would run as a formula are written with a leading ``'`` (``flockwatch.csv_cells``).
Characters XML 1.0 cannot hold (control characters, lone surrogates) are dropped from node ids and string
attributes (:func:`xml_safe`): one in a user name would make the file unreadable.
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from flockwatch.csv_cells import safe_cell
from flockwatch.graph.coordination import EdgeTable

if TYPE_CHECKING:
    import networkx as nx  # type: ignore[import-untyped, unused-ignore]

Format = Literal["csv", "gexf", "graphml", "jsonl"]
FORMATS: tuple[Format, ...] = ("csv", "gexf", "graphml", "jsonl")


# What XML 1.0 cannot hold: C0 controls but tab, LF and CR; lone surrogates; U+FFFE and U+FFFF.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: str) -> str:
    """``value`` without the characters XML 1.0 cannot hold."""
    return _NOT_XML.sub("", value)


def xml_safe(graph: nx.Graph[Any]) -> nx.Graph[Any]:
    """A copy of ``graph`` (simple or directed) whose node ids, attribute names and string values hold only
    characters XML 1.0 allows (networkx escapes ``<`` and ``&`` but writes a control character as it is, and then
    no XML reader, Gephi's or its own, opens the file)."""

    def clean(value: Any) -> Any:
        return xml_text(value) if isinstance(value, str) else value

    def cleaned(data: dict[str, Any]) -> dict[str, Any]:
        return {clean(k): clean(v) for k, v in data.items()}

    out = graph.__class__()
    out.graph.update(cleaned(graph.graph))
    out.add_nodes_from((clean(n), cleaned(d)) for n, d in graph.nodes(data=True))
    out.add_edges_from((clean(u), clean(v), cleaned(d)) for u, v, d in graph.edges(data=True))
    return out


def _cell(value: str | int | float) -> str | int | float:
    if isinstance(value, float) and math.isnan(value):
        return ""
    return value


def to_networkx(edges: EdgeTable) -> nx.DiGraph[Any]:
    """A DiGraph with the toolkit's attributes plus evidence strings, ready for XML (:func:`xml_safe`)."""
    import networkx as nx  # type: ignore[import-untyped, unused-ignore]

    graph: nx.DiGraph[Any] = nx.DiGraph()
    for row in edges.rows():
        source, target = str(row.pop("source")), str(row.pop("target"))
        weight = int(row.pop("weight"))
        attrs = {k: str(_cell(v)) for k, v in row.items()}
        graph.add_edge(source, target, weight=weight, edge_type=edges.kind, **attrs)
    for node in graph.nodes:
        graph.nodes[node]["username"] = edges.usernames.get(str(node), "")
        if edges.node_cluster:
            graph.nodes[node]["cluster_id"] = edges.node_cluster.get(str(node), "")
    safe: nx.DiGraph[Any] = xml_safe(graph)
    return safe


def write_edges(edges: EdgeTable, path: Path | str, fmt: Format = "csv") -> None:
    """Write ``edges`` to ``path`` in ``fmt``; CSV's header is ``source,target,weight`` then evidence."""
    out = Path(path)
    if fmt == "csv":
        columns = ["source", "target", "weight", *edges.evidence.keys()]
        with out.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow([safe_cell(c) for c in columns])
            for row in edges.rows():
                writer.writerow([safe_cell(_cell(row[c])) for c in columns])
    elif fmt == "jsonl":
        with out.open("w", encoding="utf-8") as handle:
            for row in edges.rows():
                record = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
                record["kind"] = edges.kind
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    elif fmt in ("gexf", "graphml"):
        import networkx as nx  # type: ignore[import-untyped, unused-ignore]

        (nx.write_gexf if fmt == "gexf" else nx.write_graphml)(to_networkx(edges), out)
    else:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
