"""Media hash banks (issue 4): known fakes and fact-checked media, one document per banked item."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flockwatch.store.documents import BulkResult, IndexKind, Upsert
from flockwatch.store.engine import Engine


class BanksRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def put(self, bank: str, records: Sequence[Mapping[str, Any]]) -> BulkResult:
        """Upsert bank records (``flockwatch bank push``); the id makes re-pushing a bank idempotent."""
        upserts = [Upsert(IndexKind.media_bank, f"{bank}:{r['sha256']}", {**r, "bank": bank}, None) for r in records]
        result = self.engine.bulk_upsert(upserts)
        self.engine.refresh(IndexKind.media_bank)
        return result

    def items(self, bank: str | None = None, size: int = 10_000) -> list[dict[str, Any]]:
        """Every banked item (of one bank, or of all) for the media stage to match against."""
        query: dict[str, Any] = {"term": {"bank": bank}} if bank else {"match_all": {}}
        return self.engine.search(IndexKind.media_bank, query, size=size)
