"""The Jetstream benchmark's events: every copy a distinct event and, for posts, a distinct post."""

from __future__ import annotations

import json

import pytest

from bench.jetstream import events
from flockwatch.adapters.connectors.bluesky import frame_record
from flockwatch.config import Settings
from flockwatch.replay import normalize_record

DATA = Settings().data_dir


@pytest.mark.parametrize("posts_only", [False, True])
def test_copies_are_distinct_events_and_posts(posts_only: bool) -> None:
    lines = events(1000, posts_only, DATA)
    received = [frame_record(line, "ws://bench/subscribe") for line in lines]
    assert len(lines) == 1000 and len({r.identity for r in received}) == 1000
    posts = [p for p in map(normalize_record, (r.record for r in received)) if p is not None]
    assert len({p.key for p in posts}) == len(posts) > (900 if posts_only else 150)
    assert {json.loads(line)["kind"] for line in lines} >= {"commit"}
