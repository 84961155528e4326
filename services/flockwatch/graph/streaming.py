"""Incremental coordination for a stream of posts: per-object buffers that expire with the window.

Same definitions as :mod:`flockwatch.graph.coordination` (co-action: two posts sharing an object with
``|t_a - t_b| <= window``; directed weight ``w(u, v)`` = number of ``u``'s posts with a co-acting post by
``v``), computed as posts arrive, so a Kafka worker can emit co-actions (with their evidence) at once and
read the current weights at any time.  Pure Python, no I/O.

* Each object (a normalised text, a URL, a reposted id...) keeps a buffer of its recent posts; one heap
  ordered by time expires buffered posts, so each post costs ``O(log n)`` besides its comparisons.  A new
  post is compared with the buffer of each of its objects; every partner within the window from another
  user is a co-action, returned to the caller and counted once per (post, partner user) pair.
* **Watermark** ``W``, per source (a Kafka partition): each source's watermark is the latest event time it
  delivered, and ``W = min`` over the active sources (those not declared idle; a declared source that has
  not delivered yet holds ``W`` at ``-inf``), never decreasing -- the low watermark of Akidau et al.,
  *The Dataflow Model*, VLDB 2015.  Partitions are consumed unevenly (a backlog comes thousands of records
  of one partition at a time), so with a single max-over-everything watermark a lagging partition's posts
  looked hours late; with the minimum, lateness only has to cover disorder *inside* a partition.
* **Expiry**: buffers keep posts with ``t >= W - window - lateness``, so a post at most ``lateness`` behind
  ``W`` still meets every partner.  A post with ``t < W - lateness`` is counted in :attr:`late` (it may
  have missed partners); one with ``t < W - 2 window - lateness`` can meet no buffered partner at all and is
  dropped (:attr:`expired`, also counted late).
* **Duplicates** (a post id seen again) are ignored and counted.  Ids are remembered by event time down to
  ``W - 2 window - lateness``: below that a post is dropped anyway, so the dedupe memory is bounded and still
  exact (a duplicate can never meet a partner twice).
* Memory is bounded by the posts inside ``2 window + lateness`` of ``W``: a post's partner set is dropped when
  it leaves every buffer (it can gain no partner after that).  ``track_weights=False`` also skips the
  cumulative :attr:`weights` (a long-running worker that only consumes the returned co-actions).

With every event at most ``lateness`` behind its source's own watermark and every source active, the weights
equal the batch network's (tested).
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class CoAction:
    obj: str
    post_a: str
    user_a: str
    time_a: float
    post_b: str
    user_b: str
    time_b: float

    @property
    def dt(self) -> float:
        """``time_b - time_a``: positive when ``a`` acted first."""
        return self.time_b - self.time_a


@dataclass(eq=False)
class _Buffered:
    time: float
    post: str
    user: str


@dataclass
class StreamingCoordination:
    window: float = 60.0
    lateness: float = 0.0
    # sources the watermark waits for before they first deliver (until declared idle)
    sources: Collection[str] = ()
    track_weights: bool = True
    weights: dict[tuple[str, str], int] = field(default_factory=dict)
    duplicates: int = 0
    late: int = 0
    expired: int = 0
    _marks: dict[str, float] = field(default_factory=dict)  # source -> latest event time delivered
    _idle: set[str] = field(default_factory=set)
    _floor: float = -math.inf  # W never goes back
    _buffers: dict[str, deque[_Buffered]] = field(default_factory=dict)
    _partners: dict[str, set[str]] = field(default_factory=dict)  # post -> users it co-acted with
    _refs: dict[str, int] = field(default_factory=dict)  # post -> buffers holding it
    _seen: dict[str, float] = field(default_factory=dict)  # post id -> event time, for dedupe
    _seen_expiry: list[tuple[float, str]] = field(default_factory=list)  # heap by time
    _expiry: list[tuple[float, int, str, _Buffered]] = field(default_factory=list)  # heap by time
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        for s in self.sources:
            self._marks.setdefault(s, -math.inf)

    @property
    def watermark(self) -> float:
        return self._floor

    def _advance(self) -> None:
        active = [t for s, t in self._marks.items() if s not in self._idle]
        if active:
            self._floor = max(self._floor, min(active))

    def observe(self, source: str, time: float) -> None:
        """Event time ``time`` delivered by ``source`` (also for posts that share no object)."""
        self._idle.discard(source)
        self._marks[source] = max(self._marks.get(source, -math.inf), time)
        self._advance()
        self._expire()

    def idle(self, source: str) -> None:
        """``source`` stops holding the watermark back until it delivers again (a drained or dead partition)."""
        self._idle.add(source)
        self._marks.setdefault(source, -math.inf)
        self._advance()
        self._expire()

    def add(self, post: str, user: str, time: float, objects: Iterable[str], source: str = "") -> list[CoAction]:
        """Take one post from ``source`` and return its new co-actions (the new post is ``b``)."""
        objs = list(dict.fromkeys(objects))
        if not objs:  # nothing to meet: only moves the watermark
            self.observe(source, time)
            return []
        if post in self._seen:
            self.duplicates += 1
            return []
        w = self.watermark
        if time < w - self.lateness:
            self.late += 1
            if time < w - 2 * self.window - self.lateness:
                self.expired += 1  # every possible partner has expired, and its id may have been forgotten
                return []
        self._seen[post] = time
        heapq.heappush(self._seen_expiry, (time, post))
        found: list[CoAction] = []
        for obj in objs:
            buf = self._buffers.setdefault(obj, deque())
            for other in buf:
                if other.user != user and abs(other.time - time) <= self.window:
                    found.append(CoAction(obj, other.post, other.user, other.time, post, user, time))
                    self._count(other.post, other.user, user)
                    self._count(post, user, other.user)
            entry = _Buffered(time, post, user)
            buf.append(entry)
            self._refs[post] = self._refs.get(post, 0) + 1
            heapq.heappush(self._expiry, (time, next(self._counter), obj, entry))
        self.observe(source, time)
        return found

    def _count(self, post: str, user: str, partner: str) -> None:
        partners = self._partners.setdefault(post, set())
        if partner not in partners:
            partners.add(partner)
            if self.track_weights:
                key = (user, partner)
                self.weights[key] = self.weights.get(key, 0) + 1

    def _expire(self) -> None:
        horizon = self.watermark - self.window - self.lateness
        while self._expiry and self._expiry[0][0] < horizon:
            _, _, obj, entry = heapq.heappop(self._expiry)
            buf = self._buffers.get(obj)
            if buf is not None:
                buf.remove(entry)
                if not buf:
                    del self._buffers[obj]
            self._release(entry.post)
        forget = horizon - self.window
        while self._seen_expiry and self._seen_expiry[0][0] < forget:
            t, post = heapq.heappop(self._seen_expiry)
            if self._seen.get(post) == t:
                del self._seen[post]

    def _release(self, post: str) -> None:
        left = self._refs.get(post, 1) - 1
        if left <= 0:
            self._refs.pop(post, None)
            self._partners.pop(post, None)
        else:
            self._refs[post] = left

    def edges(self, min_weight: int = 1) -> dict[tuple[str, str], int]:
        """Current directed weights at or above ``min_weight``."""
        return {k: w for k, w in self.weights.items() if w >= min_weight}

    def buffered_posts(self) -> int:
        return len(self._refs)

    def remembered_ids(self) -> int:
        """Post ids kept for dedupe (bounded by the posts within ``2 window + lateness`` of ``W``)."""
        return len(self._seen)
