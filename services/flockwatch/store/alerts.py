"""Alerts: upserts that never overwrite their lifecycle, reads, status changes, deliveries and the outbox.

An alert write keeps what is set elsewhere (status, history, deliveries, created_at): it reads the stored alerts,
merges (:func:`merge_alert`) and writes them back only if unchanged meanwhile, again for those that changed. No
store script does it, so it runs the same on every engine. The outbox (:mod:`flockwatch.alerts.outbox`) lists the
sinks that still owe a delivery.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from flockwatch.alerts.outbox import CLAIMS, FIELD, claim_change, covers, highest_per_sink, sink_of, unsent
from flockwatch.alerts.rules import SEVERITIES, severity_rank
from flockwatch.schema import document_id
from flockwatch.store.documents import BulkResult, IndexKind, StoreUnavailable, VersionConflict, VersionedPut
from flockwatch.store.engine import Engine
from flockwatch.store.mappings import DATE, KEYWORD

# What a later write of an alert never overwrites: its lifecycle, set by analysts and sinks.
LIFECYCLE_FIELDS = ["status", "history", "deliveries", "created_at"]
# Deliveries kept on an alert (the newest).
DELIVERIES_KEPT = 50


def merge_alert(stored: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``stored`` with every field of ``update``, except lifecycle fields ``stored`` already has, and without the
    outbox entries its recorded deliveries settled already."""
    merged = dict(stored)
    merged.update({k: v for k, v in update.items() if k not in LIFECYCLE_FIELDS or k not in stored})
    # Two writers (the stream and a sweep) each hold their own view of an alert: the later write keeps the
    # furthest-along of both for what only grows (its count, severity and span).
    for name, pick in (("post_count", max), ("last_seen", max), ("first_seen", min)):
        if stored.get(name) is not None and update.get(name) is not None:
            merged[name] = pick(stored[name], update[name], key=_order)
    if stored.get("severity") in SEVERITIES and update.get("severity") in SEVERITIES:
        merged["severity"] = max(stored["severity"], update["severity"], key=severity_rank)
    if update.get(FIELD):  # what either writer still owes, at the higher severity per sink, unless delivered
        owed = unsent(highest_per_sink([*(stored.get(FIELD) or []), *update[FIELD]]), stored.get("deliveries") or [])
        if owed:
            merged[FIELD] = owed
        else:
            merged.pop(FIELD, None)
    return merged


