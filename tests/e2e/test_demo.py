"""The README's main command end to end: `flockwatch demo` on a real slice of IRA 2016."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from flockwatch.config import Settings
from flockwatch.store import OpenSearchStore
from tests.expected import expected_posts

pytestmark = pytest.mark.e2e

FLOCKWATCH = str(Path(sys.executable).with_name("flockwatch"))


def test_help_lists_the_commands() -> None:
    out = subprocess.run([FLOCKWATCH, "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("up", "down", "status", "replay", "worker", "demo", "search", "top"):
        assert f" {command} " in out, command


def test_demo_replays_and_indexes_every_post() -> None:
    tag = f"e2e{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "FLOCKWATCH_TOPIC_PREFIX": tag, "FLOCKWATCH_INDEX_PREFIX": tag}
    try:
        done = subprocess.run(
            [FLOCKWATCH, "demo", "--limit", "5000", "--json"], env=env, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, done.stderr[-3000:]
        summary = json.loads(done.stdout)
        assert summary["posts_read"] == summary["posts_produced"] == 5000
        assert summary["normalized"] + summary["skipped_not_posts"] + summary["dead_lettered"] == 5000
        # Rows captured twice in the release collapse into one post (same id), so compare with distinct posts.
        assert summary["indexed_in_store"] == len(expected_posts("ira_2016", 5000))
        assert any(q.startswith("flockwatch search") for q in summary["example_queries"])

        # The suggested query really finds posts.
        query = next(q for q in summary["example_queries"] if q.startswith("flockwatch search"))
        hits = subprocess.run(
            [FLOCKWATCH, "search", query.split(" ", 2)[2].strip('"'), "--size", "3"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        assert len(hits) == 3 and all(json.loads(h)["source"]["format"] == "ira_2016" for h in hits)
    finally:
        OpenSearchStore(Settings(topic_prefix=tag, index_prefix=tag)).drop_all()
