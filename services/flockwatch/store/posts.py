"""Reads of stored posts: by time, by key, an account's newest, analysts' queries and top values."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from flockwatch.schema import document_id
from flockwatch.store.documents import IndexKind, Search
from flockwatch.store.engine import Engine
from flockwatch.text.aggregate import RECENT_POSTS


class PostsRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored post (with its ``_id``), whatever its month; searched, so as of the last refresh."""
        hits = self.engine.search(IndexKind.posts, {"ids": {"values": [document_id(key)]}}, size=1)
        return hits[0] if hits else None

    def scan(self, start: datetime, end: datetime, page: int = 2000) -> Iterator[dict[str, Any]]:
        """Stored posts with ``start <= created_at < end`` in time order."""
        query = {"range": {"created_at": {"gte": start.isoformat(), "lt": end.isoformat()}}}
        for doc in self.engine.scan(IndexKind.posts, query, [{"created_at": "asc"}, {"key": "asc"}], page):
            yield {k: v for k, v in doc.items() if k != "_id"}

    def fields_of(self, posts: Mapping[str, datetime], fields: Sequence[str]) -> dict[str, dict[str, Any]]:
        """``fields`` of the stored posts among ``posts`` (key → created_at), read by id as of the last refresh (at
        most ``refresh_interval``, 1 s, behind the index stage): a real-time read of a just-written post makes the
        store refresh its shard, once per read."""
        return self.engine.get_many_at(IndexKind.posts, posts, fields, realtime=False)

    def refs(self, keys: Sequence[str], chunk: int = 5000) -> list[dict[str, Any]]:
        """Stored posts by key, only what rollups need: key, narrative id, platform, author id and handle, time, and
        the text score's label (whether the score was stored yet) and machine score (for the account's recent list)."""
        out: list[dict[str, Any]] = []
        fields = ["key", "narrative_id", "platform", "author.id", "author.handle", "created_at"]
        fields += ["text_score.label", "text_score.machine_score"]
        for start in range(0, len(keys), chunk):
            part = list(dict.fromkeys(keys[start : start + chunk]))
            hits = self.engine.hits(IndexKind.posts, {"terms": {"key": part}}, size=len(part), fields=fields)
            out.extend(hit.source for hit in hits)
        return out

    def recent_by_account(
        self, accounts: Sequence[tuple[str, str]], size: int = RECENT_POSTS, chunk: int = 200
    ) -> dict[str, list[dict[str, Any]]]:
        """(platform, author id) → its newest post documents (created_at, key, text_score), one multi-search per
        chunk, keyed ``platform:author_id``."""
        out: dict[str, list[dict[str, Any]]] = {}
        pairs = sorted(set(accounts))
        fields = ["key", "created_at", "text_score.machine_score", "text_score.label", "author.handle"]
        sort = [{"created_at": {"order": "desc"}}, {"key": {"order": "desc"}}]
        for start in range(0, len(pairs), chunk):
            part = pairs[start : start + chunk]
            searches = [
                Search(
                    {"bool": {"filter": [{"term": {"platform": platform}}, {"term": {"author.id": author_id}}]}},
                    size,
                    sort,
                    fields,
                )
                for platform, author_id in part
            ]
            results = self.engine.search_many(IndexKind.posts, searches)
            for (platform, author_id), hits in zip(part, results, strict=True):
                out[f"{platform}:{author_id}"] = [h.source for h in hits]
        return out

    def query_string(self, q: str, size: int = 10) -> list[dict[str, Any]]:
        """Lucene query-string search, newest first: what analysts type
        (`hashtags:maga AND author.category:RightTroll`)."""
        return self.engine.search(
            IndexKind.posts,
            {"query_string": {"query": q, "default_field": "text"}},
            size=size,
            sort=[{"created_at": {"order": "desc", "unmapped_type": "date"}}],
        )

    def top_values(self, field_name: str, size: int = 10) -> list[tuple[str, int]]:
        """Top values of a keyword field with their post counts: the first question about any campaign."""
        aggregations = self.engine.aggregate(IndexKind.posts, {"top": {"terms": {"field": field_name, "size": size}}})
        buckets = aggregations.get("top", {}).get("buckets", [])
        return [(b["key"], int(b["doc_count"])) for b in buckets]
