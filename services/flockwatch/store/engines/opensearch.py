"""The OpenSearch engine (the Apache-2.0 fork of Elasticsearch, same REST API), over opensearch-py.

Every call to opensearch-py lives here (with the request timeouts of :mod:`flockwatch.store.timeouts`); the
repositories speak :class:`~flockwatch.store.engine.Engine` and never see a client or an engine error.

Layout:
- ``<prefix>-posts-YYYY.MM``: posts in monthly indices (by ``created_at``), read
  through the alias ``<prefix>-posts``. A post's month never changes, so its
  document id (the post key) always lands in the same index: writes are idempotent.
- ``<prefix>-<kind>-000001`` for every other kind, reached through the alias ``<prefix>-<kind>`` so it can be
  rolled over later.
Every write is an upsert (``doc_as_upsert``): a score that arrives before its post
merges with it instead of being overwritten.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConflictError, ConnectionTimeout, NotFoundError, TransportError
from opensearchpy.exceptions import ConnectionError as OSConnectionError

from flockwatch.adapters.client_security import opensearch_client_args
from flockwatch.config import Settings
from flockwatch.schema import document_id
from flockwatch.store.documents import (
    TIME_BASED,
    BulkResult,
    Hit,
    IndexKind,
    Script,
    ScriptUpsert,
    Search,
    StoreUnavailable,
    Upsert,
    Version,
    VersionConflict,
)
from flockwatch.store.engine import Engine
from flockwatch.store.mappings import MAPPINGS
from flockwatch.store.timeouts import BackoffTimeout, BackoffTimeoutTransport

# Engine errors that mean "try again later", as opposed to "this document is bad".
_TRANSIENT_STATUS = {429, 502, 503, 504}
_LENIENT = {"ignore_unavailable": "true"}


class OpenSearchEngine:
    """:class:`~flockwatch.store.engine.Engine` on an OpenSearch cluster, for the indices of one prefix."""

    def __init__(self, settings: Settings, timeout_s: float | None = None) -> None:
        """``timeout_s`` fixes the first request timeout (tests); by default it comes from the settings."""
        self.prefix = settings.index_prefix
        first = timeout_s if timeout_s is not None else settings.store_timeout_s
        self.timeouts = BackoffTimeout(first, max(first, settings.store_max_timeout_s))
        self.client = OpenSearch(
            # hosts, TLS verification against the configured CA, and the API key or user/password.
            **opensearch_client_args(settings),
            transport_class=BackoffTimeoutTransport,
            backoff=self.timeouts,
            # Retries are the caller's job (whole batches, with backoff); a hidden retry
            # inside the client would only stretch an outage's first failure.
            max_retries=0,
            http_compress=False,
        )

    # --- names -----------------------------------------------------------------------------------

    def alias(self, kind: IndexKind) -> str:
        return f"{self.prefix}-{kind.value}"

    def index_for(self, kind: IndexKind, when: datetime | None) -> str:
        if kind in TIME_BASED:
            when = (when or datetime.now(UTC)).astimezone(UTC)
            return f"{self.alias(kind)}-{when:%Y.%m}"
        return f"{self.alias(kind)}-000001"

    # --- schema ----------------------------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create index templates (with read aliases) and the fixed indices. Safe to repeat."""
        for kind, mapping in MAPPINGS.items():
            alias = self.alias(kind)
            self.client.indices.put_index_template(
                name=alias,
                body={
                    "index_patterns": [f"{alias}-*"],
                    "template": {
                        "settings": {
                            "number_of_shards": 1,
                            "number_of_replicas": 0,
                            # Bulk replays beat near-real-time search on 2 cores.
                            "refresh_interval": "1s",
                        },
                        "mappings": mapping,
                        "aliases": {alias: {}},
                    },
                },
            )
            if kind not in TIME_BASED:
                index = self.index_for(kind, None)
                if not self.client.indices.exists(index=index):
                    try:
                        self.client.indices.create(index=index)
                    except TransportError as exc:
                        if "resource_already_exists" not in str(exc):
                            raise

    def ensure_fields(self, fields: Mapping[IndexKind, Mapping[str, Any]]) -> None:
        """Add fields to indices created before they existed (adding fields is compatible)."""
        for kind, properties in fields.items():
            index = self.index_for(kind, None)
            if self.client.indices.exists(index=index):
                body = {"properties": dict(properties)}
                self._call(partial(self.client.indices.put_mapping, index=index, body=body))

    def drop_all(self) -> None:
        """Delete every index and template of this prefix (tests and `demo --fresh`)."""
        # By explicit names: the store refuses wildcard deletes (action.destructive_requires_name).
        names = sorted(self.client.indices.get(index=f"{self.prefix}-*", expand_wildcards="all"))
        for start in range(0, len(names), 50):  # a bounded URL per request
            self.client.indices.delete(index=",".join(names[start : start + 50]), ignore_unavailable=True)
        for kind in IndexKind:
            if self.client.indices.exists_index_template(name=self.alias(kind)):
                self.client.indices.delete_index_template(name=self.alias(kind))

    def healthy(self) -> bool:
        try:
            health = self.client.cluster.health(request_timeout=5)
        except (OSConnectionError, ConnectionTimeout, TransportError):
            return False
        return health.get("status") in ("green", "yellow")

    # --- writes ----------------------------------------------------------------------------------

    def bulk_upsert(self, upserts: Sequence[Upsert]) -> BulkResult:
        """Write a batch; raise StoreUnavailable unless every document was acknowledged or rejected."""
        if not upserts:
            return BulkResult()
        body: list[dict[str, Any]] = []
        for u in upserts:
            # retry_on_conflict: a post and its scores may be written by two workers at once.
            # Ids go through document_id everywhere in this module: a long key is hashed, never refused.
            _id = document_id(u.doc_id)
            body.append({"update": {"_index": self.index_for(u.kind, u.time), "_id": _id, "retry_on_conflict": 3}})
            body.append({"doc": u.doc, "doc_as_upsert": True})
        try:
            response = self.client.bulk(body=body)
        except (OSConnectionError, ConnectionTimeout) as exc:
            raise StoreUnavailable(f"store unreachable: {exc}") from exc
        except TransportError as exc:
            if isinstance(exc.status_code, int) and exc.status_code not in _TRANSIENT_STATUS and exc.status_code < 500:
                raise  # our request is wrong: retrying cannot help, so fail loudly
            raise StoreUnavailable(f"store refused the batch: {exc}") from exc
        # Re-sending the whole batch is safe: every write is an idempotent upsert.
        return _bulk_result([u.doc_id for u in upserts], response["items"], "documents")

    def bulk_script_upsert(self, kind: IndexKind, items: Sequence[ScriptUpsert]) -> BulkResult:
        if not items:
            return BulkResult()
        body: list[dict[str, Any]] = []
        index = self.index_for(kind, None)
        for item in items:
            body.append({"update": {"_index": index, "_id": document_id(item.doc_id), "retry_on_conflict": 5}})
            body.append({"script": _script(item.script), "upsert": dict(item.upsert)})
        response = self._call(lambda: self.client.bulk(body=body))
        return _bulk_result([i.doc_id for i in items], response["items"], kind.value)

    def bulk_put(self, kind: IndexKind, docs: Sequence[tuple[str, Mapping[str, Any]]]) -> BulkResult:
        if not docs:
            return BulkResult()
        body: list[dict[str, Any]] = []
        index = self.index_for(kind, None)
        for doc_id, doc in docs:
            body.append({"index": {"_index": index, "_id": document_id(doc_id)}})
            body.append(dict(doc))
        response = self._call(lambda: self.client.bulk(body=body, refresh="wait_for"))
        return _bulk_result([doc_id for doc_id, _ in docs], response["items"], kind.value)

    def put(self, kind: IndexKind, doc_id: str, doc: Mapping[str, Any], *, if_version: Version | None = None) -> None:
        params = {"refresh": "wait_for"}
        if if_version is not None:
            params |= {"if_seq_no": str(if_version[0]), "if_primary_term": str(if_version[1])}
        write = partial(
            self.client.index, index=self.index_for(kind, None), id=document_id(doc_id), body=dict(doc), params=params
        )
        try:
            self._call(write)
        except ConflictError as exc:
            raise VersionConflict(f"{kind.value} {doc_id} changed since it was read") from exc

    def update_script(self, kind: IndexKind, doc_id: str, script: Script) -> None:
        try:
            self._call(
                lambda: self.client.update(
                    index=self.index_for(kind, None),
                    id=document_id(doc_id),
                    body={"script": _script(script)},
                    params={"retry_on_conflict": "5"},
                )
            )
        except NotFoundError:
            raise KeyError(doc_id) from None

    def delete(self, kind: IndexKind, doc_id: str) -> bool:
        try:
            self._call(
                lambda: self.client.delete(index=self.index_for(kind, None), id=document_id(doc_id), refresh="wait_for")
            )
        except NotFoundError:
            return False
        return True

    def refresh(self, kind: IndexKind | None = None) -> None:
        self.client.indices.refresh(index=self.alias(kind) if kind else f"{self.prefix}-*")

    # --- reads by id -------------------------------------------------------------------------------

    def get(self, kind: IndexKind, doc_id: str, when: datetime | None = None) -> dict[str, Any] | None:
        try:
            hit = self._call(lambda: self.client.get(index=self.index_for(kind, when), id=document_id(doc_id)))
        except NotFoundError:
            return None
        return dict(hit["_source"])

    def get_versioned(self, kind: IndexKind, doc_id: str) -> tuple[dict[str, Any], Version] | None:
        try:
            hit = self._call(lambda: self.client.get(index=self.index_for(kind, None), id=document_id(doc_id)))
        except NotFoundError:
            return None
        return dict(hit["_source"]), (int(hit["_seq_no"]), int(hit["_primary_term"]))

    def get_many(self, kind: IndexKind, ids: Sequence[str], chunk: int = 1000) -> dict[str, dict[str, Any]]:
        """Documents by id (one ``mget`` per chunk); missing ids are absent from the result."""
        out: dict[str, dict[str, Any]] = {}
        index = self.index_for(kind, None)
        for start in range(0, len(ids), chunk):
            part = {document_id(i): i for i in ids[start : start + chunk]}
            response = self._call(
                partial(self.client.mget, index=index, body={"ids": list(part)}, params={"realtime": "true"})
            )
            for doc in response["docs"]:
                if doc.get("found"):
                    out[part.get(doc["_id"], doc["_id"])] = doc["_source"]
        return out

    # --- searches ----------------------------------------------------------------------------------

    def count(self, kind: IndexKind, query: Mapping[str, Any] | None = None) -> int:
        body = {"query": query} if query else None
        try:
            response = self.client.count(index=self.alias(kind), body=body, params=_LENIENT)
        except TransportError as exc:
            # 503 "all shards failed": an index whose shard is still starting (just created or recovering).
            if exc.status_code in _TRANSIENT_STATUS:
                raise StoreUnavailable(f"count unavailable: {exc}") from exc
            raise
        return int(response["count"])

    def search(
        self,
        kind: IndexKind,
        query: Mapping[str, Any],
        size: int = 10,
        sort: Sequence[Any] | None = None,
        fields: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        return [hit.source | {"_id": hit.id} for hit in self.hits(kind, query, size, sort, fields)]

    def hits(
        self,
        kind: IndexKind,
        query: Mapping[str, Any],
        size: int = 10,
        sort: Sequence[Any] | None = None,
        fields: Sequence[str] | None = None,
    ) -> list[Hit]:
        body = _search_body(Search(query, size, sort or (), fields))
        response = self._call(partial(self.client.search, index=self.alias(kind), body=body, params=_LENIENT))
        return [_hit(h) for h in response["hits"]["hits"]]

    def search_many(self, kind: IndexKind, searches: Sequence[Search]) -> list[list[Hit]]:
        if not searches:
            return []
        body: list[dict[str, Any]] = []
        for search in searches:
            body.append({"index": self.alias(kind), "ignore_unavailable": True})
            body.append(_search_body(search))
        response = self._call(partial(self.client.msearch, body=body))
        out = []
        for result in response["responses"]:
            if "error" in result:
                raise StoreUnavailable(f"{kind.value} search unavailable: {_reason(result['error'])}")
            out.append([_hit(h) for h in result["hits"]["hits"]])
        return out

    def scan(
        self, kind: IndexKind, query: Mapping[str, Any], sort: Sequence[Any], page: int = 1000
    ) -> Iterator[dict[str, Any]]:
        """Every matching document (with ``_id``), by ``search_after`` on ``sort`` (which must be unique)."""
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {"query": query, "size": page, "sort": list(sort)}
            if after is not None:
                body["search_after"] = after
            response = self._call(partial(self.client.search, index=self.alias(kind), body=body, params=_LENIENT))
            hits = response["hits"]["hits"]
            for hit in hits:
                yield hit["_source"] | {"_id": hit["_id"]}
            if len(hits) < page:
                return
            after = hits[-1]["sort"]

    def aggregate(
        self, kind: IndexKind, aggs: Mapping[str, Any], query: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"size": 0, "aggs": aggs}
        if query is not None:
            body = {"query": query, **body}
        response = self._call(partial(self.client.search, index=self.alias(kind), body=body, params=_LENIENT))
        # No index behind the alias yet (nothing stored): the reply has no aggregations.
        return dict(response.get("aggregations", {}))

    def _call(self, fn: Callable[[], Any]) -> Any:
        """Run one request; connection trouble and overload become StoreUnavailable."""
        try:
            return fn()
        except (OSConnectionError, ConnectionTimeout) as exc:
            raise StoreUnavailable(f"store unreachable: {exc}") from exc
        except TransportError as exc:
            if isinstance(exc.status_code, int) and exc.status_code in _TRANSIENT_STATUS:
                raise StoreUnavailable(f"store overloaded: {exc}") from exc
            raise


def _script(script: Script) -> dict[str, Any]:
    return {"source": script.source, "lang": "painless", "params": dict(script.params)}


def _search_body(search: Search) -> dict[str, Any]:
    body: dict[str, Any] = {"query": search.query, "size": search.size}
    if search.sort:
        body["sort"] = list(search.sort)
    if search.fields is not None:
        body["_source"] = list(search.fields)
    return body


def _hit(hit: Mapping[str, Any]) -> Hit:
    return Hit(
        id=str(hit["_id"]),
        source=dict(hit.get("_source") or {}),
        matched=tuple(hit.get("matched_queries", ())),
        fields=hit.get("fields") or {},
    )


def _bulk_result(ids: Sequence[str], items: Sequence[Mapping[str, Any]], what: str) -> BulkResult:
    """Written and rejected ids of a bulk response; StoreUnavailable if any item is worth retrying."""
    result = BulkResult()
    transient: list[str] = []
    for doc_id, item in zip(ids, items, strict=True):
        (outcome,) = item.values()  # {"update": {...}} or {"index": {...}}
        status = int(outcome.get("status", 500))
        if status < 300:
            result.written += 1
        elif status in _TRANSIENT_STATUS or status >= 500:
            transient.append(f"{doc_id}: {status}")
        else:
            result.rejected.append((doc_id, _reason(outcome.get("error"))))
    if transient:
        raise StoreUnavailable(f"{len(transient)} {what} not acknowledged, e.g. {transient[0]}")
    return result


def _reason(error: Any) -> str:
    if isinstance(error, dict):
        return f"{error.get('type', 'error')}: {error.get('reason', '')}"[:500]
    return str(error)[:500]


def store_transient(exc: BaseException) -> bool:
    """Errors a store that is starting, restarting or overloaded gives (worth waiting for, not a bad request)."""
    if isinstance(exc, StoreUnavailable | OSConnectionError | ConnectionTimeout):
        return True
    return isinstance(exc, TransportError) and isinstance(exc.status_code, int) and exc.status_code in _TRANSIENT_STATUS


def wait_until_healthy(engine: Engine, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if engine.healthy():
            return True
        time.sleep(1.0)
    return False
