"""Posts per time bucket for one or several narratives (see the package doc for the inputs)."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num

from flockwatch.plots._figure import check_format, drawing, epoch, label, new_figure, note, to_bytes

# Lines drawn at most (the largest narratives): more is a tangle of colours nobody can tell apart.
MAX_NARRATIVES = 8
# Buckets kept per narrative (the latest): a year of hours is already more than a plot has pixels for.
MAX_BUCKETS = 5_000
_INTERVALS = ((3600.0, "hour"), (86400.0, "day"), (7 * 86400.0, "week"))


def volume_points(narrative: Mapping[str, Any]) -> list[tuple[float, int]]:
    """``(bucket start epoch, posts)`` in time order from a narrative's ``timeline`` (``{"at", "posts"}``, as the
    API's narrative view has it) or ``buckets`` (an OpenSearch date histogram's ``{"key"|"key_as_string",
    "doc_count"}``); unreadable buckets are skipped, a repeated bucket is summed."""
    points: dict[float, int] = {}
    for row in narrative.get("timeline") or narrative.get("buckets") or []:
        if not isinstance(row, Mapping):
            continue
        when = epoch(row.get("at") if "at" in row else row.get("key_as_string", row.get("key")))
        count = row.get("posts", row.get("doc_count"))
        if when is None or not isinstance(count, int | float) or isinstance(count, bool) or count < 0:
            continue
        points[when] = points.get(when, 0) + int(count)
    return sorted(points.items())[-MAX_BUCKETS:]


def _interval(points: Sequence[tuple[float, int]]) -> str:
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(points)]
    if not gaps:
        return "bucket"
    typical = statistics.median(gaps)
    return next((name for seconds, name in _INTERVALS if abs(typical - seconds) <= seconds * 0.2), "bucket")


def narrative_volume(
    narratives: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    fmt: str = "png",
    *,
    max_narratives: int = MAX_NARRATIVES,
) -> bytes:
    """Posts per bucket over time, one line per narrative (the ``max_narratives`` largest), each named by its
    representative text (shortened) so a reader sees what is growing, not an id."""
    check_format(fmt)
    if max_narratives < 1:
        raise ValueError("max_narratives must be at least 1")
    items = [narratives] if isinstance(narratives, Mapping) else list(narratives)
    series = [(n, pts) for n in items if isinstance(n, Mapping) and (pts := volume_points(n))]
    if not series:
        raise ValueError("no narrative with a readable time bucket to draw")
    series.sort(key=lambda s: (-sum(c for _, c in s[1]), str(s[0].get("narrative_id") or "")))
    shown, dropped = series[:max_narratives], series[max_narratives:]
    interval = _interval(shown[0][1])
    with drawing():
        fig = new_figure(9, 4.8)
        ax = fig.add_subplot()
        for i, (narrative, pts) in enumerate(shown):
            days = date2num([datetime.fromtimestamp(t, UTC) for t, _ in pts])  # type: ignore[no-untyped-call]
            text = label(narrative.get("representative_text") or narrative.get("narrative_id") or "?", 50)
            ax.plot(
                days,
                [c for _, c in pts],
                marker="o",
                markersize=3,
                linewidth=1.4,
                label=f"{text} ({sum(c for _, c in pts)})",
                gid=f"narrative-{i}",
            )
        locator = AutoDateLocator(tz=UTC)  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator, tz=UTC))  # type: ignore[no-untyped-call]
        ax.set_ylabel(f"posts per {interval}")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        if len(shown) == 1:
            only = shown[0][0]
            ax.set_title(f"“{label(only.get('representative_text') or only.get('narrative_id') or '?', 100)}”")
        else:
            ax.set_title(f"Posts per {interval} of {len(shown)} narratives")
            ax.legend(fontsize="small", loc="upper left", title="narrative (posts)", title_fontsize="small")
        if dropped:
            note(fig, f"{len(dropped)} smaller narratives not drawn")
        return to_bytes(fig, fmt)
