"""≥10,000 real IRA posts through real Kafka into real OpenSearch: exact counts, real values, idempotence."""

from __future__ import annotations

import pytest

from flockwatch.adapters.replayer import replay
from flockwatch.config import Settings
from flockwatch.store import open_store
from flockwatch.store.documents import IndexKind
from flockwatch.workers import run_until_caught_up
from tests.expected import expected_posts

pytestmark = [pytest.mark.integration, pytest.mark.store]

N = 12_000


def run_pipeline(settings: Settings) -> tuple[dict[str, int], dict[str, int]]:
    return run_until_caught_up("normalize", settings), run_until_caught_up("index", settings)


def test_replay_lands_every_post_exactly_once(settings: Settings) -> None:
    expected = expected_posts("ira_2016", N)
    report = replay(settings, "ira_2016", limit=N)
    assert (report.read, report.produced) == (N, N)

    normalized, indexed = run_pipeline(settings)
    assert normalized["normalized"] == N
    assert normalized.get("dead_lettered", 0) == 0
    assert indexed["indexed"] == N

    store = open_store(settings)
    store.engine.refresh()
    assert store.engine.count(IndexKind.posts) == len(expected)

    # Field values survive the trip: compare a spread of posts with their in-process normalisation.
    for key in list(expected)[:: len(expected) // 7]:
        doc = store.posts.get(key)
        post = expected[key]
        assert doc is not None, key
        assert doc["text"] == post.text
        assert doc["author"]["id"] == post.author.id
        assert doc["hashtags"] == post.hashtags
        assert doc["created_at"].startswith(post.created_at.strftime("%Y-%m-%dT%H:%M"))
        assert doc["source"]["format"] == "ira_2016"

    # A known real record: the file's first row.
    first = store.posts.query_string('author.id:"TrayneshaCole" AND text:"great comeback"', size=1)
    assert first and "#racism" in first[0]["text"]

    # Replaying the same data again changes nothing in the store.
    again = replay(settings, "ira_2016", limit=N)
    assert again.produced == N
    _, indexed_again = run_pipeline(settings)
    assert indexed_again["indexed"] == N
    store.engine.refresh()
    assert store.engine.count(IndexKind.posts) == len(expected)
