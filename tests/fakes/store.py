"""``InMemoryStore``: the store of unit tests, with the attributes of :class:`flockwatch.store.Store` (``engine``
and one repository per domain) over dicts.

Documents live in ``store.engine.docs[kind][doc_id]``; upserts merge as the store's ``doc_as_upsert`` does
(nested objects key by key, after nulling an upsert's ``replace`` paths), and alerts merge as the store's alerts
repository merges them (``merge_alert``). What needs a query language (query strings, aggregations beyond top
values) is not here: the integration tests cover it.

Faults, for the tests of retries and dead letters: ``engine.down`` (every call raises ``StoreUnavailable``),
``engine.writes_down`` (every write raises), ``engine.fail_writes`` (the next N bulk writes raise) and
``engine.reject`` (document ids the store refuses for good, reported in ``BulkResult.rejected``).
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flockwatch.alerts.outbox import claim_change
from flockwatch.alerts.watchlist import WatchEntity, match_all
from flockwatch.schema import Post
from flockwatch.store.alerts import apply_change, merge_alert, with_delivery
from flockwatch.store.documents import BulkResult, IndexKind, StoreUnavailable, Upsert, Version, VersionedPut
from flockwatch.store.graph import GraphRepository
from flockwatch.store.rollups import RollupsRepository
from flockwatch.store.verdicts import VerdictsRepository
from flockwatch.text.aggregate import RECENT_POSTS
from flockwatch.text.rollup import NarrativeSummary, account_key, summarize_posts


def _when(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))


def merge_into(stored: dict[str, Any], changes: Mapping[str, Any]) -> None:
    """The engines' partial-update merge: an object into an object key by key, anything else replaces."""
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(stored.get(key), dict):
            merge_into(stored[key], value)
        else:
            stored[key] = copy.deepcopy(value)


def _matches(value: Any, wanted: set[Any]) -> bool:
    """A term query's test: a list field matches when any of its values does."""
    return any(v in wanted for v in value) if isinstance(value, list) else value in wanted


def _field(doc: Mapping[str, Any], dotted: str) -> Any:
    value: Any = doc
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


