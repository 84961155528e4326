"""Alerts as the API shows them: the feed with each alert's entity in words, and one alert with its brief (the
narrative's text, the accounts, the media verdicts; :mod:`flockwatch.alerts.alert_brief`). An adapter: store
reads around the pure brief.

For researchers both are pseudonymised as exports are (:func:`flockwatch.exports.pseudonyms.items`): an
``author:platform:id`` entity or evidence names a pseudonym, and every text (summary, ``about``, the brief's
headline, evidence, posts) is scrubbed of the raw account keys and ``@handles`` the alert's posts and accounts
carry (a post rule's summary says ``by @handle``). An ``@handle`` left in the alert's own texts after that (its
post gone from the store, the account renamed since) is withheld: those texts name accounts only that way."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flockwatch.alerts.alert_brief import alert_brief, media_verdict
from flockwatch.alerts.readable import describe_entity, narrative_id, narrative_ids
from flockwatch.api.access import PSEUDONYM_PREFIX
from flockwatch.api.lookups import posts_by_key
from flockwatch.exports import pseudonyms
from flockwatch.store import Store
from flockwatch.store.documents import IndexKind

# Posts read for one brief: enough to rank the accounts behind an alert, few enough to answer at once.
BRIEF_POSTS = 200
# Posts read per alert of a researcher's feed, to learn the handles its texts name (a post rule's summary names the
# author of its first post).
FEED_POSTS = 3
# An @handle (``@name``, ``@name.bsky.social``, ``@name@mastodon.host``) that is not a pseudonym.
_HANDLE = re.compile(rf"(?<![\w@])@(?!{re.escape(PSEUDONYM_PREFIX)})[\w.@-]*\w")
WITHHELD = "@[withheld]"


def with_about(
    store: Store, alerts: Sequence[Mapping[str, Any]], pseudonym: Callable[[str], str] | None = None
) -> list[dict[str, Any]]:
    """Each alert plus ``about``: its entity in words (a narrative with what it says), one store read for all;
    pseudonymised with ``pseudonym`` (researchers)."""
    texts = store.rollups.narrative_texts(narrative_ids(alerts))
    shown = [{**a, "about": describe_entity(str(a.get("entity") or "-"), texts)} for a in alerts]
    if pseudonym is None:
        return shown
    posts = posts_by_key(store, [str(k) for a in alerts for k in (a.get("post_keys") or [])[:FEED_POSTS]])
    return _pseudonymised(store, {"alerts": shown}, posts, pseudonym)["alerts"]


def alert_view(store: Store, alert: Mapping[str, Any], pseudonym: Callable[[str], str] | None) -> dict[str, Any]:
    """``{"alert", "brief"}``: the stored alert and what its evidence says (:func:`alert_brief`)."""
    nid = alert.get("narrative_id") or narrative_id(str(alert.get("entity") or ""))
    narrative = store.engine.get(IndexKind.narratives, str(nid)) if nid else None
    posts = posts_by_key(store, [str(k) for k in (alert.get("post_keys") or [])[:BRIEF_POSTS]])
    view = {k: v for k, v in alert.items() if not k.startswith("_")}
    brief = alert_brief(view, narrative, posts, pseudonym)
    if pseudonym is None:
        return {"alert": view, "brief": brief}
    shown = _pseudonymised(store, {"alerts": [view], "briefs": [brief]}, posts, pseudonym)
    return {"alert": shown["alerts"][0], "brief": shown["briefs"][0]}


def _pseudonymised(
    store: Store,
    docs: Mapping[str, Sequence[Mapping[str, Any]]],
    posts: Sequence[Mapping[str, Any]],
    pseudonym: Callable[[str], str],
) -> dict[str, list[dict[str, Any]]]:
    """``docs`` as a researcher sees them, the scrubber taught by ``posts`` and by the accounts the alerts name
    (their handles, should the posts be gone)."""
    named = pseudonyms.alert_accounts(docs.get("alerts", ()))
    accounts = list(store.engine.get_many(IndexKind.accounts, named).values()) if named else []
    shown = pseudonyms.items(docs, pseudonym, learn_from={"posts": posts, "accounts": accounts})
    return {kind: [_handles_withheld(d) for d in values] for kind, values in shown.items()}


def _handles_withheld(doc: dict[str, Any]) -> dict[str, Any]:
    """An alert or brief with any @handle left in its own texts (not its posts') withheld."""

    def withheld(text: Any) -> Any:
        return _HANDLE.sub(WITHHELD, text) if isinstance(text, str) else text

    out = {k: withheld(doc[k]) if k in ("summary", "about", "headline") else v for k, v in doc.items()}
    if isinstance(out.get("evidence"), list):
        out["evidence"] = [
            {**e, "detail": withheld(e.get("detail"))} if isinstance(e, dict) else withheld(e) for e in out["evidence"]
        ]
    return out


def media_verdicts(post: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A stored post's media scores as verdict panels, strongest first."""
    scored = post.get("media_by_url") or {}
    entries = [e for e in scored.values() if isinstance(e, Mapping)] if isinstance(scored, Mapping) else []
    return sorted((media_verdict(e) for e in entries), key=lambda m: -(m["manipulation_score"] or 0.0))
