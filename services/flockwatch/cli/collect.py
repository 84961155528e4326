"""`flockwatch collect ...`: live collection from platforms, into Kafka or (``--output``) into a file.

With ``--output OUT.jsonl`` a command pulls once and writes one normalized ``Post`` JSON per line (rejects
with their reasons in ``OUT.dead-letters.jsonl``), needing no services. Without it, records go to the raw
topic and the connector's cursor to a compacted topic, so a restarted worker resumes where it stopped.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flockwatch.config import Settings, get_settings

if TYPE_CHECKING:
    from flockwatch.adapters.connectors.base import CollectReport, Connector
    from flockwatch.collect.collection_file import CollectionFile

collect_app = typer.Typer(
    help="Collect live posts from platforms (Reddit, Mastodon, Bluesky, RSS/Atom feeds, video platforms).",
    no_args_is_help=True,
)

Output = Annotated[
    Path | None,
    typer.Option(
        "--output",
        help="Pull once and write normalized Post JSON lines here (no services needed); "
        "rejects go to OUT.dead-letters.jsonl.",
    ),
]
Limit = Annotated[int | None, typer.Option("--limit", min=1, help="Stop after this many records.")]
Cursors = Annotated[
    Path | None,
    typer.Option(
        "--cursors",
        help="With --output: keep cursors in this JSON file and append to the output, so a rerun resumes "
        "where the last one stopped (no gap, no duplicate).",
    ),
]
Endpoint = Annotated[
    str | None, typer.Option("--endpoint", help="Another base URL for the platform (a mirror, a test server).")
]


@contextmanager
def _stop_on_signal() -> Iterator[threading.Event]:
    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(
    make: Callable[[Settings], Connector],
    output: Path | None,
    limit: int | None,
    cursor_file: Path | None = None,
) -> CollectReport:
    """Build the connector and run it into the file or into Kafka; print the report as JSON."""
    from flockwatch.adapters.connectors.cursors import FileCursors, MemoryCursors
    from flockwatch.adapters.connectors.http_api import ApiError
    from flockwatch.adapters.connectors.runner import run_connector
    from flockwatch.adapters.connectors.sink import FileSink

    settings = get_settings()
    try:
        connector = make(settings)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    with _stop_on_signal() as stop:
        try:
            if output is not None:
                sink = FileSink(output, resume=cursor_file is not None)
                try:
                    cursors = FileCursors(cursor_file) if cursor_file else MemoryCursors()
                    report = run_connector(connector, sink, cursors, limit=limit, should_stop=stop.is_set)
                finally:
                    sink.close()
            else:
                from flockwatch.adapters.connectors.scheduled import kafka_outputs

                wait_s = None if connector.streaming else settings.service_wait_s
                with kafka_outputs(settings, wait_s) as (kafka_sink, kafka_cursors):
                    report = run_connector(connector, kafka_sink, kafka_cursors, limit=limit, should_stop=stop.is_set)
        except ApiError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
    typer.echo(json.dumps({**report.__dict__, "output": str(output) if output else None}, default=str))
    return report


IdleTimeout = Annotated[
    float | None,
    typer.Option(
        "--idle-timeout",
        min=0.1,
        help="Streams only: stop after this many seconds without a new item (default with --output: 10).",
    ),
]


def _idle(idle_timeout: float | None, output: Path | None) -> float | None:
    return idle_timeout if idle_timeout is not None else (10.0 if output is not None else None)


@collect_app.command("reddit")
def reddit(
    subreddit: Annotated[str | None, typer.Option("--subreddit", help="Subreddit name, without r/.")] = None,
    listing: Annotated[
        str, typer.Option("--listing", help="hot, new or rising; comments: the subreddit's comment stream.")
    ] = "hot",
    thread: Annotated[
        str | None,
        typer.Option("--thread", help="A submission id (48dlnt or t3_48dlnt): pull it with its comment tree."),
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", help="Replaces both the OAuth and the API base URL (a test server).")
    ] = None,
    output: Output = None,
    limit: Limit = None,
    cursors: Cursors = None,
    idle_timeout: IdleTimeout = None,
) -> None:
    """Reddit listings (hot, new, rising) of a subreddit, its comment stream, or one thread, with app-only OAuth
    from the settings."""
    from flockwatch.adapters.connectors import reddit as connector

    if (subreddit is None) == (thread is None):
        typer.echo("error: give --subreddit NAME (with --listing) or --thread ID", err=True)
        raise typer.Exit(2)

    def make(settings: Settings) -> Connector:
        if thread is not None:
            return connector.thread_connector(settings, post_id=thread, endpoint=endpoint)
        name = subreddit or ""
        if listing == "comments":
            idle = _idle(idle_timeout, output)
            return connector.comments_connector(settings, subreddit=name, endpoint=endpoint, idle_timeout_s=idle)
        return connector.listing_connector(settings, subreddit=name, listing=listing, endpoint=endpoint)

    run(make, output, limit, cursors)


@collect_app.command("mastodon")
def mastodon(
    instance: Annotated[str, typer.Option("--instance", help="The instance's base URL, e.g. https://mastodon.social.")],
    timeline: Annotated[
        str,
        typer.Option(
            "--timeline", help="public, local, tag:NAME, list:ID, trends (statuses), trends:tags or trends:links."
        ),
    ] = "public",
    stream: Annotated[
        bool, typer.Option("--stream", help="Follow the streaming API (server-sent events) instead of pulling.")
    ] = False,
    output: Output = None,
    limit: Limit = None,
    cursors: Cursors = None,
    idle_timeout: IdleTimeout = None,
) -> None:
    """A Mastodon instance's timelines and trends (pulls), or its streaming API (--stream)."""
    from flockwatch.adapters.connectors import mastodon as connector

    idle = _idle(idle_timeout, output) if stream else None
    run(
        lambda s: connector.timeline_connector(
            s, instance=instance, timeline=timeline, stream=stream, idle_timeout_s=idle
        ),
        output,
        limit,
        cursors,
    )


