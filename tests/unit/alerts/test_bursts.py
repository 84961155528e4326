"""Kleinberg's automaton (batch and online), the z-score baselines and the streaming tracker."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flockwatch.alerts.bursts import (
    BurstConfig,
    BurstTracker,
    Ewma,
    build_series,
    burst_gain,
    detect_bursts,
    gain_one,
    kleinberg_viterbi,
    online_states,
    robust_zscores,
    runs,
    split_at_gaps,
    state_costs,
)

T0 = datetime(2016, 10, 1, tzinfo=UTC)


def brute_force(r: list[float], d: list[float], p0: float, s: float, tau: float) -> list[bool]:
    """The optimal state sequence by enumerating all 2^n of them (Kleinberg's objective, q0 start)."""
    best: tuple[float, tuple[int, ...]] | None = None
    ra, da = np.array(r), np.array(d)
    c0 = state_costs(ra, da, p0)
    c1 = state_costs(ra, da, p0 * s)
    for seq in itertools.product((0, 1), repeat=len(r)):
        cost, prev = 0.0, 0
        for t, q in enumerate(seq):
            cost += c1[t] if q else c0[t]
            if q > prev:
                cost += tau
            prev = q
        if best is None or cost < best[0] - 1e-9:
            best = (cost, seq)
    assert best is not None
    return [bool(q) for q in best[1]]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 12), st.integers(20, 60)), min_size=1, max_size=8),
    st.floats(0.01, 0.08),
    st.floats(0.2, 4.0),
)
def test_viterbi_matches_brute_force(bins: list[tuple[int, int]], p0: float, tau: float) -> None:
    r = [float(min(a, b)) for a, b in bins]
    d = [float(b) for _, b in bins]
    got = kleinberg_viterbi(np.array([r]), np.array(d), s=3.0, p0=np.array([p0]), tau=tau)[0].tolist()
    want = brute_force(r, d, p0, 3.0, tau)
    # ties can pick either sequence: compare costs, then sequences when the optimum is unique
    ra, da = np.array(r), np.array(d)

    def cost(seq: list[bool]) -> float:
        c0, c1 = state_costs(ra, da, p0), state_costs(ra, da, p0 * 3.0)
        total, prev = 0.0, False
        for t, q in enumerate(seq):
            total += c1[t] if q else c0[t]
            total += tau if q and not prev else 0.0
            prev = q
        return float(total)

    assert cost(got) == pytest.approx(cost(want), abs=1e-6)


def test_online_decision_equals_batch_viterbi_on_every_prefix() -> None:
    rng = np.random.default_rng(7)
    for _ in range(40):
        n = int(rng.integers(5, 50))
        d = rng.integers(50, 300, size=n).astype(float)
        r = rng.binomial(d.astype(int), 0.02).astype(float)
        a = int(rng.integers(0, n))
        r[a : a + 4] += rng.integers(5, 15)
        online = online_states(r, d, 0.02, 3.0, 2.5)
        for t in range(n):
            batch = kleinberg_viterbi(r[: t + 1][None, :], d[: t + 1], 3.0, p0=np.array([0.02]), tau=2.5)
            assert bool(batch[0, -1]) == bool(online[t])


def test_gain_is_cost_difference_and_signs() -> None:
    r, d = np.array([0.0, 10.0]), np.array([100.0, 100.0])
    g = burst_gain(r, d, 0.01, 3.0)
    assert g[0] < 0 < g[1]  # quiet bin favours q0, a 10% bin favours q1 (3× of 1%)
    assert g[1] == pytest.approx(gain_one(10, 100, 0.01, 3.0))
    assert g[1] == pytest.approx(float(state_costs(r, d, 0.01)[1] - state_costs(r, d, 0.03)[1]))


def test_detect_bursts_finds_the_planted_burst_with_its_numbers() -> None:
    n = 96
    rng = np.random.default_rng(1)
    rows = []
    for i in range(n):
        t = T0 + timedelta(minutes=15 * i)
        for j in range(100):
            tags = ["hashtag:#bg"] if rng.random() < 0.02 else []
            rows.append((t + timedelta(seconds=j), f"p{i}-{j}", tags))
        if 40 <= i < 44:
            rows.extend((t + timedelta(seconds=k), f"b{i}-{k}", ["hashtag:#burst"]) for k in range(30))
    series = build_series(rows, T0, T0 + timedelta(hours=24), timedelta(minutes=15))
    bursts = detect_bursts(series, BurstConfig())
    planted = [b for b in bursts if b.entity == "hashtag:#burst"]
    assert len(planted) == 1
    b = planted[0]
    assert b.start == T0 + timedelta(minutes=15 * 40)
    assert b.end == T0 + timedelta(minutes=15 * 44)
    assert b.posts == 120 and b.total == 4 * 130
    assert b.observed_rate == pytest.approx(120.0)
    assert b.observed_share == pytest.approx(120 / 520)
    assert b.weight > 100 and b.post_keys
    assert not [x for x in bursts if x.entity == "hashtag:#bg"]  # steady background: no burst


