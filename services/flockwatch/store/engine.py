"""What the repositories need of a search engine: generic document operations over plain Python types.

An engine names the indices (``<prefix>-<kind>`` aliases; monthly indices for time-based kinds), applies the
mappings, and runs requests; it maps its client's errors to the plain ones of
:mod:`flockwatch.store.documents`: connection trouble and overload become ``StoreUnavailable`` (retry later), a
lost conditional write ``VersionConflict``, a missing document ``None``/``False``/``KeyError`` as each method
says. Any other engine error (a malformed request) propagates as the engine raised it.

Queries, sorts and aggregations are the query DSL as plain dicts, which OpenSearch and Elasticsearch share; no
scripts (the local Elasticsearch node has no Painless): a write that depends on the stored document reads it and
writes it back conditionally (``get_many_versioned`` then ``bulk_put_if``).
Document ids follow :mod:`flockwatch.store.documents` (stored under ``document_id``; ``_id`` in results).
The implementation is :class:`flockwatch.store.engines.rest.RestEngine`, over either engine's client.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from flockwatch.store.documents import BulkResult, Hit, IndexKind, Search, Upsert, Version, VersionedPut


class Engine(Protocol):
    # --- names and schema ------------------------------------------------------------------------------

    def alias(self, kind: IndexKind) -> str:
        """The name every read of ``kind`` goes through."""
        ...

    def index_for(self, kind: IndexKind, when: datetime | None) -> str:
        """The index a document of ``kind`` (of time ``when``, for time-based kinds) is written to."""
        ...

    def ensure_schema(self) -> None:
        """Create the index templates (with their aliases) and the fixed indices. Safe to repeat."""
        ...

    def ensure_fields(self, fields: Mapping[IndexKind, Mapping[str, Any]]) -> None:
        """Add mapped fields to the existing fixed index of each kind (created before they existed)."""
        ...

    def drop_all(self) -> None:
        """Delete every index and template of this prefix (tests and `demo --fresh`)."""
        ...

    def healthy(self, timeout_s: float = 5.0) -> bool:
        """Whether the cluster answers its health as green or yellow within ``timeout_s``."""
        ...

    # --- writes -----------------------------------------------------------------------------------------

    def bulk_upsert(self, upserts: Sequence[Upsert]) -> BulkResult:
        """Merge each document into its stored one (created if missing); ``StoreUnavailable`` unless every one
        was acknowledged or rejected for good."""
        ...

    def bulk_put_if(self, kind: IndexKind, puts: Sequence[VersionedPut]) -> BulkResult:
        """Conditional whole-document writes (not waiting for visibility); the ids whose document changed since
        it was read (or appeared, for a ``version`` of None) are ``conflicts``; otherwise as ``bulk_upsert``."""
        ...

    def bulk_put(self, kind: IndexKind, docs: Sequence[tuple[str, Mapping[str, Any]]]) -> BulkResult:
        """Create or replace whole documents ``(doc_id, doc)``, visible to searches on return."""
        ...

    def put(
        self,
        kind: IndexKind,
        doc_id: str,
        doc: Mapping[str, Any],
        *,
        if_version: Version | None = None,
        visible: bool = True,
    ) -> None:
        """Create or replace one document (visible to searches on return unless ``visible`` is False);
        ``VersionConflict`` if ``if_version`` is given and the document changed since it was read with it."""
        ...

    def delete(self, kind: IndexKind, doc_id: str) -> bool:
        """Delete the document, visible on return; False if there was none."""
        ...

    def refresh(self, kind: IndexKind | None = None) -> None:
        """Make what was acknowledged visible to searches (of ``kind``, or of every kind)."""
        ...

    # --- reads by id (real time) --------------------------------------------------------------------------

    def get(self, kind: IndexKind, doc_id: str, when: datetime | None = None) -> dict[str, Any] | None:
        """The stored document (its index picked as ``index_for(kind, when)``), or None."""
        ...

    def get_versioned(self, kind: IndexKind, doc_id: str) -> tuple[dict[str, Any], Version] | None:
        """The stored document of a fixed kind with its version (for a conditional ``put``), or None."""
        ...

    def get_many(self, kind: IndexKind, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Documents of a fixed kind by id; missing ids are absent from the result."""
        ...

    def get_many_versioned(self, kind: IndexKind, ids: Sequence[str]) -> dict[str, tuple[dict[str, Any], Version]]:
        """As :meth:`get_many`, each document with its version (for ``bulk_put_if``)."""
        ...

    def get_many_at(
        self, kind: IndexKind, ids: Mapping[str, datetime], fields: Sequence[str] | None = None, realtime: bool = True
    ) -> dict[str, dict[str, Any]]:
        """Documents by id, each read from ``index_for(kind, time)`` (only ``fields`` of their source when given);
        missing ids are absent from the result. ``realtime=False`` reads as of the last refresh: a real-time read
        of a document changed since makes the store refresh its shard."""
        ...

    # --- searches (near real time: what was refreshed) ----------------------------------------------------

    def count(self, kind: IndexKind, query: Mapping[str, Any] | None = None) -> int: ...

    def search(
        self,
        kind: IndexKind,
        query: Mapping[str, Any],
        size: int = 10,
        sort: Sequence[Any] | None = None,
        fields: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Matching documents (only ``fields`` of them if given), each with its stored id as ``_id``."""
        ...

    def hits(
        self,
        kind: IndexKind,
        query: Mapping[str, Any],
        size: int = 10,
        sort: Sequence[Any] | None = None,
        fields: Sequence[str] | None = None,
        after: Sequence[Any] | None = None,
    ) -> list[Hit]:
        """As :meth:`search`, with each hit's matched named queries, per-hit fields and sort values; ``after``: the
        sort values of the last hit of the page before (a page cursor; ``sort`` must be unique)."""
        ...

    def search_many(self, kind: IndexKind, searches: Sequence[Search]) -> list[list[Hit]]:
        """Several searches in one request, their hits in order."""
        ...

    def scan(
        self, kind: IndexKind, query: Mapping[str, Any], sort: Sequence[Any], page: int = 1000
    ) -> Iterator[dict[str, Any]]:
        """Every matching document (with ``_id``), paged in ``sort`` order (which must be unique)."""
        ...

    def aggregate(
        self, kind: IndexKind, aggs: Mapping[str, Any], query: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The aggregations' results over the matching documents; empty when nothing of ``kind`` is stored."""
        ...
