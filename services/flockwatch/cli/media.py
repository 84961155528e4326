"""`flockwatch score media`, `flockwatch bank ...`, `flockwatch match`: media files in, JSONL out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

bank_app = typer.Typer(
    help="Hash banks of known fakes and fact-checked media (a local directory).", no_args_is_help=True
)

BankDir = Annotated[Path, typer.Option("--bank-dir", help="The bank: a directory (created if missing).")]
OutputOpt = Annotated[Path, typer.Option("--output", help="JSONL, one line per input.")]


def score_media(
    targets: Annotated[list[str], typer.Argument(help="Media files or http(s) URLs.", metavar="PATH_OR_URL...")],
    output: OutputOpt,
    bank_dir: Annotated[Path | None, typer.Option("--bank-dir", help="Also match against this local bank.")] = None,
    trust_anchors: Annotated[
        Path | None, typer.Option("--trust-anchors", help="PEM of C2PA trust anchors (default: none: untrusted).")
    ] = None,
    no_fetch: Annotated[bool, typer.Option("--no-fetch", help="Refuse URLs instead of fetching them.")] = False,
) -> None:
    """Manipulation score with evidence per input.

    One line per input: {"path", "manipulation_score", "provenance", "matches", "signals"}.
    """
    from flockwatch.adapters.media_scorer import build_scorer
    from flockwatch.config import get_settings

    settings = get_settings()
    if trust_anchors is not None:
        settings = settings.model_copy(update={"media_trust_anchors": trust_anchors})
    if bank_dir is not None:
        settings = settings.model_copy(update={"media_bank_dir": bank_dir})
    # Local paths are read here only: the CLI user names files on their own machine.
    scorer = build_scorer(settings, fetch=not no_fetch, store_bank=False, local_files=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    counts = {"scored": 0, "unscored": 0, "refused": 0}
    with output.open("w", encoding="utf-8") as out:
        for target in targets:
            result = scorer.score(target)
            out.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
            key = "refused" if result.error else "scored" if result.manipulation_score is not None else "unscored"
            counts[key] += 1
    typer.echo(json.dumps({"inputs": len(targets), **counts, "output": str(output)}))


@bank_app.command("add")
def bank_add(
    paths: Annotated[list[Path], typer.Argument(help="Media files to bank.", metavar="PATH...")],
    bank_dir: BankDir,
    label: Annotated[
        str, typer.Option("--label", help="known_fake (default), fact_checked_fake, authentic, ...")
    ] = "known_fake",
    note: Annotated[str, typer.Option("--note", help="Free text: the fact-check URL, the case...")] = "",
) -> None:
    """Hash media into the bank; re-adding a file changes nothing."""
    from flockwatch.media.bank import Bank
    from flockwatch.media.errors import MediaRefused

    bank = Bank(bank_dir)
    added, refused = 0, 0
    for path in paths:
        try:
            added += len(bank.add([path], label=label, note=note))
        except MediaRefused as e:
            refused += 1
            typer.echo(f"refused {path}: {e.reason}", err=True)
    typer.echo(json.dumps({"added": added, "refused": refused, "bank_dir": str(bank_dir), "items": len(bank.items())}))
    if refused and not added:
        raise typer.Exit(1)


@bank_app.command("push")
def bank_push(
    bank_dir: BankDir,
    name: Annotated[str, typer.Option("--name", help="Bank name in the store (default: the directory's name).")] = "",
) -> None:
    """Copy a local bank into the store, where the media worker matches against it."""
    from flockwatch.config import get_settings
    from flockwatch.media.bank import Bank, bank_records
    from flockwatch.store import prepare_store

    store = prepare_store(get_settings())
    records = bank_records(Bank(bank_dir))
    result = store.banks.put(name or bank_dir.resolve().name, records)
    typer.echo(json.dumps({"pushed": result.written, "rejected": len(result.rejected)}))


def match(
    paths: Annotated[list[Path], typer.Argument(help="Query media files.", metavar="PATH...")],
    bank_dir: BankDir,
    output: OutputOpt,
) -> None:
    """Banked items each query matches: {"path", "matches": [{"item", "distance", ...}]} per line."""
    from flockwatch.media.bank import Bank, match_line
    from flockwatch.media.errors import MediaRefused

    bank = Bank(bank_dir)
    output.parent.mkdir(parents=True, exist_ok=True)
    matched = 0
    with output.open("w", encoding="utf-8") as out:
        for path in paths:
            line: dict[str, object]
            try:
                line = match_line(bank, path)
                matched += bool(line["matches"])
            except MediaRefused as e:
                line = {"path": str(path), "matches": [], "error": e.reason}
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    typer.echo(json.dumps({"queries": len(paths), "matched": matched, "output": str(output)}))
