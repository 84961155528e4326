"""The media stage keeps what a score rests on: scored signals as evidence, other observations beside them."""

from __future__ import annotations

from datetime import UTC, datetime

from flockwatch.media.score import MediaResult
from flockwatch.media.signal import Finding, Tier
from flockwatch.messages import InMessage
from flockwatch.schema import Author, MediaItem, MediaScore, Post, SourceRef
from flockwatch.stages.media import media_score, score_batch

URL = "https://cdn.example/clip.mp4"


def test_observations_travel_with_the_score_and_provenance_stays_in_its_summary() -> None:
    post = Post(
        platform="twitter",
        platform_id="1",
        author=Author(id="u1"),
        text="clip",
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
        source=SourceRef(format="test", uri="mem://"),
    )
    tracks = {"tracks": [{"track": 1, "offset_frames": 9, "synchrony": "out_of_step"}]}
    result = MediaResult(
        path=URL,
        manipulation_score=0.3,
        decided_by="learned",
        findings=[
            Finding.scored("face_video", 0.3, "blend", Tier.learned),
            Finding.observation("lip_sync", "face 1: audio 300 ms late", Tier.learned, tracks),
            Finding.observation("c2pa", "no Content Credentials", Tier.provenance, {"state": "absent"}),
        ],
    )
    score = media_score(post, URL, result)
    assert [e.signal for e in score.signals] == ["face_video"]
    [obs] = score.observations
    assert (obs.signal, obs.on, obs.detail, obs.data) == ("lip_sync", URL, "face 1: audio 300 ms late", tracks)
    assert score.provenance == {"c2pa": {"state": "absent"}}
    assert MediaScore.model_validate_json(score.to_bytes()).observations == [obs]  # survives the topic


class _Scorer:
    """Scores by URL: a number, None (looked at, nothing to say) or an exception to raise."""

    item_deadline_s = None

    def __init__(self, by_url: dict[str, float | Exception | None]) -> None:
        self.by_url = by_url

    def score(self, url: str) -> MediaResult:
        value = self.by_url[url]
        if isinstance(value, Exception):
            raise value
        return MediaResult(path=url, manipulation_score=value, decided_by="learned", findings=[])


def _post_with(urls: list[str]) -> InMessage:
    post = Post(
        platform="twitter",
        platform_id="7",
        author=Author(id="u1"),
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
        media=[MediaItem(url=u) for u in urls],
        source=SourceRef(format="test", uri="mem://"),
    )
    return InMessage("t.posts.normalized", 0, 1, post.key.encode(), post.to_bytes())


def test_every_item_of_a_post_states_the_post_risk_its_pass_found() -> None:
    urls = ["https://a/1.jpg", "https://a/2.jpg", "https://a/3.jpg"]
    scorer = _Scorer({urls[0]: 0.2, urls[1]: 0.8, urls[2]: ValueError("decoder broke")})
    out = score_batch([_post_with(urls)], scorer).out  # type: ignore[arg-type]
    scores = [MediaScore.model_validate_json(o.value) for o in out]
    assert [s.manipulation_score for s in scores] == [0.2, 0.8, None]
    assert [s.post_media_risk for s in scores] == [0.8] * 3
    assert scores[2].error is not None and "decoder broke" in scores[2].error
    # nothing scored this time: the null is sent (it clears the post's risk), not left out
    nothing = score_batch([_post_with(urls[:1])], _Scorer({urls[0]: None})).out  # type: ignore[arg-type]
    [again] = [MediaScore.model_validate_json(o.value) for o in nothing]
    assert again.post_media_risk is None and "post_media_risk" in again.model_fields_set
