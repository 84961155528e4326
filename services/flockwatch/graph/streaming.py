"""Incremental coordination for a stream of posts: per-object buffers that expire with the window.

Same definitions as :mod:`flockwatch.graph.coordination` (co-action: two posts sharing an object with
``|t_a - t_b| <= window``; directed weight ``w(u, v)`` = number of ``u``'s posts with a co-acting post by
``v``), computed as posts arrive, so a Kafka worker can emit co-actions (with their evidence) at once and
read the current weights at any time.  Pure Python, no I/O.

* Each object (a normalised text, a URL, a reposted id...) keeps a buffer of its recent posts; one heap
  ordered by time expires buffered posts, so each post costs ``O(log n)`` besides its comparisons.  A new
  post is compared with the buffer of each of its objects; every partner within the window from another
  user is a co-action, returned to the caller and counted once per (post, partner user) pair.
* **Out-of-order events**: the watermark is the latest time seen; buffers keep ``window + lateness``
  seconds behind it, so a post up to ``lateness`` seconds late still meets every partner.  A post later
  than that is still compared with what is buffered (it may miss partners already expired) and counted in
  :attr:`StreamingCoordination.late`.
* **Duplicates** (a post id seen again) are ignored and counted.
* Memory is bounded by the posts inside ``window + lateness``: a post's partner set is dropped when the
  post leaves every buffer (it can gain no partner after that).

With every event at most ``lateness`` late, the weights equal the batch network's (tested).
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Iterable
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
    weights: dict[tuple[str, str], int] = field(default_factory=dict)
    duplicates: int = 0
    late: int = 0
    watermark: float = float("-inf")
    _buffers: dict[str, deque[_Buffered]] = field(default_factory=dict)
    _partners: dict[str, set[str]] = field(default_factory=dict)  # post -> users it co-acted with
    _refs: dict[str, int] = field(default_factory=dict)  # post -> buffers holding it
    _seen: set[str] = field(default_factory=set)
    _expiry: list[tuple[float, int, str, _Buffered]] = field(default_factory=list)  # heap by time
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    def add(self, post: str, user: str, time: float, objects: Iterable[str]) -> list[CoAction]:
        """Take one post and return its new co-actions (the new post is ``b``)."""
        if post in self._seen:
            self.duplicates += 1
            return []
        self._seen.add(post)
        if time < self.watermark - self.lateness:
            self.late += 1
        self.watermark = max(self.watermark, time)
        found: list[CoAction] = []
        objs = list(dict.fromkeys(objects))
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
        self._partners.setdefault(post, set())
        self._expire()
        return found

    def _count(self, post: str, user: str, partner: str) -> None:
        partners = self._partners.setdefault(post, set())
        if partner not in partners:
            partners.add(partner)
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
