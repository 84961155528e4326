"""`flockwatch export ...`: posts, cascades and coordination clusters as files for pandas, Gephi and
threat-intelligence tools (the API's export routes, from the command line)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flockwatch.cli.store_files import store, write_file

export_app = typer.Typer(
    help="Exports: posts as CSV/JSONL/Parquet, cascades and clusters as GEXF/GraphML (Gephi), clusters as STIX 2.1.",
    no_args_is_help=True,
)

Output = Annotated[Path, typer.Option("--output", "-o", help="Where to write the file.")]


@export_app.command("posts")
def export_posts(
    output: Output,
    fmt: Annotated[str, typer.Option("--format", help="csv, jsonl or parquet.")] = "csv",
    q: Annotated[str, typer.Option("--q", help="Words (simple query syntax), as the API's q.")] = "",
    platform: Annotated[list[str] | None, typer.Option("--platform", help="Only these platforms.")] = None,
    hashtag: Annotated[list[str] | None, typer.Option("--hashtag", help="Only posts with these hashtags.")] = None,
    narrative: Annotated[list[str] | None, typer.Option("--narrative", help="Only these narratives.")] = None,
    cluster: Annotated[list[str] | None, typer.Option("--cluster", help="Only these clusters' accounts.")] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=100_000, help="At most this many, newest first.")
    ] = 10_000,
) -> None:
    """Posts matching words and filters, with their scores, one row each."""
    from flockwatch.api.export_views import posts_export
    from flockwatch.api.post_query import PostSearch

    def write() -> bytes:
        search = PostSearch(
            q, platforms=platform or [], hashtags=hashtag or [], narratives=narrative or [], clusters=cluster or []
        ).check()
        return posts_export(store(), search, fmt, limit)

    write_file(write, output)


@export_app.command("cascade")
def export_cascade(
    post_key: Annotated[str, typer.Argument(help="A post of the cascade, platform:id.")],
    output: Output,
    fmt: Annotated[
        str, typer.Option("--format", help="gexf, graphml (Gephi) or csv, jsonl, parquet (events).")
    ] = "gexf",
) -> None:
    """A post's cascade: its reshare tree for Gephi, or its events as a table."""
    from flockwatch.api.export_views import cascade_export

    write_file(lambda: cascade_export(store(), post_key, fmt), output)


@export_app.command("cluster")
def export_cluster(
    cluster_id: Annotated[str, typer.Argument(help="The coordination cluster's id.")],
    output: Output,
    fmt: Annotated[str, typer.Option("--format", help="gexf, graphml, stix, or csv, jsonl, parquet (edges).")] = "gexf",
) -> None:
    """A coordination cluster for Gephi, as a validated STIX 2.1 bundle with DISARM techniques, or its edges."""
    from flockwatch.api.export_views import cluster_export

    write_file(lambda: cluster_export(store(), cluster_id, fmt), output)
