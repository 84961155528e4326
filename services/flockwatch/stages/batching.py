"""Batch size from a stage's cost: a batch must end well inside Kafka's ``max.poll.interval``.

The loop polls, processes the whole batch, then polls again. If processing takes longer than
``max.poll.interval``, the client leaves the group, the commit fails and the batch is replayed by the
next owner, which is just as slow: a livelock (2,000 media posts at ~5 items/s against 600 s). A stage
that states its worst-case seconds per record gets at most as many records as fit in ``HEADROOM`` of the
interval; the rest is left for the broker to hold.

Below ``MIN_RECORDS`` (the media stage: 4 items at a 50 s deadline is 200 s a post, 2 posts in 600 s) a batch
would cost a poll and a commit per post or two, most of which carry no media at all; there the interval is raised
to fit ``MIN_RECORDS`` instead. The session heartbeat still finds a dead worker in seconds; only a hung one is
found later.
"""

from __future__ import annotations

DEFAULT_RECORDS = 2000
MIN_RECORDS = 16
# Share of the poll interval a worst-case batch may use; the rest covers producing, committing and a
# step that overruns its deadline (a model call is not interrupted).
HEADROOM = 0.75


def records_per_poll(
    record_cost_s: float | None, max_poll_interval_s: float, cap: int = DEFAULT_RECORDS, headroom: float = HEADROOM
) -> int:
    """How many records one poll may return; ``cap`` when the stage states no cost (cheap stages)."""
    if record_cost_s is None or record_cost_s <= 0:
        return cap
    return max(1, min(cap, int(max_poll_interval_s * headroom / record_cost_s)))


def poll_plan(
    record_cost_s: float | None,
    max_poll_interval_s: float,
    cap: int = DEFAULT_RECORDS,
    min_records: int = MIN_RECORDS,
    headroom: float = HEADROOM,
) -> tuple[int, float]:
    """(records per poll, poll interval in seconds) such that a worst-case batch ends inside ``headroom`` of it."""
    records = records_per_poll(record_cost_s, max_poll_interval_s, cap, headroom)
    if record_cost_s is None or record_cost_s <= 0 or records >= min(min_records, cap):
        return records, max_poll_interval_s
    records = min(min_records, cap)
    return records, max(max_poll_interval_s, records * record_cost_s / headroom)
