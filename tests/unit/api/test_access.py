"""Tokens, roles, pseudonyms, the audit chain and the post query builder, without a server; the token and serve
commands as a user runs them."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from flockwatch.api.access import RIGHTS, Right, Role, pseudonym, token_hash
from flockwatch.api.audit_log import AuditLog
from flockwatch.api.post_query import BadQuery, PostSearch, decode_cursor, encode_cursor, post_query
from flockwatch.api.token_file import Principal, TokenFile
from flockwatch.cli.app import app

FLOCKWATCH = str(Path(sys.executable).with_name("flockwatch"))


def test_roles_rights() -> None:
    assert RIGHTS[Role.admin] == frozenset(Right)
    assert Right.act in RIGHTS[Role.analyst] and Right.administer not in RIGHTS[Role.analyst]
    assert RIGHTS[Role.researcher] == {Right.read, Right.export}


def test_tokens_are_kept_as_hashes_only(tmp_path: Path) -> None:
    tokens = TokenFile(tmp_path / "api" / "tokens.json")
    token = tokens.create("Ana Lyst", Role.analyst)
    assert token.startswith("fw_") and len(token) > 40
    text = tokens.path.read_text()
    assert token not in text and token_hash(token) in text
    assert stat.S_IMODE(tokens.path.stat().st_mode) == 0o600
    assert tokens.principal(token) == Principal("Ana Lyst", Role.analyst)
    assert tokens.principal(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    with pytest.raises(ValueError, match="exists"):
        tokens.create("Ana Lyst", Role.admin)
    with pytest.raises(ValueError, match="token name"):
        tokens.create("", Role.admin)
    assert [t["name"] for t in tokens.listing()] == ["Ana Lyst"]
    assert tokens.revoke("Ana Lyst") and tokens.principal(token) is None and not tokens.revoke("Ana Lyst")


def test_pseudonyms_are_stable_keyed_and_distinct(tmp_path: Path) -> None:
    secret = TokenFile(tmp_path / "t.json").pseudonym_secret()
    assert secret == TokenFile(tmp_path / "t.json").pseudonym_secret()  # kept with the tokens
    a, b = pseudonym(secret, "twitter:1"), pseudonym(secret, "twitter:2")
    assert a == pseudonym(secret, "twitter:1") and a != b and a.startswith("anon:")
    assert pseudonym(b"another secret", "twitter:1") != a


def test_the_audit_chain_names_the_first_edited_or_missing_line(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    for n in range(5):
        log.append("ana", "analyst", "search_posts", f"q{n}")
    assert log.verify() is None and [e["target"] for e in log.tail(2)] == ["q4", "q3"]
    lines = log.path.read_text().splitlines()
    log.path.write_text("\n".join(lines[:2] + lines[3:]) + "\n")  # line 3 deleted
    assert log.verify() == 3


def test_a_cut_line_in_the_audit_log_is_shown_as_unreadable_not_a_crash(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    for n in range(3):
        log.append("ana", "analyst", "search_posts", f"q{n}")
    with log.path.open("ab") as f:
        f.write(b'{"at": "2026-01-01", "who": "ana", "targ\n')  # a crash mid-append
    log.append("ana", "analyst", "search_posts", "after")
    newest = log.tail(3)
    assert newest[0]["target"] == "after" and newest[2]["target"] == "q2"
    assert newest[1] == {"unreadable": '{"at": "2026-01-01", "who": "ana", "targ'}
    assert log.verify() == 4


def test_a_revoke_within_the_same_mtime_tick_is_seen(tmp_path: Path) -> None:
    """The server's token file is re-read when the file changes, even if its mtime reads the same (coarse
    filesystem timestamps, two writes within one tick)."""
    path = tmp_path / "tokens.json"
    server, cli = TokenFile(path), TokenFile(path)
    token = cli.create("ana", Role.analyst)
    assert server.principal(token) == Principal("ana", Role.analyst)  # read and cached
    before = path.stat()
    cli.revoke("ana")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # the same tick
    assert server.principal(token) is None


def test_token_create_prints_a_token_the_server_accepts(tmp_path: Path) -> None:
    env = {"FLOCKWATCH_STATE_DIR": str(tmp_path)}
    made = CliRunner().invoke(app, ["token", "create", "--role", "researcher", "--name", "Res Earcher"], env=env)
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    assert TokenFile(tmp_path / "api" / "tokens.json").principal(token) == Principal("Res Earcher", Role.researcher)
    bad = CliRunner().invoke(app, ["token", "create", "--role", "root", "--name", "x"], env=env)
    assert bad.exit_code == 2 and "unknown role" in bad.output
    listed = CliRunner().invoke(app, ["token", "list"], env=env)
    assert json.loads(listed.stdout)["role"] == "researcher" and token not in listed.stdout
    assert CliRunner().invoke(app, ["token", "revoke", "Res Earcher"], env=env).exit_code == 0
    assert CliRunner().invoke(app, ["token", "revoke", "Res Earcher"], env=env).exit_code == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_serve_answers_401_without_a_token_and_503_when_the_store_is_down(tmp_path: Path) -> None:
    """`flockwatch serve --host 127.0.0.1 --port N` as a user starts it, with no store running."""
    port = _free_port()
    env = {**os.environ, "FLOCKWATCH_STATE_DIR": str(tmp_path), "FLOCKWATCH_STORE_PORT": str(_free_port())}
    token = subprocess.run(
        [FLOCKWATCH, "token", "create", "--role", "analyst", "--name", "ana"], env=env, capture_output=True, text=True
    ).stdout.strip()
    server = subprocess.Popen(
        [FLOCKWATCH, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                status, _ = _get(f"{base}/openapi.json")
                break
            except OSError:
                time.sleep(0.1)
        assert status == 200
        assert _get(f"{base}/api/v1/posts?q=x&limit=5")[0] == 401
        status, body = _get(f"{base}/api/v1/posts?q=x&limit=5", token)
        assert status == 503 and "store is unavailable" in body["detail"]
    finally:
        server.terminate()
        server.wait(timeout=30)


# --- the query builder -------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(q=st.text(max_size=500), hashtag=st.text(min_size=1, max_size=40))
def test_typed_words_stay_inside_simple_query_string(q: str, hashtag: str) -> None:
    query = post_query(PostSearch(q=q, hashtags=[hashtag]).check())
    # The only clauses: the words in simple_query_string on the text fields, the tag as a terms filter.
    assert query["bool"]["filter"] == [{"terms": {"hashtags": [hashtag.lstrip("#").lower()]}}]
    expected = [
        {
            "simple_query_string": {
                "query": q,
                "fields": ["text", "author.display_name"],
                "default_operator": "and",
                "flags": "AND|OR|NOT|PHRASE|PREFIX|PRECEDENCE|WHITESPACE|ESCAPE",
                "lenient": True,
            }
        }
    ]
    assert query["bool"]["must"] == (expected if q.strip() else [])


# What a page's last hit sorts by: created_at as the engine hands a date out (epoch ms) or as an ISO time, the key.
SORT_TIMES = st.integers(-(2**63), 2**63 - 1) | st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat)


@settings(max_examples=300, deadline=None)
@given(values=st.tuples(SORT_TIMES, st.text(max_size=30)))
def test_cursors_round_trip(values: tuple[int | str, str]) -> None:
    assert decode_cursor(encode_cursor(list(values))) == list(values)


@pytest.mark.parametrize(
    "values",
    [
        [float("nan"), "twitter:1"],  # json writes NaN, and reads it back
        [float("inf"), "twitter:1"],
        [1.5, "twitter:1"],
        ["x", "twitter:1"],  # a word where the time goes: the engine cannot parse it as a date
        [True, "twitter:1"],
        [2**64, "twitter:1"],  # past the engine's long
        [1_700_000_000_000, 7],
    ],
)
def test_a_cursor_with_values_the_engine_cannot_sort_by_is_a_bad_query(values: list[Any]) -> None:
    with pytest.raises(BadQuery, match="cursor"):
        decode_cursor(encode_cursor(values))


def test_a_naive_time_is_utc_and_compares_with_an_aware_one() -> None:
    search = PostSearch(since=datetime(2024, 1, 1), until=datetime(2024, 2, 1, tzinfo=UTC)).check()
    assert search.since == datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(BadQuery, match="before"):
        PostSearch(since=datetime(2024, 3, 1), until=datetime(2024, 2, 1, tzinfo=UTC)).check()
    span = post_query(search)["bool"]["filter"][0]["range"]["created_at"]
    assert span == {"gte": "2024-01-01T00:00:00+00:00", "lt": "2024-02-01T00:00:00+00:00"}


def test_a_cluster_of_many_accounts_is_one_terms_clause() -> None:
    """The engine refuses more than max_clause_count (1024) clauses: a cluster of thousands of accounts (and the
    asked authors) filter as one terms on the posts' account_key."""
    members = [f"twitter:{n}" for n in range(3000)]
    query = post_query(PostSearch(authors=["reddit:a"], clusters=["c1"]), members)
    assert query["bool"]["filter"] == [{"terms": {"account_key": ["reddit:a", *members]}}]
    assert json.dumps(query).count('"term') == 1
    bare = post_query(PostSearch(authors=["u1", "twitter:u2"]))["bool"]["filter"]
    assert bare == [
        {
            "bool": {
                "should": [{"terms": {"account_key": ["twitter:u2"]}}, {"terms": {"author.id": ["u1"]}}],
                "minimum_should_match": 1,
            }
        }
    ]


def test_words_match_display_names_only_when_the_search_allows() -> None:
    def fields(search: PostSearch) -> Any:
        return post_query(search)["bool"]["must"][0]["simple_query_string"]["fields"]

    assert fields(PostSearch(q="alice")) == ["text", "author.display_name"]
    assert fields(PostSearch(q="alice", match_display_names=False)) == ["text"]


@settings(max_examples=500, deadline=None)
@given(cursor=st.text(max_size=200))
def test_any_other_cursor_is_a_bad_query_not_a_crash(cursor: str) -> None:
    try:
        values = decode_cursor(cursor)
    except BadQuery:
        return
    assert isinstance(values, list) and len(values) == 2


def test_bounds_and_clusters() -> None:
    with pytest.raises(BadQuery, match="at most"):
        PostSearch(platforms=["x"] * 21).check()
    with pytest.raises(BadQuery, match="between 0 and 1"):
        PostSearch(min_machine_score=2.0).check()
    nobody = json.dumps(post_query(PostSearch(clusters=["c1"]), []))
    assert "no member" in nobody  # a cluster without members matches nothing
    assert post_query(PostSearch()) == {"match_all": {}}
