"""Turning the many ways datasets write time into timezone-aware UTC datetimes.

Every parser raises ``ValueError`` (never ``OverflowError``, ``OSError`` or ``TypeError``) on
input it cannot read, because the normaliser's contract is that a malformed record raises
``ValueError`` and is dead-lettered with the message as its reason.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

# Twitter "snowflake" ids (Nov 2010 on) carry their creation time in the top bits.
TWITTER_EPOCH_MS = 1_288_834_974_657
# Ids below this (one day of snowflake time) are pre-snowflake sequential ids with no time in them.
_MIN_SNOWFLAKE_MS = 86_400_000

# Weibo, PHEME's event cities and others write wall-clock time of a known zone.
CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")

_TWITTER_DATE_RE = re.compile(
    r"^(?:[A-Za-z]{3}) ([A-Za-z]{3}) (\d{1,2}) (\d{1,2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2}) (\d{4})$"
)
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, start=1)}
_MONTH_DAY_RE = re.compile(r"^\s*(\d{1,2})月(\d{1,2})日\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*$")


def _finite_number(value: object, what: str) -> float:
    """A finite float from an int, float or numeric string; ``ValueError`` otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{what}: expected a number, got a boolean")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError(f"{what}: not a number: {value[:40]!r}") from None
    else:
        raise ValueError(f"{what}: expected a number, got {type(value).__name__}")
    if not math.isfinite(number):
        raise ValueError(f"{what}: not a finite number: {value!r}")
    return number


def from_unix(value: object, *, unit: str = "s", what: str = "timestamp") -> datetime:
    """Seconds (``unit="s"``) or milliseconds (``"ms"``) since the epoch → UTC datetime."""
    number = _finite_number(value, what)
    seconds = number / 1000.0 if unit == "ms" else number
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"{what}: {value!r} is out of the representable range") from None


def from_naive(text: object, *, tz: timezone = UTC, what: str = "timestamp") -> datetime:
    """An ISO-like ``YYYY-MM-DD HH:MM[:SS]`` wall-clock time in zone ``tz`` (an offset in the text wins)."""
    if not isinstance(text, str):
        raise ValueError(f"{what}: expected a string, got {type(text).__name__}")
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{what}: not an ISO date-time: {text[:40]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return _to_utc(parsed, what)


def from_iso(text: object, *, what: str = "timestamp") -> datetime:
    """An ISO 8601 / RFC 3339 time such as ``2026-07-04T14:38:06.240Z``; naive means UTC."""
    return from_naive(text, tz=UTC, what=what)


def from_twitter_date(text: object, *, what: str = "timestamp") -> datetime:
    """Twitter v1.1's ``created_at`` style, ``Mon May 27 12:07:05 +0800 2013``.

    Parsed by hand rather than with ``strptime`` so the result never depends on the locale.
    """
    if not isinstance(text, str):
        raise ValueError(f"{what}: expected a string, got {type(text).__name__}")
    match = _TWITTER_DATE_RE.match(text.strip())
    if match is None:
        raise ValueError(f"{what}: not a 'Mon May 27 12:07:05 +0800 2013' date: {text[:40]!r}")
    mon, day, hh, mm, ss, sign, oh, om, year = match.groups()
    month = _MONTHS.get(mon.lower())
    if month is None:
        raise ValueError(f"{what}: unknown month {mon!r}")
    try:
        offset = timedelta(hours=int(oh), minutes=int(om)) * (-1 if sign == "-" else 1)
        local = datetime(int(year), month, int(day), int(hh), int(mm), int(ss), tzinfo=timezone(offset))
    except ValueError as exc:
        raise ValueError(f"{what}: impossible date {text[:40]!r}: {exc}") from None
    return _to_utc(local, what)


def from_month_day(text: object, *, anchor: datetime, tz: timezone = CHINA_TZ, what: str = "timestamp") -> datetime:
    """Weibo's year-less ``07月23日 11:47``, placed in the year of ``anchor``, a time known to be close.

    A result more than a day before the anchor belongs to the following year (a cascade that
    ran past New Year).
    """
    if not isinstance(text, str):
        raise ValueError(f"{what}: expected a string, got {type(text).__name__}")
    match = _MONTH_DAY_RE.match(text)
    if match is None:
        raise ValueError(f"{what}: not an 'MM月DD日 HH:MM' date: {text[:40]!r}")
    month, day, hh, mm, ss = (int(g) if g else 0 for g in match.groups())
    try:
        local_anchor = anchor.astimezone(tz)
        candidate = datetime(local_anchor.year, month, day, hh, mm, ss, tzinfo=tz)
        if candidate < local_anchor - timedelta(days=1):
            candidate = candidate.replace(year=local_anchor.year + 1)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"{what}: impossible date {text!r}: {exc}") from None
    return _to_utc(candidate, what)