def test_runs() -> None:
    assert runs(np.array([0, 1, 1, 0, 1], dtype=bool)) == [(1, 3), (4, 5)]
    assert runs(np.array([], dtype=bool)) == []


def test_robust_z_has_poisson_floor() -> None:
    counts = np.array([[0, 0, 0, 0, 10], [5, 5, 5, 5, 5]], dtype=float)
    z = robust_zscores(counts, window=4)
    assert z[0, 4] == pytest.approx(10.0)  # median 0, MAD 0 → scale 1
    assert z[1, 4] == pytest.approx(0.0)


def test_ewma_tracks_mean_and_zeros() -> None:
    e = Ewma(alpha=0.5)
    for _ in range(20):
        e.update(4.0)
    assert e.mean == pytest.approx(4.0, rel=1e-3)
    assert e.z(4.0) == pytest.approx(0.0, abs=1e-3)
    e.skip_zeros(3)
    assert e.mean == pytest.approx(0.5, rel=1e-2)


def feed(
    tracker: BurstTracker, minutes: int, per_min: int, tag_every: int, extra: dict[int, int]
) -> list[tuple[int, str]]:
    """A steady stream (per_min posts/min, one in tag_every tagged #bg) with extra #x posts at some minutes."""
    found: list[tuple[int, str]] = []
    for m in range(minutes):
        t = T0 + timedelta(minutes=m)
        for j in range(per_min):
            tags = ["hashtag:#bg"] if (m * per_min + j) % tag_every == 0 else []
            tracker.add(t + timedelta(seconds=j % 60), f"p{m}-{j}", tags)
        for k in range(extra.get(m, 0)):
            tracker.add(t + timedelta(seconds=k % 60), f"x{m}-{k}", ["hashtag:#x"])
        found.extend((m, b.entity) for b in tracker.bursting())
    return found


def test_tracker_reports_a_burst_while_it_happens_and_not_the_background() -> None:
    tracker = BurstTracker(BurstConfig(bin=timedelta(minutes=5), warmup=timedelta(hours=1)))
    extra = {m: 3 for m in range(240, 260)}  # 60 #x posts in 20 minutes, 4 hours in
    found = feed(tracker, 360, 10, 20, extra)
    x_minutes = [m for m, e in found if e == "hashtag:#x"]
    assert x_minutes and 240 <= x_minutes[0] <= 250  # within 10 minutes of the start
    assert not [e for _, e in found if e == "hashtag:#bg"]
    burst = tracker.state_of("hashtag:#x")
    assert burst is None  # long over by minute 360


def test_tracker_catches_a_burst_that_ends_inside_one_batch() -> None:
    """A replay can close many bins per batch: bursts seen at bin close are still reported."""
    tracker = BurstTracker(BurstConfig(bin=timedelta(minutes=5), warmup=timedelta(hours=1)))
    for m in range(200):
        t = T0 + timedelta(minutes=m)
        for j in range(10):
            tracker.add(t + timedelta(seconds=j), f"p{m}-{j}", [])
        if 100 <= m < 110:
            for k in range(6):
                tracker.add(t + timedelta(seconds=k), f"x{m}-{k}", ["hashtag:#x"])
    found = tracker.bursting()  # one call at the end, long after the burst
    assert [b.entity for b in found] == ["hashtag:#x"]
    b = found[0]
    assert b.posts == 60 and not b.ongoing
    assert b.start == T0 + timedelta(minutes=100)


def test_tracker_late_posts_count_in_the_open_bin() -> None:
    tracker = BurstTracker(BurstConfig(bin=timedelta(minutes=5)))
    assert tracker.add(T0 + timedelta(minutes=10), "a", [])
    assert not tracker.add(T0, "b", ["hashtag:#late"])
    assert tracker.late == 1
    assert tracker.entities["hashtag:#late"].open_r == 1


def test_tracker_prunes_idle_entities_and_skips_long_silences() -> None:
    cfg = BurstConfig(bin=timedelta(minutes=1), max_entities=100, warmup=timedelta(0))
    tracker = BurstTracker(cfg)
    for i in range(500):
        tracker.add(T0 + timedelta(minutes=i), f"p{i}", [f"hashtag:#t{i}"])
    assert len(tracker.entities) <= 100
    tracker.add(T0 + timedelta(days=30), "late-post", ["hashtag:#t499"])
    assert tracker.open_bin == int((T0 + timedelta(days=30)).timestamp() // 60)
    assert math.isfinite(tracker.hist_d)


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="unknown entity types"):
        BurstConfig(entity_types=["hashtag", "emoji"])
    assert BurstConfig.model_validate({"bin": "90s"}).bin_s == 90
    assert 0 < BurstConfig().decay < 1


def test_batch_runs_split_at_long_gaps_like_the_stream() -> None:
    counts = np.array([0, 3, 0, 0, 0, 0, 2, 1, 0, 0], dtype=float)
    assert split_at_gaps([(0, 10)], counts, max_gap=3) == [(1, 2), (6, 8)]
    assert split_at_gaps([(0, 10)], counts, max_gap=4) == [(1, 8)]
    assert split_at_gaps([(8, 10)], counts, max_gap=1) == []