@collect_app.command("bluesky")
def bluesky(
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint",
            help="The Jetstream ws(s):// URL; with --feed or --search, the AppView's (or PDS's) http(s) base URL.",
        ),
    ] = None,
    collection: Annotated[
        list[str] | None, typer.Option("--collection", help="Collections to ask for (default: posts and reposts).")
    ] = None,
    did: Annotated[list[str] | None, typer.Option("--did", help="Only these accounts' events (repeatable).")] = None,
    cursor: Annotated[
        int | None, typer.Option("--cursor", help="Start from this time_us (microseconds) instead of now.")
    ] = None,
    feed: Annotated[
        str | None,
        typer.Option(
            "--feed", help="Pull a feed instead: at://DID/app.bsky.feed.generator/NAME (or its bsky.app link)."
        ),
    ] = None,
    search: Annotated[
        str | None, typer.Option("--search", help="Pull the posts matching this search query instead.")
    ] = None,
    sort: Annotated[str, typer.Option("--sort", help="With --search: latest (new since the last pull) or top.")] = (
        "latest"
    ),
    pages: Annotated[int, typer.Option("--pages", min=1, max=100, help="With --feed/--search: pages per pull.")] = 5,
    idle_timeout: IdleTimeout = None,
    output: Output = None,
    limit: Limit = None,
    cursors: Cursors = None,
) -> None:
    """The Bluesky Jetstream firehose (websocket), reconnecting from its cursor, until stopped or --limit; or one
    pull of a feed (--feed) or a search (--search) from the AppView."""
    from flockwatch.adapters.connectors import bluesky as connector
    from flockwatch.adapters.connectors import bluesky_appview as appview

    if feed is not None and search is not None:
        typer.echo("error: give --feed or --search, not both", err=True)
        raise typer.Exit(2)
    if feed is not None or search is not None:
        if collection or did or cursor is not None:
            typer.echo("error: --collection, --did and --cursor are for the Jetstream stream", err=True)
            raise typer.Exit(2)

        def pull(s: Settings) -> Connector:
            if feed is not None:
                return appview.feed_connector(s, feed=feed, endpoint=endpoint, max_pages=pages)
            return appview.search_connector(s, query=search or "", sort=sort, endpoint=endpoint, max_pages=pages)

        run(pull, output, limit, cursors)
        return
    idle = _idle(idle_timeout, output)
    run(
        lambda s: connector.jetstream_connector(
            s, endpoint=endpoint, collections=collection or [], dids=did or [], start_cursor=cursor, idle_timeout_s=idle
        ),
        output,
        limit,
        cursors,
    )


@collect_app.command("rss")
def rss(
    feed: Annotated[str, typer.Option("--feed", help="The RSS or Atom feed's URL.")],
    output: Output = None,
    limit: Limit = None,
    cursors: Cursors = None,
) -> None:
    """An RSS/Atom news feed: articles as posts, links canonicalised, conditional GET (ETag, Last-Modified)."""
    from flockwatch.adapters.connectors import rss as connector

    run(lambda s: connector.feed_connector(s, feed=feed), output, limit, cursors)


@collect_app.command("video")
def video(
    url: Annotated[str, typer.Option("--url", help="A channel, playlist or search results page.")],
    output: Output = None,
    limit: Limit = None,
    cursors: Cursors = None,
) -> None:
    """Video-platform channels, playlists and searches through yt-dlp (metadata only; media is fetched later)."""
    from flockwatch.adapters.connectors import video as connector

    run(lambda s: connector.video_connector(s, url=url), output, limit, cursors)


