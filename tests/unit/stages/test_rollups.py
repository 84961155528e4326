"""Narrative and account documents recomputed from post documents: replays change no count."""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flockwatch.messages import InMessage
from flockwatch.schema import Author, Post, SourceRef, TextScore
from flockwatch.stages.index import IndexStage, plan_index
from flockwatch.stages.rollups import PostsNotStored, RollupsStage, TextRollups
from flockwatch.store.documents import IndexKind
from flockwatch.text.rollup import (
    AccountPosts,
    account_document,
    account_key,
    narrative_document,
    summarize_posts,
)
from tests.fakes.store import InMemoryStore

T0 = datetime(2016, 10, 1, tzinfo=UTC)


def post_doc(i: int, nid: str | None, account: str, label: str | None = "human", score: float = 0.1) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "key": f"twitter:{i}",
        "platform": "twitter",
        "author": {"id": account},
        "created_at": (T0 + timedelta(minutes=i)).isoformat(),
        "text": f"text {i}",
        "hashtags": ["MAGA"] if i % 2 else ["maga", "tcot"],
        "urls": [],
    }
    if nid:
        doc["narrative_id"], doc["narrative_how"] = nid, "exact" if i else "new"
    if label:
        doc["text_score"] = {"label": label, **({"machine_score": score} if label != "unscored" else {})}
    return doc


def test_summary_counts_each_post_once() -> None:
    docs = [post_doc(0, "n-a", "u1"), post_doc(1, "n-a", "u2", "machine", 0.99), post_doc(2, "n-a", "u1")]
    docs += [post_doc(3, "n-a", "u3", "unscored"), post_doc(4, "n-b", "u1"), post_doc(5, None, "u1")]
    once = summarize_posts(docs)
    twice = summarize_posts(docs + copy.deepcopy(docs))  # a replayed batch: the same post keys again
    assert once == twice
    a = narrative_document(once["n-a"])
    assert a["post_count"] == 4 and a["account_count"] == 3
    assert a["accounts"][0] == "twitter:u1"  # most posts first
    assert a["platforms"] == {"twitter": 4}
    assert (a["scored_posts"], a["machine_posts"]) == (3, 1) and abs(a["machine_share"] - 1 / 3) < 1e-12
    assert a["first_seen"] == T0.isoformat() and a["last_seen"] == (T0 + timedelta(minutes=3)).isoformat()
    assert a["representative_text"] == "text 0" and a["representative_key"] == "twitter:0"
    assert a["hashtags"][0] == "maga" and a["joined_by"] == {"exact": 3, "new": 1}
    assert set(once) == {"n-a", "n-b"}  # a post without a narrative joins none


def test_machine_share_is_none_without_scored_posts() -> None:
    doc = narrative_document(
        summarize_posts([post_doc(1, "n-x", "u", "unscored"), post_doc(2, "n-x", "u", None)])["n-x"]
    )
    assert doc["machine_share"] is None and doc["scored_posts"] == 0 and doc["post_count"] == 2


def test_account_document_rests_on_its_scored_posts() -> None:
    posts = [post_doc(i, None, "bot", "machine", 0.97) for i in range(25)] + [post_doc(30, None, "bot", "unscored")]
    doc = account_document(AccountPosts("twitter:bot", "twitter", "bot", posts), threshold=0.9)
    assert (doc["machine_n_posts"], doc["machine_n_scored"]) == (26, 25)
    assert doc["machine_label"] == "machine" and abs(doc["machine_score"] - 0.97) < 1e-9 and doc["machine_share"] == 1.0
    assert doc["machine_last_seen"] == (T0 + timedelta(minutes=30)).isoformat()
    assert doc["machine_evidence"][0]["signal"] == "account.mean_machine_score"
    few = account_document(AccountPosts("twitter:p", "twitter", None, posts[:3]), threshold=0.9)
    assert few["machine_label"] == "insufficient" and few["machine_n_scored"] == 3
    # Graph-owned fields are never written from here.
    assert not {"last_seen", "first_seen", "post_count"} & set(doc)
    assert account_key({"platform": "twitter", "author": {"id": "x"}}) == "twitter:x"
    assert account_key({"author": {"id": "x"}}) is None


def messages(n: int) -> list[InMessage]:
    out = []
    for i in range(n):
        post = Post(
            platform="twitter",
            platform_id=str(i),
            author=Author(id=f"u{i % 3}"),
            text=f"same text {i % 2}",
            created_at=T0 + timedelta(minutes=i),
            source=SourceRef(format="test", uri="mem://"),
        )
        score = TextScore(
            post_key=post.key,
            post_created_at=post.created_at,
            machine_score=0.99 if i % 3 == 0 else 0.1,
            label="machine" if i % 3 == 0 else "human",
            narrative_id=f"n-{i % 2}",
            narrative_how="new" if i < 2 else "exact",
            model="m",
        )
        out.append(InMessage("t.posts.normalized", 0, i, post.key.encode(), post.to_bytes()))
        out.append(InMessage("t.text_scores", 0, i, post.key.encode(), score.to_bytes()))
    return out


