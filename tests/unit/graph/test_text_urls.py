"""Text keys, URL canonicaliser and the toolkit CSV parser."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from flockwatch.graph.text import hashtags, normalize_message, token_set, token_table
from flockwatch.graph.toolkit_csv import TOOLKIT_COLUMNS, read_toolkit_csv
from flockwatch.graph.urls import canonicalize_url, extract_urls, is_shortener


def test_normalize_message_is_the_toolkits() -> None:
    assert normalize_message("RT @user: Hello   World\n@x") == "rt hello world"
    assert normalize_message("mail me a@b.com now") == "mail me a now"
    # the `regex` module's \s excludes U+001C..U+001F, so a mention runs through them
    assert normalize_message("@a\x1cb c") == "c"
    assert normalize_message("") == ""


def test_token_set_matches_the_toolkits_tokens() -> None:
    # outputs of coordination_network_toolkit.similarity.tokenize (1.5.2) for the same inputs
    cases = {
        "Hello, world! It's 3.5 U.S. #blm https://t.co/AbC1 @foo bar": "! # , . / 3.5 : abc1 bar blm hello "
        "https it's t.co u.s world",
        "'orange' don't  x": "don't orange x",
        "x...y ~~ $5 50%": "$ % . 5 50 x y ~",
        "a_b c—d 1,000 e.g. 😀😀 👍🏽 日本語テキスト": ". 1,000 a_b c d e.g — テキスト 日 本 語 👍🏽 😀",
    }
    for text, want in cases.items():
        assert token_set(text) == frozenset(want.split()), text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=12))
def test_token_table_equals_token_set(texts: list[str]) -> None:
    indptr, ids = token_table(texts)
    assert len(indptr) == len(texts) + 1
    sets = [frozenset(ids[indptr[i] : indptr[i + 1]].tolist()) for i in range(len(texts))]
    for i, j in [(i, j) for i in range(len(texts)) for j in range(len(texts))]:
        # same token-id sets exactly when the same token sets, and sizes agree
        assert (sets[i] == sets[j]) == (token_set(texts[i]) == token_set(texts[j]))
        assert len(sets[i] & sets[j]) == len(token_set(texts[i]) & token_set(texts[j]))
    assert all(np.all(np.diff(ids[indptr[i] : indptr[i + 1]]) > 0) for i in range(len(texts)))


# ASCII texts dense in joiners and digits exercise the ASCII fast-path pattern against the reference one.
_ASCII_TEXT = st.text(alphabet="ab1 2_.,;:'@#/\x1c\t\nXY", max_size=30)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_ASCII_TEXT, st.text(max_size=20)), max_size=10))
def test_token_table_ascii_fast_path(texts: list[str]) -> None:
    indptr, ids = token_table(texts)
    for i in range(len(texts)):
        for j in range(len(texts)):
            got = len(set(ids[indptr[i] : indptr[i + 1]].tolist()) & set(ids[indptr[j] : indptr[j + 1]].tolist()))
            assert got == len(token_set(texts[i]) & token_set(texts[j]))


def test_hashtags() -> None:
    assert hashtags("#BLM and #blm, not a#b or &#39;") == ["blm", "blm"]


def test_extract_urls() -> None:
    text = "see https://t.co/AbC1, (www.x.org/a_(b)) and http://e.com/p?q=1. end https://t."
    assert extract_urls(text) == ["https://t.co/AbC1", "www.x.org/a_(b)", "http://e.com/p?q=1", "https://t"]


def test_canonicalize_url() -> None:
    assert canonicalize_url("HTTP://WWW.Example.com:80/a/b/?utm_source=x&b=2&a=1#frag") == (
        "https://www.example.com/a/b?a=1&b=2"
    )
    assert canonicalize_url("https://example.com/?fbclid=123") == "https://example.com"
    assert canonicalize_url("example.com/path") == "example.com/path"  # no scheme: left alone
    assert canonicalize_url("www.example.com/%7Euser") == "https://www.example.com/~user"
    assert canonicalize_url("https://example.com:8443/x") == "https://example.com:8443/x"
    assert canonicalize_url("") == ""


def test_shorteners() -> None:
    assert is_shortener("https://t.co/abc") and is_shortener("bit.ly/x") and is_shortener("http://www.bit.ly/x")
    assert not is_shortener("https://example.com/t.co")


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=60), st.from_regex(r"https?://[a-zA-Z0-9.:@-]{0,20}/[ -~]{0,30}", fullmatch=True)))
def test_canonicalize_never_raises_and_is_idempotent(url: str) -> None:
    once = canonicalize_url(url)
    assert canonicalize_url(once) == once


cell = st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\r\x00"), max_size=20)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(alphabet="abcdef", min_size=1, max_size=3),
            st.sampled_from(["u1", "u2", "u3"]),
            cell,
            st.sampled_from(["", "r1"]),
            st.sampled_from(["", "p1"]),
            cell,
            st.integers(-(10**6), 10**9),
            st.lists(st.sampled_from(["http://a", "b.org", ""]), max_size=3).map(" ".join),
        ),
        max_size=15,
    )
)
def test_csv_round_trip(tmp_path_factory: object, rows: list[tuple[str, str, str, str, str, str, int, str]]) -> None:
    path = Path(str(tmp_path_factory.mktemp("csv"))) / "in.csv"  # type: ignore[attr-defined]
    with path.open("w", newline="", encoding="utf-8") as h:
        w = csv.writer(h)
        w.writerow(TOOLKIT_COLUMNS)
        w.writerows(rows)
    table = read_toolkit_csv(path)
    first: dict[str, tuple[str, str, str, str, str, str, int, str]] = {}
    for r in rows:
        first.setdefault(r[0], r)
    assert table.message_id == list(first)
    for i, r in enumerate(first.values()):
        assert table.users[table.user[i]] == r[1]
        assert table.message[i] == r[5].replace("\r\n", "\n")
        assert table.time[i] == float(r[6])
        assert table.repost_id[i] == (r[3] or None) and table.reply_id[i] == (r[4] or None)
    # message_url rows: non-reposts, each distinct (message_id, url) once, the empty URL included
    want = []
    seen = set()
    for r in rows:
        if r[3]:
            continue
        for url in r[7].split(" "):
            if (r[0], url) not in seen:
                seen.add((r[0], url))
                want.append((r[0], r[1], float(r[6]), url))
    got = [
        (table.message_id[p], table.users[u], t, url)
        for p, u, t, url in zip(table.link_post, table.link_user, table.link_time, table.link_url, strict=True)
    ]
    assert got == want


def test_bad_rows_are_skipped_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        ",".join(TOOLKIT_COLUMNS) + "\na,u1,,,,hi,10,\nb,u1,,,,hi,soon,\nc,u1,,,,hi\nd,u2,,,,hi,nan,\ne,u2,,,,hi,11,\n",
        encoding="utf-8",
    )
    table = read_toolkit_csv(path)
    assert table.message_id == ["a", "e"]
    assert [line for line, _ in table.skipped] == [3, 4, 5]
    assert read_toolkit_csv(tmp_path / "bad.csv").usernames == {"u1": "", "u2": ""}
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    assert len(read_toolkit_csv(empty)) == 0
