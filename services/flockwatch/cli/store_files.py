"""What `flockwatch plot` and `flockwatch export` share: the store, and writing a file made from it with the
errors a user can act on (nothing of that key, a bad option, the store down) as one line and exit 1."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from flockwatch.store import Store


def store() -> Store:
    from flockwatch.config import get_settings
    from flockwatch.store import open_store

    return open_store(get_settings())


def write_file(make: Callable[[], bytes], output: Path, what: str = "") -> None:
    from flockwatch.store.documents import StoreUnavailable

    try:
        body = make()
    except (LookupError, ValueError) as exc:  # BadQuery is a ValueError
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except StoreUnavailable as exc:
        typer.echo(f"error: the store is unavailable: {exc}", err=True)
        raise typer.Exit(1) from None
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(body)
    typer.echo(f"{output} ({len(body):,} bytes{', ' + what if what else ''})")
