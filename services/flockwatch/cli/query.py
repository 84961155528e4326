"""`flockwatch query ...`: the API's read routes from the command line, as JSON (posts one per line)."""

from __future__ import annotations

import json
from typing import Annotated, Any, NoReturn

import typer

from flockwatch.cli.store_files import store

query_app = typer.Typer(
    help="Query what the store holds, as the API does: posts, spread, narratives, clusters, accounts.",
    no_args_is_help=True,
)


def _echo(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@query_app.command("posts")
def query_posts(
    q: Annotated[str, typer.Option("--q", help='Words (simple query syntax: "phrase", -not, a|b).')] = "",
    platform: Annotated[list[str] | None, typer.Option("--platform")] = None,
    hashtag: Annotated[list[str] | None, typer.Option("--hashtag")] = None,
    narrative: Annotated[list[str] | None, typer.Option("--narrative")] = None,
    cluster: Annotated[list[str] | None, typer.Option("--cluster")] = None,
    min_machine_score: Annotated[float | None, typer.Option("--min-machine-score", min=0, max=1)] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 20,
) -> None:
    """Posts matching words and filters, newest first, one JSON object a line."""
    from flockwatch.api.export_views import matching_posts
    from flockwatch.api.post_query import BadQuery, PostSearch

    try:
        search = PostSearch(
            q, platforms=platform or [], hashtags=hashtag or [], narratives=narrative or [], clusters=cluster or [],
            min_machine_score=min_machine_score,
        ).check()  # fmt: skip
    except BadQuery as exc:
        _fail(str(exc))
    for post in matching_posts(store(), search, limit):
        typer.echo(json.dumps({k: v for k, v in post.items() if not k.startswith("_")}, default=str))


@query_app.command("spread")
def query_spread(post_key: Annotated[str, typer.Argument(help="A post's key, platform:id.")]) -> None:
    """The post's cascade: tree, metrics and timeline of reshares."""
    from flockwatch.api.lookups import cascade_of
    from flockwatch.api.spread import spread_history

    cascade = cascade_of(store(), post_key)
    if cascade is None:
        _fail(f"post {post_key} is in no cascade (unknown, or not seen by the graph stage yet)")
    _echo({"post_key": post_key, **spread_history(cascade)})


@query_app.command("narrative")
def query_narrative(
    narrative_id: Annotated[str, typer.Argument(help="The narrative's id.")],
    interval: Annotated[str, typer.Option("--interval", help="hour, day or week.")] = "day",
) -> None:
    """A narrative: what it says, its counts, its posts per interval and its earliest posts."""
    from flockwatch.api.lookups import earliest_posts, narrative_volume
    from flockwatch.store.documents import IndexKind

    found = store()
    doc = found.engine.get(IndexKind.narratives, narrative_id)
    if doc is None:
        _fail(f"no narrative {narrative_id}")
    if interval not in ("hour", "day", "week"):
        _fail(f"--interval is hour, day or week, not {interval!r}")
    timeline = narrative_volume(found, narrative_id, interval)
    _echo({**doc, "timeline": timeline, "earliest_posts": earliest_posts(found, narrative_id)})


@query_app.command("cluster")
def query_cluster(
    cluster_id: Annotated[str, typer.Argument(help="The coordination cluster's id.")],
    edges: Annotated[int, typer.Option("--edges", min=0, max=5000, help="At most this many edges.")] = 500,
) -> None:
    """A coordination cluster: its latest snapshot with the accounts of every window, and the edges between them."""
    from flockwatch.api.lookups import cluster_parts

    try:
        snapshot, between = cluster_parts(store(), cluster_id, edges)
    except LookupError as exc:
        _fail(str(exc))
    _echo({"cluster": snapshot, "edges": between})


@query_app.command("account")
def query_account(
    account_key: Annotated[str, typer.Argument(help="The account's key, platform:author_id.")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 20,
) -> None:
    """What the graph stage knows of an account, and its newest posts."""
    from flockwatch.api.export_views import matching_posts
    from flockwatch.api.post_query import PostSearch
    from flockwatch.store.documents import IndexKind

    found = store()
    doc = found.engine.get(IndexKind.accounts, account_key)
    posts = matching_posts(found, PostSearch(authors=[account_key]), limit)
    if doc is None and not posts:
        _fail(f"no account {account_key}")
    _echo({**(doc or {"key": account_key}), "posts": posts})
