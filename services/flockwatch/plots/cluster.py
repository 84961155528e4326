"""A coordination cluster: its accounts and the coordination edges between them (see the package doc)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import networkx as nx  # type: ignore[import-untyped, unused-ignore]
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D

from flockwatch.plots._figure import (
    Pseudonymise,
    account_label,
    check_format,
    drawing,
    label,
    new_figure,
    note,
    to_bytes,
)

MAX_CLUSTER_NODES = 150
MAX_CLUSTER_EDGES = 1_500
LABEL_NODES = 40
SEED = 13
# The graph stage's coordination kinds (flockwatch.graph.coordination.KINDS), in words and a colour each.
KIND_STYLE: dict[str, tuple[str, str]] = {
    "co_link": ("same link", "#1f77b4"),
    "co_tweet": ("same text", "#ff7f0e"),
    "co_similar_tweet": ("similar text", "#bcbd22"),
    "co_media": ("same media", "#d62728"),
    "co_hashtag": ("same hashtags", "#2ca02c"),
    "co_retweet": ("same reshare", "#9467bd"),
    "co_reply": ("same reply target", "#8c564b"),
    "co_post": ("posting together", "#7f7f7f"),
}
OTHER = ("other", "#17becf")

Pair = tuple[str, str]


def cluster_edges(
    cluster: Mapping[str, Any], edges: Sequence[Mapping[str, Any]]
) -> tuple[list[str], dict[tuple[str, str, str], float]]:
    """The cluster's accounts and its undirected edges ``(kind, a, b) → weight`` (both directions of a directed
    edge document summed; kinds outside :data:`KIND_STYLE` are ``other``). Edges reaching outside the cluster's
    ``accounts`` are dropped when it lists any; otherwise the edges' endpoints are the accounts."""
    members = {str(a) for a in cluster.get("accounts") or [] if a}
    out: dict[tuple[str, str, str], float] = {}
    for edge in edges:
        a, b = edge.get("source"), edge.get("target")
        if not a or not b or a == b:
            continue
        a, b = str(a), str(b)
        if members and (a not in members or b not in members):
            continue
        kind = str(edge.get("kind") or "")
        kind = kind if kind in KIND_STYLE else "other"
        weight = edge.get("weight")
        value = float(weight) if isinstance(weight, int | float) and not isinstance(weight, bool) else 1.0
        if not math.isfinite(value) or value <= 0:
            value = 1.0
        lo, hi = sorted((a, b))
        out[(kind, lo, hi)] = out.get((kind, lo, hi), 0.0) + value
    accounts = members or {x for _, a, b in out for x in (a, b)}
    return sorted(accounts), out


def _layout(graph: Any, seed: int) -> dict[str, tuple[float, float]]:
    """Each connected part laid out on its own by a seeded spring layout, the parts packed on a grid, largest
    first (one spring layout of them all flings the parts to the corners, leaving each a dot)."""
    parts = sorted((sorted(c) for c in nx.connected_components(graph)), key=lambda c: (-len(c), c[0]))
    cols = math.ceil(math.sqrt(len(parts)))
    largest = len(parts[0])
    pos: dict[str, tuple[float, float]] = {}
    for i, part in enumerate(parts):
        row, col = divmod(i, cols)
        scale = 0.9 * math.sqrt(len(part) / largest) if len(part) > 1 else 0.0
        sub = graph.subgraph(part)
        laid = nx.spring_layout(sub, seed=seed, weight="weight", scale=scale) if len(part) > 1 else {part[0]: (0, 0)}
        for key in part:
            x, y = laid[key]
            pos[key] = (col * 2.0 + float(x), -row * 2.0 + float(y))
    return pos


