"""IndexStage over a fake store: rejected documents are dead-lettered, outages propagate for a retry."""

from datetime import UTC, datetime

import pytest

from flockwatch.messages import InMessage
from flockwatch.schema import Author, DeadLetter, Evidence, MediaScore, Post, SourceRef
from flockwatch.stages.index import IndexStage
from flockwatch.store.documents import IndexKind, StoreUnavailable
from flockwatch.topics import Topic
from tests.fakes.store import InMemoryStore


def fake_store(reject: set[str] | None = None, down: bool = False) -> InMemoryStore:
    store = InMemoryStore()
    store.engine.reject, store.engine.down = reject or set(), down
    return store


def post_msg(i: int) -> InMessage:
    post = Post(
        platform="twitter",
        platform_id=str(i),
        author=Author(id="u"),
        created_at=datetime(2016, 10, 1, tzinfo=UTC),
        source=SourceRef(format="test", uri="mem://"),
    )
    return InMessage("t.posts.normalized", 0, i, post.key.encode(), post.to_bytes())


def test_writes_are_idempotent_and_rejections_dead_lettered() -> None:
    store = fake_store(reject={"twitter:2"})
    stage = IndexStage(store)
    batch = [post_msg(i) for i in range(4)]
    first = stage.process(batch)
    second = stage.process(batch)
    assert len(store.engine.docs[IndexKind.posts]) == 3
    assert first.counts["indexed"] == second.counts["indexed"] == 3
    [letter] = [DeadLetter.model_validate_json(o.value) for o in first.out if o.topic is Topic.dead_letter]
    assert "mapper_parsing_exception" in letter.reason
    assert letter.original() == batch[2].value


def test_store_outage_raises_so_the_batch_is_retried() -> None:
    stage = IndexStage(fake_store(down=True))
    with pytest.raises(StoreUnavailable):
        stage.process([post_msg(1)])


def test_a_media_rescore_that_failed_keeps_nothing_of_the_previous_score() -> None:
    """The fake merges nested objects as the engines do (the integration suite checks them)."""
    store = fake_store()
    stage = IndexStage(store)
    when = datetime(2016, 10, 1, tzinfo=UTC)
    base = {"post_key": "twitter:1", "post_created_at": when, "media_url": "https://a/1.jpg"}
    scored = MediaScore(
        **base,
        manipulation_score=0.9,
        post_media_risk=0.9,
        provenance={"c2pa": {"state": "valid", "issuer": "X"}},
        signals=[Evidence(signal="synthetic_image", score=0.9, on="https://a/1.jpg", detail="probe")],
        sha256="ab" * 32,
    )
    failed = MediaScore(**base, error="fetch refused: too large", post_media_risk=None)
    for score in (scored, failed):
        stage.process([InMessage("t.media.scores", 0, 1, b"twitter:1", score.to_bytes())])
    doc = store.engine.docs[IndexKind.posts]["twitter:1"]
    [entry] = doc["media_by_url"].values()
    assert entry == {"post_created_at": when.isoformat().replace("+00:00", "Z"), "media_url": base["media_url"],
                     "error": "fetch refused: too large", "provenance": {}, "matches": [], "signals": [],
                     "observations": []}  # fmt: skip
    assert doc["media_risk"] is None
