from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from flockwatch.schema import MAX_TEXT_CHARS, Author, DeadLetter, Post, SourceRef, TextScore, post_key


def make_post(**over: object) -> Post:
    fields: dict[str, object] = {
        "platform": "twitter",
        "platform_id": "123",
        "author": Author(id="u1", handle="alice"),
        "text": "hello #world",
        "created_at": datetime(2016, 10, 1, 12, 0, tzinfo=UTC),
        "source": SourceRef(format="test", uri="mem://", position="1"),
    }
    fields.update(over)
    return Post.model_validate(fields)


def test_key_is_platform_and_id() -> None:
    post = make_post()
    assert post.key == "twitter:123" == post_key("twitter", "123")


def test_parent_key_prefers_reshare_then_quote_then_reply() -> None:
    assert make_post(reply_to="1", quote_of="2", reshare_of="3").parent_key() == "twitter:3"
    assert make_post(reply_to="1", quote_of="2").parent_key() == "twitter:2"
    assert make_post(reply_to="1").parent_key() == "twitter:1"
    assert make_post().parent_key() is None


def test_naive_time_is_utc() -> None:
    assert make_post(created_at=datetime(2016, 10, 1, 12, 0)).created_at.tzinfo == UTC


@pytest.mark.parametrize(
    "when",
    [datetime(1970, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(days=30)],
)
def test_absurd_times_are_rejected(when: datetime) -> None:
    with pytest.raises(ValidationError, match="created_at"):
        make_post(created_at=when)


def test_huge_text_is_rejected() -> None:
    with pytest.raises(ValidationError, match="text"):
        make_post(text="x" * (MAX_TEXT_CHARS + 1))


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError, match="extra"):
        make_post(surprise=1)


def test_json_round_trip() -> None:
    post = make_post(hashtags=["world"], urls=["https://example.org"])
    assert Post.model_validate_json(post.to_bytes()) == post


def test_a_text_score_interval_is_a_range_of_probabilities() -> None:
    def score(interval: object) -> TextScore:
        return TextScore.model_validate(
            {"post_key": "twitter:1", "post_created_at": "2016-10-01T12:00:00Z", "machine_score": 0.5,
             "label": "human", "model": "m", "interval": interval}
        )  # fmt: skip

    kept = score([0.4, 0.6])
    assert kept.interval == (0.4, 0.6) and TextScore.model_validate_json(kept.to_bytes()) == kept
    assert score(None).interval is None
    for bad in ([0.6, 0.4], [-0.1, 0.5], [0.5, 1.2], [0.5]):
        with pytest.raises(ValidationError, match="interval"):
            score(bad)


def test_dead_letter_keeps_original_bytes() -> None:
    original = b"\xff\xfe not utf-8 \x00"
    letter = DeadLetter.of("normalize", "invalid UTF-8", original, source_offset=7)
    again = DeadLetter.model_validate_json(letter.to_bytes())
    assert again.original() == original
    assert again.reason == "invalid UTF-8"
    assert again.source_offset == 7
