"""Alerts: upserts that never overwrite their lifecycle, reads, status changes, deliveries and the outbox.

Alerts are upserted by a script that keeps what is set elsewhere (status, history, deliveries, created_at);
the outbox (:mod:`flockwatch.alerts.outbox`) lists the sinks that still owe a delivery.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from flockwatch.schema import document_id
from flockwatch.store.documents import BulkResult, IndexKind, Script, ScriptUpsert, StoreUnavailable, VersionConflict
from flockwatch.store.engine import Engine
from flockwatch.store.mappings import KEYWORD

# What a later write of an alert never overwrites: its lifecycle, kept by the merge script.
LIFECYCLE_FIELDS = ["status", "history", "deliveries", "created_at"]
_ALERT_MERGE = """
for (entry in params.doc.entrySet()) {
  if (!params.keep.contains(entry.getKey()) || !ctx._source.containsKey(entry.getKey())) {
    ctx._source[entry.getKey()] = entry.getValue();
  }
}
"""
_SETTLE_OUTBOX = """
if (ctx._source.outbox != null) {
  ctx._source.outbox.removeIf(e -> params.settled.contains(e));
  if (ctx._source.outbox.isEmpty()) { ctx._source.remove('outbox'); }
}
"""
_APPEND_DELIVERY = """
if (ctx._source.deliveries == null) { ctx._source.deliveries = []; }
ctx._source.deliveries.add(params.d);
while (ctx._source.deliveries.size() > 50) { ctx._source.deliveries.remove(0); }
"""


class AlertsRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._outbox_mapped = False  # set once the alerts index is known to map `outbox`

    def upsert(self, alerts: Sequence[Mapping[str, Any]]) -> BulkResult:
        """Create alerts or merge updates into them, keeping lifecycle fields set elsewhere.

        Raises StoreUnavailable (retry the batch) unless every alert was acknowledged or rejected.
        """
        items = [
            ScriptUpsert(str(a["alert_id"]), Script(_ALERT_MERGE, {"doc": dict(a), "keep": LIFECYCLE_FIELDS}), dict(a))
            for a in alerts
        ]
        return self.engine.bulk_script_upsert(IndexKind.alerts, items)

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

    def update(self, alert_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        """Apply ``change`` (current doc → partial doc) atomically, retrying on concurrent writes.

        Raises KeyError when there is no such alert; whatever ``change`` raises propagates.
        """
        for _ in range(10):
            found = self.engine.get_versioned(IndexKind.alerts, alert_id)
            if found is None:
                raise KeyError(alert_id)
            doc, version = found
            doc.update(change(doc))
            try:
                self.engine.put(IndexKind.alerts, alert_id, doc, if_version=version)
            except VersionConflict:
                continue
            return doc
        raise StoreUnavailable(f"alert {alert_id} kept changing under us; try again")

    def record_delivery(self, alert_id: str, delivery: Mapping[str, Any]) -> None:
        """Append a sink delivery record to the alert (the last 50 are kept)."""
        self.engine.update_script(IndexKind.alerts, alert_id, Script(_APPEND_DELIVERY, {"d": dict(delivery)}))

    def ack_delivery(self, alert_id: str, delivery: Mapping[str, Any], settled: Sequence[str]) -> None:
        """Record a delivery on the alert and drop the ``settled`` outbox entries, in one update."""
        script = Script(_APPEND_DELIVERY + _SETTLE_OUTBOX, {"d": dict(delivery), "settled": list(settled)})
        self.engine.update_script(IndexKind.alerts, alert_id, script)

    def pending(self, size: int = 500) -> list[dict[str, Any]]:
        """Alerts whose outbox is not empty (notifications still owed), as of now (searched, then read back in
        real time)."""
        if not self._outbox_mapped:  # indices made before the outbox existed lack the field
            self.engine.ensure_fields({IndexKind.alerts: {"outbox": KEYWORD}})
            self._outbox_mapped = True
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

    def recent(self, since: datetime, size: int = 10_000) -> list[dict[str, Any]]:
        """Alerts whose posts were seen at or after ``since`` (event time), to restore dedupe state."""
        query = {"bool": {"should": [{"range": {"created_at": {"gte": since.isoformat()}}}]}}
        return [h.source for h in self.engine.hits(IndexKind.alerts, query, size=size, sort=[{"created_at": "desc"}])]
