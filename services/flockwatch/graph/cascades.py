"""Reshare/reply cascades rebuilt from parent links, with defined handling of bad input.

A cascade is a rooted tree: the source post and every post that spreads it, each attached to the post it
reshared or replied to.  :func:`build_tree` turns raw events ``(id, parent, time, user)`` into a
:class:`Tree` (parent indices, times relative to the root, users) and counts every repair it made:

* **duplicates** (an id seen again): the first event with the earliest time is kept;
* **root**: ``root_id`` when given and present; otherwise the earliest event without a parent (ties: the
  first seen); an id that is absent but named as parent by many events becomes a placeholder root only
  when ``root_id`` names it (its time is then the earliest child's);
* **missing parents** (parent id not in the cascade) and **extra roots** (another event without a
  parent): attached to the root, the usual assumption when a platform attaches every reshare to the
  source (Twitter's retweets; Weibo's empty ``parent``).  We do not invent intermediate links: without
  the follower graph (which Goel et al. 2016 used to infer who retweeted whom), any reconstruction would
  be a guess, so a root-attached reshare stays on the root and depth and structural virality are lower
  bounds for such platforms;
* **self-loops** (``parent == id``): treated as a missing parent;
* **cycles** (a set of events that only reach each other): the earliest event of each cycle is attached to
  the root, which keeps the rest of the chain;
* **out-of-order events and clock skew**: events may arrive in any order; a child stamped before its
  parent is moved to its parent's time (``skewed`` counts them), so delays are never negative and the
  tree's times increase along every path.  Times before the root's are clamped to the root's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple


class Event(NamedTuple):
    """One post of a cascade: ``parent`` is the id it spreads (``None``/``""``: a root candidate)."""

    id: str
    parent: str | None
    time: float  # seconds, any origin
    user: str | None = None


@dataclass
class Repairs:
    duplicates: int = 0
    missing_parents: int = 0
    extra_roots: int = 0
    self_loops: int = 0
    cycles: int = 0
    skewed: int = 0
    placeholder_root: bool = False

    def total(self) -> int:
        return (self.duplicates + self.missing_parents + self.extra_roots + self.self_loops + self.cycles
                + self.skewed)  # fmt: skip


@dataclass
class Tree:
    """A rooted tree in parent-array form; node 0 is the root, ``parent[0] == -1``.

    Nodes are in breadth-first order (every parent comes before its children), ``time`` is seconds since
    the root (non-decreasing along every path), ``user`` may hold ``None``.
    """

    cascade_id: str
    ids: list[str]
    parent: list[int]
    time: list[float]
    user: list[str | None]
    root_time: float = 0.0
    repairs: Repairs = field(default_factory=Repairs)

    def __len__(self) -> int:
        return len(self.parent)

    def depths(self) -> list[int]:
        depth = [0] * len(self.parent)
        for i in range(1, len(self.parent)):
            depth[i] = depth[self.parent[i]] + 1
        return depth


def build_tree(cascade_id: str, events: Iterable[Event], root_id: str | None = None) -> Tree:
    """Rebuild the cascade tree from ``events`` (see the module docstring for every repair)."""
    repairs = Repairs()
    first: dict[str, Event] = {}
    for ev in events:
        seen = first.get(ev.id)
        if seen is None:
            first[ev.id] = ev
        else:
            repairs.duplicates += 1
            if ev.time < seen.time:
                first[ev.id] = ev
    if not first and root_id is None:
        raise ValueError(f"cascade {cascade_id!r} has no events")
    # choose the root
    if root_id is not None and root_id in first:
        root = root_id
    elif root_id is not None:
        children_times = [e.time for e in first.values() if e.parent == root_id]
        t0 = min(children_times) if children_times else min((e.time for e in first.values()), default=0.0)
        first = {root_id: Event(root_id, None, t0, None), **first}
        root = root_id
        repairs.placeholder_root = True
    else:
        parentless = [e for e in first.values() if not e.parent or e.parent == e.id]
        pool = parentless or list(first.values())
        root = min(pool, key=lambda e: e.time).id
    # parent links, with repairs
    parent_of: dict[str, str] = {}
    for ev in first.values():
        if ev.id == root:
            continue
        p = ev.parent
        if p == ev.id:
            repairs.self_loops += 1
            p = root
        elif not p:
            repairs.extra_roots += 1
            p = root
        elif p not in first:
            repairs.missing_parents += 1
            p = root
        parent_of[ev.id] = p
    children: dict[str, list[str]] = {}
    for child, p in parent_of.items():
        children.setdefault(p, []).append(child)
    for kids in children.values():
        kids.sort(key=lambda c: (first[c].time, c))
    # breadth-first from the root; what is not reached sits on a cycle (or hangs from one)
    order = _bfs(root, children)
    reached = set(order)
    if len(reached) < len(first):
        unreached = sorted((e for e in first.values() if e.id not in reached), key=lambda e: (e.time, e.id))
        for ev in unreached:
            # walk up from ev until a node repeats (a cycle) or the reached part is met
            path: list[str] = []
            on_path: set[str] = set()
            x = ev.id
            while x not in reached and x not in on_path:
                path.append(x)
                on_path.add(x)
                x = parent_of[x]
            if x in reached:
                continue
            cycle = path[path.index(x) :]
            cut = min(cycle, key=lambda c: (first[c].time, c))
            repairs.cycles += 1
            children[parent_of[cut]].remove(cut)
            parent_of[cut] = root
            children.setdefault(root, []).append(cut)
            reached.update(_bfs(cut, children))
        for kids in children.values():
            kids.sort(key=lambda c: (first[c].time, c))
        order = _bfs(root, children)
    index = {node: i for i, node in enumerate(order)}
    root_time = first[root].time
    parent_idx = [-1] * len(order)
    times = [0.0] * len(order)
    users: list[str | None] = [None] * len(order)
    for i, node in enumerate(order):
        ev = first[node]
        users[i] = ev.user
        t = ev.time - root_time
        if i:
            up = index[parent_of[node]]
            parent_idx[i] = up
            if t < times[up]:
                repairs.skewed += 1
                t = times[up]
        times[i] = max(t, 0.0)
    return Tree(cascade_id, list(order), parent_idx, times, users, root_time, repairs)


def _bfs(start: str, children: dict[str, list[str]]) -> list[str]:
    order = [start]
    i = 0
    while i < len(order):
        order.extend(children.get(order[i], ()))
        i += 1
    return order


def tree_from_parents(
    cascade_id: str, parent: Sequence[int], time: Sequence[float], user: Sequence[str | None] | None = None
) -> Tree:
    """A :class:`Tree` from a parent array that is already valid (``parent[0] == -1``, parents first)."""
    n = len(parent)
    if n == 0 or parent[0] != -1 or any(not 0 <= parent[i] < i for i in range(1, n)):
        raise ValueError("parent must start with -1 and list every parent before its children")
    return Tree(cascade_id, [str(i) for i in range(n)], list(parent), [float(t) for t in time],
                list(user) if user is not None else [None] * n)  # fmt: skip


class CascadeBuilder:
    """Incremental cascades: feed events as they arrive, ask for a tree (and metrics) at any time.

    Events are kept per cascade (duplicates dropped on arrival); :meth:`tree` rebuilds in ``O(n log n)``
    only when new events arrived since the last call, so metrics can be refreshed per batch of posts.
    """

    def __init__(self, cascade_id: str, root_id: str | None = None) -> None:
        self.cascade_id = cascade_id
        self.root_id = root_id
        self._events: dict[str, Event] = {}
        self._duplicates = 0
        self._tree: Tree | None = None

    def add(self, event: Event) -> None:
        seen = self._events.get(event.id)
        if seen is not None:
            self._duplicates += 1
            if event.time >= seen.time:
                return
        self._events[event.id] = event
        self._tree = None

    def __len__(self) -> int:
        return len(self._events)

    def tree(self) -> Tree:
        if self._tree is None:
            self._tree = build_tree(self.cascade_id, self._events.values(), self.root_id)
            self._tree.repairs.duplicates += self._duplicates
        return self._tree
