"""Shape and timing metrics of one cascade tree (see :mod:`flockwatch.graph.cascades`).

Every metric is a pure function of a :class:`~flockwatch.graph.cascades.Tree` (node 0 is the root, ``n``
nodes, breadth-first order); :func:`metrics_from_networkx` accepts a ``networkx.DiGraph`` tree instead.

* ``size`` = n, the root included.
* ``depth`` = the largest number of edges from the root to a node (0 for a lone root).
* ``max_breadth`` = the largest number of nodes at one depth (the root's level counts 1).
* ``structural_virality`` (Goel, Anderson, Hofman & Watts, "The structural virality of online diffusion",
  Management Science 62(1), 2016): the mean shortest-path distance over all ordered pairs of distinct
  nodes, ``nu = 1/(n(n-1)) * sum_{i != j} d_ij``.  On a tree every edge ``e`` lies on the path of exactly
  ``s_e (n - s_e)`` unordered pairs, ``s_e`` being the size of the subtree below it, so
  ``nu = 2 * sum_e s_e (n - s_e) / (n (n - 1))``: O(n), not all-pairs.  0 when n = 1; a star gives
  ``2(n-1)/n`` (-> 2), a chain ``(n+1)/3``.
* ``time_to_n`` (velocity): seconds from the root until the cascade holds N nodes, i.e. the time of the
  N-th node in time order (None when it never gets there).
* ``branching_factor`` = (n - 1) / (number of nodes with children): mean children of a spreading node
  (0 for a lone root); ``root_share`` = share of the n - 1 reshares made directly from the root (1 for a
  star; "reshares through another reshare" is 1 - root_share).
* ``lifetime`` = time of the last node - time of the root (seconds).
* ``spreader_gini``: Gini coefficient of the number of reshares per user among the users who reshared
  (root excluded; nodes without a user are left out), ``G = sum_i sum_j |x_i - x_j| / (2 m^2 mean)``,
  computed on the sorted counts as ``G = 2 sum_i i x_(i) / (m sum x) - (m + 1)/m``; 0 when every user
  reshared once, -> 1 when one user made almost all reshares.
* ``coordinated_share``: share of resharing users that belong to a coordinated cluster (None when no
  cluster membership is given).
* delay statistics (seconds from the root): ``delay_median``, ``delay_p10``, ``delay_p90``,
  ``share_first_hour``; and ``interarrival_cv``, the coefficient of variation of the gaps between
  successive reshares (1 for a Poisson stream, larger for bursts).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import networkx as nx  # type: ignore[import-untyped, unused-ignore]

from flockwatch.graph.cascades import Event, Tree, build_tree

VELOCITY_NS = (10, 50, 100)


def size(tree: Tree) -> int:
    return len(tree.parent)


def depth(tree: Tree) -> int:
    return max(tree.depths(), default=0)


def max_breadth(tree: Tree) -> int:
    levels: dict[int, int] = {}
    for d in tree.depths():
        levels[d] = levels.get(d, 0) + 1
    return max(levels.values(), default=0)


def subtree_sizes(tree: Tree) -> list[int]:
    """Nodes in the subtree of each node (itself included), by one pass from the leaves up."""
    sizes = [1] * len(tree.parent)
    for i in range(len(tree.parent) - 1, 0, -1):
        sizes[tree.parent[i]] += sizes[i]
    return sizes


def structural_virality(tree: Tree) -> float:
    """Goel et al. (2016) mean pairwise distance, by the O(n) edge formula of the module docstring."""
    n = len(tree.parent)
    if n < 2:
        return 0.0
    sizes = subtree_sizes(tree)
    total = sum(s * (n - s) for s in sizes[1:])
    return 2.0 * total / (n * (n - 1))


def time_to_n(tree: Tree, n: int) -> float | None:
    """Seconds until the cascade holds ``n`` nodes (the root is node 1)."""
    if n < 1 or n > len(tree.time):
        return None
    return sorted(tree.time)[n - 1]


def branching_factor(tree: Tree) -> float:
    n = len(tree.parent)
    spreaders = len(set(tree.parent[1:]))
    return (n - 1) / spreaders if spreaders else 0.0


def root_share(tree: Tree) -> float:
    n = len(tree.parent)
    return sum(1 for p in tree.parent[1:] if p == 0) / (n - 1) if n > 1 else 0.0


def lifetime(tree: Tree) -> float:
    return max(tree.time, default=0.0) - (tree.time[0] if tree.time else 0.0)


def gini(values: Sequence[float]) -> float:
    """Gini coefficient of non-negative values (0 for an empty or all-zero list)."""
    xs = sorted(values)
    m = len(xs)
    total = sum(xs)
    if m == 0 or total <= 0:
        return 0.0
    weighted = sum((i + 1) * x for i, x in enumerate(xs))
    return 2.0 * weighted / (m * total) - (m + 1) / m


def spreader_gini(tree: Tree) -> float:
    counts: dict[str, int] = {}
    for u in tree.user[1:]:
        if u is not None:
            counts[u] = counts.get(u, 0) + 1
    return gini(list(counts.values()))


def coordinated_share(tree: Tree, coordinated_users: Collection[str] | None) -> float | None:
    if coordinated_users is None:
        return None
    users = {u for u in tree.user[1:] if u is not None}
    return sum(1 for u in users if u in coordinated_users) / len(users) if users else 0.0


def _quantile(sorted_xs: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default) of sorted values."""
    if not sorted_xs:
        return float("nan")
    pos = (len(sorted_xs) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def delay_stats(tree: Tree) -> dict[str, float | None]:
    delays = sorted(tree.time[1:])
    if not delays:
        return {"delay_median": None, "delay_p10": None, "delay_p90": None, "share_first_hour": None,
                "interarrival_cv": None}  # fmt: skip
    gaps = [b - a for a, b in zip([0.0, *delays[:-1]], delays, strict=True)]
    mean_gap = sum(gaps) / len(gaps)
    cv = None
    if len(gaps) > 1 and mean_gap > 0:
        var = sum((g - mean_gap) ** 2 for g in gaps) / (len(gaps) - 1)
        cv = math.sqrt(var) / mean_gap
    return {
        "delay_median": _quantile(delays, 0.5),
        "delay_p10": _quantile(delays, 0.1),
        "delay_p90": _quantile(delays, 0.9),
        "share_first_hour": sum(1 for d in delays if d <= 3600.0) / len(delays),
        "interarrival_cv": cv,
    }


def cascade_metrics(
    tree: Tree, coordinated_users: Collection[str] | None = None, velocity_ns: Sequence[int] = VELOCITY_NS
) -> dict[str, Any]:
    """All metrics of the module docstring for one tree, in one pass where possible."""
    n = len(tree.parent)
    depths = tree.depths()
    levels: dict[int, int] = {}
    for d in depths:
        levels[d] = levels.get(d, 0) + 1
    sizes = subtree_sizes(tree)
    sorted_times = sorted(tree.time)
    out: dict[str, Any] = {
        "size": n,
        "depth": max(depths, default=0),
        "max_breadth": max(levels.values(), default=0),
        "structural_virality": 2.0 * sum(s * (n - s) for s in sizes[1:]) / (n * (n - 1)) if n > 1 else 0.0,
        "branching_factor": branching_factor(tree),
        "root_share": root_share(tree),
        "lifetime": (sorted_times[-1] - sorted_times[0]) if sorted_times else 0.0,
        "spreader_gini": spreader_gini(tree),
        "coordinated_share": coordinated_share(tree, coordinated_users),
    }
    for k in velocity_ns:
        out[f"time_to_{k}"] = sorted_times[k - 1] if 1 <= k <= n else None
    out.update(delay_stats(tree))
    return out


def tree_from_networkx(graph: nx.DiGraph[Any], cascade_id: str = "", root: Any = None) -> Tree:
    """A :class:`Tree` from a DiGraph with edges parent -> child and an optional ``time`` node attribute
    (seconds) and ``user``; bad structure is repaired as :func:`~flockwatch.graph.cascades.build_tree` says
    (a node with several parents keeps the earliest-added edge)."""
    events: list[Event] = []
    for node, data in graph.nodes(data=True):
        preds = list(graph.predecessors(node))
        events.append(
            Event(str(node), str(preds[0]) if preds else None, float(data.get("time", 0.0)),
                  None if data.get("user") is None else str(data["user"]))
        )  # fmt: skip
    return build_tree(cascade_id, events, None if root is None else str(root))


def tree_to_networkx(tree: Tree) -> nx.DiGraph[Any]:
    graph: nx.DiGraph[Any] = nx.DiGraph()
    for i, node in enumerate(tree.ids):
        graph.add_node(node, time=tree.time[i], user=tree.user[i])
        if i:
            graph.add_edge(tree.ids[tree.parent[i]], node)
    return graph


def metrics_from_networkx(
    graph: nx.DiGraph[Any],
    root: Any = None,
    coordinated_users: Collection[str] | None = None,
) -> dict[str, Any]:
    """:func:`cascade_metrics` of a networkx tree (edges parent -> child, node attributes time/user)."""
    return cascade_metrics(tree_from_networkx(graph, root=root), coordinated_users)


def repairs_dict(tree: Tree) -> Mapping[str, int | bool]:
    r = tree.repairs
    return {"duplicates": r.duplicates, "missing_parents": r.missing_parents, "extra_roots": r.extra_roots,
            "self_loops": r.self_loops, "cycles": r.cycles, "skewed": r.skewed,
            "placeholder_root": r.placeholder_root}  # fmt: skip
