"""The graph stage's pure logic and its store-backed state, on an in-memory fake store."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flockwatch.graph.streaming import CoAction, StreamingCoordination
from flockwatch.graph.verdicts import CascadeMerged
from flockwatch.messages import InMessage
from flockwatch.schema import Author, DeadLetter, Post, SourceRef
from flockwatch.stages.graph import (
    STREAM_KINDS,
    AccountEntry,
    CascadeEntry,
    EdgeEntry,
    GraphPost,
    GraphSettings,
    GraphStage,
    GraphState,
    doc_id,
    edge_evidence,
    judged_cascades,
    post_objects,
)
from flockwatch.stages.graph_windows import WindowOptions, build_table, window_coactions
from flockwatch.store.documents import IndexKind, StoreUnavailable
from flockwatch.topics import Topic
from tests.fakes.store import InMemoryStore

T0 = datetime(2016, 10, 1, 12, 0, tzinfo=UTC)


def post(
    pid: str,
    author: str,
    seconds: float,
    text: str = "",
    *,
    reshare: str | None = None,
    reply: str | None = None,
    root: str | None = None,
    urls: Sequence[str] = (),
) -> Post:
    return Post(
        platform="twitter",
        platform_id=pid,
        author=Author(id=author, handle=author.upper()),
        text=text,
        created_at=T0 + timedelta(seconds=seconds),
        reshare_of=reshare,
        reply_to=reply,
        root_id=root,
        urls=list(urls),
        source=SourceRef(format="test", uri="memory"),
    )


def gp(*args: Any, **kwargs: Any) -> GraphPost:
    return GraphPost.from_post(post(*args, **kwargs))


# --------------------------------------------------------------------------------------------------------
# Objects and evidence


def test_post_objects_follow_the_batch_kinds() -> None:
    assert post_objects(gp("1", "a", 0, "RT whatever", reshare="9")) == {"co_retweet": ["twitter:9"]}
    objs = post_objects(
        gp(
            "2",
            "a",
            0,
            "Hello @bob  WORLD #x #y #z",
            reply="7",
            urls=["https://EX.com/a?utm_source=t", "http://ex.com/a"],
        )
    )
    assert objs["co_tweet"] == ["hello world #x #y #z"]
    assert objs["co_reply"] == ["twitter:7"]
    assert objs["co_hashtag"] == ["#x #y #z"]
    assert objs["co_link"] == ["https://ex.com/a"]  # one canonical URL: tracking, case and scheme dropped
    assert "co_media" not in objs
    # an empty (or mention-only) text shares nothing: it must not link every such post to every other
    assert post_objects(gp("3", "a", 0, "@someone")) == {}
    assert "co_hashtag" not in post_objects(gp("4", "a", 0, "#only #two"))


def test_edge_evidence_matches_the_core_definitions() -> None:
    co = {
        ("p1", "q1", "o1"): (100.0, 110.0),  # source first by 10 s
        ("p1", "q2", "o1"): (100.0, 95.0),  # same source post, another target post
        ("p2", "q3", "o2"): (200.0, 200.0),
    }
    ev = edge_evidence(co)
    assert ev["weight"] == 2  # distinct source posts
    assert ev["n_coactions"] == 3
    assert ev["n_objects"] == 2
    assert ev["first_time"] == 95.0 and ev["last_time"] == 200.0
    assert ev["min_dt_s"] == 0.0 and ev["median_dt_s"] == 5.0
    assert ev["source_first_share"] == pytest.approx(1 / 3)
    assert ev["examples"].split(" | ")[0] == "p1>q2 dt=-5s o1"
    assert edge_evidence({})["weight"] == 0


def test_documents_round_trip() -> None:
    edge = EdgeEntry("co_tweet", "twitter:a", "twitter:b")
    edge.add("twitter:1", "twitter:2", "hello", 1.0, 2.0)
    assert EdgeEntry.from_doc(edge.document()).coactions == edge.coactions
    account = AccountEntry("twitter:a", "twitter")
    account.add_post(gp("1", "a", 5))
    account.add_partner("twitter:b", "co_tweet")
    back = AccountEntry.from_doc(account.document())
    assert (back.posts, back.partners, back.first) == (account.posts, account.partners, account.first)
    cascade = CascadeEntry("twitter:r")
    cascade.add("twitter:x", ("twitter:r", 10.0, "twitter:a"))
    doc = cascade.document(set(), None)
    assert doc["size"] == 2 and doc["placeholder_root"] is True
    assert CascadeEntry.from_doc(doc).events == cascade.events
    assert len(doc_id("co_link", "a" * 400, "b" * 400)) < 100


# --------------------------------------------------------------------------------------------------------
# Stream and batch find the same co-actions


def _pairs(coactions: Iterable[CoAction]) -> set[tuple[str, frozenset[str]]]:
    return {(c.obj, frozenset((c.post_a, c.post_b))) for c in coactions}


def test_stream_and_windowed_job_agree_on_random_posts() -> None:
    rng = random.Random(7)
    texts = ["buy now #a #b #c", "vote @x today", "", "same words here", "@only"]
    posts = []
    for i in range(400):
        draw = rng.random()
        author = f"u{rng.randrange(12)}"
        t = rng.uniform(0, 3600)
        if draw < 0.3:
            posts.append(gp(f"p{i}", author, t, "RT", reshare=f"s{rng.randrange(8)}"))
        else:
            urls = [f"https://ex.com/{rng.randrange(5)}?utm_medium=x"] if draw < 0.6 else []
            reply = f"r{rng.randrange(4)}" if draw > 0.9 else None
            posts.append(gp(f"p{i}", author, t, rng.choice(texts), urls=urls, reply=reply))
    posts.sort(key=lambda p: (p.time, p.key))
    stream: dict[str, list[CoAction]] = {k: [] for k in STREAM_KINDS}
    coordination = {k: StreamingCoordination(window=60.0) for k in STREAM_KINDS}
    for p in posts:
        for kind, objects in post_objects(p).items():
            stream[kind].extend(coordination[kind].add(p.key, p.account, p.time, objects))
    table = build_table(posts)
    for kind in STREAM_KINDS:
        batch = window_coactions(table, kind, WindowOptions())
        assert _pairs(stream[kind]) == _pairs(batch), kind
    assert sum(len(v) for v in stream.values()) > 100


# --------------------------------------------------------------------------------------------------------
# State: idempotence, restarts, cascades


def _ingest(state: GraphState, posts: Sequence[GraphPost]) -> int:
    coordination = {k: StreamingCoordination(window=60.0) for k in STREAM_KINDS}
    changed = state.add_posts(posts)
    found: list[tuple[str, CoAction]] = []
    for p in sorted(posts, key=lambda p: (p.time, p.key)):
        for kind, objects in post_objects(p).items():
            found.extend((kind, c) for c in coordination[kind].add(p.key, p.account, p.time, objects))
    changed += state.add_coactions(found)
    state.flush()
    return changed


def _sample() -> list[GraphPost]:
    return [
        gp("1", "a", 0, "original"),
        gp("2", "b", 10, "RT", reshare="1"),
        gp("3", "c", 20, "RT", reshare="1"),
        gp("4", "b", 100, "same text"),
        gp("5", "c", 130, "Same  text"),
        gp("6", "a", 135, "RT", reshare="2"),  # a reshare of a reshare: joins cascade 1
    ]


def test_replays_and_restarts_change_nothing() -> None:
    store = InMemoryStore()
    state = GraphState(store)
    assert _ingest(state, _sample()) > 0
    cascade = store.engine.docs[IndexKind.cascades]["twitter:1"]
    assert cascade["size"] == 4 and cascade["depth"] == 2 and not cascade["placeholder_root"]
    assert cascade["first_seen"] == T0.isoformat()
    edges = store.engine.docs[IndexKind.coordination_edges]
    assert set(edges) == {
        "co_retweet|twitter:b|twitter:c",
        "co_retweet|twitter:c|twitter:b",
        "co_tweet|twitter:b|twitter:c",
        "co_tweet|twitter:c|twitter:b",
    }
    assert edges["co_tweet|twitter:b|twitter:c"]["source_first_share"] == 1.0
    accounts = store.engine.docs[IndexKind.accounts]
    assert accounts["twitter:b"]["post_count"] == 2
    assert accounts["twitter:b"]["partners"] == ["twitter:c"]
    assert accounts["twitter:b"]["coordination_kinds"] == ["co_retweet", "co_tweet"]
    snapshot = {k: {i: dict(d) for i, d in v.items()} for k, v in store.engine.docs.items()}
    writes = store.engine.writes
    # the same posts again, in the same process, then after a "restart" (a new state), in another order
    assert _ingest(state, _sample()) == 0
    assert _ingest(GraphState(store), list(reversed(_sample()))) == 0
    assert store.engine.writes == writes
    assert store.engine.docs == snapshot


def test_judged_cascades_follow_merges_own_verdict_first_and_skip_parts_judged_both_ways() -> None:
    store = InMemoryStore()
    # 3 and 6 reply to posts not seen yet (2, 5): cascades open at 2 and 5, then merge into 1 and 4 when 2 and 5
    # arrive as replies to them.
    first = [gp("1", "a", 0, "root"), gp("4", "d", 1, "root two"), gp("3", "c", 20, "x", reply="2")]
    _ingest(GraphState(store), [*first, gp("6", "f", 25, "y", reply="5")])
    second = [gp("2", "b", 10, "yo", reply="1"), gp("5", "e", 5, "hey", reply="4"), gp("7", "g", 30, "z", reply="2")]
    _ingest(GraphState(store), second)
    cascades = store.engine.docs[IndexKind.cascades]
    assert cascades["twitter:2"]["merged_into"] == "twitter:1" and cascades["twitter:5"]["merged_into"] == "twitter:4"
    stub = {"size": 0, "members": [], "events": []}
    cascades["twitter:8"] = {"cascade_id": "twitter:8", "merged_into": "twitter:1", **stub}

    def judge(verdicts: dict[str, bool | None]) -> tuple[list[tuple[str, bool]], list[str], list[str]]:
        judged, missing, conflicting = judged_cascades(store.engine, verdicts)
        return [(cid, flag) for cid, flag, _ in judged], missing, conflicting

    # A merged part's verdict is learnt under the cascade that holds it now, with that cascade's resharers.
    [(cid, flag, accounts)] = judged_cascades(store.engine, {"twitter:2": True})[0]
    assert (cid, flag) == ("twitter:1", True) and accounts == {"twitter:b", "twitter:c", "twitter:g"}
    # Its own verdict wins over its parts'; parts that agree count once; parts judged both ways teach nothing.
    assert judge({"twitter:1": False, "twitter:2": True, "twitter:5": True}) == (
        [("twitter:1", False), ("twitter:4", True)],
        [],
        [],
    )
    assert judge({"twitter:2": True, "twitter:8": True}) == ([("twitter:1", True)], [], [])
    assert judge({"twitter:2": True, "twitter:8": False, "twitter:404": True}) == ([], ["twitter:404"], ["twitter:1"])
    # An unverified verdict of its own teaches nothing, and keeps its parts' verdicts from speaking for it.
    assert judge({"twitter:1": None, "twitter:2": True}) == ([], [], [])
    assert judge({"twitter:2": True, "twitter:8": None}) == ([("twitter:1", True)], [], [])


def test_a_thread_arriving_newest_first_chains_its_merges_and_every_read_follows_the_chain() -> None:
    """Each reply opens a cascade at its unseen parent, which merges into the next one when that parent arrives:
    a chain as long as the thread (here 40 hops, beyond any small bound)."""
    store = InMemoryStore()
    n = 42
    for i in reversed(range(1, n)):
        _ingest(GraphState(store), [gp(str(i), f"u{i}", i, f"reply {i}", reply=str(i - 1))])
    _ingest(GraphState(store), [gp("0", "u0", 0, "root")])
    cascades = store.engine.docs[IndexKind.cascades]
    assert cascades[f"twitter:{n - 2}"]["merged_into"] == f"twitter:{n - 3}"  # one hop per merge
    graph = store.graph
    now = graph.current_cascade(f"twitter:{n - 2}")
    assert now is not None and now["cascade_id"] == "twitter:0" and len(now["events"]) == n
    assert len(graph.merged_into("twitter:0")) == n - 2
    [(cid, flag, accounts)] = judged_cascades(store.engine, {f"twitter:{n - 2}": True})[0]
    assert (cid, flag) == ("twitter:0", True) and len(accounts) == n - 1
    with pytest.raises(CascadeMerged, match="judge twitter:0"):
        store.verdicts.judge(f"twitter:{n - 2}", "false", "analyst")


def test_a_cascade_written_before_its_spreader_coordinates_is_rewritten() -> None:
    """The stored coordinated share must not depend on batch boundaries: one batch, or the reshare flushed before
    its spreader's first co-action, store the same cascade."""
    posts = [
        gp("1", "a", 0, "original"),
        gp("2", "b", 10, "RT", reshare="1"),
        gp("3", "b", 100, "the same words again"),
        gp("4", "c", 105, "The same words again"),
    ]
    together = InMemoryStore()
    _ingest(GraphState(together), posts)
    split = InMemoryStore()
    state = GraphState(split)
    _ingest(state, posts[:2])
    assert split.engine.docs[IndexKind.cascades]["twitter:1"]["coordinated_share"] == 0.0
    _ingest(state, posts[2:])
    assert together.engine.docs[IndexKind.cascades]["twitter:1"]["coordinated_share"] == 1.0
    assert split.engine.docs[IndexKind.cascades] == together.engine.docs[IndexKind.cascades]


