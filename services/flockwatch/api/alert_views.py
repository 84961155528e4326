"""Alerts as the API shows them: the feed with each alert's entity in words, and one alert with its brief (the
narrative's text, the accounts, the media verdicts; :mod:`flockwatch.alerts.alert_brief`). An adapter: store
reads around the pure brief."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flockwatch.alerts.alert_brief import alert_brief, media_verdict
from flockwatch.alerts.readable import describe_entity, narrative_id, narrative_ids
from flockwatch.api.lookups import posts_by_key
from flockwatch.store import Store
from flockwatch.store.documents import IndexKind

# Posts read for one brief: enough to rank the accounts behind an alert, few enough to answer at once.
BRIEF_POSTS = 200


def with_about(store: Store, alerts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each alert plus ``about``: its entity in words (a narrative with what it says), one store read for all."""
    texts = store.rollups.narrative_texts(narrative_ids(alerts))
    return [{**a, "about": describe_entity(str(a.get("entity") or "-"), texts)} for a in alerts]


def alert_view(store: Store, alert: Mapping[str, Any], pseudonym: Callable[[str], str] | None) -> dict[str, Any]:
    """``{"alert", "brief"}``: the stored alert and what its evidence says (:func:`alert_brief`)."""
    nid = alert.get("narrative_id") or narrative_id(str(alert.get("entity") or ""))
    narrative = store.engine.get(IndexKind.narratives, str(nid)) if nid else None
    posts = posts_by_key(store, [str(k) for k in (alert.get("post_keys") or [])[:BRIEF_POSTS]])
    view = {k: v for k, v in alert.items() if not k.startswith("_")}
    return {"alert": view, "brief": alert_brief(view, narrative, posts, pseudonym)}


def media_verdicts(post: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A stored post's media scores as verdict panels, strongest first."""
    scored = post.get("media_by_url") or {}
    entries = [e for e in scored.values() if isinstance(e, Mapping)] if isinstance(scored, Mapping) else []
    return sorted((media_verdict(e) for e in entries), key=lambda m: -(m["manipulation_score"] or 0.0))
