"""A post re-scored keeps no trace of its previous score, on whichever engine runs. The store merges nested objects
on upsert: the index stage writes a text score's missing fields as nulls, and a media entry replaces its URL's
previous one whole (an update that nulls it first, in the same bulk request)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flockwatch.adapters.scratch import scratch_namespace
from flockwatch.config import Settings
from flockwatch.schema import Evidence, MediaScore, TextScore
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


def test_a_media_rescore_replaces_its_entry_whole_and_keeps_the_other_urls() -> None:
    with scratch_namespace("it", Settings()) as settings:
        engine = open_engine(settings)
        engine.bulk_upsert([Upsert(IndexKind.posts, "x:2", {"key": "x:2", "created_at": WHEN.isoformat()}, WHEN)])
        base = {"post_key": "x:2", "post_created_at": WHEN}
        first = [
            MediaScore(**base, media_url=url, manipulation_score=score, post_media_risk=0.9, sha256="ab" * 32,
                       provenance={"c2pa": {"state": "valid", "issuer": "X"}},
                       signals=[Evidence(signal="synthetic_image", score=score, on=url, detail="probe")])
            for url, score in (("https://a/1.jpg", 0.9), ("https://a/2.jpg", 0.1))
        ]  # fmt: skip
        again = MediaScore(**base, media_url="https://a/1.jpg", error="fetch refused", post_media_risk=0.1)
        result = engine.bulk_upsert([to_upsert(s) for s in first])
        assert (result.written, result.rejected) == (2, [])  # the clearing updates are not counted
        assert engine.bulk_upsert([to_upsert(again)]).written == 1
        engine.refresh(IndexKind.posts)
        doc = engine.get(IndexKind.posts, "x:2", WHEN)
        assert doc is not None and doc["key"] == "x:2" and doc["media_risk"] == 0.1
        entries = {e["media_url"]: e for e in doc["media_by_url"].values()}
        assert set(entries["https://a/1.jpg"]) == {
            "post_created_at", "media_url", "error", "provenance", "matches", "signals", "observations"
        }  # fmt: skip
        assert entries["https://a/1.jpg"]["provenance"] == {} and entries["https://a/1.jpg"]["signals"] == []
        assert entries["https://a/2.jpg"]["manipulation_score"] == 0.1  # another URL's entry is untouched
