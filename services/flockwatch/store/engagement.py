"""Reads of engagement snapshots: a post's growth over time, and the trending pass's recent sightings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from flockwatch.store.documents import IndexKind
from flockwatch.store.engine import Engine


class EngagementRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def history(self, post_key: str, size: int = 1000) -> list[dict[str, Any]]:
        """A post's snapshots, oldest first (what a growth plot draws)."""
        query = {"term": {"post_key": post_key}}
        docs = self.engine.scan(IndexKind.engagement, query, [{"collected_at": "asc"}], min(size, 1000))
        return [{k: v for k, v in doc.items() if k != "_id"} for _, doc in zip(range(size), docs, strict=False)]

    def since(self, start: datetime, platform: str | None = None) -> Iterator[dict[str, Any]]:
        """Snapshots collected at or after ``start`` (of one platform), in time order."""
        filters: list[dict[str, Any]] = [{"range": {"collected_at": {"gte": start.isoformat()}}}]
        if platform:
            filters.append({"term": {"platform": platform}})
        query = {"bool": {"filter": filters}}
        for doc in self.engine.scan(IndexKind.engagement, query, [{"collected_at": "asc"}, {"post_key": "asc"}], 2000):
            yield {k: v for k, v in doc.items() if k != "_id"}
