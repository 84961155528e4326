"""Streaming coordination: per-source watermarks, idle sources, bounded dedupe memory."""

from __future__ import annotations

import random
import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from flockwatch.graph.streaming import StreamingCoordination


def brute_force(posts: list[tuple[str, str, float, str]], window: float) -> dict[tuple[str, str], int]:
    """w(u, v) = u's posts with a post by v on the same object within the window (the batch definition)."""
    partners: dict[str, set[str]] = {}
    for pa, ua, ta, oa in posts:
        for _, ub, tb, ob in posts:
            if ua != ub and oa == ob and abs(ta - tb) <= window:
                partners.setdefault(pa, set()).add(ub)
    user = {p: u for p, u, _, _ in posts}
    out: dict[tuple[str, str], int] = {}
    for p, us in partners.items():
        for v in us:
            out[(user[p], v)] = out.get((user[p], v), 0) + 1
    return out


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(2, 40),
    parts=st.integers(1, 3),
    seed=st.integers(0, 10_000),
    skew=st.sampled_from([0.0, 3600.0, 86400.0]),
)
def test_partitions_read_unevenly_lose_no_partner(n: int, parts: int, seed: int, skew: float) -> None:
    """Each partition in time order, partitions interleaved arbitrarily (one may run a day ahead): with the
    sources declared, lateness 0 still finds every co-action."""
    rng = random.Random(seed)
    posts = [(f"p{i}", f"u{rng.randrange(4)}", float(rng.randrange(0, 300)), f"o{rng.randrange(3)}") for i in range(n)]
    part = {p[0]: rng.randrange(parts) for p in posts}
    queues = [sorted((p for p in posts if part[p[0]] == k), key=lambda p: p[2]) for k in range(parts)]
    # a skewed read: partition 0 is drained first (as a backlog fetch does), the others interleave randomly
    order = list(queues[0]) if skew else []
    rest = [list(q) for q in (queues[1:] if skew else queues)]
    while any(rest):
        q = rng.choice([q for q in rest if q])
        order.append(q.pop(0))
    sources = [str(k) for k in range(parts)]
    s = StreamingCoordination(window=60.0, lateness=0.0, sources=sources)
    for p, u, t, o in order:
        s.add(p, u, t, [o], source=str(part[p]))
    assert s.edges() == brute_force(posts, 60.0)
    assert s.late == 0


def test_one_global_watermark_would_miss_the_lagging_partition() -> None:
    """The cause of the missed co-actions: partition 0 read a day ahead made partition 1's posts late."""
    s = StreamingCoordination(window=60.0, lateness=3600.0, sources=["0", "1"])
    s.add("a", "u1", 0.0, ["x"], source="0")
    s.add("z", "u9", 86400.0, ["y"], source="0")  # partition 0 runs a day ahead
    assert s.watermark == float("-inf")  # held by partition 1, which has delivered nothing yet
    [co] = s.add("b", "u2", 30.0, ["x"], source="1")
    assert (co.post_a, co.post_b) == ("a", "b") and s.late == 0
    merged = StreamingCoordination(window=60.0, lateness=3600.0)  # everything as one source
    merged.add("a", "u1", 0.0, ["x"])
    merged.add("z", "u9", 86400.0, ["y"])
    assert merged.add("b", "u2", 30.0, ["x"]) == [] and merged.late == 1


def test_undelivered_source_holds_the_watermark_until_idle() -> None:
    s = StreamingCoordination(window=10.0, lateness=0.0, sources=["0", "1"])
    for i in range(100):
        s.add(f"p{i}", f"u{i % 2}", float(i * 100), [f"o{i}"], source="0")
    assert s.watermark == float("-inf") and s.buffered_posts() == 100  # waits for partition 1
    s.idle("1")
    assert s.watermark == 9900.0 and s.buffered_posts() == 1
    s.add("q", "u5", 9950.0, ["o"], source="1")  # delivering again makes it hold the watermark again
    s.add("r", "u5", 20000.0, ["o2"], source="0")
    assert s.watermark == 9950.0
    s.add("s", "u6", 9940.0, ["o"], source="1")  # behind its own partition, within nothing: late
    assert s.late == 1


def test_watermark_never_goes_back() -> None:
    s = StreamingCoordination(window=10.0, lateness=0.0)
    s.add("a", "u1", 1000.0, ["x"], source="0")
    s.add("b", "u2", 5.0, ["x"], source="new")  # an unannounced source with old data: late, not a rewind
    assert s.watermark == 1000.0 and (s.late, s.expired) == (1, 1)


def test_dedupe_memory_is_bounded_on_a_long_stream() -> None:
    """120k posts over 33 hours, a duplicate of a recent post every 7th event: every duplicate is dropped,
    while the ids, buffers and allocated memory stay those of the last ``2 window + lateness``."""
    window, lateness = 60.0, 120.0
    s = StreamingCoordination(window=window, lateness=lateness, track_weights=False)
    rng = random.Random(1)
    sent: list[tuple[str, str, float, str]] = []
    dups = 0
    coactions = 0
    tracemalloc.start()
    try:
        after_warmup = 0
        for i in range(120_000):
            t = i * 1.0 + rng.uniform(-lateness / 2, 0)  # up to lateness/2 out of order
            post = (f"p{i}", f"u{rng.randrange(500)}", t, f"o{rng.randrange(200)}")
            sent.append(post)
            coactions += len(s.add(post[0], post[1], post[2], [post[3]]))
            if i % 7 == 0 and i > 50:
                again = sent[-rng.randrange(1, 50)]  # resent within the window
                assert s.add(again[0], again[1], again[2], [again[3]]) == []
                dups += 1
            if len(sent) > 1000:
                del sent[:500]
            if i == 20_000:
                after_warmup = tracemalloc.get_traced_memory()[0]
            if i % 10_000 == 0:
                assert s.remembered_ids() <= 2 * window + lateness + 2
                assert s.buffered_posts() <= window + lateness + 2
        end = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert s.duplicates == dups and s.late == 0 and coactions > 0
    assert s.weights == {}
    # the test's own `sent` list is bounded too; allow noise but not growth with the stream length
    assert end < after_warmup * 1.5, (after_warmup, end)


def test_score_shares_and_media_flags() -> None:
    from flockwatch.graph.clusters import PostScores, media_flags, score_shares

    assert media_flags([]) == (False, False)
    assert media_flags([{"manipulation_score": 0.5}]) == (True, True)  # the threshold is inclusive
    assert media_flags([{"manipulation_score": 0.49}, {"manipulation_score": None}]) == (True, False)
    assert media_flags([{"manipulation_score": None, "matches": [{"id": "x"}]}]) == (True, True)
    assert media_flags([{"manipulation_score": None, "matches": []}]) == (False, False)
    posts = [
        PostScores("a", True, True, True),
        PostScores("a", False, True, False),
        PostScores("b", None, False, False),
        PostScores("z", True, True, True),  # in no cluster
    ]
    shares = score_shares({"c1": {"a", "b"}, "c2": {"y"}}, posts)
    assert shares["c1"] == {
        "machine_text_share": 0.5,
        "machine_text_posts": 1,
        "text_scored_posts": 2,
        "manipulated_media_share": 0.5,
        "manipulated_media_posts": 1,
        "media_scored_posts": 2,
    }
    assert shares["c2"]["machine_text_share"] is None and shares["c2"]["media_scored_posts"] == 0
