"""A post's spread history from its cascade document (pure): the tree, its metrics, the timeline of reshares.

The graph stage stores each cascade with its ``events``, ``[post_key, parent_key, epoch_seconds, account]`` rows
(:class:`flockwatch.stages.graph.CascadeEntry`), and the metrics of :func:`flockwatch.graph.cascade_metrics`
(size, depth, structural virality, delays...). The answer is built from those alone, so it is what the metrics
were computed on. Large cascades are bounded: the tree lists at most ``max_nodes`` nodes (the earliest, which
always include the root's side of every edge listed) and says how many were left out; the timeline is bucketed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from flockwatch.graph.account_history import with_history_renamed

MAX_NODES = 5_000
TIMELINE_POINTS = 200
# Metric fields of a cascade document (the rest is bookkeeping: events, members, repairs...).
_NOT_METRICS = frozenset({"events", "members", "repairs", "_id", "cascade_id", "root_key", "platform"})


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def spread_history(
    cascade: Mapping[str, Any],
    max_nodes: int = MAX_NODES,
    account_name: Callable[[str], str] = str,
) -> dict[str, Any]:
    """``{"cascade_id", "root_key", "metrics", "tree": {"nodes", "edges", "omitted"}, "timeline"}``.

    ``account_name`` maps each account (``platform:id``) as the caller may show it (a pseudonym for researchers).
    """
    rows = sorted(
        ((str(r[0]), None if r[1] is None else str(r[1]), float(r[2]), None if r[3] is None else str(r[3]))
         for r in cascade.get("events") or []),
        key=lambda r: (r[2], r[0]),
    )  # fmt: skip
    kept = rows[:max_nodes]
    listed = {r[0] for r in kept}
    nodes = [
        {
            "post_key": key,
            "account": None if user is None else account_name(user),  # platform:author_id
            "at": _iso(when),
        }
        for key, _, when, user in kept
    ]
    edges = [{"from": parent, "to": key} for key, parent, _, _ in kept if parent is not None and parent in listed]
    # the resharers its history evidence names are accounts too
    metrics = with_history_renamed({k: v for k, v in cascade.items() if k not in _NOT_METRICS}, account_name)
    return {
        "cascade_id": cascade.get("cascade_id"),
        "root_key": cascade.get("root_key"),
        "metrics": metrics,
        "tree": {"nodes": nodes, "edges": edges, "omitted": len(rows) - len(kept)},
        "timeline": timeline([r[2] for r in rows]),
    }


def timeline(epochs: list[float], points: int = TIMELINE_POINTS) -> list[dict[str, Any]]:
    """Cumulative posts over time: every post while there are few, else ``points`` evenly spaced steps (each the
    count up to and including that time), so the curve's shape survives and the answer stays small."""
    times = sorted(epochs)
    if len(times) <= points:
        return [{"at": _iso(t), "posts": i + 1} for i, t in enumerate(times)]
    step = (len(times) - 1) / (points - 1)
    picks = sorted({round(i * step) for i in range(points)})
    return [{"at": _iso(times[i]), "posts": i + 1} for i in picks]
