"""Normalisers on fuzzed payloads: a Post, None, or ValueError; never any other exception.

Two kinds of input: real records of every format with one field (at any depth) replaced or
deleted, and payloads built from scratch out of each format's field names and arbitrary JSON.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flockwatch.config import Settings
from flockwatch.replay import FORMATS, normalize_record, read_dataset
from flockwatch.schema import Post, RawRecord
from tests.mutations import json_paths
from tests.platform_servers.appview import post_views, repost_reasons
from tests.platform_servers.cassettes import mastodon_statuses, reddit_children

DATA = Settings().data_dir

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(
        ["", " ", "0", "-1", "1.5", "1e400", "nan", "R", "Q", "2016-10-01 00:00:00", "07月23日 11:47",
         "Mon May 27 12:07:05 +0800 2013", "2026-07-04T14:38:06Z", "app.bsky.feed.post", "commit", "ROOT",
         "['1', '2', '0.5']", "at://did:plc:x/app.bsky.feed.post/1", "_reader_error"]
    ),
)  # fmt: skip
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def _sample(name: str, n: int, skip: int = 0) -> list[RawRecord]:
    return list(itertools.islice(read_dataset(name, None, DATA), skip, skip + n))


def _payloads(name: str, payloads: list[dict[str, Any]]) -> list[RawRecord]:
    return [RawRecord(format=name, source_uri="recorded", position=str(i), payload=p) for i, p in enumerate(payloads)]


SAMPLES: dict[str, list[RawRecord]] = {
    "ira_2016": _sample("ira_2016", 3) + _sample("ira_2016", 1, skip=226),
    "twitter15": _sample("twitter15", 12),
    "weibo_ced": _sample("weibo_ced", 2) + _sample("weibo_ced", 2, skip=3_387),
    "pheme": _sample("pheme", 3),
    "rumoureval2017": _sample("rumoureval2017", 2),
    "bluesky_jetstream": _sample("bluesky_jetstream", 152),
    # Connector payloads, as the recorded API answers served them (the formats have no dataset of their own).
    "reddit": _payloads("reddit", [c for cs in reddit_children(DATA / "connectors/reddit").values() for c in cs][:40]),
    "mastodon": _payloads(
        "mastodon", [s for ss in mastodon_statuses(DATA / "connectors/mastodon").values() for s in ss]
    ),
    # AppView post views wrap the Jetstream capture's real records (tests/platform_servers/appview.py).
    "bluesky_appview": _payloads(
        "bluesky_appview",
        [{"post": v} for v in post_views(DATA)]
        + [{"post": v, "reason": r} for v, r in zip(post_views(DATA), repost_reasons(DATA), strict=False)][:3],
    ),
}
ALL_SAMPLES = [r for records in SAMPLES.values() for r in records]
# Real values seen under each field name, so built-from-scratch payloads sometimes make posts.
VALUES: dict[str, dict[str, list[Any]]] = {}
for _name, _records in SAMPLES.items():
    for _record in _records:
        for _key, _value in itertools.chain(_record.payload.items(), _record.context.items()):
            VALUES.setdefault(_name, {}).setdefault(_key, []).append(_value)
VALUES["cnt_csv"] = {
    "message_id": ["1001"], "user_id": ["u1"], "username": ["alice"], "repost_id": ["", "1000"],
    "reply_id": [""], "message": ["hi #x"], "timestamp": ["1478563200"], "urls": ["https://a.example"],
}  # fmt: skip
VALUES["rss"] = {
    "feed": [{"url": "https://n.example/feed", "title": "N", "link": "https://n.example/", "language": "en"}],
    "entry": [{"id": "tag:n.example,2025:1", "title": "Hi #x", "link": "https://n.example/1?utm_source=rss",
               "summary": "<p>a <a href='/b'>b</a></p>", "published_parsed": "2025-06-03T13:45:00+00:00"}],
    "dated_by_pull": ["2026-01-02T03:04:05+00:00"],
}  # fmt: skip
VALUES["ytdlp"] = {
    "_type": ["url", "video"], "ie_key": ["Youtube"], "extractor_key": ["Youtube", "Generic"], "id": ["Qm3xT9pLk2E"],
    "url": ["https://www.youtube.com/watch?v=Qm3xT9pLk2E"], "title": ["Ferry"], "channel_id": ["UCx"],
    "timestamp": [1748952007], "upload_date": ["20250603"], "view_count": [5],
    "dated_by_pull": ["2026-01-02T03:04:05Z"],
}  # fmt: skip


@st.composite
def payloads(draw: st.DrawFn, name: str, max_size: int) -> dict[str, Any]:
    """Field names of the format (or random ones) with real values of that field or arbitrary JSON."""
    known = VALUES[name]
    keys = draw(st.lists(st.sampled_from(sorted(known)) | st.text(max_size=6), max_size=max_size, unique=True))
    return {key: draw(st.sampled_from(known[key]) | JSON if key in known else JSON) for key in keys}


def _mutate(data: dict[str, Any], path: tuple[str | int, ...], value: Any, delete: bool) -> None:
    target: Any = data
    for step in path[:-1]:
        target = target[step]
    if delete and isinstance(target, dict):
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value


def _outcome_is_allowed(raw: RawRecord) -> None:
    try:
        result = normalize_record(raw)
    except ValueError:  # pydantic.ValidationError included
        return
    assert result is None or isinstance(result, Post)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_real_records_with_one_field_changed(data: st.DataObject) -> None:
    raw = data.draw(st.sampled_from(ALL_SAMPLES))
    where = data.draw(st.sampled_from(["payload", "context"]))
    record = copy.deepcopy(raw.payload if where == "payload" else raw.context)
    paths = json_paths(record, max_items=5)
    if paths:
        path = data.draw(st.sampled_from(paths))
        _mutate(record, path, data.draw(JSON), data.draw(st.booleans()))
    changed = raw.model_copy(update={where: record})
    _outcome_is_allowed(changed)


@pytest.mark.parametrize("name", sorted(FORMATS))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_payloads_from_scratch(name: str, data: st.DataObject) -> None:
    payload = data.draw(payloads(name, 10))
    context = data.draw(payloads(name, 5))
    _outcome_is_allowed(RawRecord(format=name, source_uri="fuzz", payload=payload, context=context))


def test_the_samples_are_real_and_normalise() -> None:
    for name, records in SAMPLES.items():
        assert records, name
        outcomes = [normalize_record(r) for r in records]
        assert any(isinstance(p, Post) for p in outcomes), name
