"""Account aggregation: the mean over recent scored posts, labelled only with enough posts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flockwatch.text.aggregate import PostScore, aggregate_accounts

T0 = datetime(2016, 10, 1, tzinfo=UTC)


def test_mean_share_and_counts() -> None:
    posts = [PostScore("bot", 0.9)] * 18 + [PostScore("bot", 0.1)] * 2 + [PostScore("bot", None)] * 5
    posts += [PostScore("person", 0.05)] * 30
    out = aggregate_accounts(posts, threshold=0.5)
    bot, person = out["bot"], out["person"]
    assert (bot.n_posts, bot.n_scored) == (25, 20)
    assert bot.machine_score is not None and abs(bot.machine_score - 0.82) < 1e-9
    assert bot.machine_share == 0.9
    assert bot.label == "machine"
    assert person.label == "human" and person.n_scored == 30
    assert "20 scored of 25" in bot.evidence[0].detail
    assert bot.evidence[0].on == "account:bot"


def test_too_few_posts_is_insufficient_but_still_reported() -> None:
    out = aggregate_accounts([PostScore("a", 0.99)] * 5 + [PostScore("b", None)], threshold=0.5, min_posts=20)
    assert out["a"].label == "insufficient" and out["a"].machine_score == 0.99 and out["a"].n_scored == 5
    assert out["b"].label == "insufficient" and out["b"].machine_score is None and out["b"].n_scored == 0


def test_only_recent_posts_count() -> None:
    old = [PostScore("a", 0.0, T0 + timedelta(minutes=i)) for i in range(50)]
    new = [PostScore("a", 1.0, T0 + timedelta(days=1, minutes=i)) for i in range(20)]
    # Given out of order: time decides, not input order.
    out = aggregate_accounts(new + old, threshold=0.5, recent=20)
    assert out["a"].machine_score == 1.0 and out["a"].n_posts == 20
