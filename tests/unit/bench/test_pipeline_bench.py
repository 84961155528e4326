"""bench.pipeline's pure parts: rates from a count-over-time series, RSS aggregation, the tables."""

from __future__ import annotations

import pytest

from bench.pipeline import (
    RunResult,
    component_group,
    cpu_table,
    grouped,
    memory_table,
    steady_rate,
    summarize_rss,
    sustained,
    throughput_table,
    time_to_reach,
)

# 0 stored for 10 s (start-up), then 100 posts/s up to 1,000, then a slow tail.
SERIES = [(0.0, 0), (10.0, 0), (12.0, 200), (15.0, 500), (20.0, 1000), (30.0, 1000), (40.0, 1100)]


def test_time_to_reach_interpolates_between_samples() -> None:
    assert time_to_reach(SERIES, 200) == 12.0
    assert time_to_reach(SERIES, 300) == pytest.approx(13.0)
    assert time_to_reach(SERIES, 1100) == 40.0
    assert time_to_reach(SERIES, 1101) is None
    assert time_to_reach([(5.0, 10)], 3) == 5.0


def test_steady_rate_ignores_start_up_and_tail() -> None:
    # 20% of 1,100 = 220 at 12.2 s, 80% = 880 at 18.8 s: the 100 posts/s middle.
    assert steady_rate(SERIES, 1100) == pytest.approx(100.0)
    # The whole-run rate is far lower: the start-up and tail are what the steady rate leaves out.
    assert 1100 / 40.0 < 30
    assert steady_rate([(0.0, 0), (1.0, 10)], 1000) is None


def run(p: int, wall: float, lag_mid: dict[str, int] | None = None) -> RunResult:
    zero = {"text": 0, "media": 0}
    return RunResult(p, 3000, wall, wall / 2, 3000 / wall, 2.0, lag_mid or zero, zero)


def test_throughput_table_reports_medians_per_p_and_the_target() -> None:
    table = throughput_table([run(1, 20.0), run(2, 5.0), run(1, 10.0), run(1, 30.0), run(2, 6.0, {"text": 40})])
    lines = table.splitlines()
    assert len(lines) == 4
    p1, p2 = lines[2], lines[3]
    assert p1.startswith("| 1 | **150** ❌ | 100, 150, 300 |")  # median of 100, 150, 300
    assert p2.startswith("| 2 | **550** ✅ | 500, 600 |")
    # Only the stages that lagged are named, with their median over the runs (0 and 40 → 20).
    assert p2.endswith("| text 20 | all 0 |")
    assert p1.endswith("| all 0 | all 0 |")


def test_component_group_joins_workers_of_a_stage() -> None:
    assert component_group("index-2") == "index"
    assert component_group("kafka") == "kafka"
    assert component_group("ira-2016") == "ira"  # a numeric tail is a worker number by design
    assert component_group("x-y") == "x-y"


def test_rss_peaks_total_at_one_time_and_per_process() -> None:
    samples = [
        (0.0, {"kafka": 100, "index-1": 10, "index-2": 10, "replay": 5}),
        (2.0, {"kafka": 90, "index-1": 40, "index-2": 20}),
        (4.0, {"kafka": 120, "index-1": 5, "index-2": 5}),
    ]
    s = summarize_rss(samples)
    # The peak total is at one time (150 at 2 s), not the sum of each process's peak (120 + 40 + 20 + 5).
    assert (s.peak_total, s.peak_total_at_s) == (150, 2.0)
    assert s.peaks == {"kafka": 120, "index-1": 40, "index-2": 20, "replay": 5}
    assert list(s.peaks) == ["kafka", "index-1", "index-2", "replay"]
    times, lines = grouped(samples)
    assert times == [0.0, 2.0, 4.0]
    assert lines == {"kafka": [100, 90, 120], "index": [20, 60, 10], "replay": [5, 0, 0]}


def test_memory_table_checks_the_goal() -> None:
    s = summarize_rss([(0.0, {"kafka": 2 * 2**30, "opensearch": 3 * 2**30})])
    assert "**5.00 GiB** ✅" in memory_table(s)
    assert "❌" in memory_table(s, goal=4 * 2**30)
    assert "| opensearch | 3.00 GiB |" in memory_table(s)


def test_keeping_up_is_judged_on_the_second_half_of_the_soak() -> None:
    stored = [(0.0, 0), (150.0, 10_000), (300.0, 40_000), (450.0, 85_000), (600.0, 130_000)]
    assert sustained(stored, 300.0, 10.0) == "300 posts/s stored with scores over the second half, replayed at 300/s"
    assert sustained(stored[:2], 300.0, 10.0) == "too short to tell"
    # rows repeated in the dataset store once: a fifth of them repeats, so 375 rows/s hold 300 distinct posts/s
    assert sustained(stored, 375.0, 10.0, lambda rows: rows * 4 // 5) == (
        "300 posts/s stored with scores over the second half, replayed at 375/s (300 distinct posts/s among those "
        "rows: 100% of them stored)"
    )


def test_cpu_per_post_sums_a_stage_s_workers_and_takes_the_median_run() -> None:
    def run(p: int, cpu: dict[str, float]) -> RunResult:
        return RunResult(p, 1000, 10.0, 5.0, None, None, {}, {}, cpu)

    runs = [
        run(1, {"text-1": 2.0, "index-1": 1.0}),
        run(1, {"text-1": 4.0, "index-1": 1.0}),
        run(3, {"text-1": 2.0, "index-1": 0.5, "index-2": 0.5, "index-3": 1.0}),
    ]
    table = cpu_table(runs)
    assert "| index | 1.00 | 2.00 |" in table
    assert "| text | 3.00 | 2.00 |" in table
    assert "| total | 4.00 | 4.00 |" in table
