"""Velocity, hashtag growth and the capped, expiring followed set, on hand-made snapshots."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from flockwatch.collect.trending import (
    Rising,
    Snapshot,
    engagement_total,
    engagement_velocity,
    growth,
    rising_hashtags,
    rising_posts,
    rising_trend_tags,
    update_followed,
)

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def snap(key: str, minutes: int, engagement: int, *tags: str, age_h: float = 1.0) -> Snapshot:
    at = T0 + timedelta(minutes=minutes)
    return Snapshot(key, at, at - timedelta(hours=age_h), engagement, tags)


def test_engagement_total_ignores_views_and_junk() -> None:
    assert engagement_total({"likes": 3, "reshares": 2, "replies": 1, "quotes": 4, "views": 1000}) == 10
    assert engagement_total({"likes": None, "reshares": "7", "replies": True, "quotes": -3}) == 0


def test_velocity_between_snapshots_and_over_age() -> None:
    v = engagement_velocity([snap("a", 0, 10), snap("a", 30, 40), snap("b", 0, 6, age_h=2.0)])
    assert v["a"] == (60.0, True)  # 30 more in half an hour
    assert v["b"] == (3.0, False)  # one snapshot: 6 over its 2 hours


def test_rising_posts_ranks_by_velocity_and_drops_falling_ones() -> None:
    snaps = [snap("slow", 0, 10), snap("slow", 60, 20), snap("fast", 0, 0), snap("fast", 60, 500)]
    snaps += [snap("flat", 0, 9), snap("flat", 60, 9)]
    found = rising_posts(snaps, limit=5)
    assert [r.target for r in found] == ["thread:fast", "thread:slow"]
    assert "500.0 interactions/hour between snapshots" in found[0].why


def test_hashtag_growth_needs_a_rise_and_volume() -> None:
    assert growth(0, 0) == 0.0 and growth(1, 5) < 0 < growth(10, 1)
    assert math.isclose(growth(9, 0), math.log(10) * math.log(10))
    window = timedelta(hours=6)
    now = T0
    old = [Snapshot(f"o{i}", now, now - timedelta(hours=8), 0, ("Steady", "fading")) for i in range(5)]
    new = [Snapshot(f"n{i}", now, now - timedelta(hours=1), 0, ("#steady", "surge")) for i in range(5)]
    new.append(Snapshot("n9", now, now - timedelta(hours=1), 0, ("surge",)))
    found = rising_hashtags(old + new, now, window, limit=10)
    assert [r.target for r in found] == ["tag:surge"]  # steady: 5 vs 5; fading: 0 now


def test_mastodon_trend_list_scored_against_its_own_history() -> None:
    trends: list[dict[str, object]] = [
        {
            "name": "Surge",
            "history": [{"day": "3", "uses": "40"}, {"day": "2", "uses": "2"}, {"day": "1", "uses": "4"}],
        },
        {"name": "old", "history": [{"uses": "3"}, {"uses": "30"}]},
        {"name": "", "history": []},
        {"nonsense": True},
    ]
    found = rising_trend_tags(trends, limit=5)
    assert [r.target for r in found] == ["tag:surge"]
    assert "40 uses today vs 3/day" in found[0].why


def test_followed_set_is_capped_refreshed_and_expires() -> None:
    keep = timedelta(hours=24)
    followed = {"tag:stale": T0 - timedelta(hours=30), "tag:kept": T0 - timedelta(hours=2)}
    cands = [Rising("tag:kept", 1.0, ""), Rising("tag:new1", 5.0, ""), Rising("tag:new2", 4.0, "")]
    result, added, dropped = update_followed(followed, cands, T0, max_added=2, keep_for=keep)
    assert dropped == ["tag:stale"]
    assert [r.target for r in added] == ["tag:new1"]  # the cap: kept + one new
    assert result == {"tag:kept": T0, "tag:new1": T0}
    assert update_followed(result, [], T0, max_added=0, keep_for=keep)[0] == result  # a cap of 0 adds nothing
