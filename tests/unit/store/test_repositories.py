"""The store's pure parts: watch queries, mappings, bulk responses, and what repositories ask of an engine
(over a scripted engine: no server). The requests themselves are checked against OpenSearch in
tests/integration/store."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import TransportError

from flockwatch.alerts.watchlist import WatchEntity
from flockwatch.schema import Author, Post, SourceRef, document_id
from flockwatch.store import Store
from flockwatch.store.documents import (
    Hit,
    IndexKind,
    Script,
    ScriptUpsert,
    Search,
    StoreUnavailable,
    Version,
    VersionConflict,
)
from flockwatch.store.engines.opensearch import _bulk_result, store_transient
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

    def put(self, kind: IndexKind, doc_id: str, doc: Mapping[str, Any], *, if_version: Version | None = None) -> None:
        if self.conflicts:
            self.conflicts -= 1
            raise VersionConflict("changed (test)")
        self.puts.append(dict(doc))

    def bulk_script_upsert(self, kind: IndexKind, items: Sequence[ScriptUpsert]) -> Any:
        self.calls.append(("bulk_script_upsert", items))

    def update_script(self, kind: IndexKind, doc_id: str, script: Script) -> None:
        self.calls.append(("update_script", (doc_id, script)))


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


def test_bulk_result_splits_written_rejected_and_transient() -> None:
    items: list[dict[str, Any]] = [
        {"update": {"status": 200}},
        {"index": {"status": 201}},
        {"update": {"status": 400, "error": {"type": "mapper_parsing_exception", "reason": "bad"}}},
    ]
    result = _bulk_result(["a", "b", "c"], items, "documents")
    assert result.written == 2 and result.rejected == [("c", "mapper_parsing_exception: bad")]
    with pytest.raises(StoreUnavailable, match=r"1 alerts not acknowledged, e\.g\. b: 429"):
        _bulk_result(["a", "b"], [{"update": {"status": 200}}, {"update": {"status": 429}}], "alerts")


def test_store_transient() -> None:
    assert store_transient(StoreUnavailable("x")) and store_transient(OSConnectionError("N/A", "refused", None))
    assert store_transient(TransportError(503, "unavailable", {}))
    assert not store_transient(TransportError(400, "bad request", {})) and not store_transient(ValueError())


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


def test_alert_upserts_keep_the_lifecycle_and_acks_settle_the_outbox_in_one_script() -> None:
    engine = ScriptedEngine()
    store = store_over(engine)
    store.alerts.upsert([{"alert_id": "al", "status": "new"}])
    (_, [item]) = engine.calls[-1]
    assert item.doc_id == "al" and item.upsert == {"alert_id": "al", "status": "new"}
    assert item.script.params["keep"] == ["status", "history", "deliveries", "created_at"]
    store.alerts.ack_delivery("al", {"sink": "s", "ok": True}, ["high:s"])
    (_, (doc_id, script)) = engine.calls[-1]
    assert doc_id == "al" and script.params == {"d": {"sink": "s", "ok": True}, "settled": ["high:s"]}
    assert "deliveries.add" in script.source and "outbox.removeIf" in script.source


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