CollectionPath = Annotated[
    Path | None,
    typer.Option("--file", help="The collection file (default: FLOCKWATCH_COLLECTION_FILE)."),
]


def _collection(path: Path | None, settings: Settings) -> CollectionFile:
    from flockwatch.collect.collection_file import read_collection
    from flockwatch.yamlconf import ConfigError

    path = path or settings.collection_file
    if path is None:
        typer.echo("error: no collection file: pass --file or set FLOCKWATCH_COLLECTION_FILE", err=True)
        raise typer.Exit(2)
    try:
        return read_collection(path)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc


@collect_app.command("check")
def check(file: Annotated[Path, typer.Argument(help="The collection file to validate.")]) -> None:
    """Validate a collection file (every problem with its line) and list the connector runs it asks for."""
    from flockwatch.collect.collection_file import plan

    collection = _collection(file, get_settings())
    for spec in plan(collection):
        when = f"stream (flockwatch collect {spec.source})" if spec.streaming else f"every {spec.every}"
        typer.echo(f"{spec.name}\t{when}")


@collect_app.command("run")
def run_file(
    file: CollectionPath = None,
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            help="Only these pull sources (reddit, mastodon, rss, video; bluesky: feeds, searches).",
        ),
    ] = None,
    output: Output = None,
    cursors: Cursors = None,
) -> None:
    """Pull every target of the collection file once (and what the trending pass added), into Kafka or --output."""
    from flockwatch.adapters.connectors.cursors import FileCursors, MemoryCursors
    from flockwatch.adapters.connectors.sink import FileSink
    from flockwatch.adapters.connectors.targets import pull_all, pull_specs
    from flockwatch.collect.collection_file import PULL_SOURCES

    settings = get_settings()
    collection = _collection(file, settings)
    wanted = tuple(source or PULL_SOURCES)
    unknown = sorted(set(wanted) - set(PULL_SOURCES))
    if unknown:
        typer.echo(f"error: not pull sources: {', '.join(unknown)} (pull sources: {', '.join(PULL_SOURCES)})", err=True)
        raise typer.Exit(2)
    if output is not None:
        store = FileCursors(cursors) if cursors else MemoryCursors()
        sink = FileSink(output, resume=cursors is not None)
        try:
            reports = pull_all(settings, pull_specs(collection, store, wanted), sink, store)
        finally:
            sink.close()
    else:
        from flockwatch.adapters.connectors.scheduled import pull_into_kafka

        reports = pull_into_kafka(settings, collection, wanted)
    for report in reports:
        typer.echo(json.dumps(report.__dict__, default=str))
    if reports and all(r.reasons and not r.records for r in reports):
        raise typer.Exit(1)


@collect_app.command("trending")
def trending(
    file: CollectionPath = None,
    cursors: Cursors = None,
) -> None:
    """Run the trending pass: follow what is rising now (platform trend lists, engagement velocity), capped."""
    settings = get_settings()
    collection = _collection(file, settings)
    if cursors is not None:
        from datetime import UTC, datetime

        from flockwatch.adapters.connectors.cursors import FileCursors
        from flockwatch.adapters.connectors.scheduled import recent_snapshots
        from flockwatch.adapters.connectors.trending_pass import trending_pass

        now = datetime.now(UTC)
        reports = trending_pass(settings, collection, FileCursors(cursors), recent_snapshots(settings, now), now)
    else:
        from flockwatch.adapters.connectors.scheduled import trending_with_kafka_cursors

        reports = trending_with_kafka_cursors(settings, collection)
    for report in reports:
        typer.echo(json.dumps(report.__dict__, default=str))


@collect_app.command("growth")
def growth(
    post_key: Annotated[str, typer.Argument(help="The post's key, platform:id (as `flockwatch search` shows it).")],
    csv_out: Annotated[
        bool, typer.Option("--csv", help="CSV (collected_at and each count) instead of JSON lines.")
    ] = False,
) -> None:
    """A collected post's engagement over time: one snapshot per time a connector saw it, oldest first."""
    import csv
    import sys

    from flockwatch.store import prepare_store
    from flockwatch.store.engagement import EngagementRepository

    history = EngagementRepository(prepare_store(get_settings()).engine).history(post_key)
    if not history:
        typer.echo(f"no engagement snapshots for {post_key} (only live-collected posts have them)", err=True)
        raise typer.Exit(1)
    if csv_out:
        columns = ["collected_at", "likes", "reshares", "replies", "quotes", "views"]
        writer = csv.DictWriter(sys.stdout, columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(history)
        return
    for snapshot in history:
        typer.echo(json.dumps(snapshot))