def test_child_before_parent_merges_cascades() -> None:
    store = InMemoryStore()
    state = GraphState(store)
    # 3 replies to 2 before 2 (a reply to 1) arrives: 3 opens a cascade at 2, merged into 1 later
    _ingest(state, [gp("1", "a", 0, "root"), gp("3", "c", 20, "hi", reply="2")])
    assert store.engine.docs[IndexKind.cascades]["twitter:2"]["size"] == 2
    _ingest(GraphState(store), [gp("2", "b", 10, "yo", reply="1")])
    merged = store.engine.docs[IndexKind.cascades]["twitter:2"]
    assert merged["merged_into"] == "twitter:1" and merged["size"] == 0
    root = store.engine.docs[IndexKind.cascades]["twitter:1"]
    assert root["size"] == 3 and root["depth"] == 2
    # a later reply to 3 follows the redirect, even after a restart
    _ingest(GraphState(store), [gp("4", "d", 30, "me too", reply="3")])
    assert store.engine.docs[IndexKind.cascades]["twitter:1"]["size"] == 4


def test_root_id_and_late_root() -> None:
    store = InMemoryStore()
    _ingest(GraphState(store), [gp("2", "b", 10, "RT", reshare="1", root="1")])
    assert store.engine.docs[IndexKind.cascades]["twitter:1"]["placeholder_root"] is True
    _ingest(GraphState(store), [gp("1", "a", 0, "the source")])  # no parent, but a cascade waits for it
    doc = store.engine.docs[IndexKind.cascades]["twitter:1"]
    assert doc["placeholder_root"] is False and doc["first_seen"] == T0.isoformat()