def apply_change(doc: Mapping[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    """``doc`` with the fields of ``change``; a None there removes the field."""
    return {k: v for k, v in {**doc, **change}.items() if v is not None or k not in change}


def with_delivery(doc: Mapping[str, Any], delivery: Mapping[str, Any], settled: Sequence[str] = ()) -> dict[str, Any]:
    """The fields that record ``delivery`` on the alert ``doc`` (the last ``DELIVERIES_KEPT``), drop its
    ``settled`` outbox entries (the outbox field goes once empty) and release the sink's claims (the attempt is
    over for the entries at its severity or below: a failed one may be tried again at once)."""
    change: dict[str, Any] = {"deliveries": [*(doc.get("deliveries") or []), dict(delivery)][-DELIVERIES_KEPT:]}
    if doc.get("outbox") is not None:
        change["outbox"] = [e for e in doc["outbox"] if e not in settled] or None
    if doc.get(CLAIMS):
        done = [e for e in doc[CLAIMS] if sink_of(e) == delivery.get("sink") and covers(delivery, e)]
        change[CLAIMS] = {e: until for e, until in doc[CLAIMS].items() if e not in done} or None
    return change


def _order(value: Any) -> Any:
    """A count as itself, a time (ISO text or datetime) as a datetime, so either form compares."""
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


# Read-merge-write rounds before a write that keeps losing to concurrent ones gives up (retried later).
_CONFLICT_ROUNDS = 10


class AlertsRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._fields_mapped = False  # set once the alerts index is known to map the fields added after it

    def upsert(self, alerts: Sequence[Mapping[str, Any]]) -> BulkResult:
        """Create alerts or merge updates into them, keeping lifecycle fields set elsewhere.

        Raises StoreUnavailable (retry the batch) unless every alert was acknowledged or rejected.
        """
        pending = {str(a["alert_id"]): dict(a) for a in alerts}
        result = BulkResult()
        for _ in range(_CONFLICT_ROUNDS):
            stored = self.engine.get_many_versioned(IndexKind.alerts, list(pending))
            puts = [
                VersionedPut(alert_id, merge_alert(stored[alert_id][0], alert), stored[alert_id][1])
                if alert_id in stored
                else VersionedPut(alert_id, alert)
                for alert_id, alert in pending.items()
            ]
            outcome = self.engine.bulk_put_if(IndexKind.alerts, puts)
            result.written += outcome.written
            result.rejected += outcome.rejected
            pending = {alert_id: pending[alert_id] for alert_id in outcome.conflicts}
            if not pending:
                return result
        raise StoreUnavailable(f"{len(pending)} alerts kept changing under us; try again")

    def get(self, alert_id: str) -> dict[str, Any] | None:
        """The alert as of now (a real-time read by id), or None."""
        return self.engine.get(IndexKind.alerts, alert_id)

    def find(
        self,
        status: str | None = None,
        severity: str | None = None,
        rule: str | None = None,
        entity: str | None = None,
        size: int = 50,
    ) -> list[dict[str, Any]]:
        """Alerts, newest first, filtered by exact status, severity, rule and entity."""
        filters = [
            {"term": {name: value}}
            for name, value in (("status", status), ("severity", severity), ("rule", rule), ("entity", entity))
            if value
        ]
        query: dict[str, Any] = {"bool": {"filter": filters}} if filters else {"match_all": {}}
        hits = self.engine.hits(IndexKind.alerts, query, size=size, sort=[{"created_at": {"order": "desc"}}])
        return [h.source for h in hits]

    def update(
        self, alert_id: str, change: Callable[[dict[str, Any]], dict[str, Any]], *, visible: bool = True
    ) -> dict[str, Any]:
        """Apply ``change`` (current doc → partial doc; a None value removes the field) atomically, retrying on
        concurrent writes; searchable on return unless ``visible`` is False.

        Raises KeyError when there is no such alert; whatever ``change`` raises propagates.
        """
        for _ in range(_CONFLICT_ROUNDS):
            found = self.engine.get_versioned(IndexKind.alerts, alert_id)
            if found is None:
                raise KeyError(alert_id)
            doc, version = found
            doc = apply_change(doc, change(doc))
            try:
                self.engine.put(IndexKind.alerts, alert_id, doc, if_version=version, visible=visible)
            except VersionConflict:
                continue
            return doc
        raise StoreUnavailable(f"alert {alert_id} kept changing under us; try again")

    def record_delivery(self, alert_id: str, delivery: Mapping[str, Any]) -> None:
        """Append a sink delivery record to the alert (the last ``DELIVERIES_KEPT`` are kept)."""
        self.update(alert_id, lambda doc: with_delivery(doc, delivery), visible=False)

    def ack_delivery(self, alert_id: str, delivery: Mapping[str, Any], settled: Sequence[str]) -> None:
        """Record a delivery on the alert and drop the ``settled`` outbox entries, in one update."""
        self.update(alert_id, lambda doc: with_delivery(doc, delivery, settled), visible=False)

    def claim(self, alert_id: str, sinks: Sequence[str], lease: timedelta) -> list[str]:
        """Claim the alert's outbox entries of ``sinks`` for one delivery (``claim_change``): the sink names this
        caller delivers now; no one else does until they are acknowledged or the lease runs out."""
        got: list[str] = []

        def change(doc: dict[str, Any]) -> dict[str, Any]:
            claims, names = claim_change(doc, sinks, datetime.now(UTC), lease)
            got[:] = names
            return claims

        self.update(alert_id, change, visible=False)
        return got

    def pending(self, size: int = 500) -> list[dict[str, Any]]:
        """Alerts whose outbox is not empty (notifications still owed), as of now (searched, then read back in
        real time)."""
        self._map_added_fields()
        hits = self.engine.search(IndexKind.alerts, {"exists": {"field": "outbox"}}, size=size)
        docs = self.engine.get_many(IndexKind.alerts, [h["_id"] for h in hits]) if hits else {}
        return [d for d in docs.values() if d.get("outbox")]

    def statuses(self, alert_ids: Sequence[str]) -> dict[str, str]:
        """Alert id → its stored status."""
        if not alert_ids:
            return {}
        ids = {document_id(a): a for a in alert_ids}
        hits = self.engine.search(IndexKind.alerts, {"ids": {"values": list(ids)}}, size=len(ids))
        return {ids.get(h["_id"], h["_id"]): str(h.get("status", "new")) for h in hits}

    def _map_added_fields(self) -> None:
        """Indices made before ``outbox`` and ``last_seen`` were mapped lack them (adding fields is compatible)."""
        if not self._fields_mapped:
            self.engine.ensure_fields({IndexKind.alerts: {"outbox": KEYWORD, "last_seen": DATE}})
            self._fields_mapped = True

    def recent(self, since: datetime, size: int = 10_000) -> list[dict[str, Any]]:
        """Alerts raised, or whose latest post was seen, at or after ``since``, to restore dedupe state: an alert
        raised long ago whose burst goes on is still the one to update."""
        self._map_added_fields()
        when = since.isoformat()
        query = {
            "bool": {"should": [{"range": {"created_at": {"gte": when}}}, {"range": {"last_seen": {"gte": when}}}]}
        }
        return [h.source for h in self.engine.hits(IndexKind.alerts, query, size=size, sort=[{"created_at": "desc"}])]
