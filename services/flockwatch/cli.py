"""The `flockwatch` command line: a thin layer that parses flags and calls core functions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from flockwatch.config import get_settings

app = typer.Typer(
    help="Flockwatch: ingest posts, score them, graph their spread, store, search and alert.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
worker_app = typer.Typer(help="Long-running Kafka workers (one consumer group each).", no_args_is_help=True)
app.add_typer(worker_app, name="worker")

Services = Annotated[
    list[str] | None,
    typer.Argument(help="Which services: kafka, opensearch (default: both)."),
]


def _echo_json(obj: object) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


@app.command()
def up(services: Services = None) -> None:
    """Start single-node Kafka (KRaft) and OpenSearch on loopback; wait until healthy."""
    from flockwatch import local_services

    _echo_json(local_services.up(get_settings(), services or list(local_services.SERVICES)))


@app.command()
def down(
    services: Services = None,
    purge: Annotated[bool, typer.Option(help="Also delete their data and logs.")] = False,
) -> None:
    """Stop the local services cleanly."""
    from flockwatch import local_services

    _echo_json(local_services.down(get_settings(), services or list(local_services.SERVICES), purge=purge))


@app.command()
def status() -> None:
    """Show whether each local service is running and healthy."""
    from flockwatch import local_services

    report = local_services.status(get_settings())
    _echo_json(report)
    if not all(s.get("healthy") for s in report.values()):
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()


