"""Analysts' cases in the store (``<prefix>-cases``, id = ``case_id``): create, read, list, and change one by a
conditional write, so concurrent changes are each applied once (see :mod:`flockwatch.cases`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flockwatch.store.documents import IndexKind, StoreUnavailable, VersionConflict
from flockwatch.store.engine import Engine

_CONFLICT_ROUNDS = 10


class CasesRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, case: dict[str, Any]) -> None:
        self.engine.put(IndexKind.cases, str(case["case_id"]), case)

    def get(self, case_id: str) -> dict[str, Any] | None:
        doc = self.engine.get(IndexKind.cases, case_id)
        return None if doc is None else {k: v for k, v in doc.items() if not k.startswith("_")}

    def recent(self, size: int = 50) -> list[dict[str, Any]]:
        """Cases, most recently changed first (without their items and notes: see :meth:`get`)."""
        return self.engine.search(
            IndexKind.cases,
            {"match_all": {}},
            size=size,
            sort=[{"updated_at": {"order": "desc", "unmapped_type": "date"}}],
            fields=["case_id", "name", "status", "created_by", "created_at", "updated_at"],
        )

    def update(self, case_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        """Apply ``change`` (stored case → changed fields) atomically, retrying on concurrent writes; KeyError when
        there is no such case; whatever ``change`` raises propagates."""
        for _ in range(_CONFLICT_ROUNDS):
            found = self.engine.get_versioned(IndexKind.cases, case_id)
            if found is None:
                raise KeyError(case_id)
            doc, version = found
            doc = {**{k: v for k, v in doc.items() if not k.startswith("_")}, **change(doc)}
            try:
                self.engine.put(IndexKind.cases, case_id, doc, if_version=version)
            except VersionConflict:
                continue
            return doc
        raise StoreUnavailable(f"case {case_id} kept changing under us; try again")
