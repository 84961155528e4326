"""The README's main command end to end: `flockwatch demo` on a real slice of IRA 2016."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest

from flockwatch.config import Settings
from flockwatch.store import open_store
from flockwatch.store.documents import IndexKind
from flockwatch.text.canonical import canonical_text, copy_form, decode_text
from tests.expected import expected_normalize_counts, expected_normalized_records, expected_posts

pytestmark = pytest.mark.e2e

FLOCKWATCH = str(Path(sys.executable).with_name("flockwatch"))


def test_help_lists_the_commands() -> None:
    out = subprocess.run([FLOCKWATCH, "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("up", "down", "status", "replay", "worker", "demo", "search", "top"):
        assert f" {command} " in out, command


@pytest.mark.store
def test_demo_replays_and_indexes_every_post() -> None:
    """Every one of the seven stages did exactly what it promises on a known slice (counts computed in-process)."""
    tag = f"e2e{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "FLOCKWATCH_TOPIC_PREFIX": tag, "FLOCKWATCH_INDEX_PREFIX": tag}
    n = 5000
    try:
        done = subprocess.run(
            [FLOCKWATCH, "demo", "--limit", str(n), "--json"], env=env, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, done.stderr[-3000:]
        summary = json.loads(done.stdout)
        stages = summary["stages"]
        assert set(stages) == {"normalize", "text", "media", "index", "rollups", "graph", "alerts"}

        split = expected_normalize_counts("ira_2016", n)
        posts = expected_posts("ira_2016", n)
        normalized, distinct = split["normalized"], len(posts)
        authors = Counter(f"{p.platform}:{p.author.id}" for p in posts.values())
        assert summary["posts_read"] == summary["posts_produced"] == n
        assert (summary["normalized"], summary["skipped_not_posts"], summary["dead_lettered"]) == (
            normalized,
            split["skipped"],
            split["dead_lettered"],
        )
        # normalize: every raw record consumed, exactly the expected split.
        assert stages["normalize"]["consumed"] == n
        assert stages["normalize"]["normalized"] == normalized
        # text: every normalised post scored and given a narrative (each joins one way), except the posts
        # with nothing left to compare once URLs and mentions are gone ("empty").
        text = stages["text"]
        assert text["consumed"] == text["text_scored"] == normalized
        assert sum(v for k, v in text.items() if k.startswith("narrative_")) == normalized
        records = expected_normalized_records("ira_2016", n)
        assert text.get("narrative_empty", 0) == sum(
            not copy_form(canonical_text(decode_text(p.text))) for p in records
        )
        # media: every post seen; IRA posts carry no media, and each is counted as such.
        assert stages["media"]["consumed"] == normalized
        assert stages["media"]["media_none"] == normalized - sum(1 for p in posts.values() if p.media)
        # index: posts and their text scores, all written; the store holds each distinct post once, scored.
        assert stages["index"]["consumed"] == stages["index"]["indexed"] == 2 * normalized
        assert summary["indexed_in_store"] == distinct
        assert summary["stored_text_scored_posts"] == distinct
        # rollups: one account document per author, one narrative document per narrative id in the posts.
        assert stages["rollups"]["consumed"] == normalized
        assert summary["stored_accounts"] == len(authors)
        store = open_store(Settings(topic_prefix=tag, index_prefix=tag))
        narrative_ids = store.posts.top_values("narrative_id", size=n)
        assert summary["stored_narratives"] == len(narrative_ids) > 0
        busiest, count = authors.most_common(1)[0]
        account = store.engine.get(IndexKind.accounts, busiest)
        assert account is not None and account["post_count"] == count
        # graph: every post placed. Its dedupe memory is bounded by event time, so a row captured twice far
        # apart is placed twice (idempotent writes): between the distinct posts and every normalised one.
        assert stages["graph"]["consumed"] == normalized
        assert distinct <= stages["graph"]["posts"] <= normalized
        assert stages["graph"]["rejected"] == 0
        assert summary["stored_cascades"] > 0 and summary["stored_coordination_edges"] > 0
        # alerts: posts and text scores read; every new alert stored.
        alerts = stages["alerts"]
        assert alerts["consumed"] == 2 * normalized and alerts["text_scores"] == normalized
        assert alerts["posts"] + alerts.get("duplicate_posts", 0) == normalized and alerts["posts"] >= distinct
        assert summary["stored_alerts"] == stages["alerts"]["alerts_new"] > 0

        # The demo ends with the API's URL and an analyst token that the API accepts.
        from flockwatch.api.app import api_paths

        assert summary["api"]["url"] == "http://127.0.0.1:8000/api/v1/"
        tokens, _ = api_paths(Settings())
        who = tokens.principal(summary["api"]["token"])
        assert who is not None and (who.name, who.role.value) == ("demo", "analyst")

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
        open_store(Settings(topic_prefix=tag, index_prefix=tag)).engine.drop_all()
