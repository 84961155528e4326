"""Coordination networks: hand-computed graphs, a brute-force reference of the toolkit's SQL, edge cases."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flockwatch.graph.coordination import KINDS, Options, coordination_network, window_pairs
from flockwatch.graph.export import write_edges
from flockwatch.graph.text import hashtags, normalize_message, token_set
from flockwatch.graph.toolkit_csv import TOOLKIT_COLUMNS, Table, TableBuilder, read_toolkit_csv
from flockwatch.graph.urls import canonicalize_url

Row = tuple[str, str, str, str, str, str, float, str]


def table_of(rows: list[Row]) -> Table:
    b = TableBuilder()
    for r in rows:
        b.add(*r[:7], r[7].split(" "))
    return b.table


def edges_of(table: Table, kind: str, **opts: object) -> dict[tuple[str, str], int]:
    net = coordination_network(table, kind, Options(**opts))  # type: ignore[arg-type]
    return {(str(r["source"]), str(r["target"])): int(r["weight"]) for r in net.rows()}


# m1 u1 t0, m2 u2 t30, m3 u1 t100, m4 u3 t90, m5 u2 t160: all the same text after normalisation
SAME_TEXT: list[Row] = [
    ("m1", "u1", "U1", "", "", "Hello @x world", 0, ""),
    ("m2", "u2", "U2", "", "", "hello world", 30, ""),
    ("m3", "u1", "U1", "", "", "hello world", 100, ""),
    ("m4", "u3", "U3", "", "", "HELLO   world", 90, ""),
    ("m5", "u2", "U2", "", "", "hello world", 160, ""),
]


def test_co_tweet_hand_computed() -> None:
    # u1->u2: m1~m2 (30s), m3~m5 (60s, inclusive) -> 2; u1->u3: m3~m4 -> 1; u2->u3: m2~m4 (60s) -> 1
    assert edges_of(table_of(SAME_TEXT), "co_tweet", window=60, min_weight=1) == {
        ("u1", "u2"): 2,
        ("u2", "u1"): 2,
        ("u1", "u3"): 1,
        ("u3", "u1"): 1,
        ("u2", "u3"): 1,
        ("u3", "u2"): 1,
    }
    assert edges_of(table_of(SAME_TEXT), "co_tweet", window=60, min_weight=2) == {("u1", "u2"): 2, ("u2", "u1"): 2}
    # 59 s window: m3~m5 (60 s apart) no longer co-act
    assert edges_of(table_of(SAME_TEXT), "co_tweet", window=59, min_weight=2) == {}


def test_weights_are_directed() -> None:
    # u1 posts the text twice within the window of u2's single post: u1->u2 = 2, u2->u1 = 1
    rows: list[Row] = [
        ("a", "u1", "", "", "", "x y", 0, ""),
        ("b", "u1", "", "", "", "x y", 10, ""),
        ("c", "u2", "", "", "", "x y", 5, ""),
    ]
    assert edges_of(table_of(rows), "co_tweet", window=60) == {("u1", "u2"): 2, ("u2", "u1"): 1}


def test_self_loops_count_the_users_qualifying_posts() -> None:
    got = edges_of(table_of(SAME_TEXT), "co_tweet", window=60, include_self_loops=True)
    assert got[("u1", "u1")] == 2 and got[("u2", "u2")] == 2 and got[("u3", "u3")] == 1


def test_reposts_are_excluded_from_co_tweet_and_drive_co_retweet() -> None:
    rows: list[Row] = [
        ("a", "u1", "", "r9", "", "same", 0, "http://x"),
        ("b", "u2", "", "r9", "", "same", 5, "http://x"),
        ("c", "u3", "", "", "", "same", 5, "http://x"),
    ]
    t = table_of(rows)
    assert edges_of(t, "co_tweet") == {}
    assert edges_of(t, "co_retweet") == {("u1", "u2"): 1, ("u2", "u1"): 1}
    assert edges_of(t, "co_link") == {}  # URLs of reposts are ignored


def test_co_reply_and_co_post() -> None:
    rows: list[Row] = [
        ("a", "u1", "", "", "p1", "one", 0, ""),
        ("b", "u2", "", "", "p1", "two", 50, ""),
        ("c", "u3", "", "", "p2", "three", 50, ""),
    ]
    t = table_of(rows)
    assert edges_of(t, "co_reply") == {("u1", "u2"): 1, ("u2", "u1"): 1}
    assert set(edges_of(t, "co_post")) == {(a, b) for a in ("u1", "u2", "u3") for b in ("u1", "u2", "u3") if a != b}


def test_empty_url_cells_link_only_in_toolkit_compat_mode() -> None:
    rows: list[Row] = [
        ("a", "u1", "", "", "", "one", 0, ""),
        ("b", "u2", "", "", "", "two", 1, ""),
        ("c", "u3", "", "", "", "three", 2, "https://x.org/a?utm_source=t"),
        ("d", "u4", "", "", "", "four", 3, "https://X.org/a/"),
    ]
    t = table_of(rows)
    assert edges_of(t, "co_link") == {}
    assert edges_of(t, "co_link", toolkit_compat=True) == {("u1", "u2"): 1, ("u2", "u1"): 1}
    assert edges_of(t, "co_link", canonical_urls=True) == {("u3", "u4"): 1, ("u4", "u3"): 1}


def test_repeated_message_id_keeps_the_first_row_but_adds_new_urls() -> None:
    rows: list[Row] = [
        ("a", "u1", "", "", "", "text", 0, "http://one"),
        ("a", "u9", "", "", "", "other", 0, "http://two"),  # ignored for posts, its URL row is kept
        ("b", "u2", "", "", "", "text", 0, "http://two"),
    ]
    t = table_of(rows)
    assert len(t) == 2 and t.message[0] == "text"
    assert edges_of(t, "co_tweet") == {("u1", "u2"): 1, ("u2", "u1"): 1}
    assert edges_of(t, "co_link") == {("u9", "u2"): 1, ("u2", "u9"): 1}


def test_similarity_threshold_is_inclusive() -> None:
    rows: list[Row] = [
        ("a", "u1", "", "", "", "w1 w2 w3 w4", 0, ""),
        ("b", "u2", "", "", "", "w1 w2 w3 w4 w5", 0, ""),  # Jaccard 4/5 = 0.8
        ("c", "u3", "", "", "", "w1 w2 w3 w9 w8", 0, ""),  # 3/6 with a, 3/7 with b
    ]
    t = table_of(rows)
    assert edges_of(t, "co_similar_tweet", similarity=0.8) == {("u1", "u2"): 1, ("u2", "u1"): 1}
    assert edges_of(t, "co_similar_tweet", similarity=0.81) == {}
    assert len(edges_of(t, "co_similar_tweet", similarity=0.45)) == 4  # a-b, a-c (0.5); not b-c (3/7)


def test_co_hashtag_needs_the_same_sequence() -> None:
    rows: list[Row] = [
        ("a", "u1", "", "", "", "#a #b #c go", 0, ""),
        ("b", "u2", "", "", "", "#A #B #C", 9, ""),
        ("c", "u3", "", "", "", "#c #b #a", 9, ""),
    ]
    assert edges_of(table_of(rows), "co_hashtag") == {("u1", "u2"): 1, ("u2", "u1"): 1}


def test_co_media_needs_a_media_column(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    with path.open("w", newline="", encoding="utf-8") as h:
        w = csv.writer(h)
        w.writerow([*TOOLKIT_COLUMNS, "media"])
        w.writerow(["a", "u1", "", "", "", "x", "0", "", "pdq1 pdq2"])
        w.writerow(["b", "u2", "", "", "", "y", "20", "", "pdq2"])
    assert edges_of(read_toolkit_csv(path), "co_media") == {("u1", "u2"): 1, ("u2", "u1"): 1}
    with pytest.raises(ValueError, match="media"):
        coordination_network(table_of(SAME_TEXT), "co_media")


def test_evidence_columns() -> None:
    net = coordination_network(table_of(SAME_TEXT), "co_tweet", Options(window=60, min_weight=2))
    rows = {(r["source"], r["target"]): r for r in net.rows()}
    forward = rows[("u1", "u2")]
    assert forward["n_coactions"] == 2 and forward["n_objects"] == 1
    assert forward["min_dt_s"] == 30 and forward["median_dt_s"] == 45
    assert forward["source_first_share"] == 1.0 and rows[("u2", "u1")]["source_first_share"] == 0.0
    assert forward["first_time"] == 0 and forward["last_time"] == 100
    assert str(forward["examples"]).startswith("m1>m2 dt=+30s hello world")


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "gexf", "graphml"])
def test_exports(tmp_path: Path, fmt: str) -> None:
    net = coordination_network(table_of(SAME_TEXT), "co_tweet", Options(window=60, min_weight=1))
    out = tmp_path / f"e.{fmt}"
    write_edges(net, out, fmt)  # type: ignore[arg-type]
    text = out.read_text(encoding="utf-8")
    if fmt == "csv":
        assert text.splitlines()[0].startswith("source,target,weight,n_coactions")
        assert len(text.splitlines()) == 7
    else:
        assert "u1" in text and "u3" in text


def test_window_pairs_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    obj = rng.integers(0, 4, 300).astype(np.int64)
    time = rng.integers(0, 500, 300).astype(np.float64)
    got: set[tuple[int, int]] = set()
    for a, b in window_pairs(obj, time, 20.0, chunk=37):
        got.update(zip(np.minimum(a, b).tolist(), np.maximum(a, b).tolist(), strict=True))
    want = {
        (i, j) for i, j in itertools.combinations(range(300), 2) if obj[i] == obj[j] and abs(time[i] - time[j]) <= 20
    }
    assert got == want


# ---------------------------------------------------------------------------------------------------------
# A brute-force reference: the toolkit's self-join, one pair of rows at a time.


def reference(table: Table, kind: str, opts: Options) -> dict[tuple[str, str], int]:
    rows: list[tuple[int, int, float, object]] = []  # post, user, time, object
    if kind == "co_link":
        for p, u, t, url in zip(table.link_post, table.link_user, table.link_time, table.link_url, strict=True):
            if url or opts.toolkit_compat:
                rows.append((p, u, t, canonicalize_url(url) if opts.canonical_urls else url))
        if opts.canonical_urls:
            rows = list({(r[0], r[3]): r for r in reversed(rows)}.values())
    for i in range(len(table)):
        original = table.repost_id[i] is None
        obj: object = None
        if kind == "co_tweet" and original:
            obj = normalize_message(table.message[i])
        elif kind == "co_retweet" and not original:
            obj = table.repost_id[i]
        elif kind == "co_reply" and original and table.reply_id[i] is not None:
            obj = table.reply_id[i]
        elif kind == "co_post":
            obj = 0
        elif kind == "co_similar_tweet" and original and len(token_set(table.message[i])) >= opts.min_tokens:
            obj = token_set(table.message[i])
        elif kind == "co_hashtag" and original and len(hashtags(table.message[i])) >= opts.min_hashtags:
            obj = tuple(hashtags(table.message[i]))
        if obj is not None:
            rows.append((i, table.user[i], table.time[i], obj))
    found: dict[tuple[int, int], set[int]] = {}
    for p1, u1, t1, o1 in rows:
        for _p2, u2, t2, o2 in rows:
            if abs(t1 - t2) > opts.window:
                continue
            if kind == "co_similar_tweet":
                assert isinstance(o1, frozenset) and isinstance(o2, frozenset)
                if len(o1 & o2) / len(o1 | o2) < opts.similarity:
                    continue
            elif o1 != o2:
                continue
            found.setdefault((u1, u2), set()).add(p1)
    return {
        (table.users[a], table.users[b]): len(posts)
        for (a, b), posts in found.items()
        if len(posts) >= opts.min_weight and (a != b or opts.include_self_loops)
    }


TEXTS = ["hello world", "Hello  world @x", "foo bar baz", "foo bar baz qux", "", "@only", "#a #b #c", "#a #b #c x"]
URLS = ["", "u1", "u1 u2", "u2", "http://a.org/x?utm_source=1", "https://A.org/x", "u1  u2"]

row_strategy = st.tuples(
    st.sampled_from(["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"]),
    st.sampled_from(["a", "b", "c", "d"]),
    st.just(""),
    st.sampled_from(["", "", "r1", "r2"]),
    st.sampled_from(["", "", "p1"]),
    st.sampled_from(TEXTS),
    st.integers(0, 240).map(float),
    st.sampled_from(URLS),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(row_strategy, max_size=14),
    kind=st.sampled_from([k for k in KINDS if k != "co_media"]),
    window=st.sampled_from([0.0, 10.0, 60.0]),
    min_weight=st.integers(1, 2),
    loops=st.booleans(),
    compat=st.booleans(),
    canonical=st.booleans(),
    similarity=st.sampled_from([0.5, 0.75, 0.8, 1.0]),
)
def test_matches_the_brute_force_reference(
    rows: list[Row],
    kind: str,
    window: float,
    min_weight: int,
    loops: bool,
    compat: bool,
    canonical: bool,
    similarity: float,
) -> None:
    table = table_of(rows)
    opts = Options(
        window=window,
        min_weight=min_weight,
        include_self_loops=loops,
        toolkit_compat=compat,
        canonical_urls=canonical,
        similarity=similarity,
        min_hashtags=3,
    )
    got = {
        (str(r["source"]), str(r["target"])): int(r["weight"]) for r in coordination_network(table, kind, opts).rows()
    }
    assert got == reference(table, kind, opts)


def test_coordination_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from flockwatch.cli.graph import graph_app

    path = tmp_path / "in.csv"
    with path.open("w", newline="", encoding="utf-8") as h:
        w = csv.writer(h)
        w.writerow(TOOLKIT_COLUMNS)
        w.writerows([*SAME_TEXT, ("bad", "u1")])
    out = tmp_path / "edges_{kind}.csv"
    args = ["coordination", "--input", str(path), "--kind", "co_tweet,co_post", "--window", "60", "--min-weight", "2"]
    result = CliRunner().invoke(graph_app, [*args, "--output", str(out), "--clusters-out", str(tmp_path / "c.json")])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "edges_co_tweet.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("source,target,weight,") and "cluster_id" in lines[0]
    assert sorted(line.split(",")[:3] == ["u1", "u2", "2"] or line.split(",")[:3] == ["u2", "u1", "2"]
                  for line in lines[1:]) == [True, True]  # fmt: skip
    assert (tmp_path / "edges_co_post.csv").exists() and "skipped line 7" in result.output
    bad = CliRunner().invoke(graph_app, [*args[:4], "co_nothing", "--output", str(out)])
    assert bad.exit_code != 0


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(row_strategy, max_size=16),
    window=st.sampled_from([0.0, 10.0, 60.0]),
    jitter=st.lists(st.integers(0, 30), min_size=16, max_size=16),
)
def test_streaming_matches_batch(rows: list[Row], window: float, jitter: list[int]) -> None:
    from flockwatch.graph.streaming import StreamingCoordination

    table = table_of(rows)
    batch = edges_of(table, "co_tweet", window=window)
    originals = [i for i in range(len(table)) if table.repost_id[i] is None]
    # arrival order: by time plus up to 30 s of jitter, so events are up to 30 s late
    order = sorted(originals, key=lambda i: table.time[i] + jitter[i % len(jitter)])
    stream = StreamingCoordination(window=window, lateness=30.0)
    for i in order:
        stream.add(
            table.message_id[i], table.users[table.user[i]], table.time[i], [normalize_message(table.message[i])]
        )
    assert stream.edges() == batch
    assert stream.late == 0


def test_streaming_expires_and_counts_late_and_duplicates() -> None:
    from flockwatch.graph.streaming import StreamingCoordination

    s = StreamingCoordination(window=60.0, lateness=0.0)
    assert s.add("a", "u1", 0.0, ["x"]) == []
    [co] = s.add("b", "u2", 30.0, ["x", "x"])
    assert (co.post_a, co.post_b, co.dt) == ("a", "b", 30.0)
    assert s.add("b", "u2", 30.0, ["x"]) == [] and s.duplicates == 1
    s.add("c", "u3", 1000.0, ["y"])
    assert s.buffered_posts() == 1 and s.remembered_ids() == 1  # a and b expired with the window
    # too late: its partners are gone and so is the memory of its id -- dropped, counted, not a duplicate
    assert s.add("b", "u2", 30.0, ["x"]) == [] and s.duplicates == 1
    s.add("d", "u4", 10.0, ["x"])
    assert (s.late, s.expired) == (2, 2) and s.edges() == {("u1", "u2"): 1, ("u2", "u1"): 1}
