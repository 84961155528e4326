"""Batch size from a stage's cost (#15): a worst-case batch fits in the poll interval."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from flockwatch.media.score import MediaScorer
from flockwatch.stages.batching import DEFAULT_RECORDS, HEADROOM, MIN_RECORDS, poll_plan, records_per_poll
from flockwatch.stages.media import MAX_ITEMS_PER_POST, MediaScoreStage
from flockwatch.stages.normalize import NormalizeStage


@given(
    cost=st.floats(min_value=1e-4, max_value=1e4, allow_nan=False),
    interval=st.floats(min_value=1.0, max_value=1e5, allow_nan=False),
)
def test_a_worst_case_batch_fits_in_the_headroom(cost: float, interval: float) -> None:
    n = records_per_poll(cost, interval)
    assert 1 <= n <= DEFAULT_RECORDS
    if n > 1:  # one record always goes through: a stage slower than the interval cannot be split further
        assert n * cost <= interval * HEADROOM + 1e-9
    if n < DEFAULT_RECORDS:  # and no smaller than needed
        assert (n + 1) * cost > interval * HEADROOM - 1e-9


def test_stages_without_a_cost_keep_the_default() -> None:
    assert records_per_poll(None, 600.0) == DEFAULT_RECORDS
    assert not hasattr(NormalizeStage(), "record_cost_s")


def test_media_stage_cost_is_every_item_at_its_deadline() -> None:
    stage = MediaScoreStage(MediaScorer([], item_deadline_s=50.0))
    assert stage.record_cost_s == MAX_ITEMS_PER_POST * 50.0
    # 600 s interval, 4 items at 50 s each: 2 posts fit (400 s), never the 2,000 that livelocked; below the
    # floor of 16 the interval grows to fit 16 posts instead (16 x 200 s / 0.75).
    assert records_per_poll(stage.record_cost_s, 600.0) == 2
    assert poll_plan(stage.record_cost_s, 600.0) == (MIN_RECORDS, MIN_RECORDS * 200.0 / HEADROOM)
    assert MediaScoreStage(MediaScorer([], item_deadline_s=None)).record_cost_s is None


@given(
    cost=st.one_of(st.none(), st.floats(min_value=1e-4, max_value=1e4, allow_nan=False)),
    interval=st.floats(min_value=1.0, max_value=1e5, allow_nan=False),
)
def test_poll_plan_never_shortens_the_interval_and_always_fits(cost: float | None, interval: float) -> None:
    records, planned = poll_plan(cost, interval)
    assert 1 <= records <= DEFAULT_RECORDS and planned >= interval
    if cost is None:
        assert (records, planned) == (DEFAULT_RECORDS, interval)
    else:
        assert records >= MIN_RECORDS
        assert records * cost <= planned * HEADROOM * (1 + 1e-9)
