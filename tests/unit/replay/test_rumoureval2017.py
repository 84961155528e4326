"""RumourEval 2017 train+dev in full: every post, reply structure, labels, placeholder authors."""

from __future__ import annotations

import collections
from datetime import UTC, datetime

import pytest

from flockwatch.config import Settings
from flockwatch.replay import normalize_record, read_dataset
from flockwatch.replay.rumoureval2017 import UNKNOWN_AUTHOR_PREFIX, tree_parents
from flockwatch.schema import Post, RawRecord

DATA = Settings().data_dir


@pytest.fixture(scope="module")
def records() -> list[RawRecord]:
    return list(read_dataset("rumoureval2017", None, DATA))


@pytest.fixture(scope="module")
def posts(records: list[RawRecord]) -> list[Post]:
    out = [normalize_record(r) for r in records]
    assert all(p is not None for p in out)
    return [p for p in out if p is not None]


def test_counts_and_structure(posts: list[Post]) -> None:
    assert len(posts) == len({p.key for p in posts}) == 4519
    roots = [p for p in posts if p.platform_id == p.root_id]
    assert len(roots) == 297 and all(p.reply_to is None for p in roots)
    ids = {p.platform_id for p in posts}
    replies = [p for p in posts if p.reply_to is not None]
    assert len(replies) == 4519 - 297
    assert all(p.reply_to in ids and p.root_id in ids for p in replies)


def test_the_first_thread(records: list[RawRecord], posts: list[Post]) -> None:
    source, reply = posts[0], posts[1]
    assert records[0].source_uri == "spread/rumoureval2017/traindev/posts.json"
    assert source.platform_id == "498280126254428160"
    assert source.text.startswith("Mike Brown was staying with his grandmother for the summer")
    assert source.hashtags == ["Ferguson"]
    assert source.created_at == datetime(2014, 8, 9, 17, 30, 14, tzinfo=UTC)
    assert source.author.id == UNKNOWN_AUTHOR_PREFIX + "498280126254428160"
    assert (reply.text, reply.mentions) == ("@MichaelSkolnik -- wow", ["MichaelSkolnik"])
    assert (reply.reply_to, reply.root_id) == ("498280126254428160", "498280126254428160")
    assert records[0].context == {
        "thread": "498280126254428160",
        "parent": None,
        "veracity": "unverified",
        "stance": "support",
    }


def test_labels_use_the_rumoureval_codes(records: list[RawRecord]) -> None:
    assert collections.Counter(r.context["stance"] for r in records) == {
        "comment": 2907,
        "support": 910,
        "query": 358,
        "deny": 344,
    }
    threads = {r.context["thread"]: r.context["veracity"] for r in records}
    assert collections.Counter(threads.values()) == {"true": 137, "false": 62, "unverified": 98}


def test_placeholder_authors_are_one_per_post(posts: list[Post]) -> None:
    assert len({p.author.id for p in posts}) == len(posts)


def test_tree_parents_walks_nested_threads() -> None:
    parents = tree_parents({"1": {"1": {"2": {"3": []}, "4": []}, "9": []}})
    assert parents == {"1": ("1", None), "2": ("1", "1"), "3": ("1", "2"), "4": ("1", "1"), "9": ("1", None)}


def test_a_tree_node_without_a_post_is_a_value_error(records: list[RawRecord]) -> None:
    with pytest.raises(ValueError, match="time"):
        normalize_record(records[0].model_copy(update={"payload": {"id": "1"}}))