class InMemoryEngine:
    """The engine's generic operations that stages use, over ``docs``."""

    def __init__(self) -> None:
        self.docs: dict[IndexKind, dict[str, dict[str, Any]]] = {k: {} for k in IndexKind}
        self.writes = 0  # documents written by bulk upserts
        self.refreshes = 0
        self.down = False
        self.writes_down = False
        self.fail_writes = 0
        self.reject: set[str] = set()
        # Each document's version (bumped by every write), for the conditional writes.
        self.versions: dict[tuple[IndexKind, str], int] = {}
        # Called before each conditional write's check: a test's concurrent writer.
        self.before_put_if: Callable[[], None] | None = None

    def _bump(self, kind: IndexKind, doc_id: str) -> None:
        self.versions[(kind, doc_id)] = self.versions.get((kind, doc_id), 0) + 1

    def check_read(self) -> None:
        if self.down:
            raise StoreUnavailable("store unreachable (test)")

    def rejects(self, doc_id: str, result: BulkResult) -> bool:
        """Whether the store refuses ``doc_id`` for good (``reject``); if so, ``result`` says so."""
        if doc_id not in self.reject:
            return False
        result.rejected.append((doc_id, "mapper_parsing_exception: rejected (test)"))
        return True

    def check_write(self) -> None:
        if self.down or self.writes_down:
            raise StoreUnavailable("store unreachable (test)")
        if self.fail_writes:
            self.fail_writes -= 1
            raise StoreUnavailable("store away (test)")

    def bulk_upsert(self, upserts: Sequence[Upsert]) -> BulkResult:
        self.check_write()
        result = BulkResult()
        for u in upserts:
            if self.rejects(u.doc_id, result):
                continue
            stored = self.docs[u.kind].setdefault(u.doc_id, {})
            merge_into(stored, u.cleared())
            merge_into(stored, u.doc)
            self._bump(u.kind, u.doc_id)
            result.written += 1
        self.writes += len(upserts)
        return result

    def get_many_versioned(self, kind: IndexKind, ids: Sequence[str]) -> dict[str, tuple[dict[str, Any], Version]]:
        self.check_read()
        docs = self.docs[kind]
        return {i: (copy.deepcopy(docs[i]), (self.versions.get((kind, i), 0), 1)) for i in ids if i in docs}

    def bulk_put_if(self, kind: IndexKind, puts: Sequence[VersionedPut]) -> BulkResult:
        self.check_write()
        if self.before_put_if is not None:
            self.before_put_if()
        result = BulkResult()
        for put in puts:
            if self.rejects(put.doc_id, result):
                continue
            exists = put.doc_id in self.docs[kind]
            current = (self.versions.get((kind, put.doc_id), 0), 1) if exists else None
            if current != put.version:
                result.conflicts.append(put.doc_id)
                continue
            self.docs[kind][put.doc_id] = copy.deepcopy(dict(put.doc))
            self._bump(kind, put.doc_id)
            result.written += 1
        self.writes += len(puts)
        return result

    def refresh(self, kind: IndexKind | None = None) -> None:
        self.refreshes += 1

    def get(self, kind: IndexKind, doc_id: str, when: datetime | None = None) -> dict[str, Any] | None:
        self.check_read()
        doc = self.docs[kind].get(doc_id)
        return copy.deepcopy(doc) if doc is not None else None

    def get_many(self, kind: IndexKind, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        self.check_read()
        return {i: copy.deepcopy(self.docs[kind][i]) for i in ids if i in self.docs[kind]}

    def get_many_at(
        self, kind: IndexKind, ids: Mapping[str, datetime], fields: Sequence[str] | None = None, realtime: bool = True
    ) -> dict[str, dict[str, Any]]:
        found = self.get_many(kind, list(ids))
        return {i: {f: d[f] for f in fields if f in d} if fields is not None else d for i, d in found.items()}

    def count(self, kind: IndexKind) -> int:
        self.check_read()
        return len(self.docs[kind])

    def put(self, kind: IndexKind, doc_id: str, doc: Mapping[str, Any], **_: Any) -> None:
        self.check_write()
        self.docs[kind][doc_id] = copy.deepcopy(dict(doc))
        self._bump(kind, doc_id)

    def delete(self, kind: IndexKind, doc_id: str) -> bool:
        self.check_write()
        return self.docs[kind].pop(doc_id, None) is not None

    def search(
        self,
        kind: IndexKind,
        query: Mapping[str, Any],
        size: int = 10,
        sort: Sequence[Any] | None = None,
        fields: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """``term`` / ``terms`` on one field only, in id order (what the repositories that use it ask for)."""
        [(op, clause)] = query.items()
        [(name, wanted)] = clause.items()
        assert op in ("term", "terms") and sort is None, "the fake searches one term or terms clause only"
        values = set(wanted if op == "terms" else [wanted])
        self.check_read()
        found = [(i, d) for i, d in sorted(self.docs[kind].items()) if _matches(_field(d, name), values)]
        return [copy.deepcopy(d) | {"_id": i} for i, d in found[:size]]

    def scan(
        self, kind: IndexKind, query: Mapping[str, Any], sort: Sequence[Any], page: int = 1000
    ) -> Iterator[dict[str, Any]]:
        """``match_all``, or one ``term`` / ``terms`` clause, in id order (what the repositories that use it ask
        for)."""
        if dict(query) != {"match_all": {}}:
            yield from self.search(kind, query, size=len(self.docs[kind]))
            return
        self.check_read()
        for doc_id in sorted(self.docs[kind]):
            yield copy.deepcopy(self.docs[kind][doc_id]) | {"_id": doc_id}


class InMemoryPosts:
    def __init__(self, engine: InMemoryEngine) -> None:
        self.engine = engine
        self.recent_searches: list[tuple[str, str]] = []  # accounts searched by ``recent_by_account``, in order

    @property
    def docs(self) -> dict[str, dict[str, Any]]:
        return self.engine.docs[IndexKind.posts]

    def get(self, key: str) -> dict[str, Any] | None:
        self.engine.check_read()
        doc = self.docs.get(key)
        return copy.deepcopy(doc) | {"_id": key} if doc is not None else None

    def fields_of(self, posts: Mapping[str, datetime], fields: Sequence[str]) -> dict[str, dict[str, Any]]:
        return copy.deepcopy(self.engine.get_many_at(IndexKind.posts, posts, fields))

    def scan(self, start: datetime, end: datetime, page: int = 2000) -> Iterator[dict[str, Any]]:
        self.engine.check_read()
        found = (d for d in self.docs.values() if start <= _when(d["created_at"]) < end)
        yield from sorted(found, key=lambda d: (_when(d["created_at"]), d["key"]))

    def refs(self, keys: Sequence[str]) -> list[dict[str, Any]]:
        self.engine.check_read()
        return [self.docs[k] for k in dict.fromkeys(keys) if k in self.docs]

    def recent_by_account(
        self, accounts: Sequence[tuple[str, str]], size: int = RECENT_POSTS
    ) -> dict[str, list[dict[str, Any]]]:
        self.engine.check_read()
        self.recent_searches.extend(accounts)
        out: dict[str, list[dict[str, Any]]] = {}
        for platform, author in accounts:
            mine = [d for d in self.docs.values() if account_key(d) == f"{platform}:{author}"]
            newest = sorted(mine, key=lambda d: (str(d.get("created_at", "")), str(d.get("key"))), reverse=True)
            out[f"{platform}:{author}"] = newest[:size]
        return out

    def top_values(self, field_name: str, size: int = 10) -> list[tuple[str, int]]:
        self.engine.check_read()
        counts: Counter[str] = Counter()
        for doc in self.docs.values():
            value = _field(doc, field_name)
            counts.update(str(v) for v in (value if isinstance(value, list) else [value]) if v is not None)
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:size]


class InMemoryAlerts:
    def __init__(self, engine: InMemoryEngine) -> None:
        self.engine = engine
        self.deliveries: list[tuple[str, dict[str, Any]]] = []  # every delivery recorded, in order

    @property
    def docs(self) -> dict[str, dict[str, Any]]:
        return self.engine.docs[IndexKind.alerts]

    def upsert(self, alerts: Sequence[Mapping[str, Any]]) -> BulkResult:
        self.engine.check_write()
        result = BulkResult()
        for a in alerts:
            alert_id = str(a["alert_id"])
            if self.engine.rejects(alert_id, result):
                continue
            self.docs[alert_id] = copy.deepcopy(merge_alert(self.docs.get(alert_id, {}), a))
            result.written += 1
        return result

    def get(self, alert_id: str) -> dict[str, Any] | None:
        return self.engine.get(IndexKind.alerts, alert_id)

    def find(
        self,
        status: str | None = None,
        severity: str | None = None,
        rule: str | None = None,
        entity: str | None = None,
        size: int = 50,
    ) -> list[dict[str, Any]]:
        self.engine.check_read()
        wanted = {"status": status, "severity": severity, "rule": rule, "entity": entity}
        found = [d for d in self.docs.values() if all(not v or d.get(k) == v for k, v in wanted.items())]
        return sorted(found, key=lambda d: str(d.get("created_at")), reverse=True)[:size]

    def update(
        self, alert_id: str, change: Callable[[dict[str, Any]], dict[str, Any]], *, visible: bool = True
    ) -> dict[str, Any]:
        self.engine.check_write()
        if alert_id not in self.docs:
            raise KeyError(alert_id)
        doc = copy.deepcopy(self.docs[alert_id])
        doc = apply_change(doc, change(doc))
        self.docs[alert_id] = doc
        return copy.deepcopy(doc)

    def record_delivery(self, alert_id: str, delivery: Mapping[str, Any]) -> None:
        self.ack_delivery(alert_id, delivery, ())

    def ack_delivery(self, alert_id: str, delivery: Mapping[str, Any], settled: Sequence[str]) -> None:
        self.deliveries.append((alert_id, dict(delivery)))
        self.update(alert_id, lambda doc: with_delivery(doc, delivery, settled), visible=False)

    def claim(self, alert_id: str, sinks: Sequence[str], lease: timedelta) -> list[str]:
        got: list[str] = []

        def change(doc: dict[str, Any]) -> dict[str, Any]:
            claims, got[:] = claim_change(doc, sinks, datetime.now(UTC), lease)
            return claims

        self.update(alert_id, change, visible=False)
        return got

    def pending(self, size: int = 500) -> list[dict[str, Any]]:
        self.engine.check_read()
        return [copy.deepcopy(d) for d in self.docs.values() if d.get("outbox")][:size]

    def statuses(self, alert_ids: Sequence[str]) -> dict[str, str]:
        self.engine.check_read()
        return {i: str(self.docs[i].get("status", "new")) for i in alert_ids if i in self.docs}

    def recent(self, since: datetime, size: int = 10_000) -> list[dict[str, Any]]:
        self.engine.check_read()
        found = [
            d for d in self.docs.values() if max(_when(d[f]) for f in ("created_at", "last_seen") if d.get(f)) >= since
        ]
        return sorted(found, key=lambda d: _when(d["created_at"]), reverse=True)[:size]


class InMemoryWatchlists:
    """Watched entities by id; percolation is :func:`flockwatch.alerts.watchlist.match_all`, the logic the
    store's percolator queries mirror."""

    def __init__(self, engine: InMemoryEngine) -> None:
        self.engine = engine

    @property
    def docs(self) -> dict[str, dict[str, Any]]:
        return self.engine.docs[IndexKind.watchlists]

    def put(self, entities: Sequence[Mapping[str, Any]]) -> int:
        self.engine.check_write()
        for e in entities:
            self.docs[str(e["id"])] = {"entity_id": e["id"], "kind": e.get("kind", "entity"), "entity": dict(e)}
        return len(entities)

    def entities(self, size: int = 10_000) -> list[dict[str, Any]]:
        self.engine.check_read()
        return [dict(self.docs[i]["entity"]) for i in sorted(self.docs)][:size]

    def delete(self, entity_id: str) -> bool:
        self.engine.check_write()
        return self.docs.pop(entity_id, None) is not None

    def percolate(self, posts: Sequence[Post]) -> dict[str, list[dict[str, Any]]]:
        self.engine.check_read()
        watched = [WatchEntity.model_validate(d["entity"]) for d in self.docs.values()]
        return {k: [e.model_dump() for e in v] for k, v in match_all(watched, list(posts)).items()}


class InMemoryBanks:
    def __init__(self, engine: InMemoryEngine) -> None:
        self.engine = engine

    def put(self, bank: str, records: Sequence[Mapping[str, Any]]) -> BulkResult:
        upserts = [Upsert(IndexKind.media_bank, f"{bank}:{r['sha256']}", {**r, "bank": bank}) for r in records]
        return self.engine.bulk_upsert(upserts)

    def items(self, bank: str | None = None, size: int = 10_000) -> list[dict[str, Any]]:
        self.engine.check_read()
        docs = self.engine.docs[IndexKind.media_bank]
        return [d | {"_id": i} for i, d in docs.items() if bank is None or d.get("bank") == bank][:size]


class InMemoryGraph:
    """The real repository's merge-following reads (over the fake engine's ``get``, ``search`` and ``scan``), fakes for
    the rest."""

    def __init__(self, engine: InMemoryEngine) -> None:
        self.engine = engine
        self.real = GraphRepository(engine)  # type: ignore[arg-type]

    def current_cascade(self, cascade_id: str) -> dict[str, Any] | None:
        return self.real.current_cascade(cascade_id)

    def merged_into(self, cascade_id: str, most: int = 1000) -> list[str]:
        return self.real.merged_into(cascade_id, most)

    def account_clusters(self, author_keys: Sequence[str]) -> dict[str, list[str]]:
        self.engine.check_read()
        accounts = self.engine.docs[IndexKind.accounts]
        out: dict[str, list[str]] = {}
        for key in sorted(set(author_keys)):
            ids = (accounts.get(key) or {}).get("cluster_ids") or []
            if ids:
                out[key] = [str(c) for c in (ids if isinstance(ids, list) else [ids])]
        return out

    def cascades_by_member(self, keys: Sequence[str], chunk: int = 500) -> dict[str, str]:
        self.engine.check_read()
        wanted = set(keys)
        cascades = self.engine.docs[IndexKind.cascades]
        return {m: cid for cid, d in cascades.items() for m in d.get("members", []) if m in wanted}

    def edges(
        self, start: datetime | None = None, end: datetime | None = None, kinds: Sequence[str] = ()
    ) -> Iterator[dict[str, Any]]:
        self.engine.check_read()
        for doc_id, d in sorted(self.engine.docs[IndexKind.coordination_edges].items()):
            if kinds and d.get("kind") not in kinds:
                continue
            if start is not None and "last_seen" in d and _when(d["last_seen"]) < start:
                continue
            if end is not None and "first_seen" in d and _when(d["first_seen"]) >= end:
                continue
            yield d | {"_id": doc_id}

    def window_clusters(self, end: datetime) -> dict[str, dict[str, Any]]:
        return self.real.window_clusters(end)

    def clusters_holding(self, accounts: Sequence[str], chunk: int = 500) -> dict[str, list[dict[str, Any]]]:
        return self.real.clusters_holding(accounts, chunk)

    def previous_clusters(self, before: datetime) -> tuple[datetime | None, dict[str, dict[str, Any]]]:
        self.engine.check_read()
        clusters = self.engine.docs[IndexKind.clusters].values()
        ends = sorted({str(d["window_end"]) for d in clusters if _when(d["window_end"]) < before}, key=_when)
        if not ends:
            return None, {}
        return _when(ends[-1]), {str(d["cluster_id"]): d for d in clusters if d["window_end"] == ends[-1]}


class InMemoryCases:
    def __init__(self, engine: InMemoryEngine) -> None:
        self.engine = engine

    def create(self, case: dict[str, Any]) -> None:
        self.engine.check_write()
        self.engine.docs[IndexKind.cases][str(case["case_id"])] = copy.deepcopy(case)

    def get(self, case_id: str) -> dict[str, Any] | None:
        self.engine.check_read()
        found = self.engine.docs[IndexKind.cases].get(case_id)
        return copy.deepcopy(found) if found is not None else None

    def recent(self, size: int = 50) -> list[dict[str, Any]]:
        self.engine.check_read()
        docs = sorted(self.engine.docs[IndexKind.cases].values(), key=lambda d: str(d.get("updated_at")), reverse=True)
        return [{k: v for k, v in d.items() if k not in ("items", "notes")} for d in docs][:size]

    def update(self, case_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        self.engine.check_write()
        doc = self.engine.docs[IndexKind.cases].get(case_id)
        if doc is None:
            raise KeyError(case_id)
        doc.update(change(copy.deepcopy(doc)))
        return copy.deepcopy(doc)


class InMemoryRollups(RollupsRepository):
    """The store's repository with the aggregations recomputed in Python (reads by id are the real code's)."""

    def __init__(self, engine: InMemoryEngine) -> None:
        super().__init__(engine)  # type: ignore[arg-type]
        self.mem = engine

    def narrative_summaries(self, narrative_ids: Sequence[str], chunk: int = 500) -> dict[str, NarrativeSummary]:
        """Recomputed like the store's aggregation, by its Python reference ``summarize_posts``."""
        self.mem.check_read()
        every = summarize_posts(self.mem.docs[IndexKind.posts].values())
        return {n: every[n] for n in narrative_ids if n in every}

    def top(
        self, kind: IndexKind, sort_field: str, size: int, query: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """``query`` is not interpreted here: the integration tests cover filtered tops."""
        self.mem.check_read()
        docs = [d | {"_id": i} for i, d in self.mem.docs[kind].items() if d.get(sort_field) is not None]
        return sorted(docs, key=lambda d: d[sort_field], reverse=True)[:size]


@dataclass
class InMemoryStore:
    engine: InMemoryEngine = field(default_factory=InMemoryEngine)
    posts: InMemoryPosts = field(init=False)
    alerts: InMemoryAlerts = field(init=False)
    watchlists: InMemoryWatchlists = field(init=False)
    banks: InMemoryBanks = field(init=False)
    graph: InMemoryGraph = field(init=False)
    rollups: InMemoryRollups = field(init=False)
    cases: InMemoryCases = field(init=False)
    verdicts: VerdictsRepository = field(init=False)

    def __post_init__(self) -> None:
        self.posts = InMemoryPosts(self.engine)
        self.alerts = InMemoryAlerts(self.engine)
        self.watchlists = InMemoryWatchlists(self.engine)
        self.banks = InMemoryBanks(self.engine)
        self.graph = InMemoryGraph(self.engine)
        self.rollups = InMemoryRollups(self.engine)
        self.cases = InMemoryCases(self.engine)
        self.verdicts = VerdictsRepository(self.engine)  # type: ignore[arg-type]
