"""What is rising now, from engagement snapshots and platform trend lists, and what to follow because of it.

Two measures, both over what connectors saw:

- **Engagement velocity** of a post: the growth of its interactions per hour between its first and last
  snapshot in a window, ``v = (E(t₁) − E(t₀)) / (t₁ − t₀)`` with ``E = likes + reshares + replies + quotes``
  (views are left out: platforms count them incomparably). A post seen once has no velocity; its
  engagement over its age stands in (``E(t) / (t − created_at)``), flagged as such.
- **Hashtag growth**: posts carrying the tag in the recent window against the one before it,
  ``g = log((n_recent + 1) / (n_previous + 1)) · log(1 + n_recent)`` — the log ratio says *rising*, the
  second factor that it is rising at a volume worth watching (a tag going from 0 to 1 post is not a trend).
  Mastodon's own trend list carries daily uses, scored the same way (today against the days before).

:func:`update_followed` then adds the best candidates to what a source follows, capped, and lets go of
additions that have not been rising for ``keep_for``: the followed set grows with what is trending now and
shrinks back when it stops.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Snapshot:
    """One sighting of a post by a connector (a document of the engagement index)."""

    post_key: str
    collected_at: datetime
    created_at: datetime
    engagement: int
    hashtags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rising:
    """A candidate to follow: ``target`` (``thread:KEY``, ``tag:NAME``), how fast it rises, and why."""

    target: str
    score: float
    why: str


def engagement_total(counts: Mapping[str, object]) -> int:
    """likes + reshares + replies + quotes of an engagement mapping (absent or non-numeric counts are 0)."""
    total = 0
    for name in ("likes", "reshares", "replies", "quotes"):
        value = counts.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            total += int(value)
    return total


def engagement_velocity(snapshots: Iterable[Snapshot]) -> dict[str, tuple[float, bool]]:
    """Post key → (interactions per hour, measured between two snapshots?) — see the module docstring."""
    by_post: dict[str, list[Snapshot]] = defaultdict(list)
    for snap in snapshots:
        by_post[snap.post_key].append(snap)
    out: dict[str, tuple[float, bool]] = {}
    for key, snaps in by_post.items():
        snaps.sort(key=lambda s: s.collected_at)
        first, last = snaps[0], snaps[-1]
        hours = (last.collected_at - first.collected_at).total_seconds() / 3600
        if hours > 0:
            out[key] = ((last.engagement - first.engagement) / hours, True)
        else:
            age = max((last.collected_at - last.created_at).total_seconds() / 3600, 1 / 60)
            out[key] = (last.engagement / age, False)
    return out


def growth(recent: int, previous: int) -> float:
    """``log((recent + 1) / (previous + 1)) · log(1 + recent)``: positive when rising at some volume."""
    return math.log((recent + 1) / (previous + 1)) * math.log1p(recent)


def rising_posts(snapshots: Sequence[Snapshot], limit: int) -> list[Rising]:
    """The ``limit`` posts rising fastest (positive velocity only), as ``thread:POST_KEY`` candidates."""
    ranked = sorted(
        ((v, measured, key) for key, (v, measured) in engagement_velocity(snapshots).items() if v > 0),
        reverse=True,
    )
    out = []
    for velocity, measured, key in ranked[:limit]:
        how = "between snapshots" if measured else "over its age (one snapshot)"
        out.append(Rising(f"thread:{key}", velocity, f"{velocity:.1f} interactions/hour {how}"))
    return out


def rising_hashtags(snapshots: Sequence[Snapshot], now: datetime, window: timedelta, limit: int) -> list[Rising]:
    """Hashtags whose post count in ``(now − window, now]`` grew most over the window before (growth > 0)."""
    recent: dict[str, set[str]] = defaultdict(set)
    previous: dict[str, set[str]] = defaultdict(set)
    for snap in snapshots:
        age = now - snap.created_at
        bucket = recent if timedelta(0) <= age < window else previous if window <= age < 2 * window else None
        if bucket is None:
            continue
        for tag in snap.hashtags:
            bucket[tag.lower().lstrip("#")].add(snap.post_key)
    scored = []
    for tag, posts in recent.items():
        g = growth(len(posts), len(previous.get(tag, ())))
        if g > 0 and tag:
            scored.append(
                Rising(f"tag:{tag}", g, f"{len(posts)} posts vs {len(previous.get(tag, ()))} the window before")
            )
    scored.sort(key=lambda r: (-r.score, r.target))
    return scored[:limit]


def rising_trend_tags(trends: Iterable[Mapping[str, object]], limit: int) -> list[Rising]:
    """Mastodon ``/api/v1/trends/tags`` entries (``name``, ``history``: daily ``uses``, newest first) scored by
    today's uses against the mean of the days before."""
    scored = []
    for tag in trends:
        name = tag.get("name")
        history = tag.get("history")
        if not isinstance(name, str) or not name or not isinstance(history, list) or not history:
            continue
        uses = [_int(day.get("uses")) for day in history if isinstance(day, Mapping)]
        if not uses:
            continue
        before = uses[1:]
        baseline = round(sum(before) / len(before)) if before else 0
        g = growth(uses[0], baseline)
        if g > 0:
            scored.append(
                Rising(f"tag:{name.lower()}", g, f"{uses[0]} uses today vs {baseline}/day before (trend list)")
            )
    scored.sort(key=lambda r: (-r.score, r.target))
    return scored[:limit]


def _int(value: object) -> int:
    try:
        return max(0, int(str(value)))
    except ValueError:
        return 0


def update_followed(
    followed: Mapping[str, datetime],
    candidates: Iterable[Rising],
    now: datetime,
    max_added: int,
    keep_for: timedelta,
) -> tuple[dict[str, datetime], list[Rising], list[str]]:
    """Trending additions after this pass: (target → when last seen rising, newly added, dropped).

    A candidate already followed is refreshed; new ones are taken best first while fewer than ``max_added``
    are followed; additions not rising for ``keep_for`` are dropped first, so room frees up."""
    kept = {target: seen for target, seen in followed.items() if now - seen < keep_for}
    dropped = sorted(set(followed) - set(kept))
    added: list[Rising] = []
    for cand in sorted(candidates, key=lambda r: (-r.score, r.target)):
        if cand.target in kept:
            kept[cand.target] = now
        elif len(kept) < max_added:
            kept[cand.target] = now
            added.append(cand)
    return kept, added, dropped
