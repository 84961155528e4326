"""The issue's contract commands, exactly as written, against local servers replaying the recorded cassettes:

- ``flockwatch collect reddit --subreddit NAME --listing hot|new|rising --endpoint URL --output OUT.jsonl``
- ``flockwatch collect mastodon --instance URL --timeline public|tag:NAME|trends --output OUT.jsonl``

The cassettes hold no public timeline and empty trends: those paths also serve recorded statuses from the other
cassettes (said at each test)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flockwatch.cli.app import app
from flockwatch.config import Settings
from flockwatch.schema import Post
from tests.platform_servers.cassettes import (
    Cassettes,
    mastodon_cassettes,
    mastodon_statuses,
    reddit_cassettes,
    reddit_children,
)
from tests.platform_servers.http import PlatformServer, serve
from tests.platform_servers.reddit import RedditSite, renumbered

DATA = Settings().data_dir / "connectors"
NO_SECRETS = {"FLOCKWATCH_REDDIT_CLIENT_ID": "", "FLOCKWATCH_MASTODON_TOKENS": ""}


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """Each command sets up logging on the runner's stderr; drop that handler when the runner closes it."""
    yield
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)


def collect(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, list[Post]]:
    out = Path(args[args.index("--output") + 1])
    result = CliRunner().invoke(app, ["collect", *args], env={**NO_SECRETS, **(env or {})})
    posts = [Post.model_validate_json(line) for line in out.read_text().splitlines()] if out.exists() else []
    return result.exit_code, result.output, posts


@pytest.fixture
def reddit() -> Iterator[PlatformServer]:
    answer = reddit_cassettes(DATA / "reddit")
    with serve(answer) as server:
        yield server


@pytest.fixture
def mastodon() -> Iterator[tuple[PlatformServer, Cassettes]]:
    answer = mastodon_cassettes(DATA / "mastodon")
    with serve(answer) as server:
        answer.server = server
        yield server, answer


@pytest.mark.parametrize("listing", ["hot", "new", "rising"])
def test_collect_reddit_listing(reddit: PlatformServer, tmp_path: Path, listing: str) -> None:
    out = tmp_path / "OUT.jsonl"
    args = ["reddit", "--subreddit", "askreddit", "--listing", listing, "--endpoint", reddit.url, "--output", str(out)]
    code, output, posts = collect(args)
    assert code == 0, output
    children = reddit_children(DATA / "reddit")[f"TestSubredditListings.test_{listing}.json"]
    assert [p.platform_id for p in posts] == [c["data"]["id"] for c in children]
    assert [p.text.split("\n\n")[0] for p in posts] == [c["data"]["title"] for c in children]
    assert all(p.platform == "reddit" and p.collected_at is not None for p in posts)
    report = json.loads(output.strip().splitlines()[-1])
    assert report["written"] == len(children) and report["rejected"] == 0
    assert not out.with_name("OUT.dead-letters.jsonl").exists()


def test_collect_reddit_with_app_credentials(reddit: PlatformServer, tmp_path: Path) -> None:
    out = tmp_path / "OUT.jsonl"
    args = ["reddit", "--subreddit", "askreddit", "--listing", "hot", "--endpoint", reddit.url, "--output", str(out)]
    env = {"FLOCKWATCH_REDDIT_CLIENT_ID": "app", "FLOCKWATCH_REDDIT_CLIENT_SECRET": "s3cret"}
    code, output, posts = collect(args, env)
    assert code == 0, output
    assert len(posts) == 102 and reddit.requests[0].path == "/api/v1/access_token"
    assert "s3cret" not in output


