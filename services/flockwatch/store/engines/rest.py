"""The engine both stores share: the REST API OpenSearch kept from Elasticsearch, over either one's client.

Everything the repositories ask of a store is written here once, as REST requests (paths, query-string
parameters, JSON or NDJSON bodies). The engine-specific part is a :class:`RestClient`: one ``request`` method
that sends through the engine's official client (``opensearch-py`` in :mod:`.opensearch`, ``elasticsearch`` in
:mod:`.elasticsearch`) and answers a status and a parsed body, mapping only connection trouble to exceptions.
So the two engines differ in transport, authentication and product checks, never in what is stored or asked.

Layout:
- ``<prefix>-posts-YYYY.MM``: posts in monthly indices (by ``created_at``), read through the alias
  ``<prefix>-posts``. A post's month never changes, so its document id (the post key) always lands in the same
  index: writes are idempotent.
- ``<prefix>-<kind>-000001`` for every other kind, reached through the alias ``<prefix>-<kind>`` so it can be
  rolled over later.
Upserts merge (``doc_as_upsert``): a score that arrives before its post merges with it instead of replacing it.
No scripts: the Elasticsearch 7.17 node `flockwatch up` runs has no Painless (see ``bulk_put_if``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

from flockwatch.config import Settings
from flockwatch.schema import document_id
from flockwatch.store.documents import (
    TIME_BASED,
    BulkResult,
    Hit,
    IndexKind,
    Search,
    StoreAccessDenied,
    StoreRequestError,
    StoreUnavailable,
    Upsert,
    Version,
    VersionConflict,
    VersionedPut,
)
from flockwatch.store.engine import Engine
from flockwatch.store.mappings import MAPPINGS
from flockwatch.store.timeouts import BackoffTimeout, body_allowance_s

# Statuses that mean "try again later", as opposed to "this request is bad".
TRANSIENT_STATUS = frozenset({429, 502, 503, 504})
_LENIENT = {"ignore_unavailable": "true"}
_VISIBLE = {"refresh": "wait_for"}


@dataclass(frozen=True)
class Response:
    status: int
    body: Any


class RequestTimedOut(StoreUnavailable):
    """The store accepted the connection but did not answer in time."""


class RestClient(Protocol):
    """One engine's official client, reduced to what :class:`RestEngine` needs."""

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: str | None = None,
        ndjson: bool = False,
        timeout_s: float,
    ) -> Response:
        """Send one request (``body`` already serialised; NDJSON for bulk and multi-search) and return its status
        and parsed body, whatever the status. Raise ``RequestTimedOut`` when no answer came within
        ``timeout_s``, ``StoreUnavailable`` when the store could not be reached, ``WrongStoreEngine`` when the
        server is not this client's engine (checked before or with the first answer)."""
        ...


