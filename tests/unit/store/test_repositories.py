"""The store's pure parts: watch queries, mappings, bulk responses, and what repositories ask of an engine
(over a scripted engine: no server). The requests themselves are checked against OpenSearch and Elasticsearch in
tests/integration/store."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from flockwatch.alerts.watchlist import WatchEntity
from flockwatch.schema import Author, Post, SourceRef, document_id
from flockwatch.store import Store
from flockwatch.store.alerts import DELIVERIES_KEPT, LIFECYCLE_FIELDS, apply_change, merge_alert, with_delivery
from flockwatch.store.documents import (
    BulkResult,
    Hit,
    IndexKind,
    Search,
    StoreRequestError,
    StoreUnavailable,
    Version,
    VersionConflict,
    VersionedPut,
)
from flockwatch.store.engines.rest import _bulk_result, store_transient
from flockwatch.store.mappings import GRAPH_FIELDS, MAPPINGS, TEXT_FIELDS
from flockwatch.store.watchlists import compile_watch_query, percolated_document


class ScriptedEngine:
    """Answers from canned ``hits``/``docs`` and records what it was asked (only what these tests use)."""

    def __init__(self) -> None:
        self.hits_by_kind: dict[IndexKind, list[Hit]] = {}
        self.scanned: list[dict[str, Any]] = []
        self.versions: list[tuple[dict[str, Any], Version]] = []
        self.conflicts = 0
        self.calls: list[tuple[str, Any]] = []
        self.puts: list[dict[str, Any]] = []
        self.stored: dict[str, tuple[dict[str, Any], Version]] = {}  # what get_many_versioned answers
        self.lose: list[set[str]] = []  # per bulk_put_if call: the ids whose write loses a race

    def hits(
        self,
        kind: IndexKind,
        query: Mapping[str, Any],
        size: int = 10,
        sort: Sequence[Any] | None = None,
        fields: Sequence[str] | None = None,
    ) -> list[Hit]:
        self.calls.append(("hits", (kind, query, size, fields)))
        return self.hits_by_kind.get(kind, [])

    def search(
        self,
        kind: IndexKind,
        query: Mapping[str, Any],
        size: int = 10,
        sort: Sequence[Any] | None = None,
        fields: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        return [h.source | {"_id": h.id} for h in self.hits(kind, query, size, sort, fields)]

    def scan(
        self, kind: IndexKind, query: Mapping[str, Any], sort: Sequence[Any], page: int = 1000
    ) -> Iterator[dict[str, Any]]:
        self.calls.append(("scan", (kind, query, sort, page)))
        yield from self.scanned

    def search_many(self, kind: IndexKind, searches: Sequence[Search]) -> list[list[Hit]]:
        self.calls.append(("search_many", searches))
        return [[Hit(f"{i}", {"key": f"p{i}"})] for i, _ in enumerate(searches)]

    def get_versioned(self, kind: IndexKind, doc_id: str) -> tuple[dict[str, Any], Version] | None:
        return self.versions.pop(0) if self.versions else None

    def put(
        self,
        kind: IndexKind,
        doc_id: str,
        doc: Mapping[str, Any],
        *,
        if_version: Version | None = None,
        visible: bool = True,
    ) -> None:
        if self.conflicts:
            self.conflicts -= 1
            raise VersionConflict("changed (test)")
        self.puts.append(dict(doc))

    def get_many_versioned(self, kind: IndexKind, ids: Sequence[str]) -> dict[str, tuple[dict[str, Any], Version]]:
        return {i: self.stored[i] for i in ids if i in self.stored}

    def bulk_put_if(self, kind: IndexKind, puts: Sequence[VersionedPut]) -> BulkResult:
        self.calls.append(("bulk_put_if", list(puts)))
        lose = self.lose.pop(0) if self.lose else set()
        return BulkResult(written=len([p for p in puts if p.doc_id not in lose]), conflicts=sorted(lose))


def store_over(engine: ScriptedEngine) -> Store:
    return Store.over(engine)  # type: ignore[arg-type]  # the scripted engine has only what these tests use


def post(text: str = "", **kw: Any) -> Post:
    return Post(
        platform="twitter",
        platform_id=kw.pop("pid", "1"),
        author=Author(id="a1", handle=kw.pop("handle", None)),
        text=text,
        created_at=datetime(2016, 10, 1, tzinfo=UTC),
        source=SourceRef(format="t", uri="u"),
        **kw,
    )


# --- pure data and functions --------------------------------------------------------------------------------


def test_compiled_query_shape() -> None:
    e = WatchEntity(id="t", name="Donald Trump", aliases=["Trump"], handles=["@RealDonaldTrump"], languages=["en"])
    q = compile_watch_query(e.model_dump())["bool"]
    assert {"match_phrase": {"text": "Donald Trump"}} in q["should"]
    assert {"terms": {"mentions": ["realdonaldtrump"]}} in q["should"]
    assert {"terms": {"author.handle": ["realdonaldtrump"]}} in q["should"]
    assert q["filter"] == [{"terms": {"language": ["en"]}}] and q["minimum_should_match"] == 1
    bare = compile_watch_query(WatchEntity(id="h", name="Hillary", aliases=["Hillary"]).model_dump())["bool"]
    assert bare["should"] == [{"match_phrase": {"text": "Hillary"}}] and "filter" not in bare  # each phrase once


def test_percolated_document_keeps_words_and_falls_back_to_the_author_id() -> None:
    doc = percolated_document(post("#Hillary’s emails, Trump's\u00a0rally!", mentions=["cnn"], language="en"))
    assert doc == {"text": "Hillary s emails Trump s rally", "mentions": ["cnn"], "author": {"handle": "a1"},
                   "language": "en"}  # fmt: skip
    assert "language" not in percolated_document(post("x", handle="Ann"))


def test_added_fields_are_part_of_the_mappings() -> None:
    for added in (GRAPH_FIELDS, TEXT_FIELDS):
        for kind, fields in added.items():
            assert fields.items() <= MAPPINGS[kind]["properties"].items(), kind
    assert set(MAPPINGS) == set(IndexKind)
    assert MAPPINGS[IndexKind.alerts]["properties"]["outbox"] == {"type": "keyword"}


def test_bulk_result_splits_written_rejected_conflicting_and_transient() -> None:
    items: list[dict[str, Any]] = [
        {"update": {"status": 200}},
        {"index": {"status": 201}},
        {"update": {"status": 400, "error": {"type": "mapper_parsing_exception", "reason": "bad"}}},
        {"create": {"status": 409, "error": {"type": "version_conflict_engine_exception", "reason": "exists"}}},
    ]
    result = _bulk_result(["a", "b", "c", "d"], items, "documents")
    assert result.written == 2 and result.rejected == [("c", "mapper_parsing_exception: bad")]
    assert result.conflicts == ["d"]
    with pytest.raises(StoreUnavailable, match=r"1 alerts not acknowledged, e\.g\. b: 429"):
        _bulk_result(["a", "b"], [{"update": {"status": 200}}, {"update": {"status": 429}}], "alerts")
    # An unconditional upsert that lost its retry_on_conflict race is still owed: the batch is retried.
    with pytest.raises(StoreUnavailable, match=r"1 documents not acknowledged, e\.g\. d: 409"):
        _bulk_result(["a", "b", "c", "d"], items, "documents", conflicts_owed=True)


def test_store_transient() -> None:
    assert store_transient(StoreUnavailable("x"))
    assert not store_transient(StoreRequestError(400, "bad request")) and not store_transient(ValueError())


def test_documents_and_stages_load_no_engine_library() -> None:
    code = (
        "import sys, flockwatch.store.documents, flockwatch.store, flockwatch.stages.graph, flockwatch.stages.index, "
        "flockwatch.stages.rollups, flockwatch.stages.alerts, flockwatch.stages.graph_windows, "
        "flockwatch.stages.alert_sweep; "
        "print([m for m in ('opensearchpy', 'elasticsearch', 'requests', 'urllib3', 'kafka') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- repositories over an engine -------------------------------------------------------------------------------


def test_posts_scan_yields_documents_without_the_engine_id() -> None:
    engine = ScriptedEngine()
    engine.scanned = [{"key": "twitter:1", "_id": "twitter:1"}]
    start, end = datetime(2016, 10, 1, tzinfo=UTC), datetime(2016, 10, 2, tzinfo=UTC)
    assert list(store_over(engine).posts.scan(start, end, page=10)) == [{"key": "twitter:1"}]
    (_, (kind, query, sort, page)) = engine.calls[-1]
    assert kind is IndexKind.posts and page == 10 and sort == [{"created_at": "asc"}, {"key": "asc"}]
    assert query == {"range": {"created_at": {"gte": start.isoformat(), "lt": end.isoformat()}}}


def test_recent_by_account_is_one_search_per_account() -> None:
    engine = ScriptedEngine()
    found = store_over(engine).posts.recent_by_account([("tw", "b"), ("tw", "a"), ("tw", "a")], size=5)
    assert found == {"tw:a": [{"key": "p0"}], "tw:b": [{"key": "p1"}]}
    (_, searches) = engine.calls[-1]
    assert [s.size for s in searches] == [5, 5]
    assert searches[0].query == {"bool": {"filter": [{"term": {"platform": "tw"}}, {"term": {"author.id": "a"}}]}}


def test_alert_update_retries_a_lost_race_and_reports_a_missing_alert() -> None:
    engine = ScriptedEngine()
    engine.versions = [({"status": "new", "n": 1}, (1, 1)), ({"status": "new", "n": 2}, (2, 1))]
    engine.conflicts = 1
    doc = store_over(engine).alerts.update("al", lambda d: {"status": "acknowledged", "seen": d["n"]})
    assert doc == {"status": "acknowledged", "n": 2, "seen": 2} and engine.puts == [doc]
    with pytest.raises(KeyError):
        store_over(engine).alerts.update("missing", lambda d: {})


def test_merge_alert_keeps_the_lifecycle_it_has_and_takes_the_rest() -> None:
    stored = {"alert_id": "al", "status": "acknowledged", "history": [1], "count": 3, "outbox": ["high:s"]}
    update = {"alert_id": "al", "status": "new", "history": [], "deliveries": [], "count": 5, "created_at": "t"}
    assert merge_alert(stored, update) == {
        "alert_id": "al",
        "status": "acknowledged",
        "history": [1],
        "count": 5,
        "outbox": ["high:s"],
        "deliveries": [],  # lifecycle fields the stored alert lacks are taken
        "created_at": "t",
    }
    assert merge_alert({}, update) == update and set(LIFECYCLE_FIELDS) <= set(update)


def test_deliveries_are_capped_and_acks_settle_the_outbox() -> None:
    doc = {"deliveries": [{"n": i} for i in range(DELIVERIES_KEPT)], "outbox": ["high:a", "high:b"]}
    change = with_delivery(doc, {"n": "new"}, ["high:a"])
    assert change["deliveries"][-1] == {"n": "new"} and len(change["deliveries"]) == DELIVERIES_KEPT
    assert change["outbox"] == ["high:b"]
    settled = apply_change(doc, with_delivery(doc, {"n": "last"}, ["high:a", "high:b"]))
    assert "outbox" not in settled  # an empty outbox goes, so `pending` no longer finds the alert
    assert "outbox" not in with_delivery({}, {"n": 1})


def test_alert_upserts_create_new_alerts_merge_stored_ones_and_retry_lost_races() -> None:
    engine = ScriptedEngine()
    engine.stored = {"old": ({"alert_id": "old", "status": "resolved", "count": 1}, (7, 1))}
    engine.lose = [{"old"}]  # the first write of "old" loses a race; the second round re-reads and wins
    result = store_over(engine).alerts.upsert(
        [{"alert_id": "new", "status": "new"}, {"alert_id": "old", "status": "new", "count": 2}]
    )
    assert result.written == 2 and result.conflicts == []
    first, second = (puts for name, puts in engine.calls if name == "bulk_put_if")
    assert first == [
        VersionedPut("new", {"alert_id": "new", "status": "new"}),  # no version: create only
        VersionedPut("old", {"alert_id": "old", "status": "resolved", "count": 2}, (7, 1)),
    ]
    assert [p.doc_id for p in second] == ["old"]
    engine.lose = [{"old"}] * 10
    with pytest.raises(StoreUnavailable, match="kept changing"):
        store_over(engine).alerts.upsert([{"alert_id": "old", "status": "new"}])


def test_statuses_and_clusters_map_hashed_ids_back_to_keys() -> None:
    long_id = "burst:" + "#" * 600
    engine = ScriptedEngine()
    engine.hits_by_kind[IndexKind.alerts] = [Hit(document_id(long_id), {"status": "acknowledged"})]
    engine.hits_by_kind[IndexKind.accounts] = [Hit(document_id("tw:" + "x" * 600), {"cluster_ids": "c1"})]
    store = store_over(engine)
    assert store.alerts.statuses([long_id, "other"]) == {long_id: "acknowledged"}
    assert store.graph.account_clusters(["tw:" + "x" * 600]) == {"tw:" + "x" * 600: ["c1"]}


def test_cascades_by_member_reads_the_named_queries() -> None:
    engine = ScriptedEngine()
    engine.hits_by_kind[IndexKind.cascades] = [Hit("hashed", {"cascade_id": "tw:root"}, matched=("tw:2", "tw:3"))]
    assert store_over(engine).graph.cascades_by_member(["tw:2", "tw:3", "tw:4"]) == {
        "tw:2": "tw:root",
        "tw:3": "tw:root",
    }
    (_, (_, query, size, fields)) = engine.calls[-1]
    assert size == 3 and fields == ["cascade_id"]
    assert query["bool"]["should"][0] == {"term": {"members": {"value": "tw:2", "_name": "tw:2"}}}


def test_percolate_maps_slots_to_posts_and_lists_each_entity_once() -> None:
    engine = ScriptedEngine()
    hillary = {"id": "hillary", "name": "Hillary Clinton"}
    slots = {"_percolator_document_slot": [0, 2]}
    engine.hits_by_kind[IndexKind.watchlists] = [Hit("hillary", {"entity": hillary}, fields=slots)]
    posts = [post("Hillary", pid="1"), post("nothing", pid="2"), post("Hillary", pid="1")]  # a redelivered post
    assert store_over(engine).watchlists.percolate(posts) == {"twitter:1": [hillary]}
    one = ScriptedEngine()
    one.hits_by_kind[IndexKind.watchlists] = [Hit("hillary", {"entity": hillary})]  # one document: no slot field
    assert store_over(one).watchlists.percolate(posts[:1]) == {"twitter:1": [hillary]}
    assert store_over(one).watchlists.percolate([]) == {}
