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
    """Number of nodes in the cascade, the root included.

    Parameters
    ----------
    tree : Tree
        The cascade.

    Returns
    -------
    int
        ``n``.

    Examples
    --------
    >>> from flockwatch.graph.cascades import tree_from_parents
    >>> t = tree_from_parents("c", [-1, 0, 0, 1], [0, 60, 120, 300], [None, "b", "c", "b"])  # 0->1->3, 0->2
    >>> size(t)
    4
    """
    return len(tree.parent)


def depth(tree: Tree) -> int:
    """Largest number of edges from the root to a node.

    Parameters
    ----------
    tree : Tree
        The cascade.

    Returns
    -------
    int
        The depth; 0 for a lone root.

    Examples
    --------
    >>> from flockwatch.graph.cascades import tree_from_parents
    >>> t = tree_from_parents("c", [-1, 0, 0, 1], [0, 60, 120, 300], [None, "b", "c", "b"])  # 0->1->3, 0->2
    >>> depth(t)
    2
    """
    return max(tree.depths(), default=0)


def max_breadth(tree: Tree) -> int:
    """Largest number of nodes at one depth (the root's level counts 1).

    Parameters
    ----------
    tree : Tree
        The cascade.

    Returns
    -------
    int
        The size of the widest level.

    Examples
    --------
    >>> from flockwatch.graph.cascades import tree_from_parents
    >>> t = tree_from_parents("c", [-1, 0, 0, 1], [0, 60, 120, 300], [None, "b", "c", "b"])  # 0->1->3, 0->2
    >>> max_breadth(t)  # nodes 1 and 2
    2
    """
    levels: dict[int, int] = {}
    for d in tree.depths():
        levels[d] = levels.get(d, 0) + 1
    return max(levels.values(), default=0)


def subtree_sizes(tree: Tree) -> list[int]:
    """Nodes in the subtree of each node (itself included), by one pass from the leaves up.

    Parameters
    ----------
    tree : Tree
        The cascade.

    Returns
    -------
    list of int
        One size per node, in the order of ``tree.parent``; the root's is ``n``.

    Examples
    --------
    >>> from flockwatch.graph.cascades import tree_from_parents
    >>> t = tree_from_parents("c", [-1, 0, 0, 1], [0, 60, 120, 300], [None, "b", "c", "b"])  # 0->1->3, 0->2
    >>> subtree_sizes(t)
    [4, 2, 1, 1]
    """
    sizes = [1] * len(tree.parent)
    for i in range(len(tree.parent) - 1, 0, -1):
        sizes[tree.parent[i]] += sizes[i]
    return sizes


def structural_virality(tree: Tree) -> float:
    """Structural virality: the mean distance between two distinct nodes (Goel et al. [1]_).

    Computed in O(n) from subtree sizes, by the edge formula of the module docstring.

    Parameters
    ----------
    tree : Tree
        The cascade.

    Returns
    -------
    float
        ``nu``; 0.0 for a lone root, ``2(n-1)/n`` for a star, ``(n+1)/3`` for a chain.

    References
    ----------
    .. [1] S. Goel, A. Anderson, J. Hofman and D. J. Watts, "The structural virality of online diffusion",
       Management Science 62(1), 2016.

    Examples
    --------
    >>> from flockwatch.graph.cascades import tree_from_parents
    >>> t = tree_from_parents("c", [-1, 0, 0, 1], [0, 60, 120, 300], [None, "b", "c", "b"])  # 0->1->3, 0->2
    >>> round(structural_virality(t), 3)  # distances 1, 1, 2, 2, 1, 3 over the 6 pairs
    1.667
    """
    n = len(tree.parent)
    if n < 2:
        return 0.0
    sizes = subtree_sizes(tree)
    total = sum(s * (n - s) for s in sizes[1:])
    return 2.0 * total / (n * (n - 1))


def time_to_n(tree: Tree, n: int) -> float | None:
    """Seconds until the cascade holds ``n`` nodes (the root is node 1).

    Parameters
    ----------
    tree : Tree
        The cascade.
    n : int
        The number of nodes to reach.

    Returns
    -------
    float or None
        The time of the ``n``-th node in time order; None when the cascade has fewer nodes (or ``n < 1``).

    Examples
    --------
    >>> from flockwatch.graph.cascades import tree_from_parents
    >>> t = tree_from_parents("c", [-1, 0, 0, 1], [0, 60, 120, 300], [None, "b", "c", "b"])  # 0->1->3, 0->2
    >>> time_to_n(t, 3)
    120.0
    >>> print(time_to_n(t, 5))
    None
    """
    if n < 1 or n > len(tree.time):
        return None
    return sorted(tree.time)[n - 1]


def branching_factor(tree: Tree) -> float:
    """Mean number of children of a spreading node: ``(n - 1) / (number of nodes with children)``.

    Parameters
    ----------
    tree : Tree
        The cascade.

    Returns
    -------
    float
        The branching factor; 0.0 for a lone root.

    Examples
    --------
    >>> from flockwatch.graph.cascades import tree_from_parents
    >>> t = tree_from_parents("c", [-1, 0, 0, 1], [0, 60, 120, 300], [None, "b", "c", "b"])  # 0->1->3, 0->2
    >>> branching_factor(t)  # 3 reshares from 2 spreaders (nodes 0 and 1)
    1.5
    """
    n = len(tree.parent)
    spreaders = len(set(tree.parent[1:]))
    return (n - 1) / spreaders if spreaders else 0.0


