"""Backoff with jitter stays in its bounds; the server's word (Retry-After, spent budgets) is read right."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from hypothesis import given
from hypothesis import strategies as st

from flockwatch.collect.backoff import rate_limit_wait_s, retry_after_s, retry_delay, server_wait_s


@given(st.integers(min_value=0, max_value=200), st.floats(0.01, 5), st.floats(0.1, 120))
def test_retry_delay_is_within_its_ceiling(attempt: int, base: float, cap: float) -> None:
    delay = retry_delay(attempt, base, cap, random.Random(attempt))
    assert 0.0 <= delay <= min(cap, base * 2 ** min(attempt, 30))


def test_retry_delay_is_jittered_and_grows() -> None:
    rng = random.Random(7)
    early = [retry_delay(0, 1.0, 60.0, rng) for _ in range(200)]
    late = [retry_delay(5, 1.0, 60.0, rng) for _ in range(200)]
    assert len(set(early)) > 150  # spread out, not one fixed wait
    assert max(early) <= 1.0 < max(late) <= 32.0


def test_retry_after_reads_seconds_and_dates() -> None:
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    assert retry_after_s("120", now) == 120.0
    assert retry_after_s(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert retry_after_s(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0.0
    assert retry_after_s("soon", now) is None
    assert retry_after_s(None, now) is None


@given(st.text(max_size=60))
def test_retry_after_never_raises(value: str) -> None:
    result = retry_after_s(value)
    assert result is None or result >= 0.0


def test_rate_limit_budget() -> None:
    # Reddit: seconds until reset; only a spent budget means waiting.
    assert rate_limit_wait_s({"X-Ratelimit-Remaining": "0.0", "X-Ratelimit-Reset": "42"}) == 42.0
    assert rate_limit_wait_s({"x-ratelimit-remaining": "57.0", "x-ratelimit-reset": "42"}) is None
    # Mastodon: an ISO time.
    reset = (datetime.now(UTC) + timedelta(seconds=60)).isoformat()
    wait = rate_limit_wait_s({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})
    assert wait is not None and 55 < wait <= 60
    # Bluesky: a Unix time (the IETF draft's names, without X-).
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    bluesky = {"RateLimit-Limit": "3000", "RateLimit-Remaining": "0", "RateLimit-Reset": str(now.timestamp() + 90)}
    assert rate_limit_wait_s(bluesky, now) == 90.0
    assert rate_limit_wait_s({**bluesky, "RateLimit-Remaining": "12"}, now) is None
    assert rate_limit_wait_s({**bluesky, "RateLimit-Reset": str(now.timestamp() - 5)}, now) == 0.0
    assert rate_limit_wait_s({}) is None


def test_server_wait_prefers_retry_after_on_429() -> None:
    headers = {"Retry-After": "5", "X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": "100"}
    assert server_wait_s(429, headers) == 5.0
    assert server_wait_s(200, headers) == 100.0
