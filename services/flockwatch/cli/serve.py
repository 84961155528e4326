"""`flockwatch serve` (the API and dashboard) and `flockwatch token ...` (who may use them)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from flockwatch.config import get_settings

token_app = typer.Typer(help="API tokens: create (shown once), list, revoke.", no_args_is_help=True)


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option("--role", help="admin, analyst or researcher.")],
    name: Annotated[str, typer.Option("--name", help="Who holds it (named in the audit log).")],
) -> None:
    """Print a new token on stdout (only its hash is kept: store it now)."""
    from flockwatch.api.access import parse_role
    from flockwatch.api.app import api_paths

    tokens, audit = api_paths(get_settings())
    try:
        token = tokens.create(name, parse_role(role))
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    audit.append("cli", "admin", "token_create", name, {"role": role})
    typer.echo(token)


@token_app.command("list")
def token_list() -> None:
    """Token names, roles and creation times (never the tokens)."""
    from flockwatch.api.app import api_paths

    tokens, _ = api_paths(get_settings())
    for entry in tokens.listing():
        typer.echo(json.dumps(entry))


@token_app.command("revoke")
def token_revoke(name: Annotated[str, typer.Argument(help="The token's name.")]) -> None:
    """Revoke a token at once (a running server sees it on its next request)."""
    from flockwatch.api.app import api_paths

    tokens, audit = api_paths(get_settings())
    if not tokens.revoke(name):
        typer.echo(f"error: no token named {name!r}", err=True)
        raise typer.Exit(1)
    audit.append("cli", "admin", "token_revoke", name)
    typer.echo(f"revoked {name}")


def serve(
    host: Annotated[str | None, typer.Option("--host", help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", min=1, max=65535, help="Port (default 8000).")] = None,
) -> None:
    """Serve the dashboard at / and the API under /api/v1/ (bearer tokens from `flockwatch token create`) until
    stopped."""
    import uvicorn

    from flockwatch.api.app import create_app

    settings = get_settings()
    bind_host, bind_port = host or settings.api_host, port or settings.api_port
    base = f"http://{bind_host}:{bind_port}"
    typer.echo(f"Flockwatch dashboard on {base}/, API on {base}/api/v1/ (OpenAPI: /openapi.json)", err=True)
    uvicorn.run(create_app(settings), host=bind_host, port=bind_port, log_level="warning", access_log=False)
