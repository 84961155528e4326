"""Weibo CED on the real archive (a prefix: all sources and the first cascades), and its odd dates."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from flockwatch.config import Settings
from flockwatch.replay import normalize_record, read_dataset
from flockwatch.replay.timestamps import weibo_mid_time
from flockwatch.schema import Post, RawRecord

DATA = Settings().data_dir
SOURCES = 3_387
PREFIX = 7_000  # every source post, then the first cascades (~0.2 s; the full 1.28M takes ~40 s)
CASCADE = "CED_Dataset/rumor-repost/1054_zChiYlLDT_2340498132.json"


@pytest.fixture(scope="module")
def records() -> list[RawRecord]:
    return list(itertools.islice(read_dataset("weibo_ced", None, DATA), PREFIX))


@pytest.fixture(scope="module")
def posts(records: list[RawRecord]) -> list[Post]:
    out = [normalize_record(r) for r in records]
    assert all(p is not None for p in out)
    return [p for p in out if p is not None]


def test_sources_come_first_then_reposts(records: list[RawRecord]) -> None:
    assert all("/original-microblog/" in (r.position or "") for r in records[:SOURCES])
    assert all("-repost/" in (r.position or "") for r in records[SOURCES:])
    assert {r.source_uri for r in records} == {"spread/weibo_ced/CED_Dataset.tar.gz"}


def test_a_known_source_post(records: list[RawRecord]) -> None:
    raw = next(r for r in records if r.position == "CED_Dataset/original-microblog/1054_zChiYlLDT_2340498132.json")
    post = normalize_record(raw)
    assert post is not None
    assert (post.platform, post.platform_id, post.root_id) == ("weibo", "zChiYlLDT", "zChiYlLDT")
    assert post.text == "各位施主，快出来看瀑布，黄果树还敢说自己是最宽最长的吗？"
    assert (post.author.id, post.author.followers, post.author.following) == ("2340498132", 1465, 655)
    assert post.created_at == datetime(2013, 6, 20, 3, 36, 29, tzinfo=UTC)
    assert (post.engagement.likes, post.engagement.reshares, post.engagement.replies) == (3, 154, 16)
    assert post.reshare_of is None


def test_a_source_with_a_string_time_and_no_profile(records: list[RawRecord]) -> None:
    raw = next(r for r in records if "928_zyDfu5nfK_2425047701" in (r.position or ""))
    post = normalize_record(raw)
    assert post is not None
    assert raw.payload["user"] == "empty"
    assert post.created_at == datetime(2013, 5, 27, 4, 7, 5, tzinfo=UTC)
    assert post.author.id == "2425047701" and post.author.followers is None


def test_a_known_cascade(records: list[RawRecord], posts: list[Post]) -> None:
    cascade = [(r, p) for r, p in zip(records, posts, strict=True) if (r.position or "").startswith(CASCADE)]
    assert len(cascade) == 148
    raw, first = cascade[0]
    assert raw.context["label"] == "rumor"
    assert (first.platform_id, first.author.id, first.text) == ("zCriPtF1D", "2883130652", "人造景观")
    assert first.reshare_of == "zCi4Xo4Sc" and first.root_id == "zChiYlLDT"
    assert first.created_at == datetime(2013, 6, 21, 5, 3, 36, tzinfo=UTC)  # 13:03:36 in Beijing
    chain = cascade[1][1]
    assert chain.mentions[:2] == ["未来使者2112", "酱缸外的涸渔"]
    direct = cascade[-1][1]
    assert direct.platform_id == "zChqpjVpt" and direct.reshare_of == "zChiYlLDT"  # empty parent: the source


def test_repost_times_agree_with_the_time_in_their_ids(posts: list[Post]) -> None:
    checked = 0
    for post in posts[SOURCES:]:
        minted = weibo_mid_time(post.platform_id)
        if minted is not None:
            assert abs((minted - post.created_at).total_seconds()) < 3600
            checked += 1
    assert checked > 1000


def test_year_less_dates_take_the_year_from_the_mid() -> None:
    # A real repost (rumor-repost/137_zzj3JohLU_2683002893.json, first item): source from 2013,
    # repost shown as "07月23日 11:47" because it was crawled in 2016; its mid says 2016.
    raw = RawRecord(
        format="weibo_ced",
        source_uri="spread/weibo_ced/CED_Dataset.tar.gz",
        position="CED_Dataset/rumor-repost/137_zzj3JohLU_2683002893.json#0",
        payload={"uid": "702347978", "parent": "", "text": "", "mid": "E09AAopWo", "date": "07月23日 11:47"},
        context={"root_mid": "zzj3JohLU", "root_uid": "2683002893", "anchor_time": "2013-05-31T14:33:31+00:00"},
    )
    post = normalize_record(raw)
    assert post is not None and post.created_at == datetime(2016, 7, 23, 3, 47, tzinfo=UTC)
    # An old-style mid carries no time: the cascade's source year is the fallback.
    old = raw.model_copy(update={"payload": {**raw.payload, "mid": "ik2kIi"}})
    post = normalize_record(old)
    assert post is not None and post.created_at == datetime(2013, 7, 23, 3, 47, tzinfo=UTC)
    no_anchor = old.model_copy(update={"context": {"root_mid": "zzj3JohLU"}})
    with pytest.raises(ValueError, match="no year"):
        normalize_record(no_anchor)


@pytest.mark.parametrize(
    "change",
    [{"mid": None}, {"uid": []}, {"date": "yesterday"}, {"date": None}, {"text": 5}],
)
def test_malformed_reposts_raise_value_errors(records: list[RawRecord], change: dict[str, object]) -> None:
    raw = records[SOURCES]
    with pytest.raises(ValueError):
        normalize_record(raw.model_copy(update={"payload": {**raw.payload, **change}}))


def test_reading_is_deterministic(posts: list[Post]) -> None:
    again = [normalize_record(r) for r in itertools.islice(read_dataset("weibo_ced", None, DATA), 4_000)]
    assert [p.key for p in again if p] == [p.key for p in posts[:4_000]]
