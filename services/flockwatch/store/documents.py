"""The store's plain types, the same for every engine: what stages and repositories exchange with it.

No engine library is imported here (nor by anything this imports), so a stage that needs these types never
loads a store client.

Document ids: a document is stored under ``flockwatch.schema.document_id(doc_id)`` (a long key is hashed,
never refused). Methods take and return the ids callers chose; a search result's ``_id`` (or
:attr:`Hit.id`) is the stored id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from flockwatch.messages import TransientError


class IndexKind(StrEnum):
    posts = "posts"
    accounts = "accounts"
    cascades = "cascades"
    narratives = "narratives"
    clusters = "clusters"
    alerts = "alerts"
    watchlists = "watchlists"
    coordination_edges = "coordination_edges"  # graph stage (issue 5)
    media_bank = "media_bank"  # hash banks of known fakes / fact-checked media (issue 4)
    engagement = "engagement"  # a live post's engagement counts each time a connector saw it (issue 12)
    cases = "cases"  # analysts' cases: items gathered as evidence, and notes (issue 13)
    verdicts = "verdicts"  # analysts' verdicts on cascades, which the account history learns from (issue 16)


# Kinds stored in monthly indices (by the document's time); every other kind has one fixed index.
TIME_BASED = {IndexKind.posts, IndexKind.engagement}


class StoreUnavailable(TransientError):
    """The store did not acknowledge a write; the caller must retry the whole batch later."""


class VersionConflict(Exception):
    """A conditional write lost to a concurrent one (the document changed since it was read)."""


class StoreRequestError(Exception):
    """The store refused a request for good (a malformed query, a mapping clash): retrying cannot help."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"store refused the request ({status}): {reason}")
        self.status, self.reason = status, reason


class StoreAccessDenied(StoreRequestError):
    """The store refused the configured credentials (401) or their rights (403)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(status, reason)
        self.args = (
            f"the store refused the credentials ({status}: {reason}); check FLOCKWATCH_STORE_API_KEY or "
            "FLOCKWATCH_STORE_USERNAME/FLOCKWATCH_STORE_PASSWORD and the rights they carry",
        )


class WrongStoreEngine(Exception):
    """The server is not the engine FLOCKWATCH_STORE_ENGINE names (an OpenSearch server for the Elasticsearch
    client, or the other way round)."""


# Opaque: what a read returned, for a conditional write (``Engine.put(..., if_version=...)``).
Version = tuple[int, int]


@dataclass(frozen=True)
class Upsert:
    """Merge ``doc`` into the document ``doc_id`` of ``kind``, creating it if missing.

    The store merges nested objects key by key, so an object written again keeps the keys it no longer has;
    ``replace`` names the dotted paths into ``doc`` whose stored value is dropped first, so they land whole."""

    kind: IndexKind
    doc_id: str
    doc: dict[str, Any]
    # Picks the monthly index for time-based kinds; ignored otherwise.
    time: datetime | None = None
    replace: tuple[str, ...] = ()

    def cleared(self) -> dict[str, Any]:
        """The partial document that sets each ``replace`` path to null (what the store writes first)."""
        out: dict[str, Any] = {}
        for path in self.replace:
            *parents, last = path.split(".")
            level = out
            for part in parents:
                level = level.setdefault(part, {})
            level[last] = None
        return out


@dataclass(frozen=True)
class VersionedPut:
    """Write ``doc`` whole as the document ``doc_id``, only if it is still as read at ``version``; with no
    ``version``, only if there is no such document yet."""

    doc_id: str
    doc: Mapping[str, Any]
    version: Version | None = None


@dataclass
class BulkResult:
    written: int = 0
    # (doc_id, reason) for documents the store rejected for good (mapping errors...).
    rejected: list[tuple[str, str]] = field(default_factory=list)
    # Ids whose conditional write (VersionedPut) lost to a concurrent one: read them again and retry.
    conflicts: list[str] = field(default_factory=list)


def rejected_upserts(upserts: Sequence[Upsert], result: BulkResult) -> list[tuple[Upsert, str]]:
    """The ``upserts`` that ``result`` says the store rejected for good, each with the reason."""
    reasons = dict(result.rejected)
    return [(u, reasons[u.doc_id]) for u in upserts if u.doc_id in reasons]


@dataclass(frozen=True)
class Hit:
    """One search result: the stored id, the (possibly filtered) source, the names of the named queries it
    matched, and the engine's per-hit fields (``_percolator_document_slot`` for a percolation)."""

    id: str
    source: dict[str, Any]
    matched: tuple[str, ...] = ()
    fields: Mapping[str, Any] = field(default_factory=dict)
    # The hit's sort values, when the search sorted: what ``after`` takes to continue past it.
    sort: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Search:
    """One search of a multi-search (:meth:`flockwatch.store.engine.Engine.search_many`)."""

    query: Mapping[str, Any]
    size: int = 10
    sort: Sequence[Any] = ()
    fields: Sequence[str] | None = None
    # Continue after the hit with these sort values (``search_after``; ``sort`` must then be unique).
    after: Sequence[Any] | None = None
