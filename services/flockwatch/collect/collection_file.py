"""The collection file: what Flockwatch follows on each platform, how often, and how much trending may add.

```yaml
sources:
  reddit:
    every: 10m                 # how often the pulls run (its Airflow DAG's schedule)
    trending: {max_added: 10}  # the trending pass may follow up to 10 rising threads
    targets:
      - subreddit: politics
        listings: [hot, rising, new]
  mastodon:
    targets:
      - instance: https://mastodon.social
        timelines: [public, "tag:election", trends]
  rss:
    targets:
      - feed: https://www.example.org/news/rss.xml
  video:
    targets:
      - url: https://www.youtube.com/@somechannel/videos
  bluesky:
    every: 15m                 # for its feed and search pulls
    targets:
      - collections: [app.bsky.feed.post, app.bsky.feed.repost]   # the Jetstream stream: a worker, not a schedule
        dids: []
      - feed: at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.generator/whats-hot
      - search: "election fraud"
        sort: latest
```

:func:`load_collection` validates the file and reports every problem as ``file:line: path: reason``;
:func:`plan` flattens it into :class:`TargetSpec`s, one per connector run (one listing of one subreddit...).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from flockwatch.replay.bluesky_appview import feed_uri
from flockwatch.yamlconf import ConfigError, Problem, load_yaml, parse_duration, validate

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
PULL_SOURCES = ("reddit", "mastodon", "rss", "video", "bluesky")
# Sources with a stream target (a long-running worker): Bluesky's Jetstream. Its feeds and searches are pulls.
STREAM_SOURCES = ("bluesky",)
SOURCES = PULL_SOURCES

_MASTODON_TIMELINE = re.compile(
    r"^(public|local|trends|trends:tags|trends:links|tag:[^\s/?#]{1,100}|list:[0-9]{1,30})$"
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError(f"must be an http(s) URL, not {value!r}")
    return value


RedditListing = Literal["hot", "new", "rising", "comments"]


def _hot() -> list[RedditListing]:
    return ["hot"]


class RedditTarget(_Strict):
    subreddit: str = Field(pattern=r"^[A-Za-z0-9_]{2,21}$")
    listings: list[RedditListing] = Field(default_factory=_hot, min_length=1)
    endpoint: str | None = None


class MastodonTarget(_Strict):
    instance: str
    timelines: list[str] = Field(default_factory=lambda: ["public"], min_length=1)

    @field_validator("instance")
    @classmethod
    def _instance(cls, value: str) -> str:
        return _http_url(value).rstrip("/")

    @field_validator("timelines")
    @classmethod
    def _timelines(cls, value: list[str]) -> list[str]:
        for timeline in value:
            if not _MASTODON_TIMELINE.match(timeline):
                known = "public, local, tag:NAME, list:ID, trends, trends:tags, trends:links"
                raise ValueError(f"unknown timeline {timeline!r}: {known}")
        return value


class RssTarget(_Strict):
    feed: str

    @field_validator("feed")
    @classmethod
    def _feed(cls, value: str) -> str:
        return _http_url(value)


class VideoTarget(_Strict):
    url: str

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if re.match(r"^[a-z]+search[0-9]*:", value):  # ytsearch10:QUERY and its siblings
            return value
        return _http_url(value)


class BlueskyTarget(_Strict):
    """The Jetstream stream (``collections``, ``dids``; ``endpoint`` a ws(s):// URL), or a pull: a ``feed``
    generator's URI or a ``search`` query (``endpoint`` then an http(s) AppView)."""

    endpoint: str | None = Field(default=None, pattern=r"^(wss?|https?)://")
    collections: list[str] = Field(default_factory=list)
    dids: list[str] = Field(default_factory=list)
    feed: str | None = None
    search: str | None = Field(default=None, min_length=1, max_length=500)
    sort: Literal["latest", "top"] = "latest"

    @field_validator("feed")
    @classmethod
    def _feed(cls, value: str | None) -> str | None:
        return None if value is None else feed_uri(value)

    @model_validator(mode="after")
    def _one_kind(self) -> BlueskyTarget:
        if self.feed is not None and self.search is not None:
            raise ValueError("a target is a feed or a search, not both")
        pull = self.feed is not None or self.search is not None
        if pull and (self.collections or self.dids):
            raise ValueError("collections and dids are for the Jetstream stream, not for a feed or a search")
        if self.endpoint is not None and pull != self.endpoint.startswith("http"):
            wanted = "an http(s) AppView URL" if pull else "a ws(s):// Jetstream URL"
            raise ValueError(f"endpoint must be {wanted} for this target")
        if self.sort != "latest" and self.search is None:
            raise ValueError("sort is for searches")
        return self

    @property
    def streaming(self) -> bool:
        return self.feed is None and self.search is None


class Trending(_Strict):
    """How much the trending pass may add to what a source follows (0 turns it off)."""

    max_added: int = Field(default=10, ge=0, le=1000)
    # Added targets are dropped again once they have not been rising for this long.
    keep_for: Duration = timedelta(hours=24)


class _Source(_Strict):
    every: Duration = timedelta(minutes=15)
    trending: Trending = Field(default_factory=Trending)

    @field_validator("every")
    @classmethod
    def _every(cls, value: timedelta) -> timedelta:
        if value < timedelta(minutes=1):
            raise ValueError("pulls run at most once a minute (platforms rate-limit harder below that)")
        return value


class RedditSource(_Source):
    targets: list[RedditTarget] = Field(min_length=1)


class MastodonSource(_Source):
    targets: list[MastodonTarget] = Field(min_length=1)


class RssSource(_Source):
    targets: list[RssTarget] = Field(min_length=1)


class VideoSource(_Source):
    targets: list[VideoTarget] = Field(min_length=1)


class BlueskySource(_Source):
    targets: list[BlueskyTarget] = Field(min_length=1)


class Sources(_Strict):
    reddit: RedditSource | None = None
    mastodon: MastodonSource | None = None
    rss: RssSource | None = None
    video: VideoSource | None = None
    bluesky: BlueskySource | None = None


class CollectionFile(_Strict):
    sources: Sources


@dataclass(frozen=True)
class TargetSpec:
    """One connector run: ``source`` with keyword ``params`` for its connector factory."""

    source: str
    params: dict[str, Any] = field(hash=False)
    every: timedelta = timedelta(minutes=15)

    @property
    def name(self) -> str:
        """A short stable name (logs, reports), as the connector's cursor key: ``reddit:r/politics/hot``,
        ``mastodon:mastodon.social/tag:x``."""
        p = self.params
        if self.source == "reddit":
            if "thread" in p:
                return f"reddit:thread/{p['thread']}"
            return f"reddit:r/{p['subreddit']}/{p['listing']}"
        if self.source == "mastodon":
            host = re.sub(r"^https?://", "", p["instance"])
            return f"mastodon:{host}/{p['timeline']}"
        if self.source == "rss":
            return f"rss:{p['feed']}"
        if self.source == "video":
            return f"video:{p['url']}"
        if "feed" in p:
            return f"bluesky:feed/{p['feed']}"
        if "search" in p:
            return f"bluesky:search/{p['sort']}/{p['search']}"
        return f"bluesky:{p.get('endpoint') or 'default'}"

    @property
    def streaming(self) -> bool:
        """A long-running stream (a worker, ``flockwatch collect SOURCE``) rather than a scheduled pull."""
        return self.source in STREAM_SOURCES and not {"feed", "search"} & set(self.params)

    @property
    def key(self) -> str:
        """What makes two runs the same run (its name and every parameter): duplicates are pulled once."""
        return self.name + json.dumps(self.params, sort_keys=True, default=str)


def load_collection(text: str, source: str = "<collection>") -> CollectionFile:
    """The validated collection file; :class:`ConfigError` lists every problem with its line."""
    doc = load_yaml(text, source)
    if not isinstance(doc.value, dict) or not doc.value:
        raise ConfigError(source, [Problem(1, "", "a collection file is a mapping with a `sources:` key")])
    return validate(CollectionFile, doc, source)


def read_collection(path: Path) -> CollectionFile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [Problem(None, "", f"cannot read: {exc.strerror or exc}")]) from None
    return load_collection(text, str(path))


