"""Analysts' verdicts in the real store (OpenSearch, and Elasticsearch under the `store` leg): one document per
cascade, replaced by a new verdict, listed in id order past a page, withdrawn."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flockwatch.config import Settings
from flockwatch.graph.verdicts import new_verdict
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
