from datetime import UTC, datetime, timedelta

import pytest

from flockwatch.adapters.replayer import Pacer

T0 = datetime(2016, 10, 1, tzinfo=UTC)


def test_unpaced_never_waits() -> None:
    assert Pacer().delay(10_000, T0, 0.0) == 0.0


def test_rate_spaces_records() -> None:
    pacer = Pacer(rate=100)
    assert pacer.delay(0, None, 0.0) == 0.0
    assert pacer.delay(50, None, 0.1) == pytest.approx(0.4)
    assert pacer.delay(50, None, 1.0) == 0.0  # behind schedule: no wait


def test_speed_follows_event_time() -> None:
    pacer = Pacer(speed=60)
    assert pacer.delay(0, T0, 0.0) == 0.0
    # One event-minute later at 60x is one wall second after the first record.
    assert pacer.delay(1, T0 + timedelta(minutes=1), 0.25) == pytest.approx(0.75)
    # An out-of-order (earlier) record goes at once.
    assert pacer.delay(2, T0 - timedelta(minutes=5), 0.3) == 0.0


def test_rate_and_speed_take_the_later_deadline() -> None:
    pacer = Pacer(rate=1, speed=1000)
    pacer.delay(0, T0, 0.0)
    assert pacer.delay(5, T0 + timedelta(seconds=1), 0.0) == pytest.approx(5.0)


@pytest.mark.parametrize("kwargs", [{"rate": 0}, {"speed": -1}])
def test_non_positive_pacing_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Pacer(**kwargs)
