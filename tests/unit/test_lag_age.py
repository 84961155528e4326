import pytest
from hypothesis import given
from hypothesis import strategies as st

from flockwatch.lag_age import LagState, PartitionLag, lag_verdict, worst

HOUR = 3_600_000
RET = 24 * HOUR


def _at(now_ms: int, ts: int | None) -> LagState:
    return lag_verdict(PartitionLag("t", 0, ts), RET, now_ms).state


def test_fake_clock_walks_through_states() -> None:
    ts = 1_000_000
    assert _at(ts + HOUR, ts) is LagState.OK
    assert _at(ts + 12 * HOUR, ts) is LagState.WARN
    assert _at(ts + 23 * HOUR, ts) is LagState.WARN
    assert _at(ts + RET, ts) is LagState.CRITICAL


def test_nothing_unread_is_ok_and_infinite_retention_never_alerts() -> None:
    assert _at(10 * RET, None) is LagState.OK
    v = lag_verdict(PartitionLag("t", 0, 0), -1, 10 * RET)
    assert v.state is LagState.OK and v.age_ms == 10 * RET


def test_clock_behind_broker_is_fresh() -> None:
    assert lag_verdict(PartitionLag("t", 0, 5000), RET, 1000).age_ms == 0


def test_bad_warn_fraction_refused() -> None:
    with pytest.raises(ValueError):
        lag_verdict(PartitionLag("t", 0, 0), RET, 0, warn_fraction=1.0)


def test_worst() -> None:
    vs = [lag_verdict(PartitionLag("t", p, 0), RET, a) for p, a in enumerate([0, RET])]
    assert worst(vs) is LagState.CRITICAL
    assert worst([]) is LagState.OK


@given(st.integers(0, 10**13), st.integers(0, 10**13), st.integers(1, 10**12))
def test_state_is_monotone_in_age(ts: int, dt: int, ret: int) -> None:
    order = [LagState.OK, LagState.WARN, LagState.CRITICAL]
    a = lag_verdict(PartitionLag("t", 0, ts), ret, ts + dt).state
    b = lag_verdict(PartitionLag("t", 0, ts), ret, ts + dt + ret // 3 + 1).state
    assert order.index(a) <= order.index(b)
