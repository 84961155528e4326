"""The collection file's targets and the trending pass's additions become the right connectors."""

from __future__ import annotations

from datetime import UTC, datetime

from flockwatch.adapters.connectors.cursors import MemoryCursors
from flockwatch.adapters.connectors.targets import connector_for, load_followed, pull_specs, save_followed
from flockwatch.collect.collection_file import load_collection
from flockwatch.config import Settings

FILE = """\
sources:
  reddit:
    targets:
      - subreddit: politics
        listings: [new, comments]
        endpoint: http://127.0.0.1:9/
  mastodon:
    targets:
      - instance: https://a.example
      - instance: https://b.example
        timelines: [public, "tag:vote"]
  bluesky:
    targets:
      - collections: [app.bsky.feed.post]
      - search: "#vote"
        endpoint: http://127.0.0.1:9
"""


def test_trending_additions_join_the_file_targets() -> None:
    collection = load_collection(FILE)
    cursors = MemoryCursors()
    seen = datetime(2026, 12, 4, tzinfo=UTC)
    save_followed(cursors, "reddit", {"thread:reddit:abc12": seen})
    save_followed(cursors, "mastodon", {"tag:vote": seen, "tag:flood": seen})
    assert load_followed(cursors, "mastodon") == {"tag:flood": seen, "tag:vote": seen}
    save_followed(cursors, "bluesky", {"tag:vote": seen, "tag:flood": seen})
    names = [s.name for s in pull_specs(collection, cursors, ("reddit", "mastodon", "bluesky"))]
    assert names == [
        "reddit:r/politics/new",
        "reddit:r/politics/comments",
        "mastodon:a.example/public",
        "mastodon:b.example/public",
        "mastodon:b.example/tag:vote",
        "bluesky:search/latest/#vote",  # the Jetstream stream is a worker's, not a pull's
        "reddit:thread/abc12",
        "mastodon:a.example/tag:flood",
        "mastodon:b.example/tag:flood",
        "mastodon:a.example/tag:vote",  # b.example/tag:vote is in the file already: pulled once
        "bluesky:search/latest/#flood",  # #vote is in the file already
    ]
    [flood] = [s for s in pull_specs(collection, cursors, ("bluesky",)) if "flood" in s.name]
    assert flood.params["endpoint"] == "http://127.0.0.1:9"  # the file's AppView


def test_each_spec_gets_the_connector_that_runs_it() -> None:
    collection = load_collection(FILE)
    cursors = MemoryCursors()
    save_followed(cursors, "reddit", {"thread:reddit:abc12": datetime(2026, 12, 4, tzinfo=UTC)})
    connectors = [connector_for(Settings(), s) for s in pull_specs(collection, cursors, ("reddit",))]
    assert [c.cursor_key for c in connectors] == [
        "reddit:r/politics/new",
        "reddit:r/politics/comments",
        "reddit:thread/abc12",
    ]
    # a scheduled pass takes the comment stream's news once; following for ever is the CLI's stream
    assert [c.streaming for c in connectors] == [False, False, False]
    [search] = [connector_for(Settings(), s) for s in pull_specs(collection, cursors, ("bluesky",))]
    assert search.cursor_key == "bluesky:search/latest/#vote" and not search.streaming
