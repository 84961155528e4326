"""Reads of the graph stage's documents (issue 5): accounts' clusters, cascades by member, coordination edges
and the previous window's cluster snapshots. The stage writes them with ``Engine.bulk_upsert``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from itertools import islice
from typing import Any

from flockwatch.schema import document_id
from flockwatch.store.documents import IndexKind
from flockwatch.store.engine import Engine

# A merge chain (A merged into B, B into C...) is followed this far at most, by these reads and by the graph
# stage: a cycle, which the stage never writes, must not hang a read. Chains grow a hop per merge (a thread
# arriving newest first merges each fragment into its parent's), so this bounds a pathological thread only.
MERGE_HOPS = 1000


class GraphRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def account_clusters(self, author_keys: Sequence[str]) -> dict[str, list[str]]:
        """Author key (``platform:author_id``) → coordinated cluster ids, from the accounts index."""
        keys = sorted(set(author_keys))
        if not keys:
            return {}
        by_id = {document_id(k): k for k in keys}
        query = {
            "bool": {
                "should": [{"ids": {"values": list(by_id)}}, {"terms": {"key": keys}}],
                "filter": [{"exists": {"field": "cluster_ids"}}],
                "minimum_should_match": 1,
            }
        }
        hits = self.engine.search(IndexKind.accounts, query, size=len(keys))
        out: dict[str, list[str]] = {}
        for h in hits:
            ids = h.get("cluster_ids") or []
            key = h.get("key") or by_id.get(h["_id"], h["_id"])
            if ids:
                out[str(key)] = [str(c) for c in (ids if isinstance(ids, list) else [ids])]
        return out

    def cascades_by_member(self, keys: Sequence[str], chunk: int = 500) -> dict[str, str]:
        """Post key → id of the cascade whose ``members`` hold it (named queries say which key matched)."""
        out: dict[str, str] = {}
        for start in range(0, len(keys), chunk):
            part = list(keys[start : start + chunk])
            query = {"bool": {"should": [{"term": {"members": {"value": k, "_name": k}}} for k in part]}}
            # The id is hashed when the root key is long; the document says which cascade it is.
            for hit in self.engine.hits(IndexKind.cascades, query, size=len(part), fields=["cascade_id"]):
                for key in hit.matched:
                    out[key] = str(hit.source.get("cascade_id") or hit.id)
        return out

    def current_cascade(self, cascade_id: str) -> dict[str, Any] | None:
        """The stored cascade ``cascade_id`` is now part of: itself, or the one it merged into (followed through
        ``merged_into``); ``None`` when the store holds none."""
        doc = self.engine.get(IndexKind.cascades, cascade_id)
        for _ in range(MERGE_HOPS):
            if doc is None or not doc.get("merged_into"):
                return doc
            doc = self.engine.get(IndexKind.cascades, str(doc["merged_into"]))
        return None

    def merged_into(self, cascade_id: str, most: int = 1000) -> list[str]:
        """Ids of the cascades that merged into ``cascade_id``, directly or through one another (nearest first)."""
        found: list[str] = []
        frontier, seen = [cascade_id], {cascade_id}
        for _ in range(MERGE_HOPS):
            hits = self.engine.scan(IndexKind.cascades, {"terms": {"merged_into": frontier}}, [{"cascade_id": "asc"}])
            frontier = sorted({str(h.get("cascade_id") or h["_id"]) for h in islice(hits, most)} - seen)
            if not frontier:
                break
            seen.update(frontier)
            found += frontier
            if len(found) >= most:
                break
        return found[:most]

    def edges(
        self, start: datetime | None = None, end: datetime | None = None, kinds: Sequence[str] = ()
    ) -> Iterator[dict[str, Any]]:
        """Coordination edges with a co-action in ``[start, end)`` (by their first/last seen), by id."""
        filters: list[dict[str, Any]] = []
        if start is not None:
            filters.append({"range": {"last_seen": {"gte": start.isoformat()}}})
        if end is not None:
            filters.append({"range": {"first_seen": {"lt": end.isoformat()}}})
        if kinds:
            filters.append({"terms": {"kind": list(kinds)}})
        query: dict[str, Any] = {"bool": {"filter": filters}} if filters else {"match_all": {}}
        return self.engine.scan(IndexKind.coordination_edges, query, [{"edge_id": "asc"}])

    def window_clusters(self, end: datetime) -> dict[str, dict[str, Any]]:
        """The cluster snapshots of the window ending at ``end``: cluster id → doc."""
        docs = self.engine.scan(IndexKind.clusters, {"term": {"window_end": end.isoformat()}}, [{"cluster_id": "asc"}])
        return {str(d["cluster_id"]): d for d in docs}

    def clusters_holding(self, accounts: Sequence[str], chunk: int = 500) -> dict[str, list[dict[str, Any]]]:
        """Account key → every cluster snapshot whose ``accounts`` hold it (none: an empty list)."""
        out: dict[str, list[dict[str, Any]]] = {a: [] for a in accounts}
        keys = sorted(out)
        for start in range(0, len(keys), chunk):
            part = keys[start : start + chunk]
            sort = [{"window_end": "asc"}, {"cluster_id": "asc"}]  # unique per snapshot, as scan needs
            for doc in self.engine.scan(IndexKind.clusters, {"terms": {"accounts": part}}, sort):
                for account in set(doc.get("accounts") or []) & set(part):
                    out[account].append(doc)
        return out

    def previous_clusters(self, before: datetime) -> tuple[datetime | None, dict[str, dict[str, Any]]]:
        """The cluster snapshots of the latest window that ended before ``before``: (its end, id → doc)."""
        latest = self.engine.search(
            IndexKind.clusters,
            {"range": {"window_end": {"lt": before.isoformat()}}},
            size=1,
            sort=[{"window_end": {"order": "desc", "unmapped_type": "date"}}],
        )
        if not latest:
            return None, {}
        end = str(latest[0]["window_end"])
        docs = self.engine.scan(IndexKind.clusters, {"term": {"window_end": end}}, [{"cluster_id": "asc"}])
        when = datetime.fromisoformat(end.replace("Z", "+00:00"))
        return when, {str(d["cluster_id"]): d for d in docs}