def scores_of(msgs: Sequence[InMessage]) -> list[InMessage]:
    return [m for m in msgs if "text_scores" in m.topic]


def test_rollups_stage_replay_leaves_documents_unchanged() -> None:
    store = InMemoryStore()
    index, rollups = IndexStage(store), RollupsStage(TextRollups(store, threshold=0.9))
    msgs = messages(10)
    # Scores before their posts: the index stage writes posts and scores only, and the rollups wait for the posts.
    index.process(scores_of(msgs))
    assert not store.engine.docs[IndexKind.narratives] and not store.engine.docs[IndexKind.accounts]
    with pytest.raises(PostsNotStored):
        rollups.process(scores_of(msgs))
    index.process([m for m in msgs if "posts" in m.topic])
    done = rollups.process(scores_of(msgs))
    assert done.counts["narratives_updated"] == 2 and done.counts["accounts_updated"] == 3
    assert done.counts["rollup_missing_posts"] == 0 and not done.out
    snapshot = copy.deepcopy(store.engine.docs)
    assert {k: d["post_count"] for k, d in snapshot[IndexKind.narratives].items()} == {"n-0": 5, "n-1": 5}
    assert snapshot[IndexKind.narratives]["n-0"]["account_count"] == 3
    assert snapshot[IndexKind.accounts]["twitter:u0"]["machine_n_scored"] == 4
    assert snapshot[IndexKind.posts]["twitter:3"]["narrative_how"] == "exact"
    # The same messages again, as one batch and then in halves, through both stages: nothing changes.
    index.process(msgs)
    rollups.process(scores_of(msgs))
    index.process(msgs[:7])
    rollups.process(scores_of(msgs[:7]))
    assert store.engine.docs == snapshot
    assert len(plan_index(msgs).upserts) == 20


def test_rollups_wait_for_the_score_then_give_up_on_a_missing_post() -> None:
    store, now = InMemoryStore(), [0.0]
    rollups = RollupsStage(TextRollups(store, threshold=0.9), max_wait_s=30.0, clock=lambda: now[0])
    msgs = messages(4)
    posts = [m for m in msgs if "posts" in m.topic]
    # Post 0 stored without its score yet (the index stage is behind on the scores): wait.
    IndexStage(store).process(posts[:1])
    with pytest.raises(PostsNotStored, match="1 of 1"):
        rollups.process(scores_of(msgs)[:1])
    IndexStage(store).process(scores_of(msgs)[:1])
    assert rollups.process(scores_of(msgs)[:1]).counts["accounts_updated"] == 1
    # Posts 1 and 2 are stored; post 3 never is (say, dead-lettered): the batch waits, then goes on without it.
    IndexStage(store).process(posts[1:3] + scores_of(msgs)[1:])
    with pytest.raises(PostsNotStored):
        rollups.process(scores_of(msgs))
    now[0] = 29.0
    with pytest.raises(PostsNotStored):
        rollups.process(scores_of(msgs))
    now[0] = 30.5
    done = rollups.process([*scores_of(msgs), InMessage("t.text_scores", 0, 99, None, b"not json")])
    assert done.counts["rollup_missing_posts"] == 1 and done.counts["rollup_skipped"] == 1
    assert done.counts["narratives_updated"] == 2 and done.counts["accounts_updated"] == 3
    assert store.engine.docs[IndexKind.narratives]["n-1"]["post_count"] == 1  # post 1 only: post 3 is not stored
    assert not rollups._missing_since  # nothing left waiting


def test_a_worker_whose_view_went_stale_recomputes_instead_of_overwriting() -> None:
    """Two rollups workers: the slow one read its documents' versions, then another worker stored a newer post and
    wrote the documents from it. The slow one's write conflicts, so it recomputes from the posts as they are now;
    a plain write would have put the older counts back."""
    store = InMemoryStore()
    index, slow = IndexStage(store), RollupsStage(TextRollups(store, threshold=0.9))
    msgs = messages(6)
    index.process(msgs[:8])  # posts and scores 0..3
    other = RollupsStage(TextRollups(store, threshold=0.9))

    def meanwhile() -> None:
        store.engine.before_put_if = None  # once
        index.process(msgs[8:])  # posts 4 and 5 arrive...
        other.process(scores_of(msgs))  # ...and another worker rolls up all six
        assert store.engine.docs[IndexKind.narratives]["n-0"]["post_count"] == 3

    store.engine.before_put_if = meanwhile
    done = slow.process(scores_of(msgs[:8]))
    assert done.counts["rollup_conflicts"] >= 1
    narratives = store.engine.docs[IndexKind.narratives]
    assert {k: d["post_count"] for k, d in narratives.items()} == {"n-0": 3, "n-1": 3}
    assert store.engine.docs[IndexKind.accounts]["twitter:u0"]["machine_n_scored"] == 2


def test_rollups_keep_the_graph_stage_fields_of_an_account() -> None:
    store = InMemoryStore()
    store.engine.docs[IndexKind.accounts]["twitter:u0"] = {"key": "twitter:u0", "partners": ["twitter:u9"]}
    msgs = messages(3)
    IndexStage(store).process(msgs)
    RollupsStage(TextRollups(store, threshold=0.9)).process(scores_of(msgs))
    account = store.engine.docs[IndexKind.accounts]["twitter:u0"]
    assert account["partners"] == ["twitter:u9"] and account["machine_n_scored"] == 1