def _message(p: Post, offset: int) -> InMessage:
    return InMessage("t.posts.normalized", 0, offset, p.key.encode(), p.to_bytes())


def test_stage_survives_store_outages_and_bad_input() -> None:
    store = InMemoryStore()
    stage = GraphStage(GraphState(store), GraphSettings())
    assert stage.inputs == (Topic.normalized,)
    batch = [
        _message(post("1", "a", 0, "same words"), 0),
        _message(post("2", "b", 5, "same words"), 1),
        InMessage("t.posts.normalized", 0, 2, None, b"{not json"),
    ]
    store.engine.fail_writes = 1
    with pytest.raises(StoreUnavailable):
        stage.process(batch)
    # the loop retries the same batch: the co-action found before the outage is not lost
    outcome = stage.process(batch)
    assert outcome.counts["dead_lettered"] == 1
    assert outcome.counts["posts"] == 2
    assert set(store.engine.docs[IndexKind.coordination_edges]) == {
        "co_tweet|twitter:a|twitter:b",
        "co_tweet|twitter:b|twitter:a",
    }
    again = stage.process(batch[:2])
    assert again.counts["changes"] == 0 and again.counts["edges_written"] == 0


def test_a_graph_document_the_store_rejects_is_dead_lettered_with_its_reason() -> None:
    store = InMemoryStore()
    store.engine.reject = {"twitter:a"}  # the account document of the author "a"
    stage = GraphStage(GraphState(store), GraphSettings())
    outcome = stage.process([_message(post("1", "a", 0, "same words"), 0), _message(post("2", "b", 5, "x"), 1)])
    [out] = [m for m in outcome.out if m.topic == Topic.dead_letter]
    letter = DeadLetter.model_validate_json(out.value)
    assert letter.stage == "graph" and "accounts document 'twitter:a'" in letter.reason
    assert "mapper_parsing_exception" in letter.reason and json.loads(letter.original())["key"] == "twitter:a"
    assert outcome.counts["rejected"] == 1 and "twitter:b" in store.engine.docs[IndexKind.accounts]


