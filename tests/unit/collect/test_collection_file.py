"""The collection file: every mistake named with its line; a valid file flattens into one run per target."""

from __future__ import annotations

from datetime import timedelta

import pytest

from flockwatch.collect.collection_file import load_collection, plan
from flockwatch.yamlconf import ConfigError

GOOD = """\
sources:
  reddit:
    every: 10m
    trending: {max_added: 3}
    targets:
      - subreddit: politics
        listings: [hot, rising]
      - subreddit: news
  mastodon:
    targets:
      - instance: https://mastodon.example/
        timelines: [public, "tag:election", trends]
  rss:
    targets:
      - feed: https://news.example/rss.xml
  video:
    targets:
      - url: ytsearch5:election fraud
  bluesky:
    every: 20m
    targets:
      - collections: [app.bsky.feed.post]
      - feed: https://bsky.app/profile/did:plc:z72i7hdynmk6r22z27h6tvur/feed/whats-hot
      - search: "election fraud"
        sort: top
        endpoint: https://appview.example
"""


def test_a_valid_file_plans_one_run_per_target() -> None:
    specs = plan(load_collection(GOOD))
    assert [s.name for s in specs] == [
        "reddit:r/politics/hot",
        "reddit:r/politics/rising",
        "reddit:r/news/hot",
        "mastodon:mastodon.example/public",
        "mastodon:mastodon.example/tag:election",
        "mastodon:mastodon.example/trends",
        "rss:https://news.example/rss.xml",
        "video:ytsearch5:election fraud",
        "bluesky:default",
        "bluesky:feed/at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.generator/whats-hot",
        "bluesky:search/top/election fraud",
    ]
    assert [s.streaming for s in specs] == [False] * 8 + [True, False, False]
    assert specs[-1].params == {"search": "election fraud", "sort": "top", "endpoint": "https://appview.example"}
    assert specs[0].every == timedelta(minutes=10) and specs[3].every == timedelta(minutes=15)
    assert specs[-1].every == timedelta(minutes=20)
    assert load_collection(GOOD).sources.reddit.trending.max_added == 3  # type: ignore[union-attr]
    assert [s.name for s in plan(load_collection(GOOD), ("rss",))] == ["rss:https://news.example/rss.xml"]


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ("sources:\n  reddit:\n    targets:\n      - subreddit: a b\n", 4, "subreddit"),
        ("sources:\n  reddit:\n    every: 5s\n    targets: [{subreddit: ok}]\n", 3, "once a minute"),
        (
            "sources:\n  mastodon:\n    targets:\n      - instance: https://m.example\n        timelines: [home]\n",
            5,
            "home",
        ),
        ("sources:\n  rss:\n    targets:\n      - feed: file:///etc/passwd\n", 4, "http(s) URL"),
        ("sources:\n  twitter: {}\n", 2, "twitter"),
        ("sources:\n  rss:\n    targets: []\n", 3, "at least 1"),
        (
            "sources:\n  rss:\n    targets:\n      - feed: https://a.example\n"
            "      - feed: https://a.example\n    targets: []\n",
            6,
            "duplicate",
        ),
        (
            "sources:\n  bluesky:\n    targets:\n      - feed: at://did:plc:x/app.bsky.feed.post/1\n",
            4,
            "feed generator",
        ),
        ("sources:\n  bluesky:\n    targets:\n      - search: q\n        dids: [did:plc:x]\n", 4, "Jetstream"),
        ("sources:\n  bluesky:\n    targets:\n      - search: q\n        endpoint: wss://j.example\n", 4, "http(s)"),
        ("sources:\n  bluesky:\n    targets:\n      - endpoint: https://j.example\n", 4, "ws(s)://"),
        (
            "sources:\n  bluesky:\n    targets:\n      - search: q\n        feed: at://did:plc:x/app.bsky.feed.generator/f\n",
            4,
            "not both",
        ),
        ("- just a list\n", 1, "mapping"),
        ("sources: [unclosed\n", None, "invalid YAML"),
    ],
)
def test_mistakes_are_named_with_their_line(text: str, line: int | None, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_collection(text, "c.yaml")
    message = str(caught.value)
    assert says in message
    if line is not None:
        assert message.startswith(f"c.yaml:{line}:"), message
