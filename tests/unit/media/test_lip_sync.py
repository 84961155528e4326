"""Lip sync: the offset readout on synthetic series, the synchrony rules, tracking, and the signal on real clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flockwatch.config import Settings
from flockwatch.media import lip_sync as ls
from flockwatch.media.errors import MediaRefused
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


def test_in_step_mouth_changes_and_sounds_read_zero_offset() -> None:
    """Known sync, through the real feature functions: the mouth patch changes at frame k (frame k replaces k-1) and
    a click is heard at that moment; the offset must be 0, not half a frame either way rounded to one."""
    fps, rate, n = 30.0, 16_000, 300
    rng = np.random.default_rng(4)
    events = sorted(rng.choice(np.arange(5, n - 5), 40, replace=False))
    patches, current = [], np.zeros((32, 48))
    audio = 0.001 * rng.standard_normal(int(n / fps * rate)).astype(np.float32)
    for k in range(n):
        if k in events:
            current = rng.random((32, 48))
            at = round(k / fps * rate)
            audio[at - 200 : at + 200] += 0.5  # 25 ms centred on frame k's time
        patches.append(current)
    est = ls.av_offset(ls.mouth_motion(patches), ls.speech_envelope(audio, [k / fps for k in range(n)], fps, rate))
    assert est.offset == 0 and est.z > ls.SYNC_Z


def test_synchrony_is_found_only_for_a_clear_peak_inside_the_search() -> None:
    edge = ls.MAX_LAG - ls.CURVE_SMOOTH // 2
    strong = ls.SYNC_Z + 5
    assert ls.synchrony(ls.SyncEstimate(0, 0.5, strong, 300, ()), 30.0) == "found"
    assert ls.synchrony(ls.SyncEstimate(edge, 0.5, strong, 300, ()), 30.0) == "found"
    assert ls.synchrony(ls.SyncEstimate(edge + 1, 0.5, strong, 300, ()), 30.0) == "none"  # top may lie beyond
    assert ls.synchrony(ls.SyncEstimate(-edge - 1, 0.5, strong, 300, ()), 30.0) == "none"
    assert ls.synchrony(ls.SyncEstimate(0, 0.1, ls.SYNC_Z - 0.1, 300, ()), 30.0) == "none"


def test_the_detail_gives_the_offset_with_its_resolution_or_says_none_was_found() -> None:
    found = ls.TrackSync(1, 0.0, 10.0, ls.SyncEstimate(9, 0.45, ls.SYNC_Z + 2, 300, ()), "found")
    text = ls.describe(found, 30.0)
    assert "audio 300 ms late ± " + str(round(1000 * ls.RESOLUTION / 30)) + " ms" in text
    none = ls.TrackSync(2, 1.0, 9.0, ls.SyncEstimate(-3, 0.1, 1.0, 240, ()), "none")
    assert "no clear synchrony" in ls.describe(none, 30.0) and "face 2 (1.0-9.0 s)" in ls.describe(none, 30.0)


def test_speech_envelope_gives_frames_past_the_audio_the_quietest_value() -> None:
    rate, fps = 16_000, 25.0
    # 0.4 s: loud, then quiet (not silent: the quietest frame is the quiet part's, not log(0)).
    x = np.concatenate([np.full(rate // 5, 0.5), np.full(rate // 5, 0.01)]).astype(np.float32)
    env = ls.speech_envelope(x, [i / fps for i in range(15)], fps, rate)
    assert env.shape == (15,)
    assert env[1:5].min() > env[6:10].max()
    quiet = float(np.log(0.01**2 + 1e-8))
    assert np.allclose(env[6:10], quiet, atol=1e-6)
    assert np.allclose(env[10:], quiet, atol=1e-6)  # past the audio: the quietest frame's value


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
    # A face unseen for longer than MAX_GAP_FRAMES starts a new track instead of bridging the gap.
    gap = ls.MAX_GAP_FRAMES + 3
    seen_again = [[((0, 0, 100, 120), 0.99, _pts(50, 80))]] + [[]] * gap + [[((0, 0, 100, 120), 0.99, _pts(52, 80))]]
    assert [t.seen for t in ls.face_tracks(seen_again)] == [1, 1]
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
    with pytest.raises(MediaRefused, match="no audio stream"):
        ls.video_series(silent)
    mute = signal.compute(_media(silent))
    assert mute is not None and mute.score is None and mute.detail == "not applicable: no audio stream"
    no_face = VIDEO / "tmk_variants" / "doorknob-hd-no-bar.mp4"
    series = ls.video_series(no_face)
    assert series.speech_seconds >= ls.MIN_SPEECH_SECONDS and series.tracks == []  # sound, but no face
    faceless = signal.compute(_media(no_face))
    assert faceless is not None and faceless.score is None and faceless.data["tracks"] == []
    assert faceless.detail == f"not applicable: no face seen for {ls.MIN_TRACK_SECONDS:g} s"
    image = next((Settings().data_dir / "media" / "images" / "pdq_variants").rglob("*.jpg"))
    assert not signal.applies_to(_media(image))


def test_a_talking_face_clip_gets_an_offset_per_track() -> None:
    clip = next((VIDEO / "ffpp_dfdc_samples" / "dfdc").rglob("widuwuoiur.mp4"))
    finding = ls.LipSyncSignal().compute(_media(clip))
    assert finding is not None and finding.score is None  # an observation: fusion ignores it
    (track,) = finding.data["tracks"]
    # The mouth is large and visible: the bench finds sync on this clip, with the audio about 10 frames late.
    assert track["synchrony"] == "found" and track["z"] >= ls.SYNC_Z
    assert 10 - ls.RESOLUTION <= track["offset_frames"] <= 10 + ls.RESOLUTION
    assert track["offset_ms"] > 0 and track["offset_resolution_ms"] == round(1000 * ls.RESOLUTION / 29.97)
    assert finding.detail.startswith("face 1 (0.0-10.0 s): mouth and speech move together, best with the audio")
