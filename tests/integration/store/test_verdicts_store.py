"""Analysts' verdicts in the real store (OpenSearch, and Elasticsearch under the `store` leg): one document per
cascade, replaced by a new verdict, listed in id order past a page, withdrawn; and cascades followed across merges."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flockwatch.config import Settings
from flockwatch.graph.verdicts import CascadeMerged, new_verdict
from flockwatch.store import open_store
from flockwatch.store.documents import IndexKind

pytestmark = [pytest.mark.integration, pytest.mark.store]

NOW = datetime(2026, 12, 5, tzinfo=UTC)


def test_verdicts_are_kept_one_per_cascade_listed_and_withdrawn(settings: Settings) -> None:
    store = open_store(settings)
    verdicts = store.verdicts
    ids = [f"twitter:{i:04d}" for i in range(1_203)]  # more than one page of the scan
    said = [new_verdict(cid, ("false", "true", "unverified")[i % 3], "ana", NOW) for i, cid in enumerate(ids)]
    store.engine.bulk_put(IndexKind.verdicts, [(v["cascade_id"], v) for v in said])  # one request, for speed
    verdicts.put(new_verdict(ids[0], "true", "bo", NOW, "second look"))  # replaces the first
    listed = list(verdicts.every())
    assert [v["cascade_id"] for v in listed] == ids
    assert listed[0] == new_verdict(ids[0], "true", "bo", NOW, "second look")
    assert verdicts.get(ids[1]) == listed[1] and verdicts.get("twitter:none") is None
    assert verdicts.withdraw(ids[0]) and not verdicts.withdraw(ids[0])
    assert [v["cascade_id"] for v in verdicts.every()] == ids[1:]


def test_merged_cascades_are_followed_both_ways_and_refuse_a_new_verdict(settings: Settings) -> None:
    store = open_store(settings)
    long_root = "twitter:" + "9" * 600  # a hashed document id: the reads must still name the cascade
    stub = {"size": 0, "members": [], "events": []}
    docs = [
        ("twitter:1", {"cascade_id": "twitter:1", "size": 3, "members": ["twitter:1"], "events": []}),
        ("twitter:2", {"cascade_id": "twitter:2", "merged_into": "twitter:1", **stub}),
        (long_root, {"cascade_id": long_root, "merged_into": "twitter:2", **stub}),
        ("twitter:4", {"cascade_id": "twitter:4", "merged_into": "twitter:elsewhere", **stub}),
    ]
    store.engine.bulk_put(IndexKind.cascades, docs)
    store.engine.refresh(IndexKind.cascades)
    assert store.graph.merged_into("twitter:1") == ["twitter:2", long_root]
    assert store.graph.merged_into("twitter:2") == [long_root] and store.graph.merged_into(long_root) == []
    current = store.graph.current_cascade(long_root)
    assert current is not None and current["cascade_id"] == "twitter:1"
    assert store.graph.current_cascade("twitter:4") is None and store.graph.current_cascade("twitter:none") is None

    store.verdicts.put(new_verdict(long_root, "false", "ana", NOW))
    assert [v["cascade_id"] for v in store.verdicts.of_cascades(store.graph.merged_into("twitter:1"))] == [long_root]
    with pytest.raises(CascadeMerged, match="merged into twitter:1: judge twitter:1"):
        store.verdicts.judge("twitter:2", "true", "bo")
    assert store.verdicts.get("twitter:2") is None
    assert store.verdicts.judge("twitter:1", "true", "bo")["verdict"] == "true"
