"""The lip-sync bench: shift recovery, swaps and the null's threshold, rendered from series it is given."""

from __future__ import annotations

import numpy as np

from bench.lip_sync import Clip, render, track_runs
from flockwatch.media import lip_sync as ls


def _series(seed: int, late: int, n: int = 300) -> ls.VideoSeries:
    rng = np.random.default_rng(seed)
    env = np.convolve(rng.random(n + 40) > 0.8, np.ones(5), "same")[: n + 40] + 0.05 * rng.standard_normal(n + 40)
    motion = np.roll(env, -late)[20 : 20 + n] + 0.3 * rng.standard_normal(n)
    track = ls.TrackSeries(1, 0, n, motion)
    return ls.VideoSeries(30.0, [i / 30 for i in range(n)], env[20 : 20 + n], 9.0, [track])


def test_the_section_reports_recovered_shifts_swaps_and_the_chosen_threshold() -> None:
    clips = [
        Clip("a.mp4", "dfdc", _series(0, late=0), 5.0),
        Clip("b.mp4", "dfdc", _series(1, late=9), 6.0),
        Clip("quiet.mp4", "tmk", ls.VideoSeries(0.0, [], np.zeros(0), 0.4, []), 1.0),
    ]
    runs = track_runs(clips)
    assert [r.base.offset for r in runs] == [0, 9]
    body = render(clips, runs, null=[1.0, 2.0, 3.0, 3.3], skipped=2)
    assert "| a.mp4 | dfdc | 9.0 | 1 | 300 | +0 / +0 |" in body
    assert "| b.mp4 | dfdc | 9.0 | 1 | 300 | +9 / +300 |" in body
    assert "| quiet.mp4 | tmk | | | | not applicable: 0.4 s of speech, under the 2 s needed |" in body
    # Every tested shift of a clean synthetic track is recovered exactly.
    assert "| a.mp4 | 1 | found | +0 | 8 | 8 | 8 | 0 |" in body
    assert "| b.mp4 | 1 | found | +9 | 6 | 6 | 6 | 0 |" in body
    assert "| a.mp4 | b.mp4 |" in body and "| b.mp4 | a.mp4 |" in body
    # 95% quantile of the null, rounded up to 0.1.
    assert "95% quantile 3.25 → `SYNC_Z` = 3.3" in body
    assert "4 pairs (2 skipped" in body
    assert "LibriSpeech is missing" in render(clips, runs, null=[], skipped=0)