def root_share(tree: Tree) -> float:
    """Share of the ``n - 1`` reshares made directly from the root.

    Parameters
    ----------
    tree : Tree
        The cascade.

    Returns
    -------
    float
        In [0, 1]: 1 for a star; 0.0 for a lone root.

    Examples
    --------
    >>> from flockwatch.graph.cascades import tree_from_parents
    >>> t = tree_from_parents("c", [-1, 0, 0, 1], [0, 60, 120, 300], [None, "b", "c", "b"])  # 0->1->3, 0->2
    >>> round(root_share(t), 3)  # 2 of 3
    0.667
    """
    n = len(tree.parent)
    return sum(1 for p in tree.parent[1:] if p == 0) / (n - 1) if n > 1 else 0.0


def lifetime(tree: Tree) -> float:
    """Seconds from the root to the last node.

    Parameters
    ----------
    tree : Tree
        The cascade.

    Returns
    -------
    float
        The lifetime; 0.0 for a lone root.

    Examples
    --------
    >>> from flockwatch.graph.cascades import tree_from_parents
    >>> t = tree_from_parents("c", [-1, 0, 0, 1], [0, 60, 120, 300], [None, "b", "c", "b"])  # 0->1->3, 0->2
    >>> lifetime(t)
    300.0
    """
    return max(tree.time, default=0.0) - (tree.time[0] if tree.time else 0.0)


def gini(values: Sequence[float]) -> float:
    """Gini coefficient of non-negative values (0 for an empty or all-zero list).

    Parameters
    ----------
    values : sequence of float
        Non-negative amounts, e.g. reshares per user.

    Returns
    -------
    float
        0 when all values are equal, ``(m - 1) / m`` when one of the ``m`` values holds everything.

    Examples
    --------
    >>> gini([1, 1, 1])
    0.0
    >>> gini([0, 0, 0, 4])
    0.75
    """
    xs = sorted(values)
    m = len(xs)
    total = sum(xs)
    if m == 0 or total <= 0:
        return 0.0
    weighted = sum((i + 1) * x for i, x in enumerate(xs))
    return 2.0 * weighted / (m * total) - (m + 1) / m


def spreader_gini(tree: Tree) -> float:
    """Gini coefficient of the number of reshares per user, among the users who reshared.

    The root and the nodes without a user are left out.

    Parameters
    ----------
    tree : Tree
        The cascade.

    Returns
    -------
    float
        :func:`gini` of the per-user counts; 0.0 when every user reshared once.

    Examples
    --------
    >>> from flockwatch.graph.cascades import tree_from_parents
    >>> t = tree_from_parents("c", [-1, 0, 0, 1], [0, 60, 120, 300], [None, "b", "c", "b"])  # 0->1->3, 0->2
    >>> round(spreader_gini(t), 3)  # users b, c, b: gini([2, 1]) = 2 * 1 / (2 * 2**2 * 1.5)
    0.167
    """
    counts: dict[str, int] = {}
    for u in tree.user[1:]:
        if u is not None:
            counts[u] = counts.get(u, 0) + 1
    return gini(list(counts.values()))


