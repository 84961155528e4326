"""The search store: every engine-specific call lives in this module.

The backend is OpenSearch (the Apache-2.0 fork of Elasticsearch, same REST API).
An Elasticsearch backend would be a sibling class with the same public methods;
nothing outside this module builds requests or reads engine responses.

Layout:
- ``<prefix>-posts-YYYY.MM``: posts in monthly indices (by ``created_at``), read
  through the alias ``<prefix>-posts``. A post's month never changes, so its
  document id (the post key) always lands in the same index: writes are idempotent.
- ``<prefix>-accounts|cascades|narratives|clusters|alerts``: one index each,
  reached through an alias of the same name so they can be rolled over later.
Every write is an upsert (``doc_as_upsert``): a score that arrives before its post
merges with it instead of being overwritten.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import ConnectionTimeout, TransportError

from flockwatch.config import Settings
from flockwatch.pipeline.messages import TransientError


class IndexKind(StrEnum):
    posts = "posts"
    accounts = "accounts"
    cascades = "cascades"
    narratives = "narratives"
    clusters = "clusters"
    alerts = "alerts"


TIME_BASED = {IndexKind.posts}


class StoreUnavailable(TransientError):
    """The store did not acknowledge a write; the caller must retry the whole batch later."""


@dataclass(frozen=True)
class Upsert:
    """Merge ``doc`` into the document ``doc_id`` of ``kind``, creating it if missing."""

    kind: IndexKind
    doc_id: str
    doc: dict[str, Any]
    # Picks the monthly index for time-based kinds; ignored otherwise.
    time: datetime | None = None


@dataclass
class BulkResult:
    written: int = 0
    # (doc_id, reason) for documents the store rejected for good (mapping errors...).
    rejected: list[tuple[str, str]] = field(default_factory=list)


_KEYWORD = {"type": "keyword"}
_DATE = {"type": "date"}
_LONG = {"type": "long"}
_FLOAT = {"type": "float"}
# Evidence lists vary by signal; keep them retrievable but out of the mapping.
_STORED_ONLY = {"type": "object", "enabled": False}

_SCORE_MAPPINGS: dict[str, Any] = {
    "text_score": {
        "properties": {
            "machine_score": _FLOAT,
            "label": _KEYWORD,
            "model": _KEYWORD,
            "narrative_id": _KEYWORD,
            "evidence": _STORED_ONLY,
        }
    },
    # One entry per media URL (keyed by a hash of it), merged by partial updates.
    "media_by_url": _STORED_ONLY,
    "media_risk": _FLOAT,
    "narrative_id": _KEYWORD,
}

MAPPINGS: dict[IndexKind, dict[str, Any]] = {
    IndexKind.posts: {
        "dynamic": False,
        "properties": {
            "key": _KEYWORD,
            "platform": _KEYWORD,
            "platform_id": _KEYWORD,
            "author": {
                "properties": {
                    "id": _KEYWORD,
                    "handle": {"type": "keyword", "normalizer": "lowercase"},
                    "display_name": {"type": "text"},
                    "followers": _LONG,
                    "following": _LONG,
                    "category": _KEYWORD,
                }
            },
            "text": {"type": "text"},
            "language": _KEYWORD,
            "created_at": _DATE,
            "ingested_at": _DATE,
            "urls": _KEYWORD,
            "hashtags": {"type": "keyword", "normalizer": "lowercase"},
            "mentions": {"type": "keyword", "normalizer": "lowercase"},
            "media": {"properties": {"url": _KEYWORD, "kind": _KEYWORD, "mime_type": _KEYWORD, "sha256": _KEYWORD}},
            "reply_to": _KEYWORD,
            "reshare_of": _KEYWORD,
            "quote_of": _KEYWORD,
            "root_id": _KEYWORD,
            "parent_key": _KEYWORD,
            "engagement": {"properties": {k: _LONG for k in ("likes", "reshares", "replies", "quotes", "views")}},
            "source": {"properties": {"format": _KEYWORD, "uri": _KEYWORD, "position": _KEYWORD}},
            **_SCORE_MAPPINGS,
        },
    },
    IndexKind.accounts: {
        "dynamic": False,
        "properties": {
            "key": _KEYWORD,
            "platform": _KEYWORD,
            "handle": _KEYWORD,
            "first_seen": _DATE,
            "last_seen": _DATE,
            "post_count": _LONG,
            "machine_score": _FLOAT,
            "cluster_ids": _KEYWORD,
        },
    },
    IndexKind.cascades: {
        "dynamic": False,
        "properties": {
            "cascade_id": _KEYWORD,
            "root_key": _KEYWORD,
            "size": _LONG,
            "depth": _LONG,
            "structural_virality": _FLOAT,
            "risk_score": _FLOAT,
            "first_seen": _DATE,
            "last_seen": _DATE,
        },
    },
    IndexKind.narratives: {
        "dynamic": False,
        "properties": {
            "narrative_id": _KEYWORD,
            "representative_text": {"type": "text"},
            "first_seen": _DATE,
            "last_seen": _DATE,
            "post_count": _LONG,
            "machine_share": _FLOAT,
        },
    },
    IndexKind.clusters: {
        "dynamic": False,
        "properties": {
            "cluster_id": _KEYWORD,
            "accounts": _KEYWORD,
            "layers": _KEYWORD,
            "first_seen": _DATE,
            "last_seen": _DATE,
        },
    },
    IndexKind.alerts: {
        "dynamic": False,
        "properties": {
            "alert_id": _KEYWORD,
            "rule": _KEYWORD,
            "severity": _KEYWORD,
            "entity": _KEYWORD,
            "status": _KEYWORD,
            "created_at": _DATE,
            "summary": {"type": "text"},
            "post_keys": _KEYWORD,
            "evidence": _STORED_ONLY,
        },
    },
}

# Engine errors that mean "try again later", as opposed to "this document is bad".
_TRANSIENT_STATUS = {429, 502, 503, 504}


class OpenSearchStore:
    def __init__(self, settings: Settings, timeout_s: float = 30.0) -> None:
        self.prefix = settings.index_prefix
        self.client = OpenSearch(
            hosts=[settings.opensearch_url],
            timeout=timeout_s,
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

    def drop_all(self) -> None:
        """Delete every index and template of this prefix (tests and `demo --fresh`)."""
        self.client.indices.delete(index=f"{self.prefix}-*", ignore_unavailable=True)
        for kind in IndexKind:
            if self.client.indices.exists_index_template(name=self.alias(kind)):
                self.client.indices.delete_index_template(name=self.alias(kind))

    # --- writes ----------------------------------------------------------------------------------

    def bulk_upsert(self, upserts: Sequence[Upsert]) -> BulkResult:
        """Write a batch; raise StoreUnavailable unless every document was acknowledged or rejected."""
        if not upserts:
            return BulkResult()
        body: list[dict[str, Any]] = []
        for u in upserts:
            # retry_on_conflict: a post and its scores may be written by two workers at once.
            body.append({"update": {"_index": self.index_for(u.kind, u.time), "_id": u.doc_id, "retry_on_conflict": 3}})
            body.append({"doc": u.doc, "doc_as_upsert": True})
        try:
            response = self.client.bulk(body=body)
        except (OSConnectionError, ConnectionTimeout) as exc:
            raise StoreUnavailable(f"store unreachable: {exc}") from exc
        except TransportError as exc:
            if isinstance(exc.status_code, int) and exc.status_code not in _TRANSIENT_STATUS and exc.status_code < 500:
                raise  # our request is wrong: retrying cannot help, so fail loudly
            raise StoreUnavailable(f"store refused the batch: {exc}") from exc
        result = BulkResult()
        transient: list[str] = []
        for u, item in zip(upserts, response["items"], strict=True):
            outcome = item["update"]
            status = int(outcome.get("status", 500))
            if status < 300:
                result.written += 1
            elif status in _TRANSIENT_STATUS or status >= 500:
                transient.append(f"{u.doc_id}: {status}")
            else:
                result.rejected.append((u.doc_id, _reason(outcome.get("error"))))
        if transient:
            # Re-sending the whole batch is safe: every write is an idempotent upsert.
            raise StoreUnavailable(f"{len(transient)} documents not acknowledged, e.g. {transient[0]}")
        return result

    def refresh(self, kind: IndexKind | None = None) -> None:
        self.client.indices.refresh(index=self.alias(kind) if kind else f"{self.prefix}-*")

    # --- reads -----------------------------------------------------------------------------------

    def healthy(self) -> bool:
        try:
            health = self.client.cluster.health(request_timeout=5)
        except (OSConnectionError, ConnectionTimeout, TransportError):
            return False
        return health.get("status") in ("green", "yellow")

    def count(self, kind: IndexKind, query: dict[str, Any] | None = None) -> int:
        body = {"query": query} if query else None
        response = self.client.count(index=self.alias(kind), body=body, params={"ignore_unavailable": "true"})
        return int(response["count"])

    def get(self, kind: IndexKind, doc_id: str) -> dict[str, Any] | None:
        hits = self.search(kind, {"ids": {"values": [doc_id]}}, size=1)
        return hits[0] if hits else None

    def search(
        self,
        kind: IndexKind,
        query: dict[str, Any],
        size: int = 10,
        sort: list[Any] | None = None,
    ) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"query": query, "size": size}
        if sort:
            body["sort"] = sort
        response = self.client.search(index=self.alias(kind), body=body, params={"ignore_unavailable": "true"})
        return [hit["_source"] | {"_id": hit["_id"]} for hit in response["hits"]["hits"]]

    def query_string(self, kind: IndexKind, q: str, size: int = 10) -> list[dict[str, Any]]:
        """Lucene query-string search, what analysts type (`hashtags:maga AND author.category:RightTroll`)."""
        return self.search(
            kind,
            {"query_string": {"query": q, "default_field": "text"}},
            size=size,
            sort=[{"created_at": {"order": "desc", "unmapped_type": "date"}}],
        )

    def terms(self, kind: IndexKind, field_name: str, size: int = 10) -> list[tuple[str, int]]:
        """Top values of a keyword field: the first question about any campaign."""
        response = self.client.search(
            index=self.alias(kind),
            body={"size": 0, "aggs": {"top": {"terms": {"field": field_name, "size": size}}}},
            params={"ignore_unavailable": "true"},
        )
        return [(b["key"], int(b["doc_count"])) for b in response["aggregations"]["top"]["buckets"]]


def _reason(error: Any) -> str:
    if isinstance(error, dict):
        return f"{error.get('type', 'error')}: {error.get('reason', '')}"[:500]
    return str(error)[:500]


def wait_until_healthy(store: OpenSearchStore, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if store.healthy():
            return True
        time.sleep(1.0)
    return False
