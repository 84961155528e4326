"""`flockwatch score media`, `flockwatch bank ...`, `flockwatch match`: media files in, JSONL out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flockwatch.cli.output_file import open_output

if TYPE_CHECKING:
    from flockwatch.media.bank import Bank

bank_app = typer.Typer(
    help="Hash banks of known fakes and fact-checked media (a local directory).", no_args_is_help=True
)

BankDir = Annotated[Path, typer.Option("--bank-dir", help="The bank: a directory (created if missing).")]
# Only `bank add` creates a bank; reading one from a missing directory finds nothing.
ExistingBankDir = Annotated[
    Path, typer.Option("--bank-dir", help="The bank: a directory `flockwatch bank add` wrote to.")
]
OutputOpt = Annotated[Path, typer.Option("--output", help="JSONL, one line per input.")]


def _warn(message: str) -> None:
    typer.echo(f"flockwatch: warning: {message}", err=True)


def _check_bank_dir(bank_dir: Path, *, reading: bool) -> None:
    """An operator's slip with ``--bank-dir`` is one line naming the option, not a traceback."""
    from flockwatch.media.bank import BANK_FILE

    try:
        not_a_dir = bank_dir.exists() and not bank_dir.is_dir()
        no_bank = not_a_dir or not (bank_dir / BANK_FILE).exists()
    except OSError as e:  # a name too long, a folder we may not enter
        raise typer.BadParameter(f"cannot use {bank_dir}: {e.strerror or e}", param_hint="--bank-dir") from e
    if not_a_dir:
        hint = f" (pass the directory that holds it: {bank_dir.parent})" if bank_dir.name == BANK_FILE else ""
        raise typer.BadParameter(f"{bank_dir} is a file, not a bank directory{hint}", param_hint="--bank-dir")
    if reading and no_bank:
        _warn(f"no bank at {bank_dir} (no {BANK_FILE}): nothing to match against")


def _bank_items(bank: Bank) -> int:
    """How many items ``bank`` holds; an unreadable bank file is the operator's to fix."""
    try:
        return len(bank.items())
    except OSError as e:
        raise typer.BadParameter(f"cannot read {bank.path}: {e.strerror or e}", param_hint="--bank-dir") from e


def _bad_lines(bank: Bank) -> dict[str, int]:
    """The summary's count of bank lines skipped as unreadable (Bank.items warns on stderr), when there are some."""
    return {"bad_bank_lines": bank.bad_lines} if bank.bad_lines else {}


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
    from flockwatch.media.provenance import load_trust_anchors

    settings = get_settings()
    if trust_anchors is not None:
        try:
            load_trust_anchors(trust_anchors)
        except (OSError, ValueError) as e:  # missing, a directory, binary or no certificate in it
            reason = e.strerror if isinstance(e, OSError) else "not PEM text" if isinstance(e, UnicodeError) else e
            raise typer.BadParameter(f"cannot use {trust_anchors}: {reason}", param_hint="--trust-anchors") from e
        settings = settings.model_copy(update={"media_trust_anchors": trust_anchors})
    if bank_dir is not None:
        _check_bank_dir(bank_dir, reading=True)
        settings = settings.model_copy(update={"media_bank_dir": bank_dir})
    # Local paths are read here only: the CLI user names files on their own machine.
    scorer = build_scorer(settings, fetch=not no_fetch, store_bank=False, local_files=True)
    counts = {"scored": 0, "unscored": 0, "refused": 0}
    with open_output(output) as out:
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
    """Hash media into the bank; bytes already banked (under any path) are not banked again, and keep their label."""
    from flockwatch.media.bank import Bank
    from flockwatch.media.errors import MediaRefused

    _check_bank_dir(bank_dir, reading=False)
    bank = Bank(bank_dir)
    counts = {"added": 0, "already_banked": 0, "label_conflicts": 0, "refused": 0}
    for path in paths:
        try:
            done = bank.add_file(path, label=label, note=note)
        except MediaRefused as e:
            counts["refused"] += 1
            typer.echo(f"refused {path}: {e.reason}", err=True)
            continue
        except OSError as e:  # the bank's side (the media's own are refusals): its directory or file is unusable
            raise typer.BadParameter(f"cannot use {bank_dir}: {e.strerror or e}", param_hint="--bank-dir") from e
        if done.status == "added":
            counts["added"] += 1
            continue
        counts["already_banked"] += 1
        same = "" if done.item.item == str(path) else f" (same bytes as {done.item.item})"
        kept = ""
        if done.item.label != label:
            # A banked record is never rewritten: say so rather than let the operator believe it was relabelled.
            counts["label_conflicts"] += 1
            kept = f"; it keeps its label {done.item.label!r}, --label {label!r} not applied"
        typer.echo(f"already banked {path}{same}{kept}", err=True)
    summary = {**counts, "bank_dir": str(bank_dir), "items": _bank_items(bank), **_bad_lines(bank)}
    typer.echo(json.dumps(summary))
    if counts["refused"] and not (counts["added"] or counts["already_banked"]):
        raise typer.Exit(1)


@bank_app.command("push")
def bank_push(
    bank_dir: ExistingBankDir,
    name: Annotated[str, typer.Option("--name", help="Bank name in the store (default: the directory's name).")] = "",
) -> None:
    """Copy a local bank into the store, where the media worker matches against it."""
    from flockwatch.config import get_settings
    from flockwatch.media.bank import Bank, bank_records
    from flockwatch.store import prepare_store

    _check_bank_dir(bank_dir, reading=False)
    bank = Bank(bank_dir)
    if not bank.path.is_file():
        # Pushing nothing under the name would be a silent no-op at best: a mistyped path is an error.
        raise typer.BadParameter(f"no bank at {bank_dir} (no {bank.path.name})", param_hint="--bank-dir")
    store = prepare_store(get_settings())
    records = bank_records(bank)
    result = store.banks.put(name or bank_dir.resolve().name, records)
    typer.echo(json.dumps({"pushed": result.written, "rejected": len(result.rejected)}))


def match(
    paths: Annotated[list[Path], typer.Argument(help="Query media files.", metavar="PATH...")],
    bank_dir: ExistingBankDir,
    output: OutputOpt,
) -> None:
    """Banked items each query matches: {"path", "matches": [{"item", "distance", ...}]} per line."""
    from flockwatch.media.bank import Bank, match_line
    from flockwatch.media.errors import MediaRefused

    _check_bank_dir(bank_dir, reading=True)
    bank = Bank(bank_dir)
    _bank_items(bank)  # read once up front: an unreadable bank file is a usage error, not a per-query one
    matched = 0
    with open_output(output) as out:
        for path in paths:
            line: dict[str, object]
            try:
                line = match_line(bank, path)
                matched += bool(line["matches"])
            except MediaRefused as e:
                line = {"path": str(path), "matches": [], "error": e.reason}
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    typer.echo(json.dumps({"queries": len(paths), "matched": matched, "output": str(output), **_bad_lines(bank)}))
