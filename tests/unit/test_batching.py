"""Batch size from a stage's cost (#15): a worst-case batch fits in the poll interval."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from flockwatch.media.score import MediaScorer
from flockwatch.media.stage import MAX_ITEMS_PER_POST
from flockwatch.pipeline.batching import DEFAULT_RECORDS, HEADROOM, records_per_poll
from flockwatch.workers import MediaScoreStage, NormalizeStage


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
    # 600 s interval, 4 items at 50 s each: 2 posts a batch (400 s), never the 2,000 that livelocked.
    assert records_per_poll(stage.record_cost_s, 600.0) == 2
    assert MediaScoreStage(MediaScorer([], item_deadline_s=None)).record_cost_s is None
