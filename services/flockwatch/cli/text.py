"""`flockwatch score text`, `flockwatch narratives`: files in, files out; `flockwatch top ...` from the store."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from itertools import chain, islice
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer import _click as click
from typer.core import TyperGroup

from flockwatch.cli.output_file import open_output

if TYPE_CHECKING:
    from flockwatch.text.detector import TextDetector, TextResult
    from flockwatch.text.records import Record

score_app = typer.Typer(help="Score content from files, no services needed.", no_args_is_help=True)
calibrate_app = typer.Typer(help="Re-pick a model's labelling thresholds on your own posts.", no_args_is_help=True)

BATCH = 512


def _batches(records: Iterator[Record], size: int = BATCH) -> Iterator[list[Record]]:
    while chunk := list(islice(records, size)):
        yield chunk


def _records(input: Path, text_column: str, id_column: str) -> Iterator[Record]:
    """The input's records; a missing or unreadable input is a usage error now, before any output is opened."""
    from flockwatch.text.records import read_records

    if not input.exists():
        raise typer.BadParameter(f"{input} does not exist", param_hint="--input")
    if input.is_dir():
        raise typer.BadParameter(f"{input} is a folder, not a JSONL or CSV file", param_hint="--input")
    try:
        it = read_records(input, text_column, id_column)
        first = list(islice(it, 1))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--text-column") from exc
    except OSError as exc:  # unreadable (permissions, a device...)
        raise typer.BadParameter(f"{input}: {exc.strerror or exc}", param_hint="--input") from exc
    return chain(first, it)


InputOpt = Annotated[Path, typer.Option("--input", help="JSONL with `id` and `text`, or CSV/TSV (see --text-column).")]
OutputOpt = Annotated[Path, typer.Option("--output", help="JSONL, one line per input record.")]
TextCol = Annotated[str, typer.Option("--text-column", help="Field or CSV column holding the text.")]
IdCol = Annotated[str, typer.Option("--id-column", help="Field or CSV column holding the id.")]
ModelOpt = Annotated[Path | None, typer.Option("--model", help="Model folder (default models/text_detector).")]


@score_app.command("text")
def score_text(
    input: InputOpt,
    output: OutputOpt,
    text_column: TextCol = "text",
    id_column: IdCol = "id",
    fpr: Annotated[
        float,
        typer.Option(
            "--fpr",
            help="Label at the threshold for this false-positive rate: 0.01 or 0.05 only (the rates the model "
            "stores thresholds for; with --thresholds, the rates picked there).",
        ),
    ] = 0.01,
    model: ModelOpt = None,
    thresholds: Annotated[
        Path | None,
        typer.Option(
            "--thresholds", help="Label at thresholds picked on your human posts (`flockwatch calibrate text`)."
        ),
    ] = None,
) -> None:
    """Machine-likeness of each text: {"id", "machine_score", "label", "interval", "evidence"} per line."""
    from flockwatch.messages import describe_error
    from flockwatch.text.detector import TextDetector
    from flockwatch.text.thresholds import PopulationThresholds

    records = _records(input, text_column, id_column)  # a wrong --input fails before the model loads
    detector = TextDetector.load(model)
    if thresholds is not None:
        try:
            detector = detector.with_thresholds(PopulationThresholds.load(thresholds))
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--thresholds") from exc
    try:
        detector.threshold(fpr)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--fpr") from exc
    started = time.perf_counter()
    counts: dict[str, int] = {}
    with open_output(output) as out:
        for chunk in _batches(records):
            ok = [r for r in chunk if r.error is None]
            langs = [(r.extra or {}).get("language") for r in ok]
            results = iter(_score_each_if_need_be(detector, [r.text for r in ok], langs, fpr))
            for rec in chunk:
                if rec.error is not None:
                    line: dict[str, Any] = _unscored(rec.id, "input_error", "input", rec.error)
                elif isinstance(result := next(results), Exception):
                    line = _unscored(rec.id, "scoring_error", "text", describe_error(result))
                else:
                    line = {"id": rec.id, **result.as_dict()}
                line["model"] = detector.name
                counts[line["label"]] = counts.get(line["label"], 0) + 1
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
    n = sum(counts.values())
    typer.echo(f"{n} texts -> {output} in {time.perf_counter() - started:.1f}s: {counts}", err=True)


