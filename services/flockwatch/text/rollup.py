"""Narrative and account documents, recomputed from the post documents they rest on (pure).

Why recompute instead of adding deltas: the pipeline delivers at least once, so a batch can arrive twice;
a count kept as "old + this batch" would grow on every replay. Post documents are keyed by post key, so
the set of posts behind a narrative or an account is exactly what the store holds, however often a post
was written; a document derived from that set is the same after one delivery or ten. The store computes
the same summaries with aggregations (``flockwatch.store.rollups.RollupsRepository.narrative_summaries``);
:func:`summarize_posts` is the reference, in Python, that tests hold it to.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flockwatch.text.aggregate import PostScore, aggregate_accounts

ACCOUNT_SAMPLE = 20  # accounts listed in a narrative document (all are counted)
TOP_ENTITIES = 5  # hashtags and urls listed


@dataclass(frozen=True)
class NarrativeSummary:
    """What a narrative's post documents say, before it becomes a document."""

    narrative_id: str
    post_count: int
    first_seen: str | None
    last_seen: str | None
    platforms: dict[str, int]
    account_count: int
    accounts: list[str]  # account keys (platform:author id), most posts first
    labels: dict[str, int]  # text_score.label -> posts (machine / human / unscored)
    how: dict[str, int]  # narrative_how -> posts
    hashtags: list[str]
    urls: list[str]
    representative_text: str  # the earliest post's text: the narrative's id comes from its first member
    representative_key: str | None = None


def _top(counts: Counter[str], n: int) -> list[str]:
    return [k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def account_key(doc: Mapping[str, Any]) -> str | None:
    author = doc.get("author") or {}
    if not doc.get("platform") or not author.get("id"):
        return None
    return f"{doc['platform']}:{author['id']}"


def summarize_posts(docs: Iterable[Mapping[str, Any]]) -> dict[str, NarrativeSummary]:
    """Narrative id → summary over post documents (as stored: one per post key; repeats count once)."""
    by_key = {str(d["key"]): d for d in docs if d.get("narrative_id") and d.get("key")}
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for d in by_key.values():
        groups.setdefault(str(d["narrative_id"]), []).append(d)
    out = {}
    for nid, members in groups.items():
        times = sorted(str(d["created_at"]) for d in members if d.get("created_at"))
        accounts = Counter(k for d in members if (k := account_key(d)))
        first = min(members, key=lambda d: (str(d.get("created_at") or "~"), str(d["key"])))
        out[nid] = NarrativeSummary(
            narrative_id=nid,
            post_count=len(members),
            first_seen=times[0] if times else None,
            last_seen=times[-1] if times else None,
            platforms=dict(Counter(str(d["platform"]) for d in members if d.get("platform"))),
            account_count=len(accounts),
            accounts=_top(accounts, ACCOUNT_SAMPLE),
            labels=dict(Counter(str((d.get("text_score") or {}).get("label") or "pending") for d in members)),
            how=dict(Counter(str(d["narrative_how"]) for d in members if d.get("narrative_how"))),
            hashtags=_top(Counter(h.lower() for d in members for h in d.get("hashtags") or []), TOP_ENTITIES),
            urls=_top(Counter(u for d in members for u in d.get("urls") or []), TOP_ENTITIES),
            representative_text=str(first.get("text") or ""),
            representative_key=str(first["key"]),
        )
    return out


def narrative_document(s: NarrativeSummary) -> dict[str, Any]:
    """The narrative's store document (id = narrative id): counts, time span, who, and the machine-like share."""
    machine, human = s.labels.get("machine", 0), s.labels.get("human", 0)
    return {
        "narrative_id": s.narrative_id,
        "representative_text": s.representative_text[:1000],
        "representative_key": s.representative_key,
        "first_seen": s.first_seen,
        "last_seen": s.last_seen,
        "post_count": s.post_count,
        "platforms": dict(sorted(s.platforms.items())),
        "account_count": s.account_count,
        "accounts": list(s.accounts),
        "scored_posts": machine + human,
        "machine_posts": machine,
        # Of the posts the detector scored; unscored ones (no text of their own, not English) say nothing either way.
        "machine_share": machine / (machine + human) if machine + human else None,
        "joined_by": dict(sorted(s.how.items())),
        "hashtags": list(s.hashtags),
        "urls": list(s.urls),
    }


@dataclass(frozen=True)
class AccountPosts:
    """An account's most recent post documents (newest first, at most ``RECENT_POSTS``)."""

    key: str
    platform: str
    handle: str | None
    posts: Sequence[Mapping[str, Any]] = field(default_factory=list)


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


def account_document(account: AccountPosts, threshold: float) -> dict[str, Any]:
    """The text fields of an account's store document (id = ``platform:author id``).

    Fields are prefixed ``machine_`` so they merge with the graph stage's fields of the same document
    without ever overwriting them (``last_seen`` there is the graph's; ``machine_last_seen`` is the newest
    post this score rests on)."""
    scores = [
        PostScore(
            account.key,
            (d.get("text_score") or {}).get("machine_score"),  # absent until scored, and for unscored posts
            _when(d.get("created_at")),
        )
        for d in account.posts
    ]
    agg = aggregate_accounts(scores, threshold)[account.key] if scores else None
    newest = max((str(d["created_at"]) for d in account.posts if d.get("created_at")), default=None)
    doc: dict[str, Any] = {"key": account.key, "platform": account.platform}
    if account.handle:
        doc["handle"] = account.handle
    doc.update(
        {
            "machine_score": agg.machine_score if agg else None,
            "machine_share": agg.machine_share if agg else None,
            "machine_label": agg.label if agg else "insufficient",
            "machine_n_posts": agg.n_posts if agg else 0,
            "machine_n_scored": agg.n_scored if agg else 0,
            "machine_last_seen": newest,
            "machine_threshold": threshold,
            "machine_evidence": [e.model_dump() for e in agg.evidence] if agg else [],
        }
    )
    return doc
