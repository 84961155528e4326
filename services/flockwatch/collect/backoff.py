"""How long a connector waits before it asks a platform again: backoff with jitter, and the platform's word.

A platform that answers 429 or 5xx, hangs or drops the connection is asked again after
:func:`retry_delay` (exponential backoff with "full jitter": a uniformly random wait in
``[0, min(cap, base·2^attempt)]``, which spreads out clients that failed together; Brooker, "Exponential
Backoff And Jitter", AWS Architecture Blog, 2015). When the platform says how long to wait (``Retry-After``,
or a rate-limit budget that is spent) its word wins over our guess (:func:`server_wait`).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Statuses worth asking again: the server is busy, limiting us or briefly broken. Others (400, 401, 403, 404...)
# will give the same answer next time.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504, 522, 524})
# Longest wait we accept from a server; a Retry-After of a day is a ban, reported rather than slept through.
MAX_SERVER_WAIT_S = 900.0
UNIX_TIME_FLOOR = 1e9


def retry_delay(attempt: int, base_s: float = 0.5, cap_s: float = 60.0, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based): uniform in ``[0, min(cap, base·2^attempt)]``."""
    ceiling = min(cap_s, base_s * (2 ** min(attempt, 30)))
    return (rng or random).uniform(0.0, ceiling)


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds: delta-seconds or an HTTP-date (RFC 9110 §10.2.3); ``None`` if absent or bad."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def rate_limit_wait_s(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds until the rate-limit budget refills, when the response says the budget is spent.

    Reads Reddit's ``X-Ratelimit-Remaining``/``X-Ratelimit-Reset`` (seconds until reset), Mastodon's
    ``X-RateLimit-Remaining``/``X-RateLimit-Reset`` (an ISO 8601 time) and Bluesky's ``RateLimit-Remaining``/
    ``RateLimit-Reset`` (a Unix time). ``None`` while budget remains.
    """
    remaining = _header(headers, "x-ratelimit-remaining") or _header(headers, "ratelimit-remaining")
    reset = _header(headers, "x-ratelimit-reset") or _header(headers, "ratelimit-reset")
    if remaining is None or reset is None:
        return None
    try:
        if float(remaining) >= 1.0:
            return None
    except ValueError:
        return None
    now = now or datetime.now(UTC)
    try:
        seconds = float(reset)
    except ValueError:
        pass
    else:
        # Seconds until the reset are small; a count of seconds since 1970 is a time (after 2001-09-09).
        return max(0.0, seconds - now.timestamp() if seconds >= UNIX_TIME_FLOOR else seconds)
    try:
        when = datetime.fromisoformat(reset.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def server_wait_s(status: int, headers: Mapping[str, str]) -> float | None:
    """How long the server asked us to wait (``Retry-After`` on 429/503, else a spent rate-limit budget)."""
    if status in (429, 503):
        asked = retry_after_s(_header(headers, "retry-after"))
        if asked is not None:
            return asked
    return rate_limit_wait_s(headers)