def _score_each_if_need_be(
    detector: TextDetector, texts: list[str], languages: list[Any], fpr: float
) -> list[TextResult | Exception]:
    """The batch's results; if scoring the batch raises, each text scored alone, so a text that fails costs only
    its own line (its error in place of a result). A failure of every text alone is no bad text but a broken
    model or install: it stops the run (exit 1), as it would have without this."""
    try:
        return list(detector.score(texts, languages=languages, fpr=fpr))
    except Exception as exc:
        typer.echo(f"warning: scoring a batch failed ({exc!r}); scoring its texts one by one", err=True)
    results: list[TextResult | Exception] = []
    for text, language in zip(texts, languages, strict=True):
        try:
            results.extend(detector.score([text], languages=[language], fpr=fpr))
        except Exception as exc:
            results.append(exc)
    if len(texts) > 1 and all(isinstance(r, Exception) for r in results):
        typer.echo(f"error: scoring failed on every text of a batch, e.g. {results[0]!r}", err=True)
        raise typer.Exit(1)
    return results


def _unscored(record_id: str, signal: str, on: str, detail: str) -> dict[str, Any]:
    """The line of a record that could not be read, or not scored: ``signal`` on ``on`` says why."""
    from flockwatch.schema import Evidence

    why = Evidence(signal=signal, score=0.0, on=on, detail=detail)
    return {
        "id": record_id,
        "machine_score": None,
        "label": "unscored",
        "interval": None,
        "evidence": [why.model_dump()],
    }