def test_cache_is_bounded_and_reads_back() -> None:
    store = InMemoryStore()
    state = GraphState(store, GraphSettings(cache_entries=2))
    _ingest(state, [gp(str(i), f"u{i}", i, f"text {i}") for i in range(10)])
    assert len(state.accounts.items) <= 2
    _ingest(state, [gp("100", "u1", 500, "more")])
    assert store.engine.docs[IndexKind.accounts]["twitter:u1"]["post_count"] == 2


def test_latest_window_sets_the_cluster_id_whatever_the_order() -> None:
    store = InMemoryStore()
    state = GraphState(store)
    state.set_clusters({"twitter:a": "c-new"}, T0 + timedelta(days=2))
    state.flush()
    state.set_clusters({"twitter:a": "c-old"}, T0 + timedelta(days=1))  # an older window recomputed later
    state.flush()
    doc = store.engine.docs[IndexKind.accounts]["twitter:a"]
    assert doc["cluster_id"] == "c-new" and doc["cluster_ids"] == ["c-new", "c-old"]
    writes = store.engine.writes
    state.set_clusters({"twitter:a": "c-old"}, T0 + timedelta(days=1))
    state.flush()
    assert store.engine.writes == writes


def test_the_streams_long_lived_state_keeps_what_the_windowed_job_wrote_meanwhile() -> None:
    """The stream caches the documents it read; the hourly job rewrites the same accounts and edges (clusters,
    kinds the stream never finds, significance). The stream's next write must fold them in, not drop them."""
    store = InMemoryStore()
    stream = GraphState(store)
    first = CoAction("u1", "twitter:1", "twitter:a", 0.0, "twitter:2", "twitter:b", 5.0)
    stream.add_posts([gp("1", "a", 0, "x"), gp("2", "b", 5, "x")])
    stream.add_coactions([("co_link", first)])
    stream.flush()
    job = GraphState(store)  # a window run: fresh state, read from the store
    similar = CoAction("similar words", "twitter:1", "twitter:a", 0.0, "twitter:3", "twitter:c", 9.0)
    job.add_coactions([("co_similar_tweet", similar)])
    job.set_clusters({"twitter:a": "c-1", "twitter:b": "c-1"}, T0 + timedelta(hours=1))
    window = {"start": T0.isoformat(), "end": (T0 + timedelta(hours=1)).isoformat(), "permutations": 99}
    job.set_significance("co_link", "twitter:a", "twitter:b", {"p_value": 0.01, "significant": True,
                                                               "significance_window": window})  # fmt: skip
    job.flush()
    later = CoAction("u2", "twitter:4", "twitter:a", 60.0, "twitter:5", "twitter:b", 62.0)
    stream.add_posts([gp("4", "a", 60, "y"), gp("5", "b", 62, "y")])
    stream.add_coactions([("co_link", later)])
    stream.flush()
    account = store.engine.docs[IndexKind.accounts]["twitter:a"]
    assert account["partner_kinds"] == {"twitter:b": ["co_link"], "twitter:c": ["co_similar_tweet"]}
    assert (account["cluster_ids"], account["cluster_id"], account["n_partners"]) == (["c-1"], "c-1", 2)
    assert account["post_keys"] == ["twitter:1", "twitter:4"]
    edge = store.engine.docs[IndexKind.coordination_edges][doc_id("co_link", "twitter:a", "twitter:b")]
    assert len(edge["coactions"]) == 2 and edge["significant"] is True and edge["significance_window"] == window


