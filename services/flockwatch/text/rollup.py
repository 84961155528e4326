"""Narrative and account documents, recomputed from the post documents they rest on (pure).

Why recompute instead of adding deltas: the pipeline delivers at least once, so a batch can arrive twice;
a count kept as "old + this batch" would grow on every replay. Post documents are keyed by post key, so
the set of posts behind a narrative or an account is exactly what the store holds, however often a post
was written; a document derived from that set is the same after one delivery or ten. The store computes
the same summaries with aggregations (``flockwatch.store.rollups.RollupsRepository.narrative_summaries``);
:func:`summarize_posts` is the reference, in Python, that tests hold it to.

An account's document rests on its newest :data:`RECENT_POSTS` posts, and it keeps them (``machine_recent``,
compact entries) so the rollups stage can update it from a batch alone instead of searching the account's posts
for every batch: :func:`merge_recent` is a top-k of a union keyed by post key, so it stays as exact as the
recomputation (see its doc).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flockwatch.text.aggregate import RECENT_POSTS, PostScore, aggregate_accounts

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
        # Of the posts the detector labelled (the model, or a decisive rule on a post the model cannot score);
        # unscored ones (no text of their own, not English) say nothing either way.
        "machine_share": machine / (machine + human) if machine + human else None,
        "joined_by": dict(sorted(s.how.items())),
        "hashtags": list(s.hashtags),
        "urls": list(s.urls),
    }


@dataclass(frozen=True)
class AccountPosts:
    """An account's most recent post documents or their :func:`recent_entry` (newest first, at most
    ``RECENT_POSTS``)."""

    key: str
    platform: str
    handle: str | None
    posts: Sequence[Mapping[str, Any]] = field(default_factory=list)


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def recent_entry(post: Mapping[str, Any]) -> dict[str, Any]:
    """What an account's document needs of one of its posts: key, time, and text score (machine score and label,
    if stored yet). A post document reduced; an entry is its own entry."""
    entry: dict[str, Any] = {"key": str(post["key"])}
    if post.get("created_at"):
        entry["created_at"] = post["created_at"]
    score = post.get("text_score") or {}
    kept = {name: score[name] for name in ("machine_score", "label") if score.get(name) is not None}
    if kept:
        entry["text_score"] = kept
    return entry


def _recency(entry: Mapping[str, Any]) -> tuple[bool, int, str]:
    """The store's order of an account's posts, ascending: ``created_at`` as a date (the store keeps milliseconds;
    a time without a zone is UTC), then key; posts without a time before all others."""
    when = _when(entry.get("created_at"))
    if when is None:
        return (False, 0, str(entry["key"]))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (True, (when - _EPOCH) // _MS, str(entry["key"]))


def merge_recent(
    stored: Iterable[Mapping[str, Any]], posts: Iterable[Mapping[str, Any]], size: int = RECENT_POSTS
) -> list[dict[str, Any]]:
    """The newest ``size`` of an account's ``stored`` recent entries and a batch's ``posts`` (post documents or
    entries), as :func:`recent_entry` entries, newest first exactly as the store's search orders them
    (``PostsRepository.recent_by_account``: ``created_at`` descending, then key descending, timeless last).

    One entry per post key, ``posts`` winning (a batch reads its posts after the list was written, so it
    has the newer text score). A post's place in the order is fixed by its key and time, so this is a top-k of a
    set union: associative and commutative. Folding batches in any split, in any order, with redeliveries,
    gives the newest ``size`` of all their posts: the same list whatever the batch boundaries or which worker
    wrote first."""
    by_key = {str(e["key"]): recent_entry(e) for e in stored}
    by_key.update((str(p["key"]), recent_entry(p)) for p in posts)
    return sorted(by_key.values(), key=_recency, reverse=True)[:size]


def account_document(account: AccountPosts, threshold: float) -> dict[str, Any]:
    """The text fields of an account's store document (id = ``platform:author id``), over its newest posts
    (``account.posts``, normalised by :func:`merge_recent`), which it keeps as ``machine_recent``.

    Fields are prefixed ``machine_`` so they merge with the graph stage's fields of the same document
    without ever overwriting them (``last_seen`` there is the graph's; ``machine_last_seen`` is the newest
    post this score rests on)."""
    recent = merge_recent((), account.posts)
    scores = [
        PostScore(
            account.key,
            (d.get("text_score") or {}).get("machine_score"),  # None until scored, and for unscored posts
            _when(d.get("created_at")),
        )
        for d in recent
    ]
    agg = aggregate_accounts(scores, threshold)[account.key] if scores else None
    newest = max((str(d["created_at"]) for d in recent if d.get("created_at")), default=None)
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
            # What the fields above rest on: the next batch merges into it (merge_recent).
            "machine_recent": recent,
        }
    )
    return doc
