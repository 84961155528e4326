"""Timestamp parsers: the datasets' real formats, and ValueError (never anything else) on junk."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flockwatch.replay.timestamps import (
    CHINA_TZ,
    from_iso,
    from_month_day,
    from_naive,
    from_twitter_date,
    from_unix,
    plus_minutes,
    snowflake_time,
)

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=40),
    st.from_regex(r"\d{1,5}月\d{1,3}日 \d{1,3}:\d{1,3}", fullmatch=True),
    st.from_regex(r"[A-Z][a-z]{2} [A-Z][a-z]{2} \d{1,2} \d{2}:\d{2}:\d{2} [+-]\d{4} \d{4}", fullmatch=True),
    st.lists(st.integers(), max_size=2),
)
ANCHOR = datetime(2013, 6, 20, 3, 36, 29, tzinfo=UTC)


def test_unix_seconds_and_milliseconds() -> None:
    assert from_unix(1371699389) == datetime(2013, 6, 20, 3, 36, 29, tzinfo=UTC)
    assert from_unix("1427197218000.0", unit="ms") == datetime(2015, 3, 24, 11, 40, 18, tzinfo=UTC)
    for bad in ("soon", float("nan"), float("inf"), 10**30, True, None):
        with pytest.raises(ValueError):
            from_unix(bad)


def test_naive_wall_clock_in_a_zone() -> None:
    assert from_naive("2016-10-01 00:00:00") == datetime(2016, 10, 1, tzinfo=UTC)
    assert from_naive("2013-06-21 13:03:36", tz=CHINA_TZ) == datetime(2013, 6, 21, 5, 3, 36, tzinfo=UTC)
    assert from_iso("2026-07-04T14:38:06.240Z") == datetime(2026, 7, 4, 14, 38, 6, 240000, tzinfo=UTC)
    assert from_iso("2026-07-04T14:38:02+00:00").tzinfo is not None


def test_twitter_style_dates_do_not_depend_on_the_locale() -> None:
    assert from_twitter_date("Mon May 27 12:07:05 +0800 2013") == datetime(2013, 5, 27, 4, 7, 5, tzinfo=UTC)
    with pytest.raises(ValueError, match="impossible"):
        from_twitter_date("Mon Feb 31 12:07:05 +0800 2013")


def test_weibo_month_day_takes_the_year_from_the_anchor() -> None:
    assert from_month_day("07月23日 11:47", anchor=ANCHOR) == datetime(2013, 7, 23, 3, 47, tzinfo=UTC)
    # A cascade that runs past New Year: January after a December source is the next year.
    december = datetime(2012, 12, 30, tzinfo=UTC)
    assert from_month_day("01月02日 08:00", anchor=december).year == 2013
    with pytest.raises(ValueError):
        from_month_day("13月40日 11:47", anchor=ANCHOR)


def test_snowflake_ids_carry_their_time() -> None:
    # Twitter15's source 706665777332621314 quotes Sanders during the Flint debate (6 Mar 2016, 21:20 EST).
    assert snowflake_time("706665777332621314") == datetime(2016, 3, 7, 2, 20, 25, 188000, tzinfo=UTC)
    assert snowflake_time(20) is None, "pre-2010 sequential ids carry no time"
    assert snowflake_time("abc") is None
    assert snowflake_time(-5) is None


def test_plus_minutes_handles_fractions_and_negatives() -> None:
    assert plus_minutes(ANCHOR, "0.25") == ANCHOR + timedelta(seconds=15)
    assert plus_minutes(ANCHOR, "-33.17") < ANCHOR
    with pytest.raises(ValueError):
        plus_minutes(ANCHOR, "1e300")


@settings(max_examples=200, deadline=None)
@given(JUNK)
def test_parsers_raise_only_value_error(value: object) -> None:
    parsers: list[Callable[[object], datetime]] = [
        lambda v: from_unix(v),
        lambda v: from_unix(v, unit="ms"),
        lambda v: from_naive(v, tz=CHINA_TZ),
        lambda v: from_iso(v),
        lambda v: from_twitter_date(v),
        lambda v: from_month_day(v, anchor=ANCHOR),
        lambda v: from_month_day(v, anchor=datetime(9999, 12, 31, 23, tzinfo=UTC)),
        lambda v: plus_minutes(ANCHOR, v),
        lambda v: plus_minutes(datetime(9999, 12, 31, tzinfo=UTC), v),
    ]
    for parse in parsers:
        try:
            result = parse(value)
        except ValueError:
            continue
        assert result.tzinfo is not None and result.utcoffset() == timedelta(0)
    snowflake_time(value)  # never raises


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9998, 1, 1), timezones=st.just(UTC)))
def test_unix_round_trip(moment: datetime) -> None:
    assert abs(from_unix(moment.timestamp()) - moment) < timedelta(milliseconds=1)
    assert from_iso(moment.isoformat()) == moment
