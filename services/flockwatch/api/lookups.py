"""The store reads behind the API's views and the plot command: a post search, a post's cascade, a narrative's
volume and earliest posts, a cluster's windows and edges, posts by key (an adapter over
:class:`flockwatch.store.Store`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flockwatch.api.post_query import SORT, PostSearch, post_query
from flockwatch.store import Store
from flockwatch.store.documents import Hit, IndexKind

MAX_POSTS = 5000
PAGE = 1000


def search_hits(store: Store, search: PostSearch, limit: int, after: Sequence[Any] | None = None) -> list[Hit]:
    """Up to ``limit`` posts of ``search``, newest first (``SORT``), after the sort values ``after`` (a page
    cursor), read ``PAGE`` at a time by ``search_after``. The asked clusters are looked up once, as their members'
    account keys (:func:`~flockwatch.api.post_query.post_query` filters on those)."""
    members = cluster_members(store, search.clusters) if search.clusters else None
    query = post_query(search, members)
    out: list[Hit] = []
    while len(out) < limit:
        size = min(PAGE, limit - len(out))
        hits = store.engine.hits(IndexKind.posts, query, size=size, sort=SORT, after=after)
        out += hits
        if len(hits) < size or not hits[-1].sort:  # a short page is the last one
            break
        after = list(hits[-1].sort)
    return out


def cascade_of(store: Store, post_key: str) -> dict[str, Any] | None:
    """The cascade holding ``post_key`` (following merges), or ``None``."""
    cascade_id = store.graph.cascades_by_member([post_key]).get(post_key)
    return None if cascade_id is None else store.graph.current_cascade(cascade_id)


def oldest_first() -> list[dict[str, Any]]:
    return [{name: {**order, "order": "asc"}} for clause in SORT for name, order in clause.items()]


def narrative_volume(store: Store, narrative_id: str, interval: str = "day") -> list[dict[str, Any]]:
    """Posts of the narrative per ``interval`` (hour, day, week): ``[{"at", "posts"}]``."""
    member = {"term": {"narrative_id": narrative_id}}
    aggs = {"volume": {"date_histogram": {"field": "created_at", "calendar_interval": interval}}}
    buckets = store.engine.aggregate(IndexKind.posts, aggs, member).get("volume", {}).get("buckets", [])
    return [{"at": b["key_as_string"], "posts": int(b["doc_count"])} for b in buckets]


def earliest_posts(store: Store, narrative_id: str, size: int = 10) -> list[dict[str, Any]]:
    hits = store.engine.hits(IndexKind.posts, {"term": {"narrative_id": narrative_id}}, size=size, sort=oldest_first())
    return [h.source for h in hits]


def cluster_windows(store: Store, cluster_id: str, most: int = 200) -> list[dict[str, Any]]:
    """The cluster's snapshots, one per graph window (documents ``<id>@<window>``), oldest first."""
    return store.engine.search(
        IndexKind.clusters,
        {"term": {"cluster_id": cluster_id}},
        size=most,
        sort=[{"window_end": {"order": "asc", "unmapped_type": "date"}}],
    )


def cluster_members(store: Store, cluster_ids: Sequence[str]) -> list[str]:
    return sorted({str(a) for cid in cluster_ids for w in cluster_windows(store, cid) for a in w.get("accounts") or []})


def cluster_parts(store: Store, cluster_id: str, most_edges: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The cluster as one snapshot (its latest window, with the accounts of every window) and the coordination
    edges between those accounts; ``LookupError`` for an unknown cluster."""
    windows = cluster_windows(store, cluster_id)
    if not windows:
        raise LookupError(f"no cluster {cluster_id}")
    members = sorted({str(a) for w in windows for a in w.get("accounts") or []})
    return {**windows[-1], "accounts": members}, edges_between(store, members, most_edges)


def edges_between(store: Store, members: Sequence[str], most: int) -> list[dict[str, Any]]:
    """Coordination edges with both ends among ``members`` (at most ``most``)."""
    if not members or most == 0:
        return []
    some = list(members)[:5000]
    query = {"bool": {"filter": [{"terms": {"source": some}}, {"terms": {"target": some}}]}}
    return store.engine.search(IndexKind.coordination_edges, query, size=most, sort=[{"edge_id": "asc"}])


def posts_by_key(store: Store, keys: Sequence[str]) -> list[dict[str, Any]]:
    """Whole stored posts of ``keys`` (the first ``MAX_POSTS``): text, authors and scores for a plot."""
    wanted = list(dict.fromkeys(keys))[:MAX_POSTS]
    if not wanted:
        return []
    return [h.source for h in store.engine.hits(IndexKind.posts, {"terms": {"key": wanted}}, size=len(wanted))]
