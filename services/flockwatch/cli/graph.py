"""`flockwatch graph ...`: coordination networks and cascades from files, no services needed."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flockwatch.cli.output_file import open_output

if TYPE_CHECKING:
    from flockwatch.graph.account_history import AccountHistory
    from flockwatch.graph.cascade_io import CascadeInput
    from flockwatch.graph.coordination import Options
    from flockwatch.graph.toolkit_csv import Table

graph_app = typer.Typer(
    help="Spread graphs: coordinated-account networks and reshare cascades.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

KIND_HELP = (
    "co_tweet, co_retweet, co_reply, co_similar_tweet, co_link, co_post (coordination-network-toolkit names), "
    "co_hashtag, co_media"
)


@graph_app.command("coordination")
def coordination(
    input: Annotated[Path, typer.Option("--input", help="coordination-network-toolkit CSV file.")],
    kind: Annotated[str, typer.Option("--kind", help=KIND_HELP + "; several, comma-separated, share one parse.")],
    output: Annotated[Path, typer.Option("--output", help="Where to write the network.")],
    window: Annotated[float, typer.Option("--window", help="Time window in seconds (inclusive).")] = 60.0,
    min_weight: Annotated[int, typer.Option("--min-weight", help="Drop edges lighter than this.")] = 2,
    fmt: Annotated[str, typer.Option("--format", help="csv, gexf, graphml or jsonl.")] = "csv",
    similarity: Annotated[
        float, typer.Option("--similarity", help="co_similar_tweet: Jaccard threshold (toolkit default 0.8).")
    ] = 0.8,
    min_tokens: Annotated[
        int, typer.Option("--min-tokens", help="co_similar_tweet: shorter token sets match nothing.")
    ] = 1,
    min_hashtags: Annotated[int, typer.Option("--min-hashtags", help="co_hashtag: sequence length.")] = 3,
    include_self_loops: Annotated[bool, typer.Option("--include-self-loops")] = False,
    canonical_urls: Annotated[
        bool, typer.Option("--canonical-urls", help="co_link: compare canonical URLs (tracking stripped).")
    ] = False,
    toolkit_compat: Annotated[
        bool,
        typer.Option(
            "--toolkit-compat",
            help="co_link: also link posts with an empty `urls` cell, exactly as toolkit 1.5.2 does.",
        ),
    ] = False,
    evidence: Annotated[bool, typer.Option("--evidence/--no-evidence", help="Evidence columns.")] = True,
    significance: Annotated[
        bool,
        typer.Option(
            "--significance/--no-significance",
            help="Add p/q-values from a time-shuffle null model (BH FDR) and cluster ids.",
        ),
    ] = False,
    permutations: Annotated[int, typer.Option("--permutations", help="Null-model shuffles.")] = 200,
    fdr: Annotated[float, typer.Option("--fdr", help="False-discovery rate for `significant`.")] = 0.05,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    jobs: Annotated[int, typer.Option("--jobs", help="Processes for several kinds (0: one per core).")] = 1,
    clusters_out: Annotated[
        Path | None, typer.Option("--clusters-out", help="Write cluster summaries (JSON) here; {kind} as --output.")
    ] = None,
    previous_clusters: Annotated[
        Path | None,
        typer.Option("--previous-clusters", help="A previous --clusters-out file: clusters keep their ids."),
    ] = None,
) -> None:
    """Coordinated-account network over a sliding window; edges `source,target,weight` + evidence.

    With several kinds, `--output` names one file per kind: `{kind}` in it is replaced by the kind, or
    `_KIND` is added before the suffix.
    """
    import gc

    from flockwatch.graph.coordination import KINDS, Options
    from flockwatch.graph.export import FORMATS
    from flockwatch.graph.toolkit_csv import read_toolkit_csv

    kinds = [k.strip() for k in kind.split(",") if k.strip()]
    for k in kinds:
        if k not in KINDS:
            raise typer.BadParameter(f"{k!r}: expected one of {', '.join(KINDS)}", param_hint="--kind")
    if fmt not in FORMATS:
        raise typer.BadParameter(f"expected one of {', '.join(FORMATS)}", param_hint="--format")
    # A batch run builds millions of small objects and no cycles: the cyclic GC only costs time here.
    gc.disable()
    started = time.perf_counter()
    table = read_toolkit_csv(input)
    for line, reason in table.skipped[:5]:
        typer.echo(f"skipped line {line}: {reason}", err=True)
    if len(table.skipped) > 5:
        typer.echo(f"... {len(table.skipped)} rows skipped in all", err=True)
    options = Options(
        window=window,
        min_weight=min_weight,
        similarity=similarity,
        min_tokens=min_tokens,
        min_hashtags=min_hashtags,
        include_self_loops=include_self_loops,
        canonical_urls=canonical_urls,
        toolkit_compat=toolkit_compat,
        evidence=evidence,
    )
    job = _CoordinationJob(table, options, output, fmt, significance, permutations, fdr, seed)
    job.several = len(kinds) > 1
    job.clusters_out, job.previous_clusters = clusters_out, previous_clusters
    n_jobs = min(len(kinds), jobs or (os.cpu_count() or 1))
    if n_jobs > 1 and "fork" in multiprocessing.get_all_start_methods():
        # The forked workers inherit the parsed table; each writes its own file.
        _JOB[0] = job
        with ProcessPoolExecutor(n_jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            # the slowest kind first
            order = sorted(kinds, key=lambda k: k != "co_similar_tweet")
            results = dict(zip(order, pool.map(_run_job, order), strict=True))
        lines = [results[k] for k in kinds]
    else:
        lines = [job.run(k) for k in kinds]
    failed = False
    for message in lines:
        failed |= message.startswith("error")
        typer.echo(message, err=True)
    typer.echo(f"{len(table)} posts, {len(table.users)} users, {time.perf_counter() - started:.2f}s", err=True)
    if failed:
        raise typer.Exit(2)


class _CoordinationJob:
    def __init__(self, table: Table, options: Options, output: Path, fmt: str, significance: bool,
                 permutations: int, fdr: float, seed: int) -> None:  # fmt: skip
        self.table, self.options, self.output, self.fmt = table, options, output, fmt
        self.significance, self.permutations, self.fdr, self.seed = significance, permutations, fdr, seed
        self.several = False
        self.clusters_out: Path | None = None
        self.previous_clusters: Path | None = None

    def path(self, kind: str, base: Path | None = None) -> Path:
        out = base or self.output
        text = str(out)
        if "{kind}" in text:
            return Path(text.replace("{kind}", kind))
        if not self.several:
            return out
        return out.with_name(f"{out.stem}_{kind}{out.suffix}")

    def run(self, kind: str) -> str:
        from flockwatch.graph.coordination import coordination_network
        from flockwatch.graph.export import write_edges

        started = time.perf_counter()
        try:
            edges = coordination_network(self.table, kind, self.options)
        except ValueError as err:
            return f"error: {kind}: {err}"
        if self.significance:
            from flockwatch.graph.significance import add_significance

            add_significance(edges, self.table, kind, self.options, permutations=self.permutations,
                             fdr=self.fdr, seed=self.seed)  # fmt: skip
        if self.clusters_out is not None:
            import json

            from flockwatch.graph.clusters import find_clusters, label_edges, stable_ids, summaries

            previous = None
            if self.previous_clusters is not None:
                prev = json.loads(self.path(kind, self.previous_clusters).read_text(encoding="utf-8"))
                previous = {c["cluster_id"]: c["accounts"] for c in prev}
            clusters = stable_ids(find_clusters(edges, significant_only=self.significance), previous)
            label_edges(edges, clusters)
            self.path(kind, self.clusters_out).write_text(
                json.dumps(summaries(edges, clusters), indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
            )
        path = self.path(kind)
        write_edges(edges, path, self.fmt)  # type: ignore[arg-type]
        return f"{kind}: {len(edges)} edges -> {path} ({time.perf_counter() - started:.2f}s)"


_JOB: dict[int, _CoordinationJob] = {}


def _run_job(kind: str) -> str:
    return _JOB[0].run(kind)


@graph_app.command("cascades")
def cascades(
    input: Annotated[Path, typer.Option("--input", help="Dataset file or folder.")],
    fmt: Annotated[str, typer.Option("--format", help="twitter1516, ced or jsonl (one Post per line).")],
    output: Annotated[Path, typer.Option("--output", help="JSONL: one line per cascade.")],
    model: Annotated[
        Path | None, typer.Option("--model", help="Risk model JSON (default: models/cascade_risk/model.json).")
    ] = None,
    clusters: Annotated[
        Path | None,
        typer.Option("--clusters", help="A `graph coordination --clusters-out` file: fills coordinated_share."),
    ] = None,
    history: Annotated[
        Path | None,
        typer.Option("--history", help="A `graph history` file: fuses the resharers' records into both scores."),
    ] = None,
) -> None:
    """Rebuild cascades and write their metrics, `risk_score` and `early_warning_score` (JSONL, one line per
    cascade; the early-warning score reads only the reshares of the first hour after the root). With `--history`
    both scores also weigh who reshared (`resharer_history`, `early_resharer_history` say on which accounts) and
    `spread_risk_score` / `spread_early_warning_score` keep the spread-only ones."""
    import gc
    import json

    from flockwatch.config import REPO_ROOT
    from flockwatch.graph.account_history import AccountHistory
    from flockwatch.graph.cascade_io import tree_of
    from flockwatch.graph.cascade_metrics import cascade_metrics, repairs_dict
    from flockwatch.graph.cascade_risk import RiskModel

    read = _cascade_reader(fmt)
    given = _read_input(read, input)  # a wrong --input fails before the output is opened
    model_path = model or REPO_ROOT / "models" / "cascade_risk" / "model.json"
    risk = RiskModel.load(model_path) if model_path.exists() else None
    if risk is None:
        typer.echo(f"no risk model at {model_path}: risk_score and early_warning_score are null", err=True)
    accounts: AccountHistory | None = None
    if history is not None:
        if risk is None or risk.history_fusion is None:
            raise typer.BadParameter(f"the risk model at {model_path} has no history weights", param_hint="--history")
        try:
            accounts = AccountHistory.load(history)
        except (OSError, ValueError) as exc:
            raise typer.BadParameter(str(exc), param_hint="--history") from exc
    coordinated: set[str] | None = None
    if clusters is not None:
        coordinated = {u for c in json.loads(clusters.read_text(encoding="utf-8")) for u in c["accounts"]}
    gc.disable()
    started = time.perf_counter()
    n = events = 0
    with open_output(output) as out:
        for cascade in given:
            if not cascade.events:
                continue
            tree = tree_of(cascade)  # with the repairs the reader made
            metrics = cascade_metrics(tree, coordinated)
            if risk is not None and accounts is not None:
                scores = risk.scores_with_history(tree, accounts).fields()
            else:
                risk_score, early_score = risk.scores(tree) if risk else (None, None)
                scores = {"risk_score": risk_score, "early_warning_score": early_score}
            record = {"cascade_id": cascade.cascade_id, "label": cascade.label, **metrics,
                      "repairs": repairs_dict(tree), **scores}  # fmt: skip
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            n += 1
            events += len(cascade.events)
    typer.echo(f"{n} cascades, {events} events -> {output} in {time.perf_counter() - started:.1f}s", err=True)


def _cascade_reader(fmt: str) -> Callable[[Path], Iterator[CascadeInput]]:
    from flockwatch.graph.cascade_io import read_ced, read_posts_jsonl, read_twitter1516

    readers = {"twitter1516": read_twitter1516, "ced": read_ced, "jsonl": read_posts_jsonl}
    if fmt not in readers:
        raise typer.BadParameter(f"expected one of {', '.join(readers)}", param_hint="--format")
    return readers[fmt]


def _read_input(read: Callable[[Path], Iterator[CascadeInput]], input: Path) -> Iterator[CascadeInput]:
    """The cascades of ``input``, its first read now: a missing or wrong input is one usage error line."""
    import tarfile
    from itertools import chain, islice

    if not input.exists():
        raise typer.BadParameter(f"{input} does not exist", param_hint="--input")
    it = read(input)
    try:
        first = list(islice(it, 1))
    except OSError as exc:  # a folder given for a file, no archive in the folder, unreadable
        said = f"{input}: {exc.strerror}" if exc.strerror else str(exc)
        raise typer.BadParameter(said, param_hint="--input") from exc
    except (ValueError, tarfile.TarError) as exc:  # not the format's archive
        raise typer.BadParameter(f"{input}: {exc}", param_hint="--input") from exc
    return chain(first, it)


def _read_verdicts(path: Path) -> dict[str, str]:
    """``cascade_id -> label`` from JSON lines (a `graph cascades` output will do); a bad line is an error."""
    import json

    verdicts: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            cascade_id, label = row["cascade_id"], row["label"]
        except (ValueError, KeyError, TypeError) as exc:
            raise typer.BadParameter(f"{path} line {n}: expected {{\"cascade_id\", \"label\"}} ({exc})",
                                     param_hint="--labels") from exc  # fmt: skip
        if not isinstance(cascade_id, str) or not isinstance(label, str | None):
            raise typer.BadParameter(f"{path} line {n}: cascade_id and label are strings", param_hint="--labels")
        verdicts[cascade_id] = label or ""
    return verdicts


@graph_app.command("history")
def history(
    output: Annotated[Path, typer.Option("--output", help="The history file (JSON) for `graph cascades --history`.")],
    input: Annotated[Path | None, typer.Option("--input", help="Dataset file or folder of judged cascades.")] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="With --input: twitter1516, ced or jsonl (one Post per line).")
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            help="JSON lines {cascade_id, label} (a `graph cascades` output will do): with --input, learn "
            "from these cascades only, with these labels instead of the dataset's; with --from-store, "
            "added to the analysts' verdicts (the file's label wins).",
        ),
    ] = None,
    from_store: Annotated[
        bool,
        typer.Option(
            "--from-store",
            help="Learn from the cascades analysts judged in the store (API or dashboard verdicts, and any "
            "--labels, which win) for the graph worker's FLOCKWATCH_GRAPH_ACCOUNT_HISTORY "
            "(accounts as platform:author_id).",
        ),
    ] = False,
) -> None:
    """Learn who spread judged cascades: per resharing account, how many judged cascades it reshared and how many
    were judged false / rumour (labels false and rumor count as flagged, true and non-rumor as not; others, such as
    unverified, teach nothing). A cascade scored with this file never counts its own verdict. With --from-store the
    verdicts are those analysts gave in the dashboard or the API (`PUT /api/v1/cascades/{id}/verdict`)."""
    from flockwatch.cli.store_files import store
    from flockwatch.graph.account_history import LABELS, AccountHistory, learn, resharers
    from flockwatch.graph.cascades import build_tree
    from flockwatch.stages.graph import judged_cascades

    if from_store == (input is not None):
        raise typer.BadParameter("give either --input and --format, or --from-store")
    verdicts = _read_verdicts(labels) if labels is not None else None
    skipped, missing, conflicting = 0, 0, 0
    try:
        if from_store:
            kept = store()
            stored = {str(v["cascade_id"]): str(v["verdict"]) for v in kept.verdicts.every()}
            given = {**stored, **(verdicts or {})}
            # Unverified (or unknown) labels teach nothing, but still speak for their cascade: they are passed on.
            flags = {cid: LABELS.get(label.strip().lower()) for cid, label in given.items()}
            skipped = sum(flag is None for flag in flags.values())
            source = f"store ({len(stored)} verdicts)" + (f", labels {labels.name}" if labels else "")
            found, absent, disagree = judged_cascades(
                kept.engine, {cid: None if flag is None else bool(flag) for cid, flag in flags.items()}
            )
            learnt, missing, conflicting = learn(found, source), len(absent), len(disagree)
        else:
            assert input is not None
            read = _cascade_reader(fmt or "")
            learnt = AccountHistory(sources=[f"{input.name} ({fmt})" + (f", labels {labels.name}" if labels else "")])
            for cascade in read(input):
                label = cascade.label if verdicts is None else verdicts.get(cascade.cascade_id)
                flagged = LABELS.get((label or "").strip().lower())
                if flagged is None or not cascade.events:
                    skipped += 1
                    continue
                tree = build_tree(cascade.cascade_id, cascade.events, cascade.root_id)
                learnt.add(cascade.cascade_id, bool(flagged), resharers(tree))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--input") from exc
    if not learnt.judged:
        hint = "--from-store" if from_store else "--input"
        raise typer.BadParameter("no cascade with a false/true or rumor/non-rumor label", param_hint=hint)
    # Atomic: a graph worker reloads this file when it changes, and must never read it half written.
    partial = output.with_name(output.name + ".partial")
    partial.write_text(learnt.to_json() + "\n", encoding="utf-8")
    partial.replace(output)
    n_flagged = sum(learnt.judged.values())
    typer.echo(f"{len(learnt.judged)} judged cascades ({n_flagged} flagged), {len(learnt.records)} accounts, "
               f"{skipped} cascades without a usable label skipped"
               + (f", {missing} judged cascades not in the store, {conflicting} merged cascades whose parts were "
                  "judged both ways" if from_store else "")
               + f" -> {output}", err=True)  # fmt: skip


@graph_app.command("verdict")
def verdict(
    cascade_id: Annotated[str, typer.Argument(help="The cascade's id: its root post's key (platform:id).")],
    said: Annotated[
        str | None, typer.Option("--verdict", help="false, true or unverified (false and true teach the history).")
    ] = None,
    note: Annotated[str, typer.Option("--note", help="Why: the fact-check or source it rests on.")] = "",
    by: Annotated[str, typer.Option("--by", help="Who judged.")] = "cli",
    withdraw: Annotated[bool, typer.Option("--withdraw", help="Withdraw the cascade's verdict instead.")] = False,
) -> None:
    """Judge a stored cascade, as the dashboard's cascade view and `PUT /api/v1/cascades/{id}/verdict` do (judging
    again replaces the verdict), or withdraw its verdict; prints the verdict as JSON."""
    from flockwatch.cli.store_files import store
    from flockwatch.graph.verdicts import CascadeMerged, VerdictError

    if withdraw == (said is not None):
        raise typer.BadParameter("give either --verdict or --withdraw")
    kept = store()
    if withdraw:
        if not kept.verdicts.withdraw(cascade_id):
            raise typer.BadParameter(f"cascade {cascade_id} has no verdict", param_hint="CASCADE_ID")
        typer.echo(json.dumps({"cascade_id": cascade_id, "withdrawn": True}))
        return
    try:
        judged = kept.verdicts.judge(cascade_id, said or "", by, note)
    except KeyError:
        raise typer.BadParameter(f"no cascade {cascade_id} in the store", param_hint="CASCADE_ID") from None
    except CascadeMerged as exc:
        raise typer.BadParameter(str(exc), param_hint="CASCADE_ID") from exc
    except VerdictError as exc:
        raise typer.BadParameter(str(exc), param_hint="--verdict") from exc
    typer.echo(json.dumps(judged, ensure_ascii=False))


@graph_app.command("verdicts")
def verdicts_list() -> None:
    """The analysts' verdicts on cascades, one JSON object a line, by cascade id."""
    from flockwatch.cli.store_files import store

    for judged in store().verdicts.every():
        typer.echo(json.dumps(judged, ensure_ascii=False))
