"""The notification outbox: which sinks still owe an alert a delivery, kept on the stored alert.

At-least-once delivery: the stage writes an alert that needs notifying together with its ``outbox``
(one entry per sink, ``"<severity>:<sink name>"``) in the same store upsert, before the batch's input
offsets are committed. The sink thread removes an entry only after the sink acknowledged it (or
refused it for good), so a worker killed at any point leaves the entry behind, and the next worker
(or the next rescan of this one) delivers it. An escalation rewrites the outbox with entries at the
new severity; acknowledging a delivery at one severity settles the entries at that severity or below.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from flockwatch.alerts.rules import SEVERITIES, severity_rank
from flockwatch.schema import Alert

log = logging.getLogger(__name__)

FIELD = "outbox"  # on the stored alert document only; never part of the Alert message
# Outbox entry → until when a deliverer holds it (ISO time): who delivers it when a running alerts worker and a
# sweep (or two workers) read the same outbox; a deliverer that died lets its lease run out.
CLAIMS = "outbox_claims"


def stored_alert(doc: Mapping[str, Any]) -> Alert:
    """The alert of a stored document, without what only the store keeps (its outbox and claims)."""
    return Alert.model_validate({k: v for k, v in doc.items() if k not in ("_id", FIELD, CLAIMS)})


def entries(severity: str, sinks: Iterable[str]) -> list[str]:
    return [f"{severity}:{name}" for name in sinks]


def settled_by(severity: str, sink: str) -> list[str]:
    """The entries a delivery of the alert at ``severity`` to ``sink`` settles."""
    return [f"{s}:{sink}" for s in SEVERITIES if severity_rank(s) <= severity_rank(severity)]


def sink_of(entry: str) -> str:
    return entry.split(":", 1)[1] if ":" in entry else entry


def rank_of(entry: str) -> int:
    """The severity rank of an outbox entry (``"<severity>:<sink>"``)."""
    return severity_rank(entry.split(":", 1)[0])


def waiting(docs: Iterable[Mapping[str, Any]]) -> list[tuple[Alert, list[str]]]:
    """Stored alert documents with a non-empty outbox → (alert, names of the sinks it still owes)."""
    out = []
    for doc in docs:
        names = list(dict.fromkeys(sink_of(e) for e in doc.get(FIELD) or ()))
        if not names:
            continue
        try:
            alert = stored_alert(doc)
        except ValidationError:
            log.warning("alert outbox: skipping a malformed stored alert %s", doc.get("alert_id"))
            continue
        out.append((alert, names))
    return out


def covers(delivery: Mapping[str, Any], entry: str) -> bool:
    """Whether ``delivery`` (a recorded one) was of the alert at ``entry``'s severity or above; one recorded
    without its severity covers every entry of its sink."""
    severity = delivery.get("severity")
    if severity not in SEVERITIES:
        return True
    return severity_rank(str(severity)) >= rank_of(entry)


def highest_per_sink(entries: Iterable[str]) -> list[str]:
    """One entry per sink, at the highest severity any of ``entries`` owes it (a delivery settles the lower)."""
    best: dict[str, str] = {}
    for e in entries:
        sink = sink_of(e)
        if sink not in best or rank_of(e) > rank_of(best[sink]):
            best[sink] = e
    return list(best.values())


def unsent(entries: Iterable[str], deliveries: Iterable[Mapping[str, Any]]) -> list[str]:
    """The outbox ``entries`` no recorded delivery settled yet: a writer that escalates an alert another already
    escalated and delivered (the stream and a sweep) must not owe that delivery again."""
    done = [d for d in deliveries if (d.get("ok") or d.get("permanent")) and d.get("severity") in SEVERITIES]
    return [e for e in entries if not any(d.get("sink") == sink_of(e) and covers(d, e) for d in done)]


def with_outbox(doc: dict[str, Any], severity: str, sinks: Sequence[str]) -> dict[str, Any]:
    """The alert document carrying its outbox (written in the same upsert as the alert itself)."""
    return {**doc, FIELD: entries(severity, sinks)} if sinks else doc


def claim_change(
    doc: Mapping[str, Any], sinks: Sequence[str], now: datetime, lease: timedelta
) -> tuple[dict[str, Any], list[str]]:
    """The claims that give the caller, until ``now + lease``, the outbox entries of ``sinks`` no one holds (or
    whose lease ran out), and the names of the sinks it got. A sink with no entry left was delivered already: the
    caller skips it."""
    claims = dict(doc.get(CLAIMS) or {})
    got = []
    for entry in doc.get(FIELD) or []:
        held = claims.get(entry)
        if sink_of(entry) in sinks and (held is None or datetime.fromisoformat(held) <= now):
            claims[entry] = (now + lease).isoformat()
            got.append(sink_of(entry))
    return ({CLAIMS: claims} if got else {}), list(dict.fromkeys(got))
