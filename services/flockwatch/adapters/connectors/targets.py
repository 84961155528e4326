"""From a collection file's targets (and what the trending pass added) to connectors, and a pass over them."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from flockwatch.adapters.connectors.base import CollectReport, Connector
from flockwatch.adapters.connectors.cursors import CursorStore
from flockwatch.adapters.connectors.http_api import ApiError
from flockwatch.adapters.connectors.runner import run_connector
from flockwatch.adapters.connectors.sink import RecordSink
from flockwatch.collect.collection_file import CollectionFile, TargetSpec, plan, unique
from flockwatch.config import Settings

log = logging.getLogger(__name__)

# Where the trending pass keeps a source's additions (target → when last seen rising), beside the cursors.
FOLLOWED_KEY = "trending:{source}"


def connector_for(settings: Settings, spec: TargetSpec) -> Connector:
    """The connector that runs ``spec``."""
    p = spec.params
    if spec.source == "reddit":
        from flockwatch.adapters.connectors import reddit

        if "thread" in p:
            return reddit.thread_connector(settings, post_id=p["thread"], endpoint=p.get("endpoint"))
        if p["listing"] == "comments":
            # A scheduled pass takes what is new since the cursor once; following for ever is the CLI's stream.
            return reddit.comments_connector(
                settings, subreddit=p["subreddit"], endpoint=p.get("endpoint"), follow=False
            )
        return reddit.listing_connector(
            settings, subreddit=p["subreddit"], listing=p["listing"], endpoint=p.get("endpoint")
        )
    if spec.source == "mastodon":
        from flockwatch.adapters.connectors import mastodon

        return mastodon.timeline_connector(settings, instance=p["instance"], timeline=p["timeline"], stream=False)
    if spec.source == "rss":
        from flockwatch.adapters.connectors import rss

        return rss.feed_connector(settings, feed=p["feed"])
    if spec.source == "video":
        from flockwatch.adapters.connectors import video

        return video.video_connector(settings, url=p["url"])
    if spec.source == "bluesky" and not spec.streaming:
        from flockwatch.adapters.connectors import bluesky_appview

        if "feed" in p:
            return bluesky_appview.feed_connector(settings, feed=p["feed"], endpoint=p.get("endpoint"))
        return bluesky_appview.search_connector(
            settings, query=p["search"], sort=p.get("sort", "latest"), endpoint=p.get("endpoint")
        )
    if spec.source == "bluesky":
        from flockwatch.adapters.connectors import bluesky

        return bluesky.jetstream_connector(
            settings,
            endpoint=p.get("endpoint"),
            collections=list(p.get("collections") or []),
            dids=list(p.get("dids") or []),
            start_cursor=None,
            idle_timeout_s=None,
        )
    raise ValueError(f"unknown source {spec.source!r}")


def load_followed(cursors: CursorStore, source: str) -> dict[str, datetime]:
    raw = cursors.load(FOLLOWED_KEY.format(source=source))
    if not raw:
        return {}
    return {target: datetime.fromisoformat(seen) for target, seen in json.loads(raw).items()}


def save_followed(cursors: CursorStore, source: str, followed: dict[str, datetime]) -> None:
    value = json.dumps({t: seen.isoformat() for t, seen in sorted(followed.items())})
    cursors.save(FOLLOWED_KEY.format(source=source), value)


def trending_specs(collection: CollectionFile, cursors: CursorStore, source: str) -> list[TargetSpec]:
    """The targets the trending pass added to ``source`` (see ``trending_pass``), as connector runs."""
    block = getattr(collection.sources, source, None)
    if block is None:
        return []
    specs: list[TargetSpec] = []
    for target in load_followed(cursors, source):
        kind, _, value = target.partition(":")
        if source == "reddit" and kind == "thread":
            post_id = value.split(":", 1)[1] if value.startswith("reddit:") else value
            endpoint = next((t.endpoint for t in block.targets), None)
            specs.append(TargetSpec("reddit", {"thread": post_id, "endpoint": endpoint}, block.every))
        elif source == "mastodon" and kind == "tag":
            for instance in dict.fromkeys(t.instance for t in block.targets):
                specs.append(TargetSpec("mastodon", {"instance": instance, "timeline": f"tag:{value}"}, block.every))
        elif source == "bluesky" and kind == "tag":
            endpoint = next((t.endpoint for t in block.targets if not t.streaming), None)
            search = {"search": f"#{value}", "sort": "latest", "endpoint": endpoint}
            specs.append(TargetSpec("bluesky", search, block.every))
    return specs


def pull_specs(collection: CollectionFile, cursors: CursorStore, sources: tuple[str, ...]) -> list[TargetSpec]:
    """What one scheduled pass pulls: the file's targets of ``sources`` (not its streams) and their trending
    additions."""
    specs = [spec for spec in plan(collection, sources) if not spec.streaming]
    for source in sources:
        specs += trending_specs(collection, cursors, source)
    return unique(specs)


def pull_all(
    settings: Settings,
    specs: list[TargetSpec],
    sink: RecordSink,
    cursors: CursorStore,
    make: Callable[[Settings, TargetSpec], Connector] = connector_for,
) -> list[CollectReport]:
    """Run each pull once; a target whose platform refuses is reported and the others still run."""
    reports = []
    for spec in specs:
        try:
            reports.append(run_connector(make(settings, spec), sink, cursors))
        except (ApiError, ValueError) as exc:
            log.warning("collect %s failed: %s", spec.name, exc)
            source, _, target = spec.name.partition(":")
            failed = CollectReport(source=source, target=target)
            failed.reasons[f"failed: {exc}"[:300]] = 1
            reports.append(failed)
    log.info("pulled %d targets at %s", len(specs), datetime.now(UTC).isoformat())
    return reports
