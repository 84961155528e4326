"""PHEME (Germanwings + Ottawa tweet CSVs) in full: every row, float reply ids resolved in-thread."""

from __future__ import annotations

import collections
from datetime import UTC, datetime

import pytest

from flockwatch.config import Settings
from flockwatch.replay import normalize_record, read_dataset
from flockwatch.replay.pheme import resolve_replies
from flockwatch.schema import Post, RawRecord

DATA = Settings().data_dir


@pytest.fixture(scope="module")
def records() -> list[RawRecord]:
    return list(read_dataset("pheme", None, DATA))


@pytest.fixture(scope="module")
def posts(records: list[RawRecord]) -> list[Post]:
    out = [normalize_record(r) for r in records]
    assert all(p is not None for p in out)
    return [p for p in out if p is not None]


def test_counts(records: list[RawRecord], posts: list[Post]) -> None:
    per_file = collections.Counter(r.source_uri for r in records)
    assert per_file == {
        "spread/pheme/tweets/germanwings-crash.csv": 4489,
        "spread/pheme/tweets/ottawashooting.csv": 12284,
    }
    assert len({p.key for p in posts}) == len(posts) == 16773
    assert len({p.root_id for p in posts}) == 469 + 890


def test_a_source_tweet_and_a_reply_to_it(posts: list[Post]) -> None:
    source, reply = posts[0], posts[1]
    assert source.platform == "twitter"
    assert source.platform_id == source.root_id == "580333314415919104"
    assert (source.author.id, source.author.followers, source.author.following) == ("7587032", 1964051, 17)
    assert (source.engagement.reshares, source.engagement.likes) == (88, 19)
    assert source.created_at == datetime(2015, 3, 24, 11, 40, 18, tzinfo=UTC)
    assert source.reply_to is None and source.text == ""
    assert reply.platform_id == "580333739445764096"
    assert reply.reply_to == "580333314415919104"  # from the float 5.803333144159191e+17
    assert posts[2].reply_to == "580334452502618112"  # a reply to a reply
    assert posts[0].source.position == "2"


def test_float_reply_ids_resolve_within_the_thread(records: list[RawRecord], posts: list[Post]) -> None:
    ids = {p.platform_id for p in posts}
    replies = [p for p in posts if p.reply_to is not None]
    assert all(p.reply_to in ids for p in replies)
    unresolved = collections.Counter(r.context.get("reply_unresolved") for r in records)
    assert unresolved == {None: 16581, "parent tweet not in this thread's data": 192}
    assert len(replies) + 192 + 21 + 1359 == 16773  # 21 non-source rows without in_reply_tweet


def test_labels_match_the_is_rumor_column(records: list[RawRecord]) -> None:
    pairs = collections.Counter((r.payload["is_rumor"], r.context["label"]) for r in records)
    assert pairs == {("0", "non-rumor"): 7843, ("1", "true"): 5550, ("1", "false"): 1905, ("1", "unverified"): 1475}


def test_ambiguous_floats_are_not_guessed() -> None:
    rows = [
        {"thread": "1", "tweet_id": "580333314415919104", "in_reply_tweet": ""},
        {"thread": "1", "tweet_id": "580333314415919105", "in_reply_tweet": ""},
        {"thread": "1", "tweet_id": "7", "in_reply_tweet": "5.803333144159191e+17"},
        {"thread": "1", "tweet_id": "8", "in_reply_tweet": "42"},
        {"thread": "1", "tweet_id": "9", "in_reply_tweet": "nan?"},
    ]
    resolved = resolve_replies(rows)
    assert resolved[2][0] is None and "ambiguous" in (resolved[2][1] or "")
    assert resolved[3] == ("42", None)
    assert resolved[4][0] is None


@pytest.mark.parametrize("change", [{"tweet_id": ""}, {"created": "noon"}, {"user_id": ""}, {"retweet_count": "-1"}])
def test_malformed_rows_raise_value_errors(records: list[RawRecord], change: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        normalize_record(records[1].model_copy(update={"payload": {**records[1].payload, **change}}))
