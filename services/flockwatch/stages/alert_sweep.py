"""Windowed sweeps (the ``alerts`` DAG): Kleinberg's batch Viterbi over a window of stored posts.

The stream decides online, bin by bin; a sweep looks back over ``[end − window − lookback, end)`` at
once, with the baseline share ``p0`` taken over the whole span (Kleinberg's ``R / D``), and reports
the bursts that touch ``[end − window, end)``. Its alerts go through the same rules, dedupe and
suppression as the stream's (the alert book is restored from the store first), so a burst the stream
already raised updates that alert instead of raising a second one.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import ValidationError

from flockwatch.alerts import outbox
from flockwatch.alerts.bursts import Burst, build_series, detect_bursts
from flockwatch.alerts.delivery import Sink, deliver, delivery_budget, wants
from flockwatch.alerts.engine import AlertEngine, Item, utcnow
from flockwatch.alerts.rules import AlertsConfig
from flockwatch.schema import MediaScore, Post, TextScore, post_key
from flockwatch.stages.alerts import (
    AlertStore,
    AlertWrites,
    PostFields,
    alert_doc,
    alerts_from_docs,
    recorder,
    watch_entities,
)

_POST_FIELDS = set(Post.model_fields)


log = logging.getLogger(__name__)


class SweepAlerts(AlertWrites, Protocol):
    def recent(self, since: datetime, size: int = 10_000) -> list[dict[str, Any]]: ...


class PostScan(PostFields, Protocol):
    def scan(self, start: datetime, end: datetime, page: int = 2000) -> Iterator[dict[str, Any]]: ...


class SweepStore(AlertStore, Protocol):
    """What a sweep needs of the store: the stream's (:class:`AlertStore`), recent alerts and stored posts."""

    @property
    def alerts(self) -> SweepAlerts: ...

    @property
    def posts(self) -> PostScan: ...


@dataclass
class SweepReport:
    start: str
    end: str
    posts: int = 0
    bursts: list[dict[str, Any]] = field(default_factory=list)
    alerts_new: int = 0
    alerts_updated: int = 0
    deliveries_failed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "posts": self.posts,
            "bursts": len(self.bursts),
            "top_bursts": self.bursts[:10],
            "alerts_new": self.alerts_new,
            "alerts_updated": self.alerts_updated,
            "deliveries_failed": self.deliveries_failed,
        }


def items_from_doc(doc: Mapping[str, Any]) -> list[Item]:
    """A stored post document back into the post and its scores (what the stream saw)."""
    post = Post.model_validate({k: v for k, v in doc.items() if k in _POST_FIELDS})
    out: list[Item] = [post]
    ts = doc.get("text_score")
    if isinstance(ts, dict):
        with contextlib.suppress(ValidationError):
            out.append(
                TextScore(
                    post_key=post.key,
                    post_created_at=post.created_at,
                    machine_score=ts.get("machine_score"),
                    label=ts.get("label", "unscored"),
                    model=ts.get("model", "?"),
                    narrative_id=doc.get("narrative_id"),
                )
            )
    for entry in (doc.get("media_by_url") or {}).values():
        if isinstance(entry, dict):
            try:
                out.append(MediaScore.model_validate({**entry, "post_key": post.key}))
            except ValidationError:
                continue
    return out


def sweep(
    store: SweepStore,
    config: AlertsConfig,
    end: datetime | None = None,
    window: timedelta = timedelta(hours=6),
    lookback: timedelta = timedelta(hours=24),
    sinks: Sequence[Sink] = (),
    clock: Callable[[], datetime] = utcnow,
) -> SweepReport:
    end = end or clock()
    start = end - window
    span_start = start - lookback
    report = SweepReport(start.isoformat(), end.isoformat())
    engine = AlertEngine(config, clock=clock)
    engine.restore(alerts_from_docs(store.alerts.recent(span_start)))

    rows: list[tuple[datetime, str, list[str]]] = []
    batch: list[Item] = []

    def flush() -> None:
        posts = [i for i in batch if isinstance(i, Post)]
        watch = watch_entities(store.watchlists.percolate(posts)) if posts else {}
        clusters = store.graph.account_clusters([post_key(p.platform, p.author.id) for p in posts]) if posts else {}
        for ctx in engine.remember(batch, watch, clusters):
            if ctx.post is not None and ctx.key not in seen:
                seen.add(ctx.key)
                rows.append((ctx.created_at, ctx.key, ctx.entities()))
        batch.clear()

    seen: set[str] = set()
    for doc in store.posts.scan(span_start, end):
        try:
            batch.extend(items_from_doc(doc))
        except ValidationError:
            continue
        if len(batch) >= 2000:
            flush()
    flush()
    report.posts = len(rows)
    series = build_series(rows, span_start, end, config.detector.bin, config.detector.keep_post_keys)
    bursts = [b for b in detect_bursts(series, config.detector) if b.end > start]
    report.bursts = [_burst_summary(b) for b in bursts]
    # The scan takes a while: alerts a running worker raised meanwhile are updated, not raised again.
    engine.restore(alerts_from_docs(store.alerts.recent(span_start)))
    # Oldest first, as the stream meets them: a later burst then updates the alert an earlier one opened.
    result = engine.apply_bursts(sorted(bursts, key=lambda b: (b.end, b.start, b.entity)))
    report.alerts_new = result.counts["alerts_new"]
    report.alerts_updated = result.counts["alerts_updated"]
    # As in the stream: the outbox is written with the alert, and an entry leaves it once acknowledged;
    # what a killed sweep leaves there, a running alerts worker delivers.
    targets = {a.alert_id: [s.name for s in sinks if wants(s, a)] for a in result.notify}
    changed = {a.alert_id: a for a in [*result.changed, *result.notify]}
    rejected: set[str] = set()
    if changed:
        written = store.alerts.upsert(
            [outbox.with_outbox(alert_doc(a), a.severity, targets.get(aid, [])) for aid, a in changed.items()]
        )
        rejected = {alert_id for alert_id, _ in written.rejected}
        for alert_id, reason in written.rejected:
            log.error("store rejected alert %s: %s", alert_id, reason)
        engine.stored(changed)
    record = recorder(store)
    for alert in result.notify:
        if alert.alert_id in rejected:  # not stored: nothing to claim or record a delivery on
            continue
        # Only to the sinks whose outbox entries it claims: a running alerts worker reads the same outbox.
        wanted = targets.get(alert.alert_id, [])
        lease = delivery_budget(config.retry, len(wanted))
        claimed = set(store.alerts.claim(alert.alert_id, wanted, lease)) if wanted else set()
        for d in deliver(alert, [s for s in sinks if s.name in claimed], config.retry):
            report.deliveries_failed += not d.ok
            record(alert, [d])
    engine.notified(a.alert_id for a in result.notify)
    return report


def _burst_summary(b: Burst) -> dict[str, Any]:
    return {
        "entity": b.entity,
        "start": b.start.isoformat(),
        "end": b.end.isoformat(),
        "posts": b.posts,
        "weight": round(b.weight, 1),
        "baseline_rate_per_h": round(b.baseline_rate, 2),
        "observed_rate_per_h": round(b.observed_rate, 2),
    }
