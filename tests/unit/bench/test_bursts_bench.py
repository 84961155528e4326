"""The burst benchmark's tuning/report separation: fixed hashtag halves, disjoint, the report half without the
hashtags the pre-split tuning run drew, trials drawn only from the half asked for, and a seed that matters."""

from __future__ import annotations

import random

from bench.bursts import (
    DURATIONS_H,
    LEGACY_TUNING_DRAW,
    SIZES,
    Row,
    candidates,
    legacy_tuning_hashtags,
    plan_trials,
    split_of,
    split_pool,
)

DAY = 86400.0


def synthetic_rows(tags: int = 1200, per_tag: int = 8, days: float = 20.0) -> list[Row]:
    rng = random.Random(7)
    rows: list[Row] = []
    for i in range(tags):
        for j in range(per_tag):
            rows.append((1.47e9 + rng.uniform(0, days * DAY), f"p{i}:{j}", [f"hashtag:#tag{i}"]))
    rows += [(1.47e9 + k * 60.0, f"b{k}", ["hashtag:#busy"]) for k in range(400)]  # too common to be a candidate
    return sorted(rows, key=lambda r: r[0])


def test_split_is_fixed_and_about_even() -> None:
    tags = [f"hashtag:#tag{i}" for i in range(2000)]
    assert [split_of(t) for t in tags] == [split_of(t) for t in tags]
    assert {split_of(t) for t in tags} == {"tune", "report"}
    assert 900 < sum(split_of(t) == "tune" for t in tags) < 1100
    # pinned: the halves must not move between runs, machines or Python hash seeds (sha256, not hash())
    assert {t: split_of(f"hashtag:#{t}") for t in ("news", "trump", "maga", "politics")} == {
        "news": "tune",
        "trump": "tune",
        "maga": "report",
        "politics": "report",
    }


def test_halves_are_disjoint_and_report_leaves_out_the_legacy_draw() -> None:
    pool = candidates(synthetic_rows())
    assert "hashtag:#busy" not in pool and len(pool) == 1200
    tune, report = split_pool(pool, "tune"), split_pool(pool, "report")
    assert not set(tune) & set(report)
    legacy = legacy_tuning_hashtags(pool)
    assert len(legacy) == LEGACY_TUNING_DRAW
    assert not set(report) & legacy
    assert set(report) == {e for e in pool if split_of(e) == "report"} - legacy
    assert set(tune) == {e for e in pool if split_of(e) == "tune"}  # the tune half keeps them


def test_trials_come_only_from_the_half_and_the_seed_changes_them() -> None:
    rows = synthetic_rows()
    pool = candidates(rows)
    report = split_pool(pool, "report")
    plans = []
    for seed in (0, 1):
        passes, controls = plan_trials(rows, {}, 3, random.Random(seed), report)
        trials = [t for p in passes for t in p] + controls
        assert len(trials) == 3 * len(SIZES) * len(DURATIONS_H) + 3 * len(SIZES)
        assert {t.entity for t in trials} <= set(report)
        assert len({t.entity for t in trials}) == len(trials)  # drawn without replacement
        plans.append(sorted((t.entity, round(t.t0)) for t in trials))
    assert plans[0] != plans[1]
