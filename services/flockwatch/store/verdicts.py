"""Analysts' verdicts on cascades in the store (``<prefix>-verdicts``, id = the cascade's id): one per cascade, so
judging again replaces it and a retried request writes nothing twice (see :mod:`flockwatch.graph.verdicts`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flockwatch.store.documents import IndexKind
from flockwatch.store.engine import Engine


class VerdictsRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def put(self, verdict: dict[str, Any]) -> None:
        self.engine.put(IndexKind.verdicts, str(verdict["cascade_id"]), verdict)

    def get(self, cascade_id: str) -> dict[str, Any] | None:
        doc = self.engine.get(IndexKind.verdicts, cascade_id)
        return None if doc is None else _public(doc)

    def withdraw(self, cascade_id: str) -> bool:
        """Delete the cascade's verdict; False if it had none."""
        return self.engine.delete(IndexKind.verdicts, cascade_id)

    def every(self) -> Iterator[dict[str, Any]]:
        """Every verdict, by cascade id."""
        for doc in self.engine.scan(IndexKind.verdicts, {"match_all": {}}, sort=[{"cascade_id": "asc"}]):
            yield _public(doc)


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_")}