def coordinated_share(tree: Tree, coordinated_users: Collection[str] | None) -> float | None:
    """Share of the distinct resharing users that belong to a coordinated cluster.

    Parameters
    ----------
    tree : Tree
        The cascade.
    coordinated_users : collection of str or None
        The users of coordinated clusters; None when cluster membership is unknown.

    Returns
    -------
    float or None
        The share; None when ``coordinated_users`` is None, 0.0 when no reshare has a user.

    Examples
    --------
    >>> from flockwatch.graph.cascades import tree_from_parents
    >>> t = tree_from_parents("c", [-1, 0, 0, 1], [0, 60, 120, 300], [None, "b", "c", "b"])  # 0->1->3, 0->2
    >>> coordinated_share(t, {"b"})  # users b and c
    0.5
    >>> print(coordinated_share(t, None))
    None
    """
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
    """Delay statistics of the reshares, in seconds from the root.

    Parameters
    ----------
    tree : Tree
        The cascade.

    Returns
    -------
    dict of str to float or None
        ``delay_median``, ``delay_p10``, ``delay_p90`` (linear interpolation, numpy's default),
        ``share_first_hour`` and ``interarrival_cv`` (None with fewer than two gaps); all None for a lone root.

    Examples
    --------
    >>> from flockwatch.graph.cascades import tree_from_parents
    >>> t = tree_from_parents("c", [-1, 0, 0, 1], [0, 60, 120, 300], [None, "b", "c", "b"])  # 0->1->3, 0->2
    >>> {k: round(v, 3) for k, v in delay_stats(t).items()}  # delays 60, 120, 300; gaps 60, 60, 180
    {'delay_median': 120.0, 'delay_p10': 72.0, 'delay_p90': 264.0, 'share_first_hour': 1.0, 'interarrival_cv': 0.693}
    """
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
    """All metrics of the module docstring for one tree, in one pass where possible.

    Parameters
    ----------
    tree : Tree
        The cascade.
    coordinated_users : collection of str, optional
        For ``coordinated_share`` (None leaves it None).
    velocity_ns : sequence of int
        The ``N`` of each ``time_to_N`` key.

    Returns
    -------
    dict of str to Any
        ``size``, ``depth``, ``max_breadth``, ``structural_virality``, ``branching_factor``, ``root_share``,
        ``lifetime``, ``spreader_gini``, ``coordinated_share``, ``time_to_N`` and the :func:`delay_stats` keys.

    References
    ----------
    .. [1] S. Goel, A. Anderson, J. Hofman and D. J. Watts, "The structural virality of online diffusion",
       Management Science 62(1), 2016.

    Examples
    --------
    >>> from flockwatch.graph.cascades import tree_from_parents
    >>> t = tree_from_parents("c", [-1, 0, 0, 1], [0, 60, 120, 300], [None, "b", "c", "b"])  # 0->1->3, 0->2
    >>> m = cascade_metrics(t, {"b"}, velocity_ns=(3, 5))
    >>> m["size"], m["depth"], round(m["structural_virality"], 3), m["coordinated_share"], m["time_to_5"]
    (4, 2, 1.667, 0.5, None)
    """
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
    """A :class:`Tree` from a DiGraph with edges parent -> child.

    Optional node attributes ``time`` (seconds, default 0) and ``user``; bad structure is repaired as
    :func:`~flockwatch.graph.cascades.build_tree` says (a node with several parents keeps the earliest-added
    edge).

    Parameters
    ----------
    graph : networkx.DiGraph
        The cascade, edges parent -> child.
    cascade_id : str
        The tree's ``cascade_id``.
    root : hashable, optional
        The root node; by default the earliest node without a parent.

    Returns
    -------
    Tree
        Node ids are ``str(node)``; times are relative to the root (``root_time`` keeps the root's).

    Examples
    --------
    >>> import networkx as nx
    >>> g = nx.DiGraph([("a", "b"), ("a", "c"), ("b", "d")])
    >>> nx.set_node_attributes(g, {"a": 1000.0, "b": 1060.0, "c": 1120.0, "d": 1300.0}, "time")
    >>> t = tree_from_networkx(g)
    >>> t.ids, t.parent, t.time
    (['a', 'b', 'c', 'd'], [-1, 0, 0, 1], [0.0, 60.0, 120.0, 300.0])
    """
    events: list[Event] = []
    for node, data in graph.nodes(data=True):
        preds = list(graph.predecessors(node))
        events.append(
            Event(str(node), str(preds[0]) if preds else None, float(data.get("time", 0.0)),
                  None if data.get("user") is None else str(data["user"]))
        )  # fmt: skip
    return build_tree(cascade_id, events, None if root is None else str(root))


def tree_to_networkx(tree: Tree) -> nx.DiGraph[Any]:
    """A DiGraph of the tree: edges parent -> child, node attributes ``time`` and ``user``.

    Parameters
    ----------
    tree : Tree
        The cascade.

    Returns
    -------
    networkx.DiGraph
        Nodes named by ``tree.ids``.

    Examples
    --------
    >>> from flockwatch.graph.cascades import tree_from_parents
    >>> t = tree_from_parents("c", [-1, 0, 0, 1], [0, 60, 120, 300], [None, "b", "c", "b"])  # 0->1->3, 0->2
    >>> g = tree_to_networkx(t)
    >>> sorted(g.edges()), g.nodes["3"]
    ([('0', '1'), ('0', '2'), ('1', '3')], {'time': 300.0, 'user': 'b'})
    """
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
    """:func:`cascade_metrics` of a networkx tree (edges parent -> child, node attributes time/user).

    Parameters
    ----------
    graph : networkx.DiGraph
        The cascade, as :func:`tree_from_networkx` reads it.
    root : hashable, optional
        The root node; by default the earliest node without a parent.
    coordinated_users : collection of str, optional
        For ``coordinated_share``.

    Returns
    -------
    dict of str to Any
        As :func:`cascade_metrics`.

    Examples
    --------
    >>> import networkx as nx
    >>> m = metrics_from_networkx(nx.DiGraph([("a", "b"), ("a", "c"), ("b", "d")]))
    >>> m["size"], m["depth"], m["max_breadth"]
    (4, 2, 2)
    """
    return cascade_metrics(tree_from_networkx(graph, root=root), coordinated_users)


def repairs_dict(tree: Tree) -> Mapping[str, int | bool]:
    r = tree.repairs
    return {"duplicates": r.duplicates, "missing_parents": r.missing_parents, "extra_roots": r.extra_roots,
            "self_loops": r.self_loops, "cycles": r.cycles, "skewed": r.skewed,
            "placeholder_root": r.placeholder_root}  # fmt: skip
