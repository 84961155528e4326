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

import re
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
from typing import Any, TypeVar

from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConflictError, ConnectionTimeout, NotFoundError, TransportError
from opensearchpy.exceptions import ConnectionError as OSConnectionError

from flockwatch.adapters import local_services
from flockwatch.adapters.client_security import opensearch_client_args
from flockwatch.config import Settings
from flockwatch.messages import TransientError
from flockwatch.readiness import SETTINGS_BOUND, resolve_wait, retry_until_ready
from flockwatch.schema import Post, document_id
from flockwatch.store.timeouts import BackoffTimeout, BackoffTimeoutTransport
from flockwatch.text.aggregate import RECENT_POSTS
from flockwatch.text.rollup import ACCOUNT_SAMPLE, TOP_ENTITIES, NarrativeSummary

T = TypeVar("T")


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
    "narrative_how": _KEYWORD,
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
            "outbox": _KEYWORD,  # sinks that still owe a delivery (flockwatch.alerts.outbox)
        },
    },
    # One document per banked media item (id = bank name + sha256); hashes are stored, not searched.
    IndexKind.media_bank: {
        "dynamic": False,
        "properties": {
            "bank": _KEYWORD,
            "item": _KEYWORD,
            "sha256": _KEYWORD,
            "kind": _KEYWORD,
            "label": _KEYWORD,
            "note": {"type": "text"},
            "added_at": _DATE,
            "hashes": _STORED_ONLY,
        },
    },
    # Watched entities as percolator queries. The fields the queries look at are mapped exactly as in
    # the posts index (same analyzer and normalizers), so a post matches here as it would be found there.
    IndexKind.watchlists: {
        "dynamic": False,
        "properties": {
            "query": {"type": "percolator"},
            "entity_id": _KEYWORD,
            "kind": _KEYWORD,
            "entity": _STORED_ONLY,
            "updated_at": _DATE,
            "text": {"type": "text"},
            "mentions": {"type": "keyword", "normalizer": "lowercase"},
            "author": {"properties": {"handle": {"type": "keyword", "normalizer": "lowercase"}}},
            "language": _KEYWORD,
        },
    },
}

# --- graph (issue 5): fields of the graph stage's documents (flockwatch.stages.graph) ----------------
# Only added fields: what analysts filter on is mapped, the state behind it (co-actions, cascade events,
# post keys) is stored without being indexed.
GRAPH_FIELDS: dict[IndexKind, dict[str, Any]] = {
    IndexKind.accounts: {
        "partners": _KEYWORD,
        "n_partners": _LONG,
        "coordination_kinds": _KEYWORD,
        "cluster_id": _KEYWORD,
        "cluster_window_end": _DATE,
        "partner_kinds": _STORED_ONLY,
        "post_keys": _STORED_ONLY,
    },
    IndexKind.cascades: {
        "platform": _KEYWORD,
        "max_breadth": _LONG,
        "n_accounts": _LONG,
        "branching_factor": _FLOAT,
        "root_share": _FLOAT,
        "lifetime": _FLOAT,
        "spreader_gini": _FLOAT,
        "coordinated_share": _FLOAT,
        "time_to_10": _FLOAT,
        "delay_median": _FLOAT,
        "placeholder_root": {"type": "boolean"},
        "merged_into": _KEYWORD,
        "members": _KEYWORD,
        "events": _STORED_ONLY,
        "repairs": _STORED_ONLY,
    },
    IndexKind.clusters: {
        "kinds": _KEYWORD,
        "n_accounts": _LONG,
        "n_edges": _LONG,
        "total_weight": _LONG,
        "window_start": _DATE,
        "window_end": _DATE,
        "first_window_start": _DATE,
        "machine_text_share": _FLOAT,
        "machine_text_posts": _LONG,
        "text_scored_posts": _LONG,
        "manipulated_media_share": _FLOAT,
        "manipulated_media_posts": _LONG,
        "media_scored_posts": _LONG,
        "top_content": _STORED_ONLY,
        "examples": _STORED_ONLY,
    },
}
MAPPINGS[IndexKind.coordination_edges] = {
    "dynamic": False,
    "properties": {
        "edge_id": _KEYWORD,
        "kind": _KEYWORD,
        "source": _KEYWORD,
        "target": _KEYWORD,
        "weight": _LONG,
        "n_coactions": _LONG,
        "n_objects": _LONG,
        "first_seen": _DATE,
        "last_seen": _DATE,
        "min_dt_s": _FLOAT,
        "median_dt_s": _FLOAT,
        "source_first_share": _FLOAT,
        "p_value": _FLOAT,
        "q_value": _FLOAT,
        "significant": {"type": "boolean"},
        "coactions": _STORED_ONLY,
        "significance_window": _STORED_ONLY,
    },
}
for _kind, _fields in GRAPH_FIELDS.items():
    MAPPINGS[_kind]["properties"].update(_fields)