class RestEngine:
    """:class:`~flockwatch.store.engine.Engine` on an OpenSearch or Elasticsearch cluster, for the indices of one
    prefix."""

    def __init__(self, client: RestClient, settings: Settings, timeout_s: float | None = None) -> None:
        """``timeout_s`` fixes the first request timeout (tests); by default it comes from the settings."""
        self.client = client
        self.prefix = settings.index_prefix
        self.shards, self.replicas = settings.store_shards, settings.store_replicas
        self.write_copies = settings.store_write_copies
        first = timeout_s if timeout_s is not None else settings.store_timeout_s
        self.timeouts = BackoffTimeout(first, max(first, settings.store_max_timeout_s))

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
            template = {
                "index_patterns": [f"{alias}-*"],
                "template": {
                    "settings": {
                        "number_of_shards": self.shards,
                        "number_of_replicas": self.replicas,
                        "write.wait_for_active_shards": self.write_copies,
                        # Bulk replays beat near-real-time search on 2 cores.
                        "refresh_interval": "1s",
                    },
                    "mappings": mapping,
                    "aliases": {alias: {}},
                },
            }
            self._expect(self._request("PUT", f"/_index_template/{alias}", body=template))
            if kind not in TIME_BASED:
                response = self._request("PUT", f"/{self.index_for(kind, None)}")
                if response.status >= 300 and _error_type(response.body) != "resource_already_exists_exception":
                    self._expect(response)

    def ensure_fields(self, fields: Mapping[IndexKind, Mapping[str, Any]]) -> None:
        """Add fields to indices created before they existed (adding fields is compatible)."""
        for kind, properties in fields.items():
            body = {"properties": dict(properties)}
            response = self._request("PUT", f"/{self.index_for(kind, None)}/_mapping", body=body)
            if response.status != 404:  # no index yet: its template has the fields
                self._expect(response)

    def drop_all(self) -> None:
        """Delete every index and template of this prefix (tests and `demo --fresh`)."""
        # By explicit names: the store refuses wildcard deletes (action.destructive_requires_name).
        found = self._expect(self._request("GET", f"/{self.prefix}-*", params={"expand_wildcards": "all"}))
        names = sorted(found)
        for start in range(0, len(names), 50):  # a bounded URL per request
            path = "/" + ",".join(names[start : start + 50])
            self._expect(self._request("DELETE", path, params=_LENIENT), 404)
        for kind in IndexKind:
            self._expect(self._request("DELETE", f"/_index_template/{self.alias(kind)}"), 404)

    def healthy(self, timeout_s: float = 5.0) -> bool:
        try:
            response = self._request("GET", "/_cluster/health", timeout_s=timeout_s)
        except StoreUnavailable:
            return False
        return response.status == 200 and response.body.get("status") in ("green", "yellow")

    # --- writes ----------------------------------------------------------------------------------

    def bulk_upsert(self, upserts: Sequence[Upsert]) -> BulkResult:
        """Write a batch; raise StoreUnavailable unless every document was acknowledged or rejected."""
        lines: list[Mapping[str, Any]] = []
        ids: list[str] = []
        counted: list[bool] = []
        for u in upserts:
            # retry_on_conflict: a post and its scores may be written by two workers at once.
            # Ids go through document_id everywhere in this module: a long key is hashed, never refused.
            action = {"_index": self.index_for(u.kind, u.time), "_id": document_id(u.doc_id), "retry_on_conflict": 3}
            if u.replace:
                # No scripts here (see the module's docstring): a replaced path is nulled by an update of its
                # own just before, which the shard applies first (one bulk runs a document's items in order).
                lines += [{"update": action}, {"doc": u.cleared(), "doc_as_upsert": True}]
                ids.append(u.doc_id)
                counted.append(False)
            lines += [{"update": action}, {"doc": u.doc, "doc_as_upsert": True}]
            ids.append(u.doc_id)
            counted.append(True)
        # Re-sending the whole batch is safe: every write is an idempotent upsert. So is it after a 409: only
        # writers racing on one document past retry_on_conflict get one, and the write is still owed.
        return self._bulk(ids, lines, "documents", counted=counted, conflicts_owed=True)

    def bulk_put_if(self, kind: IndexKind, puts: Sequence[VersionedPut]) -> BulkResult:
        index = self.index_for(kind, None)
        lines: list[Mapping[str, Any]] = []
        for put in puts:
            action: dict[str, Any] = {"_index": index, "_id": document_id(put.doc_id)}
            if put.version is None:
                lines.append({"create": action})
            else:
                lines.append({"index": action | {"if_seq_no": put.version[0], "if_primary_term": put.version[1]}})
            lines.append(dict(put.doc))
        return self._bulk([p.doc_id for p in puts], lines, kind.value)

    def bulk_put(self, kind: IndexKind, docs: Sequence[tuple[str, Mapping[str, Any]]]) -> BulkResult:
        index = self.index_for(kind, None)
        lines: list[Mapping[str, Any]] = []
        for doc_id, doc in docs:
            lines += [{"index": {"_index": index, "_id": document_id(doc_id)}}, dict(doc)]
        return self._bulk([doc_id for doc_id, _ in docs], lines, kind.value, params=_VISIBLE)

    def put(
        self,
        kind: IndexKind,
        doc_id: str,
        doc: Mapping[str, Any],
        *,
        if_version: Version | None = None,
        visible: bool = True,
    ) -> None:
        params = dict(_VISIBLE) if visible else {}
        if if_version is not None:
            params |= {"if_seq_no": str(if_version[0]), "if_primary_term": str(if_version[1])}
        response = self._request("PUT", self._doc_path(kind, doc_id), params=params, body=dict(doc))
        if response.status == 409:
            raise VersionConflict(f"{kind.value} {doc_id} changed since it was read")
        self._expect(response)

    def delete(self, kind: IndexKind, doc_id: str) -> bool:
        response = self._request("DELETE", self._doc_path(kind, doc_id), params=_VISIBLE)
        return self._expect(response, 404) is not None

    def refresh(self, kind: IndexKind | None = None) -> None:
        target = self.alias(kind) if kind else f"{self.prefix}-*"
        self._expect(self._request("POST", f"/{target}/_refresh", params=_LENIENT), 404)

    # --- reads by id -------------------------------------------------------------------------------

    def get(self, kind: IndexKind, doc_id: str, when: datetime | None = None) -> dict[str, Any] | None:
        found = self._expect(self._request("GET", self._doc_path(kind, doc_id, when)), 404)
        return dict(found["_source"]) if found else None

    def get_versioned(self, kind: IndexKind, doc_id: str) -> tuple[dict[str, Any], Version] | None:
        found = self._expect(self._request("GET", self._doc_path(kind, doc_id)), 404)
        return (dict(found["_source"]), _version(found)) if found else None

    def get_many(self, kind: IndexKind, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {doc_id: doc for doc_id, (doc, _) in self.get_many_versioned(kind, ids).items()}

    def get_many_versioned(
        self, kind: IndexKind, ids: Sequence[str], chunk: int = 1000
    ) -> dict[str, tuple[dict[str, Any], Version]]:
        """Documents by id (one real-time ``mget`` per chunk); missing ids are absent from the result."""
        out: dict[str, tuple[dict[str, Any], Version]] = {}
        path = f"/{self.index_for(kind, None)}/_mget"
        for start in range(0, len(ids), chunk):
            part = {document_id(i): i for i in ids[start : start + chunk]}
            response = self._request("POST", path, params={"realtime": "true"}, body={"ids": list(part)})
            found = self._expect(response, 404) or {"docs": []}  # 404: no index yet
            for doc in found["docs"]:
                if doc.get("found"):
                    out[part.get(doc["_id"], doc["_id"])] = (doc["_source"], _version(doc))
        return out

    def get_many_at(
        self, kind: IndexKind, ids: Mapping[str, datetime], fields: Sequence[str] | None = None, realtime: bool = True
    ) -> dict[str, dict[str, Any]]:
        by_index: dict[str, dict[str, str]] = {}
        for doc_id, when in ids.items():
            by_index.setdefault(self.index_for(kind, when), {})[document_id(doc_id)] = doc_id
        params: dict[str, str] = {"realtime": "true" if realtime else "false"}
        if fields is not None:
            params["_source_includes"] = ",".join(fields)
        out: dict[str, dict[str, Any]] = {}
        for index, part in sorted(by_index.items()):
            response = self._request("POST", f"/{index}/_mget", params=params, body={"ids": list(part)})
            found = self._expect(response, 404) or {"docs": []}  # 404: no index for that month yet
            for doc in found["docs"]:
                if doc.get("found"):
                    out[part.get(doc["_id"], doc["_id"])] = dict(doc.get("_source") or {})
        return out

    # --- searches ----------------------------------------------------------------------------------

    def count(self, kind: IndexKind, query: Mapping[str, Any] | None = None) -> int:
        body = {"query": query} if query else None
        # 503 "all shards failed" (an index whose shard is still starting) comes back as StoreUnavailable.
        found = self._expect(self._request("POST", f"/{self.alias(kind)}/_count", params=_LENIENT, body=body))
        return int(found["count"])

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
        after: Sequence[Any] | None = None,
    ) -> list[Hit]:
        found = self._search(kind, _search_body(Search(query, size, sort or (), fields, after)))
        return [_hit(h) for h in found["hits"]["hits"]]

    def search_many(self, kind: IndexKind, searches: Sequence[Search]) -> list[list[Hit]]:
        if not searches:
            return []
        lines: list[Mapping[str, Any]] = []
        for search in searches:
            lines += [{"index": self.alias(kind), "ignore_unavailable": True}, _search_body(search)]
        found = self._expect(self._request("POST", "/_msearch", body=_ndjson(lines), ndjson=True))
        out = []
        for result in found["responses"]:
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
            hits = self._search(kind, body)["hits"]["hits"]
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
        # No index behind the alias yet (nothing stored): the reply has no aggregations.
        return dict(self._search(kind, body).get("aggregations", {}))

    # --- requests ------------------------------------------------------------------------------------

    def _doc_path(self, kind: IndexKind, doc_id: str, when: datetime | None = None) -> str:
        return f"/{self.index_for(kind, when)}/_doc/{quote(document_id(doc_id), safe='')}"

    def _search(self, kind: IndexKind, body: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self._expect(self._request("POST", f"/{self.alias(kind)}/_search", params=_LENIENT, body=body)))

    def _bulk(
        self,
        ids: Sequence[str],
        lines: Sequence[Mapping[str, Any]],
        what: str,
        params: Mapping[str, str] | None = None,
        counted: Sequence[bool] | None = None,
        conflicts_owed: bool = False,
    ) -> BulkResult:
        if not ids:
            return BulkResult()
        response = self._request("POST", "/_bulk", params=params, body=_ndjson(lines), ndjson=True)
        if response.status >= 500:
            raise StoreUnavailable(f"store refused the batch ({response.status}): {_reason(response.body)}")
        return _bulk_result(ids, self._expect(response)["items"], what, counted, conflicts_owed)

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | str | None = None,
        ndjson: bool = False,
        timeout_s: float | None = None,
    ) -> Response:
        """One request, waiting ``timeout_s`` or else the backoff timeout plus time for the body's size."""
        text = json.dumps(body) if isinstance(body, Mapping) else body
        wait = timeout_s if timeout_s is not None else self.timeouts.current_s + body_allowance_s(text)
        try:
            response = self.client.request(method, path, params=params, body=text, ndjson=ndjson, timeout_s=wait)
        except RequestTimedOut:
            if timeout_s is None:
                self.timeouts.timed_out()
            raise
        self.timeouts.answered()
        return response

    @staticmethod
    def _expect(response: Response, *absent: int) -> Any:
        """The body of a successful response; None for a status in ``absent``; otherwise StoreUnavailable (worth
        retrying) or StoreRequestError (not)."""
        if response.status < 300:
            return response.body
        if response.status in absent:
            return None
        if response.status in TRANSIENT_STATUS:
            raise StoreUnavailable(f"store overloaded ({response.status}): {_reason(response.body)}")
        if response.status in (401, 403):
            raise StoreAccessDenied(response.status, _reason(response.body))
        raise StoreRequestError(response.status, _reason(response.body))