def plan(collection: CollectionFile, sources: tuple[str, ...] = SOURCES) -> list[TargetSpec]:
    """Every connector run the file asks for, in file order (duplicates dropped)."""
    specs: list[TargetSpec] = []
    s = collection.sources
    if s.reddit and "reddit" in sources:
        for r in s.reddit.targets:
            for listing in r.listings:
                pull = {"subreddit": r.subreddit, "listing": listing, "endpoint": r.endpoint}
                specs.append(TargetSpec("reddit", pull, s.reddit.every))
    if s.mastodon and "mastodon" in sources:
        for m in s.mastodon.targets:
            for timeline in m.timelines:
                specs.append(TargetSpec("mastodon", {"instance": m.instance, "timeline": timeline}, s.mastodon.every))
    if s.rss and "rss" in sources:
        specs += [TargetSpec("rss", {"feed": t.feed}, s.rss.every) for t in s.rss.targets]
    if s.video and "video" in sources:
        specs += [TargetSpec("video", {"url": t.url}, s.video.every) for t in s.video.targets]
    if s.bluesky and "bluesky" in sources:
        for b in s.bluesky.targets:
            if b.feed is not None:
                params: dict[str, Any] = {"feed": b.feed, "endpoint": b.endpoint}
            elif b.search is not None:
                params = {"search": b.search, "sort": b.sort, "endpoint": b.endpoint}
            else:
                params = {"endpoint": b.endpoint, "collections": b.collections, "dids": b.dids}
            specs.append(TargetSpec("bluesky", params, s.bluesky.every))
    return unique(specs)


def unique(specs: list[TargetSpec]) -> list[TargetSpec]:
    """``specs`` in order, each run once."""
    first: dict[str, TargetSpec] = {}
    for spec in specs:
        first.setdefault(spec.key, spec)
    return list(first.values())
