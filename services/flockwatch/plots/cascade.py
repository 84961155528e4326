"""The reshare tree of one cascade and its cumulative reshares over time (see the package doc for the inputs)."""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.ticker import MaxNLocator

from flockwatch.dotted import dotted_get
from flockwatch.plots._figure import (
    Pseudonymise,
    account_label,
    account_of,
    check_format,
    drawing,
    epoch,
    label,
    new_figure,
    note,
    post_key_of,
    score_of,
    to_bytes,
)

# Nodes drawn at most: beyond a few thousand markers a tree is ink, not a picture (and SVG grows by ~200 B each).
MAX_TREE_NODES = 1_000
# Below this many drawn nodes every node carries its account's label.
LABEL_NODES = 25
# Steps drawn at most on a timeline; the curve keeps its shape and its exact last value.
MAX_STEPS = 2_000
UNSCORED = "#bdbdbd"
CMAP = "viridis"
SCORE_NAMES = {"machine": "machine-text score", "media": "media manipulation score"}


@dataclass(frozen=True)
class _Node:
    key: str
    parent: str | None
    time: float
    account: str | None


def cascade_posts(cascade: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The cascade document's ``events`` rows as minimal post documents (``key``, ``parent_key``, ``created_at``,
    ``account_key``), so :func:`reshare_timeline` draws a cascade without reading its posts."""
    out: list[dict[str, Any]] = []
    for row in cascade.get("events") or []:
        if not isinstance(row, Sequence) or isinstance(row, str) or len(row) < 3:
            continue
        when = epoch(row[2])
        if row[0] is None or when is None:
            continue
        out.append(
            {
                "key": str(row[0]),
                "parent_key": None if row[1] is None else str(row[1]),
                "created_at": datetime.fromtimestamp(when, UTC).isoformat(),
                "account_key": None if len(row) < 4 or row[3] is None else str(row[3]),
            }
        )
    return out


def _nodes(cascade: Mapping[str, Any]) -> tuple[str, dict[str, _Node], bool]:
    """The cascade's posts by key (a duplicate keeps its earliest time, as the graph stage does), its root key and
    whether the root is a placeholder (never collected: timed at the first reshare)."""
    nodes: dict[str, _Node] = {}
    for post in cascade_posts(cascade):
        when = epoch(post["created_at"])
        assert when is not None
        seen = nodes.get(post["key"])
        if seen is None or when < seen.time:
            nodes[post["key"]] = _Node(post["key"], post["parent_key"], when, post["account_key"])
    if not nodes:
        raise ValueError("the cascade has no events to draw")
    root = str(cascade.get("root_key") or cascade.get("cascade_id") or "")
    if root not in nodes:
        if not root:
            root = min(nodes.values(), key=lambda n: (n.time, n.key)).key
        else:
            nodes[root] = _Node(root, None, min(n.time for n in nodes.values()), None)
            return root, nodes, True
    return root, nodes, bool(cascade.get("placeholder_root"))


def _earliest_subtree(root: str, nodes: Mapping[str, _Node], limit: int) -> tuple[list[str], dict[str, str], int, int]:
    """The ``limit`` earliest posts that hang together from the root (each drawn with its parent), their drawn
    parents, how many posts hang on nothing reachable (a parent cycle: bad data, left out) and the depth of the
    whole tree.

    A post whose parent is unknown is drawn under the root, where the graph stage counts it too."""
    children: dict[str, list[str]] = {}
    for node in nodes.values():
        if node.key == root:
            continue
        parent = node.parent if node.parent is not None and node.parent in nodes and node.parent != node.key else root
        children.setdefault(parent, []).append(node.key)
    order: list[str] = []
    parent_of: dict[str, str] = {}
    heap: list[tuple[float, str, str]] = [(nodes[root].time, root, "")]
    reached = {root}  # pushed once, so a parent cycle cannot loop
    while heap and len(order) < limit:
        _, key, parent = heapq.heappop(heap)
        order.append(key)
        if parent:
            parent_of[key] = parent
        for child in children.get(key, ()):
            if child not in reached:
                reached.add(child)
                heapq.heappush(heap, (nodes[child].time, child, key))
    # Everything reachable, drawn or not, to tell a cap from a cycle, with its depth.
    depth = {root: 0}
    level = [root]
    while level:
        following = []
        for key in level:
            for child in children.get(key, ()):
                if child not in depth:
                    depth[child] = depth[key] + 1
                    following.append(child)
        level = following
    return order, parent_of, len(nodes) - len(depth), max(depth.values())


def _tidy_rows(order: Sequence[str], parent_of: Mapping[str, str], nodes: Mapping[str, _Node]) -> dict[str, float]:
    """A row per leaf in depth-first order (children by time), each parent midway between its first and last
    child: subtrees never cross. Iterative, so a 10,000-deep chain is no recursion problem."""
    children: dict[str, list[str]] = {}
    for key in order[1:]:
        children.setdefault(parent_of[key], []).append(key)
    for kids in children.values():
        kids.sort(key=lambda k: (nodes[k].time, k))
    rows: dict[str, float] = {}
    next_row = 0.0
    stack: list[tuple[str, bool]] = [(order[0], False)]
    while stack:
        key, done = stack.pop()
        kids = children.get(key, [])
        if not kids:
            rows[key] = next_row
            next_row += 1.0
        elif done:
            rows[key] = (rows[kids[0]] + rows[kids[-1]]) / 2.0
        else:
            stack.append((key, True))
            stack.extend((k, False) for k in reversed(kids))
    return rows


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def cascade_tree(
    cascade: Mapping[str, Any],
    posts: Sequence[Mapping[str, Any]] = (),
    fmt: str = "png",
    *,
    x: Literal["depth", "time"] = "depth",
    score: Literal["machine", "media"] = "machine",
    max_nodes: int = MAX_TREE_NODES,
    pseudonymise: Pseudonymise | None = None,
) -> bytes:
    """The reshare tree, root at the left: ``x`` is each post's depth (hops from the root) or its hours since the
    root, rows keep subtrees apart. Nodes are coloured by the post's ``score`` where ``posts`` (stored post
    documents) carry one, grey where not; the root is ringed and labelled with its account and an excerpt of its
    text. At most ``max_nodes`` nodes are drawn, the earliest that hang together from the root, and the figure says
    so when it leaves posts out."""
    check_format(fmt)
    if max_nodes < 1:
        raise ValueError("max_nodes must be at least 1")
    if x not in ("depth", "time"):
        raise ValueError(f"unknown x {x!r}; expected 'depth' or 'time'")
    if score not in SCORE_NAMES:
        raise ValueError(f"unknown score {score!r}; expected one of {', '.join(SCORE_NAMES)}")
    root, nodes, placeholder = _nodes(cascade)
    by_key = {k: p for p in posts if (k := post_key_of(p)) is not None}
    order, parent_of, unreachable, max_depth = _earliest_subtree(root, nodes, max_nodes)
    depth: dict[str, int] = {root: 0}
    for key in order[1:]:
        depth[key] = depth[parent_of[key]] + 1
    rows = _tidy_rows(order, parent_of, nodes)
    t0 = nodes[root].time
    xs = {k: float(depth[k]) if x == "depth" else (nodes[k].time - t0) / 3600.0 for k in order}
    scores = {k: score_of(by_key[k], score) if k in by_key else None for k in order}

    def who(key: str) -> str:
        doc = by_key.get(key)
        account = nodes[key].account or (account_of(doc) if doc else None)
        handle = dotted_get(doc, "author.handle") if doc else None
        return account_label(account, None if handle is None else str(handle), pseudonymise)

    with drawing():
        fig = new_figure(10, 6)
        ax = fig.add_subplot()
        segments = [[(xs[parent_of[k]], rows[parent_of[k]]), (xs[k], rows[k])] for k in order[1:]]
        thin = 0.6 if len(order) <= 200 else 0.3
        ax.add_collection(LineCollection(segments, colors="0.6", linewidths=thin, zorder=1, gid="cascade-edges"))
        norm = Normalize(0.0, 1.0)
        colormap = colormaps[CMAP]
        colours = [UNSCORED if (s := scores[k]) is None else colormap(norm(s)) for k in order]
        size = max(6.0, min(80.0, 900.0 / math.sqrt(len(order))))
        ax.scatter(
            [xs[k] for k in order],
            [rows[k] for k in order],
            s=size,
            c=colours,
            edgecolors="0.3",
            linewidths=0.3,
            zorder=2,
            gid="cascade-nodes",
        )
        ax.scatter([xs[root]], [rows[root]], s=size * 3.5, facecolors="none", edgecolors="crimson", zorder=3,
                   linewidths=1.2, gid="cascade-root")  # fmt: skip
        root_doc = by_key.get(root)
        excerpt = label(root_doc.get("text"), 80) if root_doc else ""
        root_text = who(root) + (f": “{excerpt}”" if excerpt else "") + (" (root not collected)" if placeholder else "")
        ax.annotate(root_text, (xs[root], rows[root]), xytext=(8, 8), textcoords="offset points", fontsize="small",
                    color="crimson", gid="cascade-root-label",
                    bbox={"boxstyle": "round", "fc": "white", "ec": "crimson", "alpha": 0.85})  # fmt: skip
        if len(order) <= LABEL_NODES:
            for k in order[1:]:
                ax.annotate(who(k), (xs[k], rows[k]), xytext=(5, -3), textcoords="offset points", fontsize="x-small",
                            color="0.25")  # fmt: skip
        if any(s is not None for s in scores.values()):
            bar_label = f"{SCORE_NAMES[score]} (grey: none)"
            fig.colorbar(ScalarMappable(norm=norm, cmap=colormap), ax=ax, label=bar_label, shrink=0.8)
        ax.set_xlabel("depth (reshare hops from the root)" if x == "depth" else "hours since the root post")
        ax.set_yticks([])
        ax.margins(0.08)
        if x == "depth":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(label(f"Reshare cascade of {root}: {len(nodes)} posts, depth {max_depth}", 110))
        reachable = len(nodes) - unreachable
        left = [f"showing the earliest {len(order)} of {reachable} posts"] if len(order) < reachable else []
        if unreachable:
            left.append(f"{unreachable} posts in a parent cycle not drawn")
        if left:
            note(fig, "; ".join(left))
        return to_bytes(fig, fmt)


def cumulative_reshares(
    posts: Sequence[Mapping[str, Any]], root_key: str | None = None
) -> tuple[float, list[float], int]:
    """``(root epoch, sorted seconds since the root of every reshare, posts without a readable time)``.

    The root is ``root_key`` when it is among ``posts``, else the earliest post that names no parent, else the
    earliest post; every other post is a reshare (the cascade's replies and quotes spread it too)."""
    timed: list[tuple[float, str, Mapping[str, Any]]] = []
    skipped = 0
    for i, post in enumerate(posts):
        when = epoch(post.get("created_at"))
        if when is None:
            skipped += 1
            continue
        timed.append((when, post_key_of(post) or f"#{i}", post))
    if not timed:
        raise ValueError("no posts with a readable created_at to draw")
    timed.sort(key=lambda t: (t[0], t[1]))
    root = next((t for t in timed if root_key is not None and t[1] == root_key), None)
    if root is None:
        parentless = [t for t in timed if not (t[2].get("parent_key") or t[2].get("reshare_of") or
                                                 t[2].get("quote_of") or t[2].get("reply_to"))]  # fmt: skip
        root = parentless[0] if parentless else timed[0]
    offsets = [when - root[0] for when, key, _ in timed if key != root[1]]
    return root[0], offsets, skipped


def _thin(xs: list[float], ys: list[int], limit: int) -> tuple[list[float], list[int]]:
    """At most ``limit`` evenly spaced points, the first and the last always kept."""
    if len(xs) <= limit:
        return xs, ys
    step = (len(xs) - 1) / (limit - 1)
    picks = sorted({round(i * step) for i in range(limit)})
    return [xs[i] for i in picks], [ys[i] for i in picks]


def reshare_timeline(
    posts: Sequence[Mapping[str, Any]],
    fmt: str = "png",
    *,
    root_key: str | None = None,
    max_steps: int = MAX_STEPS,
) -> bytes:
    """Cumulative reshares against time since the root post (a step per reshare, at most ``max_steps`` steps, the
    last one exact), with the first hour marked and its reshares counted: how fast it spread, at a glance."""
    check_format(fmt)
    if max_steps < 2:
        raise ValueError("max_steps must be at least 2")
    _, offsets, skipped = cumulative_reshares(posts, root_key)
    span = max([0.0, *offsets])
    unit, per = ("hours", 3600.0) if span <= 3 * 86400 else ("days", 86400.0)
    xs = [min([0.0, *offsets[:1]]) / per] + [o / per for o in offsets]
    ys = list(range(len(offsets) + 1))
    xs, ys = _thin(xs, ys, max_steps)
    in_first_hour = sum(1 for o in offsets if 0 <= o <= 3600)
    with drawing():
        fig = new_figure(9, 4.5)
        ax = fig.add_subplot()
        ax.step(xs, ys, where="post", color="tab:blue", linewidth=1.5, gid="reshare-steps")
        ax.axvline(3600.0 / per, color="crimson", linestyle="--", linewidth=1, gid="first-hour")
        ax.annotate(f"first hour: {in_first_hour} reshares", (3600.0 / per, 0.95), xycoords=("data", "axes fraction"),
                    xytext=(4, 0), textcoords="offset points", color="crimson", fontsize="small", va="top",
                    gid="first-hour-label")  # fmt: skip
        ax.set_xlabel(f"{unit} since the root post")
        ax.set_ylabel("reshares so far")
        ax.set_ylim(bottom=0, top=max(1, len(offsets)) * 1.05)
        ax.set_xlim(left=xs[0], right=max(span / per, 3600.0 / per) * 1.05)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.set_title(f"{len(offsets)} reshares over {_duration(span)}")
        if skipped:
            note(fig, f"{skipped} posts without a readable time left out")
        return to_bytes(fig, fmt)
