"""An alert's evidence in words a person can act on (pure): what the alert is about, what its posts say, who
posted them, and what the media checks found.

An alert stores ids (``narrative:n-2b14…``, post keys, media hashes) and a one-line summary. An analyst deciding
on a takedown needs the narrative's text, the accounts behind the posts and each media verdict with the signals
that fired. :func:`alert_brief` builds that from documents the store already holds:

- ``alert``: an alert document (:class:`flockwatch.schema.Alert` as stored);
- ``narrative``: the narrative rollup document (``representative_text``, ``post_count``, ``account_count``,
  ``platforms``, ``labels``; :mod:`flockwatch.text.rollup`) or ``None``;
- ``posts``: stored post documents of the alert's ``post_keys`` (``key``, ``text``, ``author``, ``created_at``,
  ``url``, ``text_score``, ``media_by_url``: media key → :class:`flockwatch.schema.MediaScore` fields).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flockwatch.alerts.readable import describe_entity, one_line

MOST_POSTS = 10
MOST_ACCOUNTS = 10
MOST_MEDIA = 20
POST_CHARS = 280


def _score(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def evidence_sentence(evidence: Mapping[str, Any]) -> str:
    """``signal`` (score) on ``on``: ``detail`` — one :class:`flockwatch.schema.Evidence` as a sentence."""
    score = _score(evidence.get("score"))
    scored = f" ({score:.2f})" if score is not None else ""
    on = f" on {evidence['on']}" if evidence.get("on") else ""
    detail = f": {evidence['detail']}" if evidence.get("detail") else ""
    return f"{evidence.get('signal') or 'signal'}{scored}{on}{detail}"


def _account(post: Mapping[str, Any]) -> str | None:
    author = post.get("author") or {}
    if not isinstance(author, Mapping) or not post.get("platform") or not author.get("id"):
        return None
    return f"{post['platform']}:{author['id']}"


def provenance_sentence(provenance: Mapping[str, Any]) -> str | None:
    """What a C2PA (or other) provenance record says, in one line; ``None`` when there is none."""
    if not provenance:
        return None
    parts = [
        f"{k.replace('_', ' ')}: {one_line(str(v), 80)}"
        for k, v in sorted(provenance.items())
        if v not in (None, "", [], {})
    ]
    return "; ".join(parts) or None


def media_verdict(entry: Mapping[str, Any]) -> dict[str, Any]:
    """One media score as a panel: the score, the signals that fired (strongest first), observations (measured,
    not scored: lip sync), provenance, bank matches, or why it could not be scored."""
    score = _score(entry.get("manipulation_score"))
    signals = sorted(
        (s for s in entry.get("signals") or [] if isinstance(s, Mapping)),
        key=lambda s: -(_score(s.get("score")) or 0.0),
    )
    if entry.get("error"):
        verdict = f"not scored: {entry['error']}"
    elif score is None:
        verdict = "no manipulation score"
    elif signals:
        verdict = f"manipulation score {score:.2f}; strongest signal: {evidence_sentence(signals[0])}"
    else:
        verdict = f"manipulation score {score:.2f}"
    return {
        "media_url": entry.get("media_url"),
        "sha256": entry.get("sha256"),
        "media_kind": entry.get("media_kind"),
        "manipulation_score": score,
        "verdict": verdict,
        "signals": [evidence_sentence(s) for s in signals],
        # One line per part: a lip-sync observation says "face 1 ...; face 2 ...", and a cut must not drop a face.
        "observations": [
            one_line(f"{o.get('signal')}: {part}", 300)
            for o in entry.get("observations") or []
            if isinstance(o, Mapping)
            for part in str(o.get("detail") or "").split("; ")
        ],
        "provenance": provenance_sentence(entry.get("provenance") or {}),
        "matches": [
            one_line(str(m.get("verdict") or m.get("label") or m), 200)
            for m in entry.get("matches") or []
            if isinstance(m, Mapping)
        ],
    }


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def post_line(post: Mapping[str, Any], pseudonym: Callable[[str], str] | None = None) -> dict[str, Any]:
    """A post as one row: who, when, what it says (shortened), its machine-text and media scores. With
    ``pseudonym``, the account is shown through it and the handle left out."""
    account = _account(post)
    text_score = _mapping(post.get("text_score"))
    return {
        "post_key": post.get("key"),
        "account": account if account is None or pseudonym is None else pseudonym(account),
        "handle": _mapping(post.get("author")).get("handle") if pseudonym is None else None,
        "created_at": post.get("created_at"),
        "url": post.get("url"),
        "text": one_line(str(post.get("text") or ""), POST_CHARS),
        "machine_score": _score(text_score.get("machine_score")),
        "machine_label": text_score.get("label"),
        "media_risk": _score(post.get("media_risk")),
    }


def alert_brief(
    alert: Mapping[str, Any],
    narrative: Mapping[str, Any] | None,
    posts: Sequence[Mapping[str, Any]],
    pseudonym: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """The alert for a reader: ``headline``, ``about`` (the entity in words), ``evidence`` sentences, the
    ``narrative`` (text and counts), the ``accounts`` behind its posts (most posts first), its earliest ``posts``,
    the ``media`` verdicts of those posts and ``links`` (narrative, cluster, cascade ids) to look further.

    With ``pseudonym`` (for researchers) accounts (``platform:id``) are shown through it and handles left out."""
    texts: dict[str, str] = {}
    nid = alert.get("narrative_id") or (narrative or {}).get("narrative_id")
    if narrative and nid:
        texts[str(nid)] = str(narrative.get("representative_text") or "")
    about = describe_entity(str(alert.get("entity") or "-"), texts)
    earliest = sorted(posts, key=lambda p: (str(p.get("created_at") or ""), str(p.get("key") or "")))
    counts = Counter(a for p in earliest if (a := _account(p)) is not None)
    media = [
        {"post_key": p.get("key"), **media_verdict(entry)}
        for p in earliest
        for entry in (p.get("media_by_url") or {}).values()
        if isinstance(entry, Mapping)
    ]
    media.sort(key=lambda m: -(m["manipulation_score"] or 0.0))
    count = alert.get("post_count", len(alert.get("post_keys") or []))
    story = None
    if narrative:
        story = {
            "narrative_id": nid,
            "text": str(narrative.get("representative_text") or ""),
            "post_count": narrative.get("post_count"),
            "account_count": narrative.get("account_count"),
            "platforms": narrative.get("platforms") or {},
            "labels": narrative.get("labels") or {},
            "first_seen": narrative.get("first_seen"),
            "last_seen": narrative.get("last_seen"),
        }
    return {
        "headline": f"{alert.get('severity') or '?'} {alert.get('rule') or 'alert'}: {about} ({count} posts)",
        "about": about,
        "summary": alert.get("summary"),
        "evidence": [evidence_sentence(e) for e in alert.get("evidence") or [] if isinstance(e, Mapping)],
        "metrics": alert.get("metrics") or {},
        "narrative": story,
        "accounts": [
            {"account": a if pseudonym is None else pseudonym(a), "posts": n}
            for a, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MOST_ACCOUNTS]
        ],
        "posts": [post_line(p, pseudonym) for p in earliest[:MOST_POSTS]],
        "media": media[:MOST_MEDIA],
        "links": {
            "narrative_id": nid,
            **{k: alert.get(k) for k in ("cluster_id", "cascade_id", "watch_entity")},
        },
    }