def account_messages(n: int, author: str = "a") -> list[tuple[InMessage, InMessage]]:
    """(post, score) of ``n`` posts of one account; pairs of posts share a time (the key breaks the tie), and the
    scores fall with age, so which posts are the newest changes every field."""
    out = []
    for i in range(n):
        post = Post(
            platform="twitter",
            platform_id=f"{author}{i}",
            author=Author(id=author, handle=author),
            text=f"text {i}",
            created_at=T0 + timedelta(minutes=i // 2),
            source=SourceRef(format="test", uri="mem://"),
        )
        unscored = i % 7 == 0
        score = TextScore(
            post_key=post.key,
            post_created_at=post.created_at,
            machine_score=None if unscored else i / n,
            label="unscored" if unscored else "machine" if i / n >= 0.9 else "human",
            model="m",
        )
        out.append(
            (
                InMessage("t.posts.normalized", 0, i, post.key.encode(), post.to_bytes()),
                InMessage("t.text_scores", 0, i, post.key.encode(), score.to_bytes()),
            )
        )
    return out


def from_scratch(store: InMemoryStore, account: str, threshold: float) -> dict[str, Any]:
    key = f"twitter:{account}"
    recent = store.posts.recent_by_account([("twitter", account)])[key]
    return account_document(AccountPosts(key, "twitter", account, recent), threshold)


@pytest.mark.parametrize("seed", range(4))
def test_account_documents_merged_batch_by_batch_equal_a_recomputation(seed: int) -> None:
    """Posts of two accounts arrive over time in shuffled batches, some delivered again: each account is searched
    once (its first batch), then only merged, and ends exactly as recomputed from all its stored posts."""
    rng = random.Random(seed)
    pairs = account_messages(260, "a") + account_messages(30, "b")
    rng.shuffle(pairs)
    store = InMemoryStore()
    index, rollups = IndexStage(store), RollupsStage(TextRollups(store, threshold=0.9))
    batches: list[list[tuple[InMessage, InMessage]]] = []
    while pairs:
        size = rng.randint(1, 40)
        batches.append(pairs[:size])
        pairs = pairs[size:]
    for n, batch in enumerate(batches):
        index.process([m for pair in batch for m in pair])
        rollups.process([score for _, score in batch])
        if n and rng.random() < 0.4:  # a redelivery of an earlier batch
            rollups.process([score for _, score in rng.choice(batches[:n])])
    assert sorted(store.posts.recent_searches) == [("twitter", "a"), ("twitter", "b")]
    accounts = store.engine.docs[IndexKind.accounts]
    for account in ("a", "b"):
        assert accounts[f"twitter:{account}"] == from_scratch(store, account, 0.9), account
    assert accounts["twitter:a"]["machine_n_posts"] == 200 and len(accounts["twitter:a"]["machine_recent"]) == 200
    assert accounts["twitter:a"]["machine_label"] == "human"  # the mean of the newest 200: 60/260..259/260
    assert accounts["twitter:b"]["machine_n_posts"] == 30


def test_a_known_account_is_merged_without_searching_its_posts() -> None:
    store = InMemoryStore()
    # Written by the graph stage only: no recent list yet, so its first rollup searches.
    store.engine.docs[IndexKind.accounts]["twitter:a"] = {"key": "twitter:a", "partners": ["twitter:z"]}
    pairs = account_messages(50)
    index, rollups = IndexStage(store), RollupsStage(TextRollups(store, threshold=0.9))
    index.process([m for pair in pairs for m in pair])  # all stored; the first batch's search finds them all
    rollups.process([score for _, score in pairs[:10]])
    assert store.posts.recent_searches == [("twitter", "a")]
    assert store.engine.docs[IndexKind.accounts]["twitter:a"]["machine_n_posts"] == 50
    store.posts.recent_searches.clear()
    rollups.process([score for _, score in pairs[10:]])
    assert store.posts.recent_searches == []
    doc = store.engine.docs[IndexKind.accounts]["twitter:a"]
    assert doc["partners"] == ["twitter:z"] and doc == {"partners": ["twitter:z"]} | from_scratch(store, "a", 0.9)
    # A post stored later with a new score: the batch's score replaces the listed one.
    late = [pairs[3][0], rescored(pairs[3][1], 0.95)]
    index.process(late)
    store.posts.recent_searches.clear()
    rollups.process(late[1:])
    assert store.posts.recent_searches == []
    assert store.engine.docs[IndexKind.accounts]["twitter:a"] == {"partners": ["twitter:z"]} | from_scratch(
        store, "a", 0.9
    )


def rescored(msg: InMessage, score: float) -> InMessage:
    old = TextScore.model_validate_json(msg.value)
    new = old.model_copy(update={"machine_score": score, "label": "machine"})
    return InMessage(msg.topic, msg.partition, msg.offset + 1000, msg.key, new.to_bytes())
