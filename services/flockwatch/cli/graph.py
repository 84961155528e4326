"""`flockwatch graph ...`: coordination networks and cascades from files, no services needed."""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
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
) -> None:
    """Rebuild cascades and write their metrics, `risk_score` and `early_warning_score` (JSONL, one line per
    cascade; the early-warning score reads only the reshares of the first hour after the root)."""
    import gc
    import json

    from flockwatch.config import REPO_ROOT
    from flockwatch.graph.cascade_io import read_ced, read_posts_jsonl, read_twitter1516
    from flockwatch.graph.cascade_metrics import cascade_metrics, repairs_dict
    from flockwatch.graph.cascade_risk import RiskModel
    from flockwatch.graph.cascades import build_tree

    readers = {"twitter1516": read_twitter1516, "ced": read_ced, "jsonl": read_posts_jsonl}
    if fmt not in readers:
        raise typer.BadParameter(f"expected one of {', '.join(readers)}", param_hint="--format")
    model_path = model or REPO_ROOT / "models" / "cascade_risk" / "model.json"
    risk = RiskModel.load(model_path) if model_path.exists() else None
    if risk is None:
        typer.echo(f"no risk model at {model_path}: risk_score and early_warning_score are null", err=True)
    coordinated: set[str] | None = None
    if clusters is not None:
        coordinated = {u for c in json.loads(clusters.read_text(encoding="utf-8")) for u in c["accounts"]}
    gc.disable()
    started = time.perf_counter()
    n = events = 0
    with output.open("w", encoding="utf-8") as out:
        for cascade in readers[fmt](input):
            if not cascade.events:
                continue
            tree = build_tree(cascade.cascade_id, cascade.events, cascade.root_id)
            metrics = cascade_metrics(tree, coordinated)
            risk_score, early_score = risk.scores(tree) if risk else (None, None)
            record = {"cascade_id": cascade.cascade_id, "label": cascade.label, **metrics,
                      "repairs": repairs_dict(tree), "risk_score": risk_score,
                      "early_warning_score": early_score}  # fmt: skip
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            n += 1
            events += len(cascade.events)
    typer.echo(f"{n} cascades, {events} events -> {output} in {time.perf_counter() - started:.1f}s", err=True)