# --- end graph (issue 5) ----------------------------------------------------------------------------

# --- text rollups (issue 3): narrative documents and the accounts' machine-likeness ------------------
TEXT_FIELDS: dict[IndexKind, dict[str, Any]] = {
    IndexKind.narratives: {
        "representative_key": _KEYWORD,
        "platforms": _STORED_ONLY,
        "account_count": _LONG,
        "accounts": _KEYWORD,
        "scored_posts": _LONG,
        "machine_posts": _LONG,
        "joined_by": _STORED_ONLY,
        "hashtags": _KEYWORD,
        "urls": _KEYWORD,
    },
    IndexKind.accounts: {
        "machine_share": _FLOAT,
        "machine_label": _KEYWORD,
        "machine_n_posts": _LONG,
        "machine_n_scored": _LONG,
        "machine_last_seen": _DATE,
        "machine_threshold": _FLOAT,
        "machine_evidence": _STORED_ONLY,
    },
}
for _kind, _fields in TEXT_FIELDS.items():
    MAPPINGS[_kind]["properties"].update(_fields)
# --- end text rollups (issue 3) ---------------------------------------------------------------------

# Engine errors that mean "try again later", as opposed to "this document is bad".
_TRANSIENT_STATUS = {429, 502, 503, 504}


class OpenSearchStore:
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

    def drop_all(self) -> None:
        """Delete every index and template of this prefix (tests and `demo --fresh`)."""
        # By explicit names: the store refuses wildcard deletes (action.destructive_requires_name).
        names = sorted(self.client.indices.get(index=f"{self.prefix}-*", expand_wildcards="all"))
        for start in range(0, len(names), 50):  # a bounded URL per request
            self.client.indices.delete(index=",".join(names[start : start + 50]), ignore_unavailable=True)
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
        try:
            response = self.client.count(index=self.alias(kind), body=body, params={"ignore_unavailable": "true"})
        except TransportError as exc:
            # 503 "all shards failed": an index whose shard is still starting (just created or recovering).
            if exc.status_code in _TRANSIENT_STATUS:
                raise StoreUnavailable(f"count unavailable: {exc}") from exc
            raise
        return int(response["count"])

    def get(self, kind: IndexKind, doc_id: str) -> dict[str, Any] | None:
        hits = self.search(kind, {"ids": {"values": [document_id(doc_id)]}}, size=1)
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
        # No index behind the alias yet (nothing stored): the reply has no aggregations, and no values.
        buckets = response.get("aggregations", {}).get("top", {}).get("buckets", [])
        return [(b["key"], int(b["doc_count"])) for b in buckets]

    # --- alerts and watchlists -------------------------------------------------------------------
    # Watched entities live in a percolator index (one query per entity); alerts are upserted by a
    # script that never overwrites their lifecycle (status, history, deliveries, created_at).

    def put_watch_entities(self, entities: Sequence[Mapping[str, Any]]) -> int:
        """Create or replace watched entities (``WatchEntity.model_dump()`` dicts); visible on return."""
        body: list[dict[str, Any]] = []
        now = datetime.now(UTC).isoformat()
        for e in entities:
            body.append({"index": {"_index": self.index_for(IndexKind.watchlists, None), "_id": document_id(e["id"])}})
            body.append(
                {
                    "query": compile_watch_query(e),
                    "entity_id": e["id"],
                    "kind": e.get("kind", "entity"),
                    "entity": dict(e),
                    "updated_at": now,
                }
            )
        if not body:
            return 0
        response = self._call(lambda: self.client.bulk(body=body, refresh="wait_for"))
        failed = [i["index"] for i in response["items"] if int(i["index"].get("status", 500)) >= 300]
        if failed:
            raise ValueError(f"store rejected watch entity {failed[0].get('_id')}: {_reason(failed[0].get('error'))}")
        return len(body) // 2

    def list_watch_entities(self, size: int = 10_000) -> list[dict[str, Any]]:
        hits = self.search(IndexKind.watchlists, {"match_all": {}}, size=size, sort=[{"entity_id": "asc"}])
        return [h["entity"] for h in hits if isinstance(h.get("entity"), dict)]

    def delete_watch_entity(self, entity_id: str) -> bool:
        try:
            self._call(
                lambda: self.client.delete(
                    index=self.index_for(IndexKind.watchlists, None), id=document_id(entity_id), refresh="wait_for"
                )
            )
        except NotFoundError:
            return False
        return True

    def percolate(self, posts: Sequence[Post]) -> dict[str, list[dict[str, Any]]]:
        """Post key → the watched entities (as stored dicts) whose query matches the post."""
        if not posts:
            return {}
        docs = [
            {
                # Words only: "Trump's" and "#Hillary’s" must match as the words they contain, as
                # flockwatch.alerts.watchlist.tokens splits them (the standard analyzer would not).
                "text": " ".join(_WORD.findall(unicodedata.normalize("NFKC", p.text))),
                "mentions": p.mentions,
                "author": {"handle": p.author.handle or p.author.id},
                **({"language": p.language} if p.language else {}),
            }
            for p in posts
        ]
        body = {
            "query": {"percolate": {"field": "query", "documents": docs}},
            "size": 10_000,
            "_source": ["entity"],
        }
        response = self._call(
            lambda: self.client.search(
                index=self.alias(IndexKind.watchlists), body=body, params={"ignore_unavailable": "true"}
            )
        )
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for hit in response["hits"]["hits"]:
            entity = hit["_source"].get("entity")
            slots = hit.get("fields", {}).get("_percolator_document_slot", [0] if len(posts) == 1 else [])
            for slot in slots:
                # a batch may carry the same post twice (redelivery): list each entity once
                out.setdefault(posts[int(slot)].key, {})[hit["_id"]] = entity
        return {key: list(found.values()) for key, found in out.items()}

    def upsert_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> BulkResult:
        """Create alerts or merge updates into them, keeping lifecycle fields set elsewhere.

        Raises StoreUnavailable (retry the batch) unless every alert was acknowledged or rejected.
        """
        if not alerts:
            return BulkResult()
        body: list[dict[str, Any]] = []
        index = self.index_for(IndexKind.alerts, None)
        for a in alerts:
            body.append({"update": {"_index": index, "_id": document_id(a["alert_id"]), "retry_on_conflict": 5}})
            body.append(
                {
                    "script": {"source": _ALERT_MERGE, "lang": "painless", "params": {"doc": dict(a), "keep": _KEEP}},
                    "upsert": dict(a),
                }
            )
        response = self._call(lambda: self.client.bulk(body=body))
        return _bulk_result([str(a["alert_id"]) for a in alerts], response["items"], "alerts")

    def get_alert(self, alert_id: str) -> dict[str, Any] | None:
        try:
            hit = self._call(
                lambda: self.client.get(index=self.index_for(IndexKind.alerts, None), id=document_id(alert_id))
            )
        except NotFoundError:
            return None
        return dict(hit["_source"])

    def list_alerts(
        self,
        status: str | None = None,
        severity: str | None = None,
        rule: str | None = None,
        entity: str | None = None,
        size: int = 50,
    ) -> list[dict[str, Any]]:
        """Alerts, newest first, filtered by exact status, severity, rule and entity."""
        filters = [
            {"term": {name: value}}
            for name, value in (("status", status), ("severity", severity), ("rule", rule), ("entity", entity))
            if value
        ]
        query: dict[str, Any] = {"bool": {"filter": filters}} if filters else {"match_all": {}}
        hits = self.search(IndexKind.alerts, query, size=size, sort=[{"created_at": {"order": "desc"}}])
        return [{k: v for k, v in h.items() if k != "_id"} for h in hits]

    def update_alert(self, alert_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        """Apply ``change`` (current doc → partial doc) atomically, retrying on concurrent writes.

        Raises KeyError when there is no such alert; whatever ``change`` raises propagates.
        """
        index = self.index_for(IndexKind.alerts, None)
        for _ in range(10):
            try:
                hit = self._call(lambda: self.client.get(index=index, id=document_id(alert_id)))
            except NotFoundError:
                raise KeyError(alert_id) from None
            doc = dict(hit["_source"])
            doc.update(change(doc))
            write = partial(
                self.client.index,
                index=index,
                id=document_id(alert_id),
                body=doc,
                params={
                    "if_seq_no": str(hit["_seq_no"]),
                    "if_primary_term": str(hit["_primary_term"]),
                    "refresh": "wait_for",
                },
            )
            try:
                self._call(write)
            except ConflictError:
                continue
            return doc
        raise StoreUnavailable(f"alert {alert_id} kept changing under us; try again")

    def record_delivery(self, alert_id: str, delivery: Mapping[str, Any]) -> None:
        """Append a sink delivery record to the alert (the last 50 are kept)."""
        self._call(
            lambda: self.client.update(
                index=self.index_for(IndexKind.alerts, None),
                id=document_id(alert_id),
                body={"script": {"source": _APPEND_DELIVERY, "lang": "painless", "params": {"d": dict(delivery)}}},
                params={"retry_on_conflict": "5"},
            )
        )

    _outbox_mapped: bool = False  # set once the alerts index is known to map `outbox`

    def ack_delivery(self, alert_id: str, delivery: Mapping[str, Any], settled: Sequence[str]) -> None:
        """Record a delivery on the alert and drop the ``settled`` outbox entries, in one update."""
        self._call(
            lambda: self.client.update(
                index=self.index_for(IndexKind.alerts, None),
                id=document_id(alert_id),
                body={
                    "script": {
                        "source": _APPEND_DELIVERY + _SETTLE_OUTBOX,
                        "lang": "painless",
                        "params": {"d": dict(delivery), "settled": list(settled)},
                    }
                },
                params={"retry_on_conflict": "5"},
            )
        )

    def pending_notifications(self, size: int = 500) -> list[dict[str, Any]]:
        """Alerts whose outbox is not empty, as of now (searched, then read back in real time)."""
        if not self._outbox_mapped:  # indices made before the outbox existed lack the field
            self._call(
                lambda: self.client.indices.put_mapping(
                    index=self.alias(IndexKind.alerts), body={"properties": {"outbox": _KEYWORD}}
                )
            )
            self._outbox_mapped = True
        hits = self.search(IndexKind.alerts, {"exists": {"field": "outbox"}}, size=size)
        docs = self.get_many(IndexKind.alerts, [h["_id"] for h in hits]) if hits else {}
        return [d for d in docs.values() if d.get("outbox")]

    def alert_statuses(self, alert_ids: Sequence[str]) -> dict[str, str]:
        if not alert_ids:
            return {}
        ids = {document_id(a): a for a in alert_ids}
        hits = self.search(IndexKind.alerts, {"ids": {"values": list(ids)}}, size=len(ids))
        return {ids.get(h["_id"], h["_id"]): str(h.get("status", "new")) for h in hits}

    def recent_alerts(self, since: datetime, size: int = 10_000) -> list[dict[str, Any]]:
        """Alerts whose posts were seen at or after ``since`` (event time), to restore dedupe state."""
        query = {"bool": {"should": [{"range": {"created_at": {"gte": since.isoformat()}}}]}}
        hits = self.client.search(
            index=self.alias(IndexKind.alerts),
            body={"query": query, "size": size, "sort": [{"created_at": "desc"}]},
            params={"ignore_unavailable": "true"},
        )["hits"]["hits"]
        return [h["_source"] for h in hits]

    # --- media banks (issue 4) ---------------------------------------------------------------------

    def put_bank_items(self, bank: str, records: Sequence[Mapping[str, Any]]) -> BulkResult:
        """Upsert bank records (``flockwatch bank push``); the id makes re-pushing a bank idempotent."""
        upserts = [Upsert(IndexKind.media_bank, f"{bank}:{r['sha256']}", {**r, "bank": bank}, None) for r in records]
        result = self.bulk_upsert(upserts)
        self.refresh(IndexKind.media_bank)
        return result

    def bank_items(self, bank: str | None = None, size: int = 10_000) -> list[dict[str, Any]]:
        """Every banked item (of one bank, or of all) for the media stage to match against."""
        query: dict[str, Any] = {"term": {"bank": bank}} if bank else {"match_all": {}}
        return self.search(IndexKind.media_bank, query, size=size)

    # --- accounts and graph -------------------------------------------------------------------------

    def account_clusters(self, author_keys: Sequence[str]) -> dict[str, list[str]]:
        """Author key (``platform:author_id``) → coordinated cluster ids, from the accounts index."""
        keys = sorted(set(author_keys))
        if not keys:
            return {}
        by_id = {document_id(k): k for k in keys}
        query = {
            "bool": {
                "should": [{"ids": {"values": list(by_id)}}, {"terms": {"key": keys}}],
                "filter": [{"exists": {"field": "cluster_ids"}}],
                "minimum_should_match": 1,
            }
        }
        hits = self.search(IndexKind.accounts, query, size=len(keys))
        out: dict[str, list[str]] = {}
        for h in hits:
            ids = h.get("cluster_ids") or []
            key = h.get("key") or by_id.get(h["_id"], h["_id"])
            if ids:
                out[str(key)] = [str(c) for c in (ids if isinstance(ids, list) else [ids])]
        return out

    def scan_posts(self, start: datetime, end: datetime, page: int = 2000) -> Iterator[dict[str, Any]]:
        """Stored posts with ``start <= created_at < end`` in time order (search_after paging)."""
        query = {"range": {"created_at": {"gte": start.isoformat(), "lt": end.isoformat()}}}
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "query": query,
                "size": page,
                "sort": [{"created_at": "asc"}, {"key": "asc"}],
            }
            if after is not None:
                body["search_after"] = after
            response = self._call(
                partial(
                    self.client.search,
                    index=self.alias(IndexKind.posts),
                    body=body,
                    params={"ignore_unavailable": "true"},
                )
            )
            hits = response["hits"]["hits"]
            for hit in hits:
                yield hit["_source"]
            if len(hits) < page:
                return
            after = hits[-1]["sort"]

    # --- graph (issue 5): reads and writes of flockwatch.stages.graph / graph_jobs ---------------------

    def ensure_graph_mappings(self) -> None:
        """Add the graph fields to indices created before they existed (adding fields is compatible)."""
        for kind, fields in GRAPH_FIELDS.items():
            index = self.index_for(kind, None)
            if self.client.indices.exists(index=index):
                self._call(partial(self.client.indices.put_mapping, index=index, body={"properties": fields}))

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

    def cascades_by_member(self, keys: Sequence[str], chunk: int = 500) -> dict[str, str]:
        """Post key → id of the cascade whose ``members`` hold it (named queries say which key matched)."""
        out: dict[str, str] = {}
        for start in range(0, len(keys), chunk):
            part = list(keys[start : start + chunk])
            body = {
                "query": {"bool": {"should": [{"term": {"members": {"value": k, "_name": k}}} for k in part]}},
                "size": len(part),
                # The id is hashed when the root key is long; the document says which cascade it is.
                "_source": ["cascade_id"],
            }
            response = self._call(
                partial(
                    self.client.search,
                    index=self.alias(IndexKind.cascades),
                    body=body,
                    params={"ignore_unavailable": "true"},
                )
            )
            for hit in response["hits"]["hits"]:
                for key in hit.get("matched_queries", []):
                    out[key] = str(hit.get("_source", {}).get("cascade_id") or hit["_id"])
        return out

    def scan(
        self, kind: IndexKind, query: dict[str, Any], sort: list[Any], page: int = 1000
    ) -> Iterator[dict[str, Any]]:
        """Every matching document (with ``_id``), by ``search_after`` on ``sort`` (which must be unique)."""
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {"query": query, "size": page, "sort": sort}
            if after is not None:
                body["search_after"] = after
            response = self._call(
                partial(self.client.search, index=self.alias(kind), body=body, params={"ignore_unavailable": "true"})
            )
            hits = response["hits"]["hits"]
            for hit in hits:
                yield hit["_source"] | {"_id": hit["_id"]}
            if len(hits) < page:
                return
            after = hits[-1]["sort"]

    def scan_edges(
        self, start: datetime | None = None, end: datetime | None = None, kinds: Sequence[str] = ()
    ) -> Iterator[dict[str, Any]]:
        """Coordination edges with a co-action in ``[start, end)`` (by their first/last seen), by id."""
        filters: list[dict[str, Any]] = []
        if start is not None:
            filters.append({"range": {"last_seen": {"gte": start.isoformat()}}})
        if end is not None:
            filters.append({"range": {"first_seen": {"lt": end.isoformat()}}})
        if kinds:
            filters.append({"terms": {"kind": list(kinds)}})
        query: dict[str, Any] = {"bool": {"filter": filters}} if filters else {"match_all": {}}
        return self.scan(IndexKind.coordination_edges, query, [{"edge_id": "asc"}])

    def previous_clusters(self, before: datetime) -> tuple[datetime | None, dict[str, dict[str, Any]]]:
        """The cluster snapshots of the latest window that ended before ``before``: (its end, id → doc)."""
        latest = self.search(
            IndexKind.clusters,
            {"range": {"window_end": {"lt": before.isoformat()}}},
            size=1,
            sort=[{"window_end": {"order": "desc", "unmapped_type": "date"}}],
        )
        if not latest:
            return None, {}
        end = str(latest[0]["window_end"])
        docs = self.scan(IndexKind.clusters, {"term": {"window_end": end}}, [{"cluster_id": "asc"}])
        when = datetime.fromisoformat(end.replace("Z", "+00:00"))
        return when, {str(d["cluster_id"]): d for d in docs}

    # --- end graph (issue 5) ----------------------------------------------------------------------

    # --- text rollups (issue 3): reads behind flockwatch.stages.rollups -------------------------------

    def ensure_text_mappings(self) -> None:
        """Add the rollup fields to indices created before they existed (adding fields is compatible)."""
        for kind, fields in TEXT_FIELDS.items():
            index = self.index_for(kind, None)
            if self.client.indices.exists(index=index):
                self._call(partial(self.client.indices.put_mapping, index=index, body={"properties": fields}))

    def post_refs(self, keys: Sequence[str], chunk: int = 5000) -> list[dict[str, Any]]:
        """Stored posts by key, only what rollups need: key, narrative id, platform, author id and handle, and the
        text score's label (whether the score was stored yet)."""
        out: list[dict[str, Any]] = []
        fields = ["key", "narrative_id", "platform", "author.id", "author.handle", "text_score.label"]
        for start in range(0, len(keys), chunk):
            part = list(dict.fromkeys(keys[start : start + chunk]))
            body = {"query": {"terms": {"key": part}}, "size": len(part), "_source": fields}
            response = self._call(
                partial(self.client.search, index=self.alias(IndexKind.posts), body=body, params=_LENIENT)
            )
            out.extend(hit["_source"] for hit in response["hits"]["hits"])
        return out

    def narrative_summaries(self, narrative_ids: Sequence[str], chunk: int = 500) -> dict[str, NarrativeSummary]:
        """Each narrative's summary over its post documents, by aggregation (same rules as ``summarize_posts``)."""
        out: dict[str, NarrativeSummary] = {}
        ids = sorted(set(narrative_ids))
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            top = {"order": [{"_count": "desc"}, {"_key": "asc"}]}
            aggs = {
                "first": {"min": {"field": "created_at"}},
                "last": {"max": {"field": "created_at"}},
                "platforms": {"terms": {"field": "platform", "size": 100}},
                # Exact below the precision threshold (40,000 distinct accounts), approximate above.
                "n_accounts": {
                    "filter": {"bool": {"filter": [{"exists": {"field": f}} for f in ("platform", "author.id")]}},
                    "aggs": {"n": {"cardinality": {"script": _ACCOUNT_KEY_SCRIPT, "precision_threshold": 40_000}}},
                },
                "accounts": {
                    "multi_terms": {
                        "terms": [{"field": "platform"}, {"field": "author.id"}],
                        "size": ACCOUNT_SAMPLE,
                        **top,
                    }
                },
                "labels": {"terms": {"field": "text_score.label", "size": 10, "missing": "pending"}},
                "how": {"terms": {"field": "narrative_how", "size": 10}},
                "hashtags": {"terms": {"field": "hashtags", "size": TOP_ENTITIES, **top}},
                "urls": {"terms": {"field": "urls", "size": TOP_ENTITIES, **top}},
                "earliest": {
                    "top_hits": {
                        "size": 1,
                        "sort": [{"created_at": {"order": "asc"}}, {"key": {"order": "asc"}}],
                        "_source": ["text", "key"],
                    }
                },
            }
            body = {
                "query": {"terms": {"narrative_id": part}},
                "size": 0,
                "aggs": {"by": {"terms": {"field": "narrative_id", "size": len(part)}, "aggs": aggs}},
            }
            response = self._call(
                partial(self.client.search, index=self.alias(IndexKind.posts), body=body, params=_LENIENT)
            )
            for b in response.get("aggregations", {}).get("by", {}).get("buckets", []):
                hits = b["earliest"]["hits"]["hits"]
                out[str(b["key"])] = NarrativeSummary(
                    narrative_id=str(b["key"]),
                    post_count=int(b["doc_count"]),
                    first_seen=b["first"].get("value_as_string"),
                    last_seen=b["last"].get("value_as_string"),
                    platforms={str(x["key"]): int(x["doc_count"]) for x in b["platforms"]["buckets"]},
                    account_count=int(b["n_accounts"]["n"]["value"]),
                    accounts=[f"{x['key'][0]}:{x['key'][1]}" for x in b["accounts"]["buckets"]],
                    labels={str(x["key"]): int(x["doc_count"]) for x in b["labels"]["buckets"]},
                    how={str(x["key"]): int(x["doc_count"]) for x in b["how"]["buckets"]},
                    hashtags=[str(x["key"]) for x in b["hashtags"]["buckets"]],
                    urls=[str(x["key"]) for x in b["urls"]["buckets"]],
                    representative_text=str(hits[0]["_source"].get("text", "")) if hits else "",
                    representative_key=str(hits[0]["_source"].get("key")) if hits else None,
                )
        return out

    def recent_account_posts(
        self, accounts: Sequence[tuple[str, str]], size: int = RECENT_POSTS, chunk: int = 200
    ) -> dict[str, list[dict[str, Any]]]:
        """(platform, author id) → its newest post documents (created_at, key, text_score), one msearch per chunk."""
        out: dict[str, list[dict[str, Any]]] = {}
        pairs = sorted(set(accounts))
        fields = ["key", "created_at", "text_score.machine_score", "text_score.label", "author.handle"]
        for start in range(0, len(pairs), chunk):
            part = pairs[start : start + chunk]
            body: list[dict[str, Any]] = []
            for platform, author_id in part:
                body.append({"index": self.alias(IndexKind.posts), "ignore_unavailable": True})
                query = {"bool": {"filter": [{"term": {"platform": platform}}, {"term": {"author.id": author_id}}]}}
                sort = [{"created_at": {"order": "desc"}}, {"key": {"order": "desc"}}]
                body.append({"query": query, "size": size, "sort": sort, "_source": fields})
            response = self._call(partial(self.client.msearch, body=body))
            for (platform, author_id), result in zip(part, response["responses"], strict=True):
                if "error" in result:
                    raise StoreUnavailable(f"account posts unavailable: {_reason(result['error'])}")
                out[f"{platform}:{author_id}"] = [h["_source"] for h in result["hits"]["hits"]]
        return out

    def top_documents(
        self, kind: IndexKind, sort_field: str, size: int, query: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The ``size`` documents of ``kind`` with the largest ``sort_field`` (what `flockwatch ... top` lists)."""
        return self.search(
            kind,
            query or {"match_all": {}},
            size=size,
            sort=[{sort_field: {"order": "desc", "unmapped_type": "float", "missing": "_last"}}],
        )

    # --- end text rollups (issue 3) -----------------------------------------------------------------

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


_WORD = re.compile(r"\w+")
_LENIENT = {"ignore_unavailable": "true"}
# Account key as the accounts index spells it, so a narrative's distinct accounts never merge across platforms.
_ACCOUNT_KEY_SCRIPT = {
    "source": "doc['platform'].value + ':' + doc['author.id'].value",
    "lang": "painless",
}
_KEEP = ["status", "history", "deliveries", "created_at"]
_ALERT_MERGE = """
for (entry in params.doc.entrySet()) {
  if (!params.keep.contains(entry.getKey()) || !ctx._source.containsKey(entry.getKey())) {
    ctx._source[entry.getKey()] = entry.getValue();
  }
}
"""
_SETTLE_OUTBOX = """
if (ctx._source.outbox != null) {
  ctx._source.outbox.removeIf(e -> params.settled.contains(e));
  if (ctx._source.outbox.isEmpty()) { ctx._source.remove('outbox'); }
}
"""
_APPEND_DELIVERY = """
if (ctx._source.deliveries == null) { ctx._source.deliveries = []; }
ctx._source.deliveries.add(params.d);
while (ctx._source.deliveries.size() > 50) { ctx._source.deliveries.remove(0); }
"""


def compile_watch_query(entity: Mapping[str, Any]) -> dict[str, Any]:
    """A watched entity as a percolator query: names and aliases as phrases on ``text``, handles on
    ``mentions`` and ``author.handle``, languages as a filter. Mirrors ``flockwatch.alerts.watchlist.matches``."""
    should: list[dict[str, Any]] = []
    for phrase in dict.fromkeys([entity.get("name"), *(entity.get("aliases") or [])]):
        if phrase:
            should.append({"match_phrase": {"text": phrase}})
    handles = [str(h).lstrip("@").lower() for h in entity.get("handles") or []]
    if handles:
        should.append({"terms": {"mentions": handles}})
        should.append({"terms": {"author.handle": handles}})
    query: dict[str, Any] = {"bool": {"should": should, "minimum_should_match": 1}}
    languages = entity.get("languages") or []
    if languages:
        query["bool"]["filter"] = [{"terms": {"language": list(languages)}}]
    return query


def _bulk_result(ids: Sequence[str], items: Sequence[Mapping[str, Any]], what: str) -> BulkResult:
    """Written and rejected ids of a bulk response; StoreUnavailable if any item is worth retrying."""
    result = BulkResult()
    transient: list[str] = []
    for doc_id, item in zip(ids, items, strict=True):
        outcome = item["update"]
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


def when_store_ready(settings: Settings, call: Callable[[], T], wait_s: float | None = SETTINGS_BOUND) -> T:
    """``call()``, retried with backoff while the store is starting; then ServiceNotReady, one line."""
    return retry_until_ready(
        f"OpenSearch at {settings.opensearch_url}",
        call,
        is_transient=store_transient,
        wait_s=resolve_wait(wait_s, settings.service_wait_s),
        hint=local_services.hint(settings, "opensearch"),
    )


def prepare_store(
    settings: Settings, *, text: bool = False, graph: bool = False, wait_s: float | None = SETTINGS_BOUND
) -> OpenSearchStore:
    """A store whose templates and fixed indices exist (plus the text or graph mappings), once it answers."""
    store = OpenSearchStore(settings)

    def prepare() -> None:
        store.ensure_schema()
        if text:
            store.ensure_text_mappings()
        if graph:
            store.ensure_graph_mappings()

    when_store_ready(settings, prepare, wait_s)
    return store


def wait_until_healthy(store: OpenSearchStore, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if store.healthy():
            return True
        time.sleep(1.0)
    return False
