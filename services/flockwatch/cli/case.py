"""`flockwatch case ...`: open a case, attach evidence and notes, show it, export its bundle (as the API does)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from flockwatch.cli.store_files import store, write_file

case_app = typer.Typer(
    help="Cases: gather posts, accounts, clusters, narratives, alerts and notes as evidence.", no_args_is_help=True
)

By = Annotated[str, typer.Option("--by", help="Who (named in the case and the API's audit log).")]


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _change(case_id: str, change: Any) -> dict[str, Any]:
    from flockwatch.cases import CaseError

    try:
        return store().cases.update(case_id, change)
    except KeyError:
        _fail(f"no case {case_id!r}")
    except CaseError as exc:
        _fail(str(exc))


@case_app.command("create")
def case_create(
    name: Annotated[str, typer.Option("--name", help="What the case is about.")],
    description: Annotated[str, typer.Option("--description", help="Longer context.")] = "",
    by: By = "cli",
) -> None:
    """Open a case and print its id."""
    from flockwatch.cases import CaseError, new_case

    try:
        case = new_case(name, description, by, datetime.now(UTC))
    except CaseError as exc:
        _fail(str(exc), 2)
    store().cases.create(case)
    typer.echo(case["case_id"])


@case_app.command("add")
def case_add(
    case_id: Annotated[str, typer.Argument(help="The case.")],
    kind: Annotated[str, typer.Argument(help="post, account, cluster, narrative, alert or cascade.")],
    ref: Annotated[str, typer.Argument(help="Its key: platform:id for posts, accounts and cascades; else its id.")],
    note: Annotated[str | None, typer.Option("--note", help="Why it is evidence.")] = None,
    by: By = "cli",
) -> None:
    """Attach an item to the case."""
    from flockwatch.cases import with_item

    now = datetime.now(UTC)
    case = _change(case_id, lambda c: with_item(c, kind, ref, by, now, note))
    typer.echo(f"{case_id}: {len(case['items'])} items")


@case_app.command("note")
def case_note(
    case_id: Annotated[str, typer.Argument(help="The case.")],
    text: Annotated[str, typer.Argument(help="The note.")],
    ref: Annotated[list[str] | None, typer.Option("--ref", help="What it is about, kind:ref (repeatable).")] = None,
    by: By = "cli",
) -> None:
    """Add a note to the case."""
    from flockwatch.cases import with_note

    now = datetime.now(UTC)
    case = _change(case_id, lambda c: with_note(c, text, by, now, ref or []))
    typer.echo(f"{case_id}: {len(case['notes'])} notes")


@case_app.command("show")
def case_show(case_id: Annotated[str, typer.Argument(help="The case.")]) -> None:
    """The case as JSON: its items and notes."""
    case = store().cases.get(case_id)
    if case is None:
        _fail(f"no case {case_id!r}")
    typer.echo(json.dumps(case, indent=2, default=str))


@case_app.command("list")
def case_list(size: Annotated[int, typer.Option("--size", min=1, max=1000)] = 50) -> None:
    """Cases, most recently changed first, one JSON line each."""
    for case in store().cases.recent(size):
        typer.echo(json.dumps({k: v for k, v in case.items() if not k.startswith("_")}, default=str))


@case_app.command("export")
def case_export(
    case_id: Annotated[str, typer.Argument(help="The case.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write it (.zip for a bundle).")],
    fmt: Annotated[str, typer.Option("--format", help="bundle (a zip with a sha256 manifest) or stix.")] = "bundle",
) -> None:
    """The case's evidence bundle (items with evidence, media hashes, plots, STIX report, manifest) or STIX 2.1."""
    from flockwatch.api.case_views import case_bundle, case_stix

    if fmt not in ("bundle", "stix"):
        _fail(f"--format is bundle or stix, not {fmt!r}", 2)

    def make() -> bytes:
        found = store()
        case = found.cases.get(case_id)
        if case is None:
            raise LookupError(f"no case {case_id!r}")
        return (case_bundle if fmt == "bundle" else case_stix)(found, case)

    write_file(make, output, fmt)


@case_app.command("verify")
def case_verify(bundle: Annotated[Path, typer.Argument(help="An evidence bundle (zip or directory).")]) -> None:
    """Recompute an evidence bundle's sha256 sums against its manifest; exit 1 naming each mismatch."""
    from flockwatch.exports.bundle import verify_bundle

    problems = verify_bundle(bundle)
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(f"{bundle}: every file matches its manifest")
