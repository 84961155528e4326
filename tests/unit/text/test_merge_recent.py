"""An account's recent list merged batch by batch is the newest posts of all its batches, whatever the split."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from flockwatch.text.rollup import merge_recent, recent_entry

T0 = datetime(2016, 10, 1, tzinfo=UTC)
# The same instant written in different zones: the order is by time, not by the string.
ZONES = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))]


@st.composite
def posts(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Distinct post keys; few distinct times (ties broken by key), some posts without one."""
    keys = draw(st.lists(st.integers(0, 400), min_size=0, max_size=40, unique=True))
    out = []
    for k in keys:
        post: dict[str, Any] = {"key": f"twitter:{k}", "text": "dropped from the entry", "author": {"id": "a"}}
        minutes = draw(st.one_of(st.none(), st.integers(0, 12)))
        if minutes is not None:
            when = T0 + timedelta(minutes=minutes, milliseconds=draw(st.sampled_from([0, 1])))
            post["created_at"] = when.astimezone(draw(st.sampled_from(ZONES))).isoformat().replace("+00:00", "Z")
        if draw(st.booleans()):
            post["text_score"] = {"machine_score": k / 400, "label": "human", "model": "m"}
        out.append(post)
    return out


def newest(all_posts: list[dict[str, Any]], size: int) -> list[dict[str, Any]]:
    """The reference: the store's sort (created_at desc as a date, then key desc; timeless last)."""

    def order(p: dict[str, Any]) -> tuple[bool, datetime, str]:
        when = p.get("created_at")
        parsed = datetime.fromisoformat(when.replace("Z", "+00:00")) if when else T0
        return (when is not None, parsed, p["key"])

    return [recent_entry(p) for p in sorted(all_posts, key=order, reverse=True)[:size]]


@given(
    posts(),
    st.integers(1, 25),
    st.lists(st.integers(0, 5), max_size=60),
    st.lists(st.integers(0, 10**6), max_size=60),
    st.randoms(use_true_random=False),
)
def test_any_split_any_order_with_redeliveries_gives_the_newest_of_all(
    all_posts: list[dict[str, Any]], size: int, cuts: list[int], redeliver: list[int], rng: Any
) -> None:
    shuffled = list(all_posts)
    rng.shuffle(shuffled)
    batches, rest = [], shuffled
    for cut in cuts:
        batches.append(rest[:cut])
        rest = rest[cut:]
    batches.append(rest)
    # Redeliveries: some posts again, in later batches.
    for r in redeliver:
        if all_posts:
            batches[r % len(batches)].append(all_posts[r % len(all_posts)])
    kept: list[dict[str, Any]] = []
    for batch in batches:
        kept = merge_recent(kept, batch, size)
    assert kept == newest(all_posts, size)
    # Stored once more, the list is its own merge.
    assert merge_recent(kept, [], size) == kept and merge_recent([], kept, size) == kept


def test_the_batch_wins_over_the_stored_entry() -> None:
    stored = [{"key": "twitter:1", "created_at": "2016-10-01T00:00:00Z", "text_score": {"label": "unscored"}}]
    batch = [{"key": "twitter:1", "created_at": "2016-10-01T00:00:00Z", "text_score": {"machine_score": 0.5}}]
    assert merge_recent(stored, batch) == batch
    assert recent_entry({"key": "k", "created_at": None, "text_score": {"machine_score": None}}) == {"key": "k"}
