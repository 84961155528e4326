"""Alerts in words a person can act on (pure): what an entity is, and the alerts feed as a text table.

An alert names its entity by id (``narrative:n-2b14fad1f9f83cad``, ``hashtag:#maga``, ``watch:trump``); a
narrative's id says nothing to a reader, so it is shown with its representative text (the earliest post of the
narrative, as the store's narrative rollup keeps it), shortened to one line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

EXCERPT_CHARS = 90
COLUMNS = (("ALERT", 18), ("STATUS", 12), ("SEVERITY", 8), ("RULE", 18), ("CREATED (UTC)", 16), ("POSTS", 5))


def one_line(text: str, limit: int = EXCERPT_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def narrative_id(entity: str) -> str | None:
    kind, sep, value = entity.partition(":")
    return value if sep and kind == "narrative" and value else None


def narrative_ids(alerts: Sequence[Mapping[str, Any]]) -> list[str]:
    """The narratives the alerts are about (to look their texts up once for all)."""
    return sorted({n for a in alerts if (n := narrative_id(str(a.get("entity") or ""))) is not None})


def describe_entity(entity: str, narrative_texts: Mapping[str, str]) -> str:
    """``entity`` as a reader understands it: a narrative with what it says, anything else as it is named."""
    nid = narrative_id(entity)
    if nid is not None and narrative_texts.get(nid):
        return f'narrative "{one_line(narrative_texts[nid])}" ({nid})'
    return entity


def _cell(value: object, width: int) -> str:
    text = one_line(str(value if value is not None else "-"), width)
    return text.ljust(width)


def alert_table(alerts: Sequence[Mapping[str, Any]], narrative_texts: Mapping[str, str]) -> str:
    """One line per alert (newest first, as given), then its entity and summary indented beneath it."""
    if not alerts:
        return "no alerts"
    header = "  ".join(name.ljust(width) for name, width in COLUMNS)
    lines = [header, "-" * len(header)]
    for alert in alerts:
        created = str(alert.get("created_at") or "")[:16].replace("T", " ")
        count = alert.get("post_count", len(alert.get("post_keys") or []))
        values = (
            alert.get("alert_id"),
            alert.get("status"),
            alert.get("severity"),
            alert.get("rule"),
            created or None,
            count,
        )
        lines.append("  ".join(_cell(v, w) for v, (_, w) in zip(values, COLUMNS, strict=True)).rstrip())
        lines.append(f"    {describe_entity(str(alert.get('entity') or '-'), narrative_texts)}")
        if alert.get("summary"):
            lines.append(f"    {one_line(str(alert['summary']), 200)}")
    return "\n".join(lines)