def _ndjson(lines: Sequence[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(line) + "\n" for line in lines)


def _version(doc: Mapping[str, Any]) -> Version:
    return int(doc["_seq_no"]), int(doc["_primary_term"])


def _search_body(search: Search) -> dict[str, Any]:
    body: dict[str, Any] = {"query": search.query, "size": search.size}
    if search.sort:
        body["sort"] = list(search.sort)
    if search.fields is not None:
        body["_source"] = list(search.fields)
    if search.after is not None:
        body["search_after"] = list(search.after)
    return body


def _hit(hit: Mapping[str, Any]) -> Hit:
    return Hit(
        id=str(hit["_id"]),
        source=dict(hit.get("_source") or {}),
        matched=tuple(hit.get("matched_queries", ())),
        fields=hit.get("fields") or {},
        sort=tuple(hit.get("sort") or ()),
    )


def _bulk_result(
    ids: Sequence[str],
    items: Sequence[Mapping[str, Any]],
    what: str,
    counted: Sequence[bool] | None = None,
    conflicts_owed: bool = False,
) -> BulkResult:
    """Written, rejected and conflicting ids of a bulk response; StoreUnavailable if any item is worth retrying.

    An item not ``counted`` prepares the next one (it clears what that one replaces): it fails like any
    other, but its success is no document written. A 409 is a ``conflict`` for the caller of a conditional
    write; for unconditional writes (``conflicts_owed``) it is a write still owed, so the batch is retried."""
    result = BulkResult()
    transient: list[str] = []
    for i, (doc_id, item) in enumerate(zip(ids, items, strict=True)):
        (outcome,) = item.values()  # {"update": {...}}, {"index": {...}} or {"create": {...}}
        status = int(outcome.get("status", 500))
        if status < 300:
            result.written += 1 if counted is None or counted[i] else 0
        elif status == 409 and not conflicts_owed:
            result.conflicts.append(doc_id)
        elif status == 409:
            transient.append(f"{doc_id}: 409 (writers racing on it)")
        elif status in TRANSIENT_STATUS or status >= 500:
            transient.append(f"{doc_id}: {status}")
        else:
            result.rejected.append((doc_id, _reason(outcome.get("error"))))
    if transient:
        raise StoreUnavailable(f"{len(transient)} {what} not acknowledged, e.g. {transient[0]}")
    return result


def _error_type(body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("type", "")) if isinstance(error, dict) else ""


def _reason(body: Any) -> str:
    """An error's type and reason, with its innermost cause (which names what was wrong: a mapping type the
    server lacks, a field that does not parse)."""
    error = body.get("error", body) if isinstance(body, dict) else body
    if not isinstance(error, dict):
        return str(error)[:500]
    reason = f"{error.get('type', 'error')}: {error.get('reason', '')}"
    cause = error.get("caused_by")
    while isinstance(cause, dict) and isinstance(cause.get("caused_by"), dict):
        cause = cause["caused_by"]
    if isinstance(cause, dict):
        reason += f" (caused by {cause.get('type', 'error')}: {cause.get('reason', '')})"
    return reason[:500]


def store_transient(exc: BaseException) -> bool:
    """Errors a store that is starting, restarting or overloaded gives (worth waiting for, not a bad request)."""
    return isinstance(exc, StoreUnavailable)


def wait_until_healthy(engine: Engine, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if engine.healthy():
            return True
        time.sleep(1.0)
    return False
