"""Lip sync: the offset readout on synthetic series, the synchrony rules, tracking, and the signal on real clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flockwatch.config import Settings
from flockwatch.media import lip_sync as ls
from flockwatch.media.signal import MediaFile
from flockwatch.media.sniff import open_media

VIDEO = Settings().data_dir / "media" / "video"


def _syllables(n: int, seed: int = 0) -> np.ndarray:
    """A speech-like envelope: smoothed random bursts at a few per second."""
    rng = np.random.default_rng(seed)
    x = np.convolve(rng.random(n + 20) > 0.8, np.ones(5), "same")[:n]
    return x + 0.05 * rng.standard_normal(n)


@pytest.mark.parametrize("late", [-9, -3, 0, 4, 11])
def test_av_offset_recovers_a_known_shift(late: int) -> None:
    env = _syllables(340)
    # The audio is `late` frames behind the mouth: the mouth at t matches the audio at t + late.
    motion = np.roll(env, -late)[20:320] + 0.3 * np.random.default_rng(1).standard_normal(300)
    est = ls.av_offset(motion, env[20:320])
    assert est.offset == late
    assert est.z > ls.SYNC_Z
    assert len(est.curve) == 2 * ls.MAX_LAG + 1


def test_unrelated_speech_finds_no_synchrony() -> None:
    est = ls.av_offset(_syllables(300, seed=2), _syllables(300, seed=3))
    assert est.z < ls.SYNC_Z
    assert ls.synchrony(est, 30.0) == "none"


def test_av_offset_refuses_mismatched_or_short_series() -> None:
    with pytest.raises(ValueError, match="equal length"):
        ls.av_offset(np.zeros(100), np.zeros(99))
    with pytest.raises(ValueError, match="too few"):
        ls.av_offset(np.zeros(20), np.zeros(20))
    assert ls.av_offset(np.zeros(100), _syllables(100)).z == 0.0  # a still mouth correlates with nothing


def test_synchrony_calls_out_of_step_only_beyond_acceptability_plus_resolution() -> None:
    def at(offset: int) -> ls.SyncEstimate:
        return ls.SyncEstimate(offset, 0.5, ls.SYNC_Z + 1, 300, ())

    fps = 30.0
    # Acceptability: 90 ms early (2.7 frames) to 185 ms late (5.55 frames), widened by RESOLUTION frames.
    assert ls.synchrony(at(0), fps) == "in_step"
    assert ls.synchrony(at(-5), fps) == "in_step"
    assert ls.synchrony(at(-6), fps) == "out_of_step"
    assert ls.synchrony(at(8), fps) == "in_step"
    assert ls.synchrony(at(9), fps) == "out_of_step"
    assert ls.synchrony(ls.SyncEstimate(0, 0.1, ls.SYNC_Z - 0.1, 300, ()), fps) == "none"


def test_speech_envelope_gives_frames_past_the_audio_the_quietest_value() -> None:
    rate, fps = 16_000, 25.0
    x = np.concatenate([np.zeros(rate // 5), np.ones(rate // 5)]).astype(np.float32)  # 0.4 s: silence, then sound
    env = ls.speech_envelope(x, [i / fps for i in range(15)], fps, rate)
    assert env.shape == (15,)
    assert env[:5].max() < env[5:10].min()
    assert np.all(env[10:] == env.min())


def _pts(mx: float, my: float) -> tuple[tuple[float, float], ...]:
    return ((mx - 20, my - 40), (mx + 20, my - 40), (mx, my - 20), (mx - 15, my), (mx + 15, my))


def test_face_tracks_follow_two_faces_and_smooth_mouths_fill_gaps() -> None:
    frames = []
    for i in range(40):
        a = ((0, 0, 100, 120), 0.99, _pts(50 + i, 80))
        b = ((300, 0, 400, 120), 0.99, _pts(350, 80))
        frames.append([a, b] if i % 3 == 0 else [])
    tracks = ls.face_tracks(frames)
    assert len(tracks) == 2
    assert [t.seen for t in tracks] == [14, 14]
    assert all(len(t.points) == 40 for t in tracks)
    corners = ls.smooth_mouths(tracks[0].points)
    assert corners.shape == (40, 2, 2)
    mid = corners.mean(axis=1)[:, 0]
    assert np.all(np.diff(mid[5:35]) > 0)  # the moving face's mouth moves right, gaps interpolated
    assert abs(mid[20] - 70) < 2


def _media(path: Path) -> MediaFile:
    return open_media(path)


def test_videos_without_sound_or_without_a_face_are_not_applicable() -> None:
    signal = ls.LipSyncSignal()
    silent = next((VIDEO / "ffpp_dfdc_samples" / "ffpp").rglob("*.mp4"))
    assert signal.compute(_media(silent)) is None
    assert signal.compute(_media(VIDEO / "tmk_variants" / "doorknob-hd-no-bar.mp4")) is None
    image = next((Settings().data_dir / "media" / "images" / "pdq_variants").rglob("*.jpg"))
    assert not signal.applies_to(_media(image))


def test_a_talking_face_clip_gets_an_offset_per_track() -> None:
    clip = next((VIDEO / "ffpp_dfdc_samples" / "dfdc").rglob("widuwuoiur.mp4"))
    finding = ls.LipSyncSignal().compute(_media(clip))
    assert finding is not None and finding.score is None  # an observation: fusion ignores it
    (track,) = finding.data["tracks"]
    assert track["synchrony"] in {"in_step", "out_of_step", "none"}
    assert -ls.MAX_LAG <= track["offset_frames"] <= ls.MAX_LAG
    assert track["z"] >= ls.SYNC_Z  # the mouth is large and visible: the bench finds sync on this clip
    assert "face 1" in finding.detail and "z " in finding.detail