# --------------------------------------------------------------------------------------------------------
# Watermarks over partitions, warm restarts


SOURCES = tuple(f"t.posts.normalized:{p}" for p in range(3))


def _uneven_batches(seed: int) -> tuple[list[Post], list[list[InMessage]]]:
    """600 posts over 2 h in 3 partitions, each in time order, read 40 records of one partition at a time
    (partitions drift up to an hour apart in event time, as in a backlog)."""
    rng = random.Random(seed)
    texts = ["buy now #a #b #c", "vote today", "same words here", "another slogan"]
    posts = []
    for i in range(600):
        t = rng.uniform(0, 7200)
        if rng.random() < 0.4:
            posts.append(post(f"p{i}", f"u{rng.randrange(15)}", t, "RT", reshare=f"s{rng.randrange(10)}"))
        else:
            posts.append(post(f"p{i}", f"u{rng.randrange(15)}", t, rng.choice(texts)))
    queues: list[list[InMessage]] = []
    for part in range(3):
        mine = sorted((p for i, p in enumerate(posts) if i % 3 == part), key=lambda p: p.created_at)
        queues.append([InMessage("t.posts.normalized", part, o, None, p.to_bytes()) for o, p in enumerate(mine)])
    batches = []
    while any(queues):
        q = rng.choice([q for q in queues if q])
        batches.append(q[:40])
        del q[:40]
    return posts, batches


