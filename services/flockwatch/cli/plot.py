"""`flockwatch plot ...`: the API's plots as files (PNG or SVG), from the store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from flockwatch.cli.store_files import store, write_file

plot_app = typer.Typer(
    help="Plots as PNG or SVG files: a post's spread, narratives' volume, a cluster.", no_args_is_help=True
)

Output = Annotated[Path, typer.Option("--output", "-o", help="Where to write it (.png or .svg; --format wins).")]
Format = Annotated[str | None, typer.Option("--format", help="png or svg (default: from --output's suffix, else png).")]


def _write(draw: Callable[[str], bytes], output: Path, fmt: str | None) -> None:
    chosen = (fmt or output.suffix.lstrip(".") or "png").lower()
    if chosen not in ("png", "svg"):
        typer.echo(f"error: format must be png or svg, not {chosen!r}", err=True)
        raise typer.Exit(2)
    write_file(lambda: draw(chosen), output, chosen)


@plot_app.command("spread")
def plot_spread(
    post_key: Annotated[str, typer.Argument(help="The post's key, platform:id.")],
    output: Output,
    kind: Annotated[
        str, typer.Option("--kind", help="tree (the reshare tree) or timeline (reshares over time).")
    ] = "tree",
    fmt: Format = None,
) -> None:
    """A post's cascade: its reshare tree or its reshares over time."""
    from flockwatch.api.figures import spread_figure

    if kind not in ("tree", "timeline"):
        typer.echo(f"error: --kind is tree or timeline, not {kind!r}", err=True)
        raise typer.Exit(2)
    _write(lambda f: spread_figure(store(), post_key, "timeline" if kind == "timeline" else "tree", f), output, fmt)


@plot_app.command("narrative")
def plot_narrative(
    narrative_ids: Annotated[list[str], typer.Argument(help="One or several narrative ids.")],
    output: Output,
    interval: Annotated[str, typer.Option("--interval", help="hour, day or week.")] = "day",
    fmt: Format = None,
) -> None:
    """Narratives' posts per interval, named by their representative texts."""
    from flockwatch.api.figures import narrative_figure

    if interval not in ("hour", "day", "week"):
        typer.echo(f"error: --interval is hour, day or week, not {interval!r}", err=True)
        raise typer.Exit(2)
    _write(lambda f: narrative_figure(store(), narrative_ids, f, interval), output, fmt)


@plot_app.command("cluster")
def plot_cluster(
    cluster_id: Annotated[str, typer.Argument(help="The coordination cluster's id.")],
    output: Output,
    fmt: Format = None,
) -> None:
    """A coordination cluster: its accounts and the edges between them, coloured by kind."""
    from flockwatch.api.figures import cluster_figure

    _write(lambda f: cluster_figure(store(), cluster_id, f), output, fmt)