@calibrate_app.command("text")
def calibrate_text(
    humans: Annotated[
        Path, typer.Option("--humans", help="Posts known to be human, from the population you watch (as --input).")
    ],
    output: Annotated[Path, typer.Option("--output", help="Thresholds file for `score text --thresholds`.")],
    fpr: Annotated[
        list[float] | None, typer.Option("--fpr", help="False-positive rate to hold (repeat; default 0.01 and 0.05).")
    ] = None,
    text_column: TextCol = "text",
    id_column: IdCol = "id",
    model: ModelOpt = None,
) -> None:
    """Thresholds at which at most --fpr of your scored human posts are labelled machine, each with a 90% upper
    bound (unscored posts a rule labels machine at any threshold are counted apart)."""
    from flockwatch.text.detector import TextDetector
    from flockwatch.text.thresholds import check_rate, pick_thresholds

    rates = fpr or [0.01, 0.05]
    try:
        for rate in rates:  # before the sample is scored
            check_rate(rate)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--fpr") from exc
    detector = TextDetector.load(model)
    scores: list[float] = []
    unscored = rule_labelled = 0
    for chunk in _batches(_records(humans, text_column, id_column)):
        ok = [r for r in chunk if r.error is None]
        unscored += len(chunk) - len(ok)
        langs = [(r.extra or {}).get("language") for r in ok]
        for res in detector.score([r.text for r in ok], languages=langs, with_evidence=False):
            if res.probability is not None and res.machine_score is not None:
                scores.append(res.machine_score)  # what the label compares with the threshold (a rule may raise it)
            elif res.label == "machine":
                rule_labelled += 1  # unscored, but a decisive rule labels it at any threshold
            else:
                unscored += 1
    try:
        picked = pick_thresholds(
            scores, rates, model=detector.name, source=humans.name, unscored=unscored, rule_labelled=rule_labelled
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--humans") from exc
    picked.save(output)
    for key, t in picked.thresholds.items():
        stored = detector.thresholds.get(key)
        was = f" (stored {stored:.3f})" if stored is not None else ""
        typer.echo(
            f"{key}: {t.threshold:.3f}{was}; {t.flagged} of {picked.humans} human posts at or above it, "
            f"rate at most {t.fpr_upper_90:.3f} (90% upper bound); {unscored} unscored; "
            f"{rule_labelled} labelled machine by a rule at any threshold",
            err=True,
        )


def narratives(
    input: InputOpt,
    output: OutputOpt,
    text_column: TextCol = "text",
    id_column: IdCol = "id",
    state: Annotated[
        Path | None,
        typer.Option("--state", help="Folder to load and save the narrative index: ids stay stable across runs."),
    ] = None,
    paraphrase: Annotated[
        bool, typer.Option("--paraphrase/--copies-only", help="Also join paraphrases (MiniLM embeddings).")
    ] = True,
    summary: Annotated[Path | None, typer.Option("--summary", help="Also write one JSON line per narrative.")] = None,
) -> None:
    """Each id's narrative id: copypasta (MinHash LSH) and paraphrases (embedding nearest neighbours)."""
    from flockwatch.text.canonical import canonical_text, decode_text
    from flockwatch.text.narratives import NarrativeIndex

    index = NarrativeIndex.load(state) if state is not None else NarrativeIndex()
    embedder = None
    if paraphrase:
        from flockwatch.text.embed import shared_embedder

        embedder = shared_embedder()
    records = _records(input, text_column, id_column)
    started = time.perf_counter()
    n = 0
    with open_output(output) as out:
        for chunk in _batches(records):
            norms = [canonical_text(decode_text(r.text)) for r in chunk]
            vecs = embedder.embed(norms) if embedder is not None else None
            for i, (rec, norm) in enumerate(zip(chunk, norms, strict=True)):
                extra = rec.extra or {}
                got = index.assign(
                    norm,
                    None if vecs is None else vecs[i],
                    raw=rec.text,
                    platform=str(extra["platform"]) if "platform" in extra else None,
                    account=str(extra.get("account") or extra.get("author") or "") or None,
                )
                line = {"id": rec.id, "narrative_id": got.narrative_id, "how": got.how, "similarity": got.similarity}
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
                n += 1
    if state is not None:
        index.save(state)
    if summary is not None:
        with open_output(summary, "--summary") as f:
            for stats in sorted(index.stats.values(), key=lambda s: -s.post_count):
                f.write(json.dumps(stats.as_document(), ensure_ascii=False) + "\n")
    typer.echo(f"{n} posts -> {len(index)} narratives -> {output} in {time.perf_counter() - started:.1f}s", err=True)


# --- analysts: what the stream wrote (narrative and account documents) -------------------------------

FIELD_COMMAND = "FIELD"  # the name `top --help` lists; any other unknown name is a field too


class TopGroup(TyperGroup):
    """`top narratives`, `top accounts`, and `top FIELD` for any other name (`top hashtags`, `top urls`...).

    A group with a positional argument would swallow the subcommand names, so an unknown subcommand
    resolves to the FIELD command instead, which reads the field from the name it was called by.
    """

    def __init__(self, **attrs: Any) -> None:
        if attrs.get("subcommand_metavar") is None:  # Typer passes None explicitly
            attrs["subcommand_metavar"] = "FIELD|narratives|accounts [OPTIONS]"
        super().__init__(**attrs)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            return args[0], self.commands[FIELD_COMMAND], args[1:]
        return super().resolve_command(ctx, args)


top_app = typer.Typer(
    cls=TopGroup,
    help="Most frequent values of a post field, the largest narratives, the most machine-like accounts: "
    "from the store.",
    no_args_is_help=True,
)
SizeOpt = Annotated[int, typer.Option("--size", "-n", min=1, max=10_000, help="How many to list.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON document per line instead of a table.")]


def _share(value: Any) -> str:
    return "-" if value is None else f"{float(value):.0%}"


def _print(docs: list[dict[str, Any]], as_json: bool, header: str, row: Any) -> None:
    if as_json:
        for doc in docs:
            typer.echo(json.dumps({k: v for k, v in doc.items() if k != "_id"}, ensure_ascii=False))
        return
    typer.echo(header)
    for doc in docs:
        typer.echo(row(doc))


@top_app.command(FIELD_COMMAND)
def top_field(
    ctx: typer.Context,
    size: Annotated[int, typer.Option("--size", "-n", min=1, max=10_000, help="How many values.")] = 10,
) -> None:
    """Most frequent values of a keyword field across stored posts: `top hashtags`, `top urls`, `top mentions`,
    `top author.handle`, `top author.category`... One `count<TAB>value` line each, largest first."""
    from flockwatch.config import get_settings
    from flockwatch.store import open_store
    from flockwatch.store.documents import IndexKind

    field = str(ctx.info_name)
    if field == FIELD_COMMAND:
        raise typer.BadParameter("replace FIELD with a field name, e.g. `flockwatch top hashtags`")
    store = open_store(get_settings())
    if store.engine.count(IndexKind.posts) == 0:  # no posts index yet: the aggregation would have nothing to answer
        typer.echo(f"no posts stored under {store.engine.alias(IndexKind.posts)} yet", err=True)
        return
    for value, count in store.posts.top_values(field, size=size):
        typer.echo(f"{count}\t{value}")


@top_app.command("narratives")
def top_narratives(
    size: SizeOpt = 20,
    sort: Annotated[
        str, typer.Option("--sort", help="post_count, account_count or machine_share (largest first).")
    ] = "post_count",
    min_posts: Annotated[int, typer.Option("--min-posts", min=1, help="Only narratives with this many posts.")] = 2,
    as_json: JsonOpt = False,
) -> None:
    """Narratives by size (or spread, or machine-like share), with first/last seen and their text."""
    from flockwatch.config import get_settings
    from flockwatch.store import open_store
    from flockwatch.store.documents import IndexKind

    if sort not in ("post_count", "account_count", "machine_share"):
        raise typer.BadParameter("one of post_count, account_count, machine_share", param_hint="--sort")
    store = open_store(get_settings())
    docs = store.rollups.top(IndexKind.narratives, sort, size, {"range": {"post_count": {"gte": min_posts}}})
    _print(
        docs,
        as_json,
        f"{'narrative':<20} {'posts':>6} {'accts':>6} {'machine':>7}  {'first seen':<16} {'last seen':<16} text",
        lambda d: (
            f"{d['narrative_id']:<20} {d.get('post_count', 0):>6} {d.get('account_count', 0):>6} "
            f"{_share(d.get('machine_share')):>7}  {str(d.get('first_seen') or '-')[:16]:<16} "
            f"{str(d.get('last_seen') or '-')[:16]:<16} {' '.join(str(d.get('representative_text', '')).split())[:80]}"
        ),
    )


@top_app.command("accounts")
def top_accounts(
    size: SizeOpt = 20,
    min_scored: Annotated[
        int, typer.Option("--min-scored", min=0, help="Only accounts whose score rests on this many scored posts.")
    ] = 20,
    label: Annotated[str | None, typer.Option("--label", help="Only this label: machine, human, insufficient.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Accounts by machine-likeness (mean over their recent scored posts), with the posts it rests on."""
    from flockwatch.config import get_settings
    from flockwatch.store import open_store
    from flockwatch.store.documents import IndexKind

    filters: list[dict[str, Any]] = [{"range": {"machine_n_scored": {"gte": min_scored}}}]
    if label:
        filters.append({"term": {"machine_label": label}})
    store = open_store(get_settings())
    docs = store.rollups.top(IndexKind.accounts, "machine_score", size, {"bool": {"filter": filters}})
    _print(
        docs,
        as_json,
        f"{'account':<36} {'score':>6} {'share':>6} {'scored':>6} {'recent':>6}  {'label':<12} last post",
        lambda d: (
            f"{d.get('key') or d['_id']!s:<36} "
            f"{'-' if d.get('machine_score') is None else format(d['machine_score'], '.3f'):>6} "
            f"{_share(d.get('machine_share')):>6} {d.get('machine_n_scored', 0):>6} {d.get('machine_n_posts', 0):>6}  "
            f"{d.get('machine_label') or '-'!s:<12} {str(d.get('machine_last_seen') or '-')[:16]}"
        ),
    )