def _stored_coactions(store: InMemoryStore) -> set[tuple[str, str, str, str]]:
    return {
        (d["kind"], str(r[0]), str(r[1]), str(r[2]))
        for d in store.engine.docs[IndexKind.coordination_edges].values()
        for r in d["coactions"]
    }


def test_uneven_partitions_lose_no_coaction_without_lateness() -> None:
    posts, batches = _uneven_batches(3)
    store = InMemoryStore()
    stage = GraphStage(GraphState(store), GraphSettings(lateness_s=0.0), sources=SOURCES)
    late = sum(stage.process(b).counts["late"] for b in batches)
    table = build_table(sorted((GraphPost.from_post(p) for p in posts), key=lambda p: (p.time, p.key)))
    expected = {
        (kind, x, y, c.obj)
        for kind in STREAM_KINDS
        for c in window_coactions(table, kind, WindowOptions())
        for x, y in ((c.post_a, c.post_b), (c.post_b, c.post_a))
    }
    assert len(expected) > 100 and late == 0
    assert _stored_coactions(store) == expected
    # one watermark over everything (no sources, one partition name): the lagging partitions' posts are late
    merged = GraphStage(GraphState(InMemoryStore()), GraphSettings(lateness_s=0.0))
    flat = [[InMessage(m.topic, 0, m.offset, m.key, m.value) for m in b] for b in batches]
    assert sum(merged.process(b).counts["late"] for b in flat) > 0


