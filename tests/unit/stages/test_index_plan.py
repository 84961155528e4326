from datetime import UTC, datetime

from flockwatch.messages import InMessage
from flockwatch.schema import Author, Engagement, MediaScore, Post, SourceRef, TextScore
from flockwatch.stages.index import plan_index
from flockwatch.store.documents import IndexKind

WHEN = datetime(2016, 10, 3, 4, 5, tzinfo=UTC)


def msg(value: bytes) -> InMessage:
    return InMessage("t.posts.normalized", 1, 9, None, value)


def post() -> Post:
    return Post(
        platform="twitter",
        platform_id="42",
        author=Author(id="u1"),
        text="vote #debate",
        created_at=WHEN,
        hashtags=["debate"],
        reshare_of="41",
        source=SourceRef(format="test", uri="mem://"),
    )


def test_post_becomes_an_upsert_keyed_by_post_key_in_its_month() -> None:
    plan = plan_index([msg(post().to_bytes())])
    [u] = plan.upserts
    assert (u.kind, u.doc_id, u.time) == (IndexKind.posts, "twitter:42", WHEN)
    assert u.doc["key"] == "twitter:42"
    assert u.doc["parent_key"] == "twitter:41"
    assert u.doc["hashtags"] == ["debate"]
    assert "schema_version" not in u.doc


def test_scores_merge_into_the_post_document() -> None:
    text = TextScore(
        post_key="twitter:42",
        post_created_at=WHEN,
        machine_score=0.9,
        label="machine",
        interval=(0.8, 0.93),
        model="m1",
    )
    media = [
        MediaScore(post_key="twitter:42", post_created_at=WHEN, media_url=url, manipulation_score=0.5)
        for url in ("https://a/1.jpg", "https://a/2.jpg")
    ]
    plan = plan_index([msg(text.to_bytes())] + [msg(m.to_bytes()) for m in media])
    assert [u.doc_id for u in plan.upserts] == ["twitter:42"] * 3
    assert plan.upserts[0].doc["text_score"]["machine_score"] == 0.9
    assert plan.upserts[0].doc["text_score"]["interval"] == [0.8, 0.93]  # the score's uncertainty is stored with it
    # A later score without a probability writes nulls, so the store's nested merge keeps no stale score beside it.
    unscored = TextScore(post_key="twitter:42", post_created_at=WHEN, label="unscored", model="m1")
    [u] = plan_index([msg(unscored.to_bytes())]).upserts
    assert u.doc["text_score"] == {
        "machine_score": None,
        "label": "unscored",
        "interval": None,
        "evidence": [],
        "model": "m1",
    }
    # Two media of one post land under two different keys, so neither overwrites the other.
    keys = [next(iter(u.doc["media_by_url"])) for u in plan.upserts[1:]]
    assert len(set(keys)) == 2


def test_unknown_messages_are_dead_lettered() -> None:
    plan = plan_index([msg(b'{"kind": "mystery"}'), msg(post().to_bytes())])
    assert len(plan.upserts) == 1
    assert plan.outcome.counts["dead_lettered"] == 1


def test_a_collected_post_also_writes_its_engagement_snapshot() -> None:
    seen = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    live = post().model_copy(update={"collected_at": seen, "engagement": Engagement(likes=5, reshares=2)})
    plan = plan_index([msg(live.to_bytes())])
    posts, snapshot = plan.upserts
    assert posts.kind is IndexKind.posts and len(plan.origins) == 2
    assert (snapshot.kind, snapshot.doc_id, snapshot.time) == (
        IndexKind.engagement,
        "twitter:42@2026-12-04T10:00:00+00:00",
        seen,
    )
    assert snapshot.doc["likes"] == 5 and snapshot.doc["reshares"] == 2 and snapshot.doc["account_key"] == "twitter:u1"
    assert "views" not in snapshot.doc
    # the same message again is the same snapshot (idempotent); a replayed post has none
    assert plan_index([msg(live.to_bytes())]).upserts[1].doc_id == snapshot.doc_id
    assert len(plan_index([msg(post().to_bytes())]).upserts) == 1


def test_a_media_score_replaces_its_entry_and_sets_the_post_risk_its_pass_found() -> None:
    def score(**fields: object) -> MediaScore:
        return MediaScore(post_key="twitter:42", post_created_at=WHEN, media_url="https://a/1.jpg", **fields)

    [u] = plan_index([msg(score(manipulation_score=0.3, post_media_risk=0.9).to_bytes())]).upserts
    [key] = u.doc["media_by_url"]
    assert u.replace == (f"media_by_url.{key}",)
    assert u.cleared() == {"media_by_url": {key: None}}
    assert u.doc["media_risk"] == 0.9 and "post_media_risk" not in u.doc["media_by_url"][key]
    [failed] = plan_index([msg(score(error="fetch refused", post_media_risk=None).to_bytes())]).upserts
    assert failed.doc["media_risk"] is None  # the pass scored nothing: the old risk goes
    # A score from before the stage stated its post's risk keeps the old rule: its own score, if any.
    assert plan_index([msg(score(manipulation_score=0.4).to_bytes())]).upserts[0].doc["media_risk"] == 0.4
    assert "media_risk" not in plan_index([msg(score(error="x").to_bytes())]).upserts[0].doc


def test_a_media_entry_read_between_its_clear_and_its_rewrite_is_skipped() -> None:
    from flockwatch.stages.index import stored_scores

    doc = {"media_by_url": {"k1": None, "k2": {"media_url": "https://a/2.jpg", "post_created_at": WHEN.isoformat()}}}
    _, media = stored_scores(post(), doc)
    assert list(media) == ["https://a/2.jpg"]
