"""Analysts' verdicts on cascades in the store (``<prefix>-verdicts``, id = the cascade's id): one per cascade, so
judging again replaces it and a retried request writes nothing twice (see :mod:`flockwatch.graph.verdicts`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from flockwatch.graph.verdicts import CascadeMerged, new_verdict
from flockwatch.store.documents import IndexKind
from flockwatch.store.engine import Engine
from flockwatch.store.graph import GraphRepository


class VerdictsRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def put(self, verdict: dict[str, Any]) -> None:
        self.engine.put(IndexKind.verdicts, str(verdict["cascade_id"]), verdict)

    def judge(self, cascade_id: str, verdict: str, by: str, note: str = "") -> dict[str, Any]:
        """Keep an analyst's verdict on a stored cascade and return it; KeyError when the store holds no such
        cascade, :class:`~flockwatch.graph.verdicts.VerdictError` when the verdict is refused
        (:class:`~flockwatch.graph.verdicts.CascadeMerged` when the cascade merged into another since)."""
        doc = self.engine.get(IndexKind.cascades, cascade_id)
        if doc is None:
            raise KeyError(cascade_id)
        if doc.get("merged_into"):
            now = GraphRepository(self.engine).current_cascade(cascade_id) or {}
            raise CascadeMerged(cascade_id, str(now.get("cascade_id") or doc["merged_into"]))
        judged = new_verdict(cascade_id, verdict, by, datetime.now(UTC), note)
        self.put(judged)
        return judged

    def get(self, cascade_id: str) -> dict[str, Any] | None:
        doc = self.engine.get(IndexKind.verdicts, cascade_id)
        return None if doc is None else _public(doc)

    def of_cascades(self, cascade_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The verdicts given on these cascades, in their order (those without one left out)."""
        found = self.engine.get_many(IndexKind.verdicts, list(cascade_ids))
        return [_public(found[c]) for c in cascade_ids if c in found]

    def withdraw(self, cascade_id: str) -> bool:
        """Delete the cascade's verdict; False if it had none."""
        return self.engine.delete(IndexKind.verdicts, cascade_id)

    def every(self) -> Iterator[dict[str, Any]]:
        """Every verdict, by cascade id."""
        for doc in self.engine.scan(IndexKind.verdicts, {"match_all": {}}, sort=[{"cascade_id": "asc"}]):
            yield _public(doc)


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_")}