def test_warm_restart_finds_what_an_uninterrupted_run_finds() -> None:
    _, batches = _uneven_batches(5)
    settings = GraphSettings(lateness_s=0.0)
    whole = InMemoryStore()
    stage = GraphStage(GraphState(whole), settings, sources=SOURCES)
    for b in batches:
        stage.process(b)
    for cut in (3, len(batches) // 2):
        warm, cold = InMemoryStore(), InMemoryStore()
        first = GraphStage(GraphState(warm), settings, sources=SOURCES)
        for b in batches[:cut]:
            first.process(b)
            GraphStage(GraphState(cold), settings, sources=SOURCES).process(b)  # a restart after every batch
        history = [m for b in batches[:cut] for m in b]
        again = GraphStage(GraphState(warm), settings, sources=SOURCES)
        assert again.warm(history) == len(history)
        for b in batches[cut:]:
            assert again.process(b).counts["late"] == 0
        for b in batches[cut:]:
            GraphStage(GraphState(cold), settings, sources=SOURCES).process(b)
        assert _stored_coactions(warm) == _stored_coactions(whole), cut
        assert _stored_coactions(cold) < _stored_coactions(whole)  # the test can tell a cold restart apart
        assert warm.engine.docs[IndexKind.coordination_edges] == whole.engine.docs[IndexKind.coordination_edges]


def test_silent_partition_stops_holding_the_watermark() -> None:
    now = [0.0]
    stage = GraphStage(GraphState(InMemoryStore()), GraphSettings(partition_idle_s=30.0), sources=SOURCES,
                       clock=lambda: now[0])  # fmt: skip
    for i in range(5):
        now[0] += 5.0
        stage.process([_message(post(f"x{i}", f"u{i}", i * 7200.0, f"text {i}"), i)])  # partition 0 only
    sc = stage.coordination["co_tweet"]
    assert sc.watermark == float("-inf") and sc.buffered_posts() == 5  # waiting for partitions 1 and 2
    now[0] += 20.0
    stage.process([_message(post("y", "v", 5 * 7200.0, "text y"), 9)])
    # partitions 1 and 2 delivered nothing for 45 s: only partition 0 holds the watermark now
    assert sc.watermark == T0.timestamp() + 5 * 7200.0 and sc.buffered_posts() == 1


def test_a_rewritten_account_history_is_picked_up_at_the_next_flush_and_a_broken_one_is_not(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Analysts judge more cascades, `graph history` rewrites the file: a running stage fuses the new records
    without a restart; a file that cannot be used is logged and the history in use kept."""
    from flockwatch.graph.account_history import learn
    from flockwatch.stages.graph import load_cascade_scoring

    path = tmp_path / "history.json"
    path.write_text(learn([("twitter:x", False, {"twitter:b"})], "first").to_json())
    settings = GraphSettings(account_history=path, history_check_s=0.0)
    store = InMemoryStore()
    state = GraphState(store, settings, *load_cascade_scoring(settings))
    _ingest(state, _sample())
    doc = store.engine.docs[IndexKind.cascades]["twitter:1"]
    assert doc["resharer_history"]["flagged_resharers"] == []  # b's record: 0 of 1 judged false
    path.write_text(learn([("twitter:x", True, {"twitter:b", "twitter:c"})], "second").to_json())
    _ingest(state, [gp("7", "d", 140, "RT", reshare="1")])  # the cascade grows, so it is written again
    doc = store.engine.docs[IndexKind.cascades]["twitter:1"]
    assert [f["account"] for f in doc["resharer_history"]["flagged_resharers"]] == ["twitter:b", "twitter:c"]
    in_use = state.history
    path.write_text("{not json")
    _ingest(state, [gp("8", "e", 150, "RT", reshare="1")])
    assert state.history is in_use and "keeping the account history in use" in caplog.text
