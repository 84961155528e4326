"""Alert lifecycle: new → acknowledged → resolved (new → resolved is allowed; nothing leaves resolved).

A resolved alert is never reopened: if its entity keeps matching, the engine opens a new alert
(subject to the rule's suppression window). Every change is appended to the alert's ``history``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flockwatch.schema import AlertStatus

ALLOWED: dict[AlertStatus, frozenset[AlertStatus]] = {
    AlertStatus.new: frozenset({AlertStatus.acknowledged, AlertStatus.resolved}),
    AlertStatus.acknowledged: frozenset({AlertStatus.resolved}),
    AlertStatus.resolved: frozenset(),
}


class TransitionError(ValueError):
    """A status change the lifecycle does not allow."""


def parse_status(value: str) -> AlertStatus:
    try:
        return AlertStatus(value.strip().lower())
    except ValueError:
        known = ", ".join(s.value for s in AlertStatus)
        raise TransitionError(f"unknown status {value!r}; known: {known}") from None


def check_transition(current: str, target: AlertStatus) -> AlertStatus:
    cur = parse_status(current)
    if target not in ALLOWED[cur]:
        if cur == target:
            raise TransitionError(f"alert is already {cur.value}")
        allowed = ", ".join(sorted(s.value for s in ALLOWED[cur])) or "nothing (it is final)"
        raise TransitionError(f"cannot go from {cur.value} to {target.value}; from {cur.value} only: {allowed}")
    return cur


def transition(
    doc: dict[str, Any], target: AlertStatus, at: datetime, by: str | None, note: str | None
) -> dict[str, Any]:
    """The partial document that moves the alert ``doc`` to ``target`` (raises :class:`TransitionError`)."""
    cur = check_transition(str(doc.get("status", AlertStatus.new.value)), target)
    entry: dict[str, Any] = {"from": cur.value, "status": target.value, "at": at.isoformat()}
    if by:
        entry["by"] = by
    if note:
        entry["note"] = note
    history = list(doc.get("history") or [])
    history.append(entry)
    return {"status": target.value, "history": history, "updated_at": at.isoformat()}
