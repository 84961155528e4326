"""IRA 2016 on the real file: field values of known rows, deterministic ids, duplicate handling."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from flockwatch.config import Settings
from flockwatch.replay import normalize_record, read_dataset
from flockwatch.replay.ira_2016 import QUOTE_SOURCE_PREFIX, RETWEET_SOURCE_PREFIX, tweet_id
from flockwatch.schema import Post, RawRecord

DATA = Settings().data_dir
PREFIX = 9_000  # every kind of row (retweets, quotes, repeats, 20 languages) in ~0.3 s


def read(n: int) -> list[RawRecord]:
    return list(itertools.islice(read_dataset("ira_2016", None, DATA), n))


@pytest.fixture(scope="module")
def records() -> list[RawRecord]:
    return read(PREFIX)


@pytest.fixture(scope="module")
def posts(records: list[RawRecord]) -> list[Post]:
    out = [normalize_record(r) for r in records]
    assert all(p is not None for p in out)
    return [p for p in out if p is not None]


def by_position(records: list[RawRecord], position: str) -> RawRecord:
    return next(r for r in records if r.position == position)


def test_the_first_row(records: list[RawRecord], posts: list[Post]) -> None:
    raw, post = records[0], posts[0]
    assert (raw.source_uri, raw.position) == ("campaigns/ira_2016/ira_tweets_2016-10_2016-11.csv.gz", "2")
    assert raw.event_time == datetime(2016, 10, 1, tzinfo=UTC)
    assert post.platform == "twitter"
    assert post.platform_id == tweet_id("TrayneshaCole", "2016-10-01 00:00:00", raw.payload["content"], "6951")
    assert post.author.id == post.author.handle == "TrayneshaCole"
    assert (post.author.followers, post.author.following, post.author.category) == (10185, 5434, "LeftTroll")
    assert post.text.startswith("This is a great comeback for all of that “I don’t see race.” BS #racism")
    assert post.language == "en"
    assert post.created_at == datetime(2016, 10, 1, tzinfo=UTC)
    assert post.hashtags == ["racism", "blm"]
    assert post.urls == ["https://t.co/A6OtcSvjS9"]
    assert post.reshare_of is not None and post.reshare_of.startswith(RETWEET_SOURCE_PREFIX)
    assert post.quote_of is None and post.reply_to is None
    assert (post.source.format, post.source.position) == ("ira_2016", "2")


def test_an_original_tweet_in_russian(records: list[RawRecord]) -> None:
    post = normalize_record(by_position(records, "213"))
    assert post is not None
    assert post.author.id == "TribunaOnline24" and post.author.category == "NonEnglish"
    assert post.language == "ru"
    assert post.text.startswith("В этот День в 1988 году сборная СССР")
    assert post.reshare_of is None and post.quote_of is None
    assert post.created_at == datetime(2016, 10, 1, 7, 51, tzinfo=UTC)


def test_a_quote_tweet_points_at_its_quoted_link(records: list[RawRecord]) -> None:
    post = normalize_record(by_position(records, "227"))
    assert post is not None
    assert post.author.id == "anzgri"
    assert post.urls == ["https://t.co/OPu3AY5cxF"]
    assert post.quote_of is not None and post.quote_of.startswith(QUOTE_SOURCE_PREFIX)
    assert post.reshare_of is None


def test_html_entities_are_unescaped_in_text_but_kept_in_the_payload(records: list[RawRecord]) -> None:
    raw = next(r for r in records if "&#8217;" in r.payload["content"])
    post = normalize_record(raw)
    assert post is not None
    assert "&#8217;" not in post.text and "’" in post.text
    assert post.text == raw.payload["content"].replace("&#8217;", "’")


def test_ids_are_deterministic_across_reads(posts: list[Post]) -> None:
    again = [normalize_record(r) for r in read(2_000)]
    assert [p.key for p in posts[:2_000]] == [p.key for p in again if p is not None]


def test_rows_repeated_verbatim_share_an_id_and_distinct_tweets_do_not(records: list[RawRecord]) -> None:
    # Rows 213 and 214 are identical in every column: one tweet captured twice.
    first, second = by_position(records, "213"), by_position(records, "214")
    assert first.payload == second.payload
    p1, p2 = normalize_record(first), normalize_record(second)
    assert p1 is not None and p2 is not None and p1.key == p2.key
    # Rows 8702 and 8704: same author, minute and text, but the account's update count moved on.
    a, b = by_position(records, "8702"), by_position(records, "8704")
    assert (a.payload["author_id"], a.payload["publish_date"], a.payload["content"]) == (
        b.payload["author_id"],
        b.payload["publish_date"],
        b.payload["content"],
    )
    pa, pb = normalize_record(a), normalize_record(b)
    assert pa is not None and pb is not None and pa.key != pb.key


def test_every_row_of_the_prefix_normalises(records: list[RawRecord], posts: list[Post]) -> None:
    assert len(records) == len(posts) == PREFIX
    keys = {p.key for p in posts}
    # Only rows identical in every tweet field collapse; nothing else shares a key.
    identical = len({tuple(r.payload[k] for k in ("author_id", "publish_date", "content", "updates")) for r in records})
    assert len(keys) == identical
    languages = {p.language for p in posts}
    assert {"en", "ru", "uk"} <= languages
    assert all(lang is None or (len(lang) == 2 and lang.islower()) for lang in languages), languages
    assert all(p.created_at.month in (10, 11) and p.created_at.year == 2016 for p in posts)


def test_empty_retweets_are_posts_with_no_text() -> None:
    raw = RawRecord(
        format="ira_2016",
        source_uri="x",
        payload={"author_id": "nana_lama", "content": "", "publish_date": "2016-10-19 00:13:00", "post_type": "R"},
    )
    post = normalize_record(raw)
    assert post is not None and post.text == "" and post.reshare_of is not None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"author_id": None}, "author_id"),
        ({"publish_date": "yesterday"}, "publish_date"),
        ({"publish_date": "1970-01-01 00:00:00"}, "before 2000"),
        ({"followers": "-3"}, "followers"),
        ({"content": 5}, "content"),
    ],
)
def test_malformed_rows_raise_value_errors_naming_the_problem(
    records: list[RawRecord], change: dict[str, object], reason: str
) -> None:
    raw = records[0].model_copy(update={"payload": {**records[0].payload, **change}})
    with pytest.raises(ValueError, match=reason):
        normalize_record(raw)
