"""The media stage keeps what a score rests on: scored signals as evidence, other observations beside them."""

from __future__ import annotations

from datetime import UTC, datetime

from flockwatch.media.score import MediaResult
from flockwatch.media.signal import Finding, Tier
from flockwatch.schema import Author, MediaScore, Post, SourceRef
from flockwatch.stages.media import media_score

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
