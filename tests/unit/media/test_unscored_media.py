"""Media a signal cannot score gets an observation saying why, not silence or an error (issue 16): no face, no
audio, too little speech, a frame smaller than a face; and audio in a video container is audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flockwatch.media.face_video import FaceVideoSignal
from flockwatch.media.faces import FaceCropper
from flockwatch.media.lip_sync import LipSyncSignal
from flockwatch.media.score import MediaScorer
from flockwatch.media.signal import Finding, MediaFile, Tier
from flockwatch.media.sniff import open_media
from flockwatch.media.voice_clone import VoiceCloneSignal
from tests.unit.media.clips import audio_only_mp4, silent_video, video_with_silence


@pytest.mark.parametrize("shape", [(1, 1), (11, 11), (20, 20), (5, 3000)], ids=["1px", "11px", "20px", "sliver"])
def test_frames_smaller_than_a_face_have_no_faces(shape: tuple[int, int]) -> None:
    # MTCNN raises on an empty image pyramid; such a frame cannot hold a face of MIN_FACE pixels anyway.
    assert FaceCropper().detect(np.zeros((*shape, 3), np.uint8)) == []


def test_a_one_pixel_image_gets_a_no_face_observation(tmp_path: Path) -> None:
    path = tmp_path / "one.png"
    Image.new("RGB", (1, 1), (200, 30, 30)).save(path)
    finding = FaceVideoSignal().compute(open_media(path))
    assert finding is not None and finding.score is None
    assert finding.detail == "not scored: no face found by MTCNN in the image"
    assert finding.data["frames_sampled"] == 1 and finding.data["crops"] == 0


def test_a_video_without_sound_says_so_for_each_signal(tmp_path: Path) -> None:
    media = open_media(silent_video(tmp_path / "silent.mp4", frames=3))
    scorer = MediaScorer([FaceVideoSignal(), VoiceCloneSignal(), LipSyncSignal()])
    result = scorer.score_file(media)
    assert result.error is None and result.skipped == {}
    assert result.manipulation_score is None and result.decided_by == "no signal scored the file"
    seen = {o["name"]: o["evidence"] for o in result.to_json()["observations"]}
    assert seen == {
        "face_video": "not scored: no face found by MTCNN in 1 sampled frame",  # 0.3 s, sampled every second
        "voice_clone": "not scored: no audio stream",
        "lip_sync": "not applicable: no audio stream",
    }


def test_silence_gets_the_seconds_of_speech_found(tmp_path: Path) -> None:
    media = open_media(video_with_silence(tmp_path / "quiet.mp4"))
    voice = VoiceCloneSignal().compute(media)
    assert voice is not None and voice.score is None
    assert voice.detail.startswith("not scored: 0.0 s of speech in 1.0 s of audio, under the 1 s needed")
    assert voice.data["speech_seconds"] == 0.0 and voice.data["audio_seconds"] > 0.9
    lips = LipSyncSignal().compute(media)
    assert lips is not None and lips.score is None
    assert lips.detail == "not applicable: 0.0 s of speech, under the 2 s needed"


def test_an_audio_only_mp4_of_the_default_brand_is_audio(tmp_path: Path) -> None:
    path = audio_only_mp4(tmp_path / "dash-audio.mp4")
    assert path.read_bytes()[8:12] == b"isom"  # not the M4A brand: only the streams say it is audio
    media = open_media(path)
    assert (media.kind, media.mime) == ("audio", "audio/mp4")


class _Kind:
    """A signal that reports the kind it was given."""

    name = "kind"
    tier = Tier.learned

    def applies_to(self, media: MediaFile) -> bool:
        return True

    def compute(self, media: MediaFile) -> Finding:
        return Finding.observation(self.name, media.kind, self.tier)


def test_a_fetched_audio_only_mp4_is_scored_as_audio(tmp_path: Path) -> None:
    path = audio_only_mp4(tmp_path / "dl")
    media = open_media(path)
    # The fetchers sniff the first bytes only, which name the container: video.
    as_fetched = MediaFile(path, "video", "video/mp4", media.sha256, media.size, "https://example.org/a")
    result = MediaScorer([_Kind()], fetcher=lambda url: as_fetched).score("https://example.org/a")
    assert result.error is None and (result.kind, result.mime) == ("audio", "audio/mp4")
    assert [f.detail for f in result.findings] == ["audio"]
