"""Killed mid-stream and restarted, the Reddit comment stream and the Mastodon streaming connector lose nothing
and write nothing twice.

Each test runs ``flockwatch collect ... --output OUT --cursors C.json`` as a subprocess against a local server
that publishes real recorded comments/statuses (renumbered) over time, SIGKILLs it once OUT has some lines,
lets the server publish on while it is down, restarts it with the same cursor file, and compares the exact
id lists: every item published since the stream began is in OUT once."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flockwatch.config import REPO_ROOT, Settings
from tests.platform_servers.cassettes import mastodon_statuses, reddit_children
from tests.platform_servers.http import PlatformServer, serve
from tests.platform_servers.mastodon import MastodonInstance
from tests.platform_servers.mastodon import renumbered as renumbered_statuses
from tests.platform_servers.reddit import RedditSite
from tests.platform_servers.reddit import renumbered as renumbered_children

DATA = Settings().data_dir / "connectors"
FLOCKWATCH = REPO_ROOT / ".venv" / "bin" / "flockwatch"
ENV = {"FLOCKWATCH_REDDIT_CLIENT_ID": "", "FLOCKWATCH_MASTODON_TOKENS": "", "PATH": "/usr/bin:/bin"}


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_for(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    end = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def kill_and_restart(
    args: list[str], out: Path, kill_at: int, down_s: float, started: Callable[[], bool], server: PlatformServer
) -> tuple[str, int]:
    """Run, SIGKILL once OUT has ``kill_at`` lines, stay down ``down_s``, run again until it stops on its own.
    Returns the saved cursor it restarted from and how many requests the server had seen by then."""
    cursors = out.with_suffix(".cursors.json")
    command = [str(FLOCKWATCH), "collect", *args, "--output", str(out), "--cursors", str(cursors)]
    first = subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(started)
        wait_for(lambda: len(lines(out)) >= kill_at)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    assert first.returncode == -signal.SIGKILL
    time.sleep(down_s)
    (cursor,) = json.loads(cursors.read_text()).values()
    seen = len(server.requests)
    again = subprocess.run(command, env=ENV, capture_output=True, timeout=120, check=False)
    assert again.returncode == 0, again.stderr.decode()[-2000:]
    return cursor, seen


def test_the_reddit_comment_stream_killed_and_restarted(tmp_path: Path) -> None:
    comments = reddit_children(DATA / "reddit")["TestSubredditStreams.test_comments__with_pause.json"]
    site = RedditSite()
    site.pending = renumbered_children(comments, 160)
    site.publish(10)
    stop = threading.Event()
    out = tmp_path / "comments.jsonl"
    with serve(site) as server:
        args = ["reddit", "--subreddit", "kakapo", "--listing", "comments", "--endpoint", server.url]

        publishing: list[threading.Thread] = []

        def started() -> bool:
            if server.requests and not publishing:
                publishing.append(site.publish_every(0.04, stop))
            return bool(server.requests)

        try:
            cursor, seen = kill_and_restart([*args, "--idle-timeout", "4"], out, 40, 1.0, started, server)
        finally:
            stop.set()
        restarted = server.requests[seen]
    written = [post["platform_id"] for post in lines(out)]
    assert site.pending == []  # everything was published before the restarted stream went idle
    assert len(written) == len(set(written))  # no duplicate
    assert sorted(written) == sorted(c["data"]["id"] for c in site.published)  # no gap
    assert restarted.query.get("before") == [cursor]  # it went on from its cursor


def test_the_mastodon_stream_killed_and_restarted(tmp_path: Path) -> None:
    recorded = {s["id"]: s for items in mastodon_statuses(DATA / "mastodon").values() for s in items}
    public = sorted((s for s in recorded.values() if s["visibility"] == "public"), key=lambda s: int(s["id"]))
    instance = MastodonInstance(server_info={"domain": "instance.example"})
    instance.pending = renumbered_statuses(public, 120)
    instance.publish(5)
    stop = threading.Event()
    out = tmp_path / "statuses.jsonl"
    with serve(instance) as server:
        instance.server = server
        streams: list[int] = []

        def started() -> bool:
            opened = [r for r in server.requests if r.path == "/api/v1/streaming/public"]
            if opened and not streams:
                streams.append(len(instance.published))
                time.sleep(0.3)  # the stream has taken its starting point
                instance.publish_every(0.04, stop)
            return bool(opened)

        try:
            args = ["mastodon", "--instance", server.url, "--timeline", "public", "--stream", "--idle-timeout", "3"]
            cursor, seen = kill_and_restart(args, out, 30, 1.0, started, server)
        finally:
            stop.set()
        backfills = [r for r in server.requests[seen:] if r.path == "/api/v1/timelines/public"]
    written = [post["platform_id"] for post in lines(out)]
    assert instance.pending == []
    assert len(written) == len(set(written))  # no duplicate
    assert sorted(written) == sorted(s["uri"] for s in instance.published[streams[0] :])  # no gap: from the start on
    assert backfills[0].query["min_id"] == [cursor]  # the restart filled its gap by REST from its cursor
