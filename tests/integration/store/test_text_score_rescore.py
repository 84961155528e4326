"""A post re-scored without a probability keeps no trace of its previous score, on whichever engine runs: the
store merges nested objects on upsert, so the index stage writes the missing fields as nulls."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flockwatch.adapters.scratch import scratch_namespace
from flockwatch.config import Settings
from flockwatch.schema import TextScore
from flockwatch.stages.index import to_upsert
from flockwatch.store import open_engine
from flockwatch.store.documents import IndexKind, Upsert

pytestmark = [pytest.mark.integration, pytest.mark.store]

WHEN = datetime(2016, 10, 1, tzinfo=UTC)


def test_a_rescore_replaces_the_score_and_its_interval() -> None:
    with scratch_namespace("it", Settings()) as settings:
        engine = open_engine(settings)
        engine.bulk_upsert([Upsert(IndexKind.posts, "x:1", {"key": "x:1", "created_at": WHEN.isoformat()}, WHEN)])
        base = {"post_key": "x:1", "post_created_at": WHEN, "model": "m"}
        first = TextScore(**base, machine_score=0.9, interval=(0.85, 0.93), label="machine")
        again = TextScore(**base, label="unscored")
        for score in (first, again):
            assert engine.bulk_upsert([to_upsert(score)]).written == 1
            engine.refresh(IndexKind.posts)
            doc = engine.get(IndexKind.posts, "x:1", WHEN)
            assert doc is not None and doc["key"] == "x:1"
            stored = doc["text_score"]
            assert (stored["label"], stored.get("machine_score"), stored.get("interval")) == (
                score.label,
                score.machine_score,
                None if score.interval is None else list(score.interval),
            )