def _to_utc(value: datetime, what: str) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{what}: {value.isoformat()} is out of the representable range") from None


def snowflake_time(tweet_id: object) -> datetime | None:
    """When a Twitter snowflake id was minted (millisecond precision); ``None`` for pre-2010 ids."""
    if isinstance(tweet_id, str):
        if not (tweet_id.isascii() and tweet_id.isdigit()):
            return None
        tweet_id = int(tweet_id)
    if not isinstance(tweet_id, int) or isinstance(tweet_id, bool) or tweet_id <= 0:
        return None
    ms = tweet_id >> 22
    if ms < _MIN_SNOWFLAKE_MS or tweet_id >= 1 << 63:
        return None
    return datetime.fromtimestamp((ms + TWITTER_EPOCH_MS) / 1000.0, tz=UTC)


_BASE62 = {c: i for i, c in enumerate("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")}
# Weibo ids since 2012 are (seconds - WEIBO_EPOCH_S) << 22 | sequence.
WEIBO_EPOCH_S = 515_483_463
_WEIBO_MID_LENGTH = 9
_WEIBO_FIRST_TIMED = datetime(2012, 1, 1, tzinfo=UTC)


def weibo_id(mid: str) -> int | None:
    """A Weibo base62 ``mid`` (``zChiYlLDT``) as its numeric id: 4-character groups, 7 digits each."""
    if not mid or any(c not in _BASE62 for c in mid):
        return None
    groups = [mid[max(0, end - 4) : end] for end in range(len(mid), 0, -4)][::-1]
    digits = ""
    for i, group in enumerate(groups):
        value = 0
        for char in group:
            value = value * 62 + _BASE62[char]
        digits += str(value) if i == 0 else str(value).zfill(7)
    return int(digits)


def weibo_mid_time(mid: object) -> datetime | None:
    """When a 9-character Weibo ``mid`` was minted (to the second); ``None`` for older ids.

    Checked on CED: it equals the source post's Unix ``time`` exactly for 1,627 sources, and
    matches all 74 year-less repost dates to the minute.
    """
    if not isinstance(mid, str) or len(mid) != _WEIBO_MID_LENGTH:
        return None
    number = weibo_id(mid)
    if number is None:
        return None
    moment = datetime.fromtimestamp((number >> 22) + WEIBO_EPOCH_S, tz=UTC)
    return moment if _WEIBO_FIRST_TIMED <= moment <= datetime.now(UTC) + timedelta(days=1) else None


def plus_minutes(start: datetime, minutes: object, *, what: str = "delay") -> datetime:
    """``start`` moved by a (possibly fractional or negative) number of minutes."""
    number = _finite_number(minutes, what)
    try:
        return start + timedelta(minutes=number)
    except OverflowError:
        raise ValueError(f"{what}: {minutes!r} minutes is out of range") from None


def or_none(parse: Callable[..., datetime], value: object, **options: Any) -> datetime | None:
    """``parse(value)``, or ``None`` where it is unparseable: readers only use it to pace replays,
    and the normaliser reports the bad value itself."""
    try:
        return parse(value, **options)
    except ValueError:
        return None