def test_collect_reddit_thread_and_comment_stream(reddit: PlatformServer, tmp_path: Path) -> None:
    out = tmp_path / "thread.jsonl"
    code, output, posts = collect(["reddit", "--thread", "2gmzqe", "--endpoint", reddit.url, "--output", str(out)])
    assert code == 0, output
    assert [(p.platform_id, p.reply_to) for p in posts] == [
        ("2gmzqe", None),
        ("cklfmye", "2gmzqe"),
        ("cklhv0f", "cklfmye"),
    ]
    comments = reddit_children(DATA / "reddit")["TestSubredditStreams.test_comments__with_pause.json"]
    site = RedditSite()
    site.publish_all(renumbered(comments, 150))
    with serve(site) as server:
        out = tmp_path / "comments.jsonl"
        args = ["reddit", "--subreddit", "kakapo", "--listing", "comments", "--endpoint", server.url]
        code, output, posts = collect([*args, "--idle-timeout", "0.5", "--output", str(out)])
    assert code == 0, output
    assert sorted(p.platform_id for p in posts) == sorted(c["data"]["id"] for c in site.published[-100:])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["reddit", "--subreddit", "askreddit", "--listing", "top"], "unknown listing"),
        (["reddit", "--subreddit", "../x", "--listing", "hot"], "not a subreddit name"),
        (["reddit", "--subreddit", "x", "--thread", "abc"], "give --subreddit NAME"),
        (["reddit", "--thread", "NOT-AN-ID"], "not a Reddit id"),
        (["mastodon", "--instance", "ftp://m.example", "--timeline", "public"], "http(s) URL"),
        (["mastodon", "--instance", "https://m.example", "--timeline", "home"], "unknown timeline"),
        (["mastodon", "--instance", "https://m.example", "--timeline", "list:1"], "needs an access token"),
    ],
)
def test_bad_arguments_exit_2_saying_why(tmp_path: Path, args: list[str], message: str) -> None:
    code, output, _ = collect([*args, "--output", str(tmp_path / "o.jsonl")])
    assert code == 2 and message in output


def test_a_refusing_platform_exits_1(reddit: PlatformServer, tmp_path: Path) -> None:
    args = ["reddit", "--subreddit", "nosuchsub", "--listing", "new", "--endpoint", reddit.url]
    code, output, posts = collect([*args, "--output", str(tmp_path / "o.jsonl")])
    assert code == 1 and "HTTP 404" in output and posts == []


def statuses(name: str) -> list[dict[str, Any]]:
    return mastodon_statuses(DATA / "mastodon")[name]


def test_collect_mastodon_tag(mastodon: tuple[PlatformServer, Cassettes], tmp_path: Path) -> None:
    server, _ = mastodon
    out = tmp_path / "OUT.jsonl"
    code, output, posts = collect(
        ["mastodon", "--instance", server.url, "--timeline", "tag:hoot", "--output", str(out)]
    )
    assert code == 0, output
    (status,) = {s["uri"]: s for s in statuses("test_hashtag_tl.yaml")}.values()
    assert [(p.platform_id, p.text, p.hashtags) for p in posts] == [(status["uri"], "#hoot (hashtag toot)", ["hoot"])]


def test_collect_mastodon_public(mastodon: tuple[PlatformServer, Cassettes], tmp_path: Path) -> None:
    """No public timeline is recorded: the recorded list timeline's statuses are served at its path."""
    server, answer = mastodon
    listed = statuses("test_list_timeline.yaml")[1:]
    answer.serve_json("GET", "/api/v1/timelines/public", listed)
    out = tmp_path / "OUT.jsonl"
    code, output, posts = collect(["mastodon", "--instance", server.url, "--timeline", "public", "--output", str(out)])
    assert code == 0, output
    assert [p.platform_id for p in posts] == [s["uri"] for s in listed]
    assert posts[4].mentions == ["mastodonpy_test@localhost:3000"]


def test_collect_mastodon_trends(mastodon: tuple[PlatformServer, Cassettes], tmp_path: Path) -> None:
    server, answer = mastodon
    out = tmp_path / "OUT.jsonl"
    code, output, posts = collect(["mastodon", "--instance", server.url, "--timeline", "trends", "--output", str(out)])
    assert code == 0 and posts == [], output  # the recorded trends: an empty list
    # The same path serving recorded statuses from the other cassettes (a reblog and what it reblogs among them):
    answer.interactions = [i for i in answer.interactions if i.path != "/api/v1/trends/statuses"]
    trending = statuses("test_list_timeline.yaml")[1:4] + statuses("test_status_reblogged_by.yaml")[1:2]
    answer.serve_json("GET", "/api/v1/trends/statuses", trending)
    code, output, posts = collect(["mastodon", "--instance", server.url, "--timeline", "trends", "--output", str(out)])
    assert code == 0, output
    reblog = trending[-1]
    assert [p.platform_id for p in posts] == [s["uri"] for s in trending[:3]] + [reblog["reblog"]["uri"], reblog["uri"]]
    assert posts[-1].reshare_of == posts[-2].platform_id
