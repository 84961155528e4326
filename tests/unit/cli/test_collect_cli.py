"""`flockwatch collect check`: the shipped example is valid; a broken file exits 2 naming each problem's line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from flockwatch.cli.app import app
from flockwatch.config import REPO_ROOT, Settings
from tests.platform_servers.cassettes import reddit_cassettes, reddit_children
from tests.platform_servers.http import serve

EXAMPLE = REPO_ROOT / "infra" / "collection.example.yaml"


def test_check_lists_every_run_of_the_example() -> None:
    result = CliRunner().invoke(app, ["collect", "check", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "reddit:r/politics/rising\tevery 0:10:00" in lines
    assert "mastodon:mastodon.social/tag:election\tevery 0:15:00" in lines
    assert "bluesky:default\tstream (flockwatch collect bluesky)" in lines
    assert "bluesky:search/latest/election\tevery 0:15:00" in lines
    assert len(lines) == 13


def test_check_names_each_problem_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("sources:\n  reddit:\n    targets:\n      - subreddit: x\n        listings: [top]\n  mastodon: {}\n")
    result = CliRunner().invoke(app, ["collect", "check", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:4: sources.reddit.targets[0].subreddit" in result.output
    assert f"{bad}:5: sources.reddit.targets[0].listings[0]" in result.output
    assert f"{bad}:6: sources.mastodon.targets: Field required" in result.output


def test_run_without_a_collection_file_says_how_to_give_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["collect", "run", "--output", str(tmp_path / "o.jsonl")], env={"FLOCKWATCH_COLLECTION_FILE": ""}
    )
    assert result.exit_code == 2 and "pass --file or set FLOCKWATCH_COLLECTION_FILE" in result.output


def test_run_pulls_every_target_of_the_file_once_and_resumes(tmp_path: Path) -> None:
    """`collect run --file F --output OUT`: the reddit listings of the file from recorded API answers, each
    submission once; with --cursors a second run appends nothing it already has."""
    data = Settings().data_dir / "connectors" / "reddit"
    with serve(reddit_cassettes(data)) as server:
        collection = tmp_path / "collection.yaml"
        collection.write_text(
            "sources:\n  reddit:\n    targets:\n      - subreddit: askreddit\n"
            f"        listings: [hot, rising]\n        endpoint: {server.url}\n"
        )
        out, cursors = tmp_path / "OUT.jsonl", tmp_path / "cursors.json"
        args = ["collect", "run", "--file", str(collection), "--output", str(out), "--cursors", str(cursors)]
        first = CliRunner().invoke(app, args)
        assert first.exit_code == 0, first.output
        again = CliRunner().invoke(app, args)
        assert again.exit_code == 0, again.output
    children = reddit_children(data)
    listed = [c["data"]["id"] for n in ("hot", "rising") for c in children[f"TestSubredditListings.test_{n}.json"]]
    ids = [json.loads(line)["platform_id"] for line in out.read_text().splitlines()]
    assert ids == list(dict.fromkeys(listed))  # file order, each once, nothing added by the second run
    reports = [json.loads(line) for line in first.stdout.splitlines()]
    assert [(r["source"], r["target"], r["records"]) for r in reports] == [
        ("reddit", "r/askreddit/hot", len(children["TestSubredditListings.test_hot.json"])),
        ("reddit", "r/askreddit/rising", len(children["TestSubredditListings.test_rising.json"])),
    ]


def test_run_reports_a_failing_target_and_exits_1_when_all_fail(tmp_path: Path) -> None:
    with serve(reddit_cassettes(Settings().data_dir / "connectors" / "reddit")) as server:  # no feed there: 404
        collection = tmp_path / "collection.yaml"
        collection.write_text(f"sources:\n  rss:\n    targets:\n      - feed: {server.url}/feed.xml\n")
        args = ["collect", "run", "--file", str(collection), "--output", str(tmp_path / "o.jsonl")]
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    [report] = [json.loads(line) for line in result.stdout.splitlines()]
    assert report["source"] == "rss" and report["records"] == 0
    [reason] = report["reasons"]
    assert reason.startswith("failed:") and "404" in reason
