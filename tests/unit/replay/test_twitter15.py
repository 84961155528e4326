"""Twitter15 trees on the real archive: node keying, ids, edges, snowflake-anchored times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flockwatch.config import Settings
from flockwatch.replay import normalize_record, read_dataset
from flockwatch.replay.twitter15 import RETWEET_ID_PREFIX, tree_records
from flockwatch.schema import Post, RawRecord

DATA = Settings().data_dir
TREES = 8  # the first trees of the archive: ~3k nodes, every kind of edge
FIRST_TREE = "twitter15/tree/693785810311778304.txt"
FIRST_SOURCE = "693785810311778304"
FIRST_TIME = datetime(2016, 1, 31, 13, 20, 1, 752000, tzinfo=UTC)  # its snowflake time


def first_trees(n: int) -> list[RawRecord]:
    out: list[RawRecord] = []
    members: set[str] = set()
    for raw in read_dataset("twitter15", None, DATA):
        member = (raw.position or "").rsplit(":", 1)[0] if raw.position else ""
        if member not in members and len(members) == n:
            break
        members.add(member)
        out.append(raw)
    return out


@pytest.fixture(scope="module")
def records() -> list[RawRecord]:
    return first_trees(TREES)


@pytest.fixture(scope="module")
def posts(records: list[RawRecord]) -> list[Post]:
    out = [normalize_record(r) for r in records]
    assert all(p is not None for p in out)
    return [p for p in out if p is not None]


def test_the_first_tree(records: list[RawRecord], posts: list[Post]) -> None:
    tree = [(r, p) for r, p in zip(records, posts, strict=True) if (r.position or "").startswith(FIRST_TREE + ":")]
    assert len(tree) == 290  # 299 lines, less repeated edges
    raw, root = tree[0]
    assert raw.source_uri == "spread/twitter15/twitter15_tree.tar.gz"
    assert raw.context["label"] == "non-rumor"
    assert root.platform_id == root.root_id == FIRST_SOURCE
    assert root.author.id == "14293310"
    assert root.text == "america’s biggest toy company is changing the most famous body in the world URL URL"
    assert root.created_at == FIRST_TIME
    assert root.reshare_of is None and root.reply_to is None

    retweet = tree[1][1]
    assert retweet.platform_id == f"{RETWEET_ID_PREFIX}{FIRST_SOURCE}_3949994313_0.53"
    assert retweet.reshare_of == FIRST_SOURCE and retweet.reply_to is None
    assert retweet.text == ""
    assert retweet.created_at == FIRST_TIME + timedelta(minutes=0.53)

    own = [p for _, p in tree if not p.platform_id.startswith(RETWEET_ID_PREFIX)]
    assert len(own) == 15  # the source and 14 tweets with ids of their own
    reply = next(p for p in own if p.platform_id == "693786108325449732")
    assert (reply.author.id, reply.reply_to, reply.root_id) == ("383986280", FIRST_SOURCE, FIRST_SOURCE)
    assert reply.created_at == FIRST_TIME + timedelta(minutes=1.18)
    # Delays are relative to the source's snowflake time: a node's own id agrees to within 2 s.
    for post in own:
        minted = datetime.fromtimestamp(((int(post.platform_id) >> 22) + 1288834974657) / 1000, tz=UTC)
        assert abs(minted - post.created_at) < timedelta(seconds=2)


def test_records_are_ordered_by_delay_within_a_tree(records: list[RawRecord]) -> None:
    tree = [r for r in records if (r.position or "").startswith(FIRST_TREE + ":")]
    delays = [float(r.payload["delay_min"]) for r in tree]
    assert delays == sorted(delays)
    assert [r.event_time for r in tree] == sorted(r.event_time for r in tree if r.event_time)


def test_every_node_normalises_and_ids_are_unique_and_stable(records: list[RawRecord], posts: list[Post]) -> None:
    keys = [p.key for p in posts]
    assert len(set(keys)) == len(keys)
    again = [normalize_record(r) for r in first_trees(3)]
    assert [p.key for p in again if p is not None] == keys[: len(again)]
    # Every edge points at a node of the same tree (or its root).
    ids_by_tree: dict[str, set[str]] = {}
    for raw, post in zip(records, posts, strict=True):
        ids_by_tree.setdefault((raw.position or "").rsplit(":", 1)[0], set()).add(post.platform_id)
    for raw, post in zip(records, posts, strict=True):
        parent = post.reshare_of or post.reply_to
        if parent is not None:
            assert parent in ids_by_tree[(raw.position or "").rsplit(":", 1)[0]]


def test_tree_rules_on_a_small_tree() -> None:
    lines = [
        "['1', '100', '0.5']->['2', '100', '0.9']",  # before the ROOT line
        "['ROOT', 'ROOT', '0.0']->['1', '100', '0.0']",
        "['1', '100', '0.0']->['1', '100', '0.5']",  # the author retweeting itself later
        "['1', '100', '0.0']->['3', '555', '2.0']",  # a tweet with its own id
        "['3', '555', '2.0']->['4', '555', '3.0']",  # a retweet of that reply
        "['1', '100', '0.0']->['1', '100', '0.0']",  # self-loop
        "['1', '100', '0.0']->['3', '555', '2.0']",  # repeated edge
        "['2', '100', '0.9']->['3', '555', '2.0']",  # second parent
        "not an edge",
    ]
    records = list(tree_records(lines, "100", uri="u", member="m", text="hello #x", label="false"))
    bad = [r for r in records if "_reader_error" in r.payload]
    assert len(bad) == 1 and bad[0].position == "m:9"
    with pytest.raises(ValueError, match="unreadable"):
        normalize_record(bad[0])
    posts = {p.platform_id: p for r in records if "_reader_error" not in r.payload if (p := normalize_record(r))}
    assert set(posts) == {"100", "rt_100_1_0.5", "rt_100_2_0.9", "555", "rt_555_4_3.0"}
    assert posts["100"].text == "hello #x" and posts["100"].hashtags == ["x"]
    assert posts["rt_100_2_0.9"].reshare_of == "rt_100_1_0.5"
    assert posts["555"].reply_to == "100"
    assert posts["rt_555_4_3.0"].reshare_of == "555"
    assert all(p.root_id == "100" for p in posts.values())
    by_id = {r.payload["tweet_id"] + r.payload["delay_min"]: r for r in records if "tweet_id" in r.payload}
    assert by_id["5552.0"].payload["extra_parents"] == 1


def test_malformed_nodes_raise_value_errors(records: list[RawRecord]) -> None:
    for change in ({"delay_min": "soon"}, {"uid": None}, {"parent": ["only", "two"]}, {"delay_min": "1e300"}):
        raw = records[1].model_copy(update={"payload": {**records[1].payload, **change}})
        with pytest.raises(ValueError):
            normalize_record(raw)
