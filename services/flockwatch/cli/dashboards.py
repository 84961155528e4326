"""`flockwatch dashboards ...`: the starter dashboard and index patterns, into Kibana or OpenSearch Dashboards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from flockwatch.config import Settings, get_settings
from flockwatch.dashboards import DEFAULT_PORT, Target, default_target, dumps, load, ndjson_path, problems, with_prefix

dashboards_app = typer.Typer(
    help="Saved objects (index patterns, a starter dashboard) for Kibana or OpenSearch Dashboards.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

TargetOption = Annotated[
    Target | None,
    typer.Option(
        "--target",
        help="kibana or opensearch-dashboards (default: kibana when FLOCKWATCH_STORE_ENGINE=elasticsearch, "
        "else opensearch-dashboards).",
    ),
]


def _objects(settings: Settings, target: Target) -> list[dict[str, Any]]:
    """The target's committed objects, for the configured index prefix; exit 2 if the file is missing or broken."""
    path = ndjson_path(settings.infra_dir, target)
    try:
        objects = with_prefix(load(path.read_text(encoding="utf-8")), settings.index_prefix)
    except (OSError, ValueError) as exc:
        typer.echo(f"error: {path}: {exc}", err=True)
        raise typer.Exit(2) from exc
    found = problems(objects, settings.index_prefix)
    if found:
        typer.echo(f"error: {path}: {found[0]} ({len(found)} problems)", err=True)
        raise typer.Exit(2)
    return objects


@dashboards_app.command("install")
def install(
    target: TargetOption = None,
    url: Annotated[
        str | None,
        typer.Option("--url", help=f"The app's base URL (default: http://FLOCKWATCH_HOST:{DEFAULT_PORT})."),
    ] = None,
    space: Annotated[
        str | None, typer.Option("--space", help="A Kibana space id (default: the default space).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite/--no-overwrite", help="Replace objects installed before (same ids).")
    ] = True,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the app's answer.")] = 30.0,
) -> None:
    """Import the index patterns and the "Flockwatch overview" dashboard; one JSON line with the counts.

    Credentials and TLS are the store's (FLOCKWATCH_STORE_USERNAME/PASSWORD or API_KEY, STORE_CA_FILE). Exit 1,
    with one line naming the URL, when the app is unreachable, refuses the request or imports not every object.
    """
    from flockwatch.adapters.client_security import http_auth_header, ssl_context
    from flockwatch.adapters.dashboards_import import DashboardsImportError, import_objects

    settings = get_settings()
    target = target or default_target(settings.store_engine)
    if space and target is not Target.kibana:
        raise typer.BadParameter("spaces are Kibana's; OpenSearch Dashboards has none", param_hint="--space")
    objects = _objects(settings, target)
    base = (url or f"http://{settings.host}:{DEFAULT_PORT}").rstrip("/")
    try:
        result = import_objects(
            base,
            target,
            dumps(objects).encode(),
            space=space,
            overwrite=overwrite,
            headers=http_auth_header(settings),
            context=ssl_context(settings) if base.startswith("https://") else None,
            timeout_s=timeout,
        )
    except DashboardsImportError as exc:
        if exc.result is not None:
            typer.echo(json.dumps({"target": target.value, "url": base, **exc.result}))
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(json.dumps({"target": target.value, "url": base, "objects": len(objects), **result}))


@dashboards_app.command("export")
def export(
    output: Annotated[Path, typer.Option("--output", help="Where to write the NDJSON.")],
    target: TargetOption = None,
) -> None:
    """Write the saved objects for the configured index prefix to a file, to import by hand.

    In the app: Stack Management (Dashboards Management) → Saved objects → Import; or its import API."""
    settings = get_settings()
    target = target or default_target(settings.store_engine)
    objects = _objects(settings, target)
    output.write_text(dumps(objects), encoding="utf-8")
    typer.echo(json.dumps({"target": target.value, "output": str(output), "objects": len(objects)}))
