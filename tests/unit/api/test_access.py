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


@settings(max_examples=300, deadline=None)
@given(values=st.tuples(st.text(max_size=30), st.text(max_size=30)))
def test_cursors_round_trip(values: tuple[str, str]) -> None:
    assert decode_cursor(encode_cursor(list(values))) == list(values)


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