def cluster_graph(
    cluster: Mapping[str, Any],
    edges: Sequence[Mapping[str, Any]] = (),
    fmt: str = "png",
    *,
    handles: Mapping[str, str] | None = None,
    max_nodes: int = MAX_CLUSTER_NODES,
    max_edges: int = MAX_CLUSTER_EDGES,
    seed: int = SEED,
    pseudonymise: Pseudonymise | None = None,
) -> bytes:
    """Accounts as nodes (sized by their coordination weight), coordination edges coloured by kind, laid out by a
    spring layout with a fixed ``seed`` (the same input draws the same picture). At most ``max_nodes`` accounts
    (the most connected) and ``max_edges`` edges (the heaviest) are drawn, and the figure says what it left out.
    Labels are the accounts' handles (``handles``: account key → handle), or pseudonyms with ``pseudonymise``."""
    check_format(fmt)
    if max_nodes < 1 or max_edges < 0:
        raise ValueError("max_nodes must be at least 1 and max_edges at least 0")
    accounts, weights = cluster_edges(cluster, edges)
    if not accounts:
        raise ValueError("the cluster has no accounts and no edges to draw")
    strength = dict.fromkeys(accounts, 0.0)
    for (_, a, b), w in weights.items():
        strength[a] += w
        strength[b] += w
    kept = sorted(sorted(accounts, key=lambda k: (-strength[k], k))[:max_nodes])
    keep = set(kept)
    inside = sorted(((k, w) for k, w in weights.items() if k[1] in keep and k[2] in keep), key=lambda e: (-e[1], e[0]))
    drawn = sorted(inside[:max_edges])
    graph = nx.Graph()
    graph.add_nodes_from(kept)
    for (_, a, b), w in drawn:
        previous = graph.get_edge_data(a, b, default={"weight": 0.0})["weight"]
        graph.add_edge(a, b, weight=previous + math.log1p(w))
    pos = _layout(graph, seed)
    # Several kinds between one pair are drawn side by side, not on top of each other.
    kinds_of: dict[Pair, list[str]] = {}
    for (kind, a, b), _ in drawn:
        kinds_of.setdefault((a, b), []).append(kind)
    with drawing():
        fig = new_figure(9, 8)
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.set_aspect("equal")
        by_kind: dict[str, list[tuple[list[tuple[float, float]], float]]] = {}
        for (kind, a, b), w in drawn:
            (xa, ya), (xb, yb) = pos[a], pos[b]
            pair_kinds = kinds_of[(a, b)]
            shift = (pair_kinds.index(kind) - (len(pair_kinds) - 1) / 2) * 0.012
            length = math.hypot(xb - xa, yb - ya) or 1.0
            dx, dy = -(yb - ya) / length * shift, (xb - xa) / length * shift
            by_kind.setdefault(kind, []).append(([(xa + dx, ya + dy), (xb + dx, yb + dy)], w))
        handles_legend = []
        for kind in sorted(by_kind, key=lambda k: list(KIND_STYLE).index(k) if k in KIND_STYLE else len(KIND_STYLE)):
            name, colour = KIND_STYLE.get(kind, OTHER)
            segs = by_kind[kind]
            widths = [min(4.0, 0.6 + math.log1p(w)) for _, w in segs]
            ax.add_collection(LineCollection([s for s, _ in segs], colors=colour, linewidths=widths, alpha=0.75,
                                             zorder=1, gid=f"edges-{kind}"))  # fmt: skip
            handles_legend.append(Line2D([], [], color=colour, linewidth=2, label=f"{name} ({len(segs)})"))
        top = max(strength[k] for k in kept) or 1.0
        ax.scatter([pos[k][0] for k in kept], [pos[k][1] for k in kept],
                   s=[30 + 170 * math.sqrt(strength[k] / top) for k in kept],
                   c="#444444", edgecolors="white", linewidths=0.6, zorder=2, gid="cluster-nodes")  # fmt: skip
        if len(kept) <= LABEL_NODES:
            for k in kept:
                handle = (handles or {}).get(k)
                ax.annotate(account_label(k, handle, pseudonymise), pos[k], xytext=(6, 4), textcoords="offset points",
                            fontsize="x-small", color="0.15", zorder=3)  # fmt: skip
        ax.margins(0.08)
        if handles_legend:
            fig.legend(handles=handles_legend, loc="outside lower center", ncols=min(4, len(handles_legend)),
                       fontsize="small", title="coordination (edges)", title_fontsize="small")  # fmt: skip
        cid = label(cluster.get("cluster_id") or "", 40)
        when = label(cluster.get("window_end") or "", 25)
        title = f"Coordination cluster {cid}".rstrip() + f": {len(accounts)} accounts, {len(inside)} edges"
        ax.set_title(title + (f" (window ending {when})" if when else ""))
        left = []
        if len(kept) < len(accounts):
            left.append(f"showing the {len(kept)} most connected of {len(accounts)} accounts")
        if len(drawn) < len(inside):
            left.append(f"the {len(drawn)} heaviest of {len(inside)} edges")
        if left:
            note(fig, "; ".join(left))
        return to_bytes(fig, fmt)
