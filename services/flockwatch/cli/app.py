"""The `flockwatch` command line: a thin layer that parses flags and calls core functions."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from flockwatch.cli.alerts import alerts_app, watchlist_app
from flockwatch.cli.case import case_app
from flockwatch.cli.collect import collect_app
from flockwatch.cli.dashboards import dashboards_app
from flockwatch.cli.export import export_app
from flockwatch.cli.graph import graph_app
from flockwatch.cli.media import bank_app, match, score_media
from flockwatch.cli.plot import plot_app
from flockwatch.cli.query import query_app
from flockwatch.cli.quiet import quiet_third_party, show_everything
from flockwatch.cli.serve import serve, token_app
from flockwatch.cli.text import calibrate_app, narratives, score_app, top_app
from flockwatch.cli.train import train_app
from flockwatch.config import Settings, get_settings

app = typer.Typer(
    help="Flockwatch: ingest posts, score them, graph their spread, store, search and alert.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
worker_app = typer.Typer(help="Long-running Kafka workers (one consumer group each).", no_args_is_help=True)
app.add_typer(worker_app, name="worker")
app.add_typer(graph_app, name="graph")
app.add_typer(train_app, name="train")
app.add_typer(score_app, name="score")
app.add_typer(calibrate_app, name="calibrate")
app.command("narratives")(narratives)
app.add_typer(top_app, name="top")  # `top FIELD`, `top narratives`, `top accounts`
score_app.command("media")(score_media)
app.add_typer(bank_app, name="bank")
app.command("match")(match)
app.add_typer(watchlist_app, name="watchlist")
app.add_typer(alerts_app, name="alerts")
app.add_typer(dashboards_app, name="dashboards")
app.add_typer(collect_app, name="collect")
app.add_typer(token_app, name="token")
app.add_typer(plot_app, name="plot")
app.add_typer(export_app, name="export")
app.add_typer(case_app, name="case")
app.add_typer(query_app, name="query")
app.command("serve")(serve)

Services = Annotated[
    list[str] | None,
    typer.Argument(help="Which services: kafka, opensearch, elasticsearch (default: kafka + FLOCKWATCH_STORE_ENGINE)."),
]


def _echo_json(obj: object) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


KafkaBrokers = Annotated[
    int | None,
    typer.Option(
        min=1,
        max=9,
        help="Brokers of the local Kafka cluster (FLOCKWATCH_KAFKA_BROKERS for this command; every other process "
        "needs the variable).",
    ),
]
StoreNodes = Annotated[
    int | None,
    typer.Option(min=1, max=9, help="Nodes of the local OpenSearch cluster (FLOCKWATCH_STORE_NODES, likewise)."),
]


def _local_settings(kafka_brokers: int | None, store_nodes: int | None) -> Settings:
    """The settings, with the cluster sizes given on the command line (validated like the variables)."""
    settings = get_settings()
    sizes = {k: v for k, v in (("kafka_brokers", kafka_brokers), ("store_nodes", store_nodes)) if v is not None}
    try:
        return Settings.model_validate(settings.model_dump() | sizes) if sizes else settings
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


@app.command()
def up(services: Services = None, kafka_brokers: KafkaBrokers = None, store_nodes: StoreNodes = None) -> None:
    """Start Kafka (KRaft) and the store (OpenSearch, or Elasticsearch) on loopback, one node each unless told
    otherwise; wait until healthy."""
    from flockwatch.adapters import local_services

    settings = _local_settings(kafka_brokers, store_nodes)
    _echo_json(local_services.up(settings, services or local_services.default_services(settings)))


@app.command()
def down(
    services: Services = None,
    purge: Annotated[bool, typer.Option(help="Also delete their data and logs.")] = False,
    kafka_brokers: KafkaBrokers = None,
    store_nodes: StoreNodes = None,
) -> None:
    """Stop the local services cleanly."""
    from flockwatch.adapters import local_services

    settings = _local_settings(kafka_brokers, store_nodes)
    _echo_json(local_services.down(settings, services or local_services.default_services(settings), purge=purge))


@app.command()
def status(kafka_brokers: KafkaBrokers = None, store_nodes: StoreNodes = None) -> None:
    """Show whether each local service (each node of a local cluster) is running and healthy."""
    from flockwatch.adapters import local_services

    report = local_services.status(_local_settings(kafka_brokers, store_nodes))
    _echo_json(report)
    if not all(s.get("healthy") for s in report.values()):
        raise typer.Exit(1)


@app.command("lag")
def lag_cmd(
    stage: Annotated[list[str] | None, typer.Option(help="Only these stages' groups (repeatable).")] = None,
    warn_fraction: Annotated[
        float, typer.Option(min=0.01, max=0.99, help="Warn once the oldest unread record used this share of retention.")
    ] = 0.5,
    alert: Annotated[
        bool, typer.Option(help="Also store a consumer_lag_age alert per warn/critical group and send it to the sinks.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Age of each consumer group's oldest unread record against its topic's retention.ms.

    Exit 0 when every active group is ok, 1 on warn or critical (for cron and monitoring)."""
    from flockwatch.adapters.kafka_bus import when_kafka_ready
    from flockwatch.adapters.kafka_lag_age import check_lag_age, raise_lag_alerts, state_exit_code
    from flockwatch.workers import STAGE_INPUTS

    unknown = sorted(set(stage or ()) - set(STAGE_INPUTS))
    if unknown:
        raise typer.BadParameter(f"unknown stage(s) {', '.join(unknown)}; known: {', '.join(STAGE_INPUTS)}")
    wanted = {k: v for k, v in STAGE_INPUTS.items() if not stage or k in stage}
    settings = get_settings()
    report = when_kafka_ready(settings, lambda: check_lag_age(settings, wanted, warn_fraction=warn_fraction))
    out = report.as_dict()
    if alert:
        from flockwatch.adapters.alert_sinks import build_sinks
        from flockwatch.alerts.rules import load_config
        from flockwatch.store import prepare_store

        config = load_config()
        out["alerts"] = raise_lag_alerts(prepare_store(settings), report, build_sinks(config.sinks), config.retry)
    if as_json:
        _echo_json(out)
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"consumer-lag age: {report.state.value}")
        for col in ("group", "topic[partition]", "lag", "oldest unread age", "retention", "state"):
            table.add_column(col)
        for g in report.groups:
            lagging = [p for p in g.partitions if p.lag > 0 or p.state.value != "ok"]
            if not lagging:
                table.add_row(g.group if g.active else f"{g.group} (no commits)", "all", "0", "-", "-", g.state.value)
            for p in lagging:
                retention = "infinite" if p.retention_ms < 0 else f"{p.retention_ms / 3_600_000:.1f} h"
                state = p.state.value + (f" ({p.lost} lost)" if p.lost else "")
                name = g.group if g.active else f"{g.group} (no commits)"
                table.add_row(
                    name, f"{p.topic}[{p.partition}]", str(p.lag), f"{p.age_ms / 3_600_000:.2f} h", retention, state
                )
        Console().print(table)
        if alert:
            typer.echo(json.dumps(out["alerts"]))
    raise typer.Exit(state_exit_code(report.state))


@app.command("replay")
def replay_cmd(
    dataset: Annotated[
        str,
        typer.Argument(
            help="Dataset format: ira_2016, twitter15, weibo_ced, pheme, rumoureval2017, bluesky_jetstream, "
            "cnt_csv; a connector's saved payloads (one JSON a line): reddit, mastodon, rss, ytdlp; "
            "or auto (recognise --path)."
        ),
    ],
    path: Annotated[Path | None, typer.Option(help="File or folder (default: the dataset under the data dir).")] = None,
    limit: Annotated[int | None, typer.Option(help="Stop after this many records.")] = None,
    rate: Annotated[float | None, typer.Option(help="At most this many records per second.")] = None,
    speed: Annotated[float | None, typer.Option(help="Real-time factor over the records' timestamps.")] = None,
) -> None:
    """Replay a recorded dataset into the raw-posts topic (the default data source)."""
    from flockwatch.adapters.kafka_bus import ensure_topics
    from flockwatch.adapters.replayer import replay
    from flockwatch.replay import UnknownFormatError, detect_format

    settings = get_settings()
    try:
        if dataset == "auto":
            if path is None:
                raise UnknownFormatError("`auto` needs --path to look at")
            dataset = detect_format(path).name
        ensure_topics(settings)
        with _progress(f"replaying {dataset}", limit) as advance:
            report = replay(settings, dataset, path, limit=limit, rate=rate, speed=speed, on_progress=advance)
    except (UnknownFormatError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    _echo_json({**report.__dict__, "rate_per_s": round(report.rate, 1)})
    if report.errors:
        typer.echo(f"error: {report.errors[0]}", err=True)
        raise typer.Exit(1)


@graph_app.command("export")
def graph_export(
    fmt: Annotated[str, typer.Option("--format", help="gexf, graphml, csv or jsonl.")],
    output: Annotated[Path, typer.Option("--output", help="Where to write the graph.")],
    start: Annotated[str | None, typer.Option("--start", help="ISO 8601; co-actions from then on.")] = None,
    end: Annotated[str | None, typer.Option("--end", help="ISO 8601; co-actions before then.")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="Only these layers, comma-separated.")] = None,
) -> None:
    """The stored coordination graph (edges with evidence) of a period; needs the store, not Kafka."""
    from datetime import UTC, datetime

    from flockwatch.stages.graph_windows import export_graph
    from flockwatch.store import open_store

    def when(value: str | None, name: str) -> datetime | None:
        if value is None:
            return None
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise typer.BadParameter(f"not ISO 8601: {value!r}", param_hint=name) from exc
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    kinds = [k.strip() for k in (kind or "").split(",") if k.strip()]
    try:
        store = open_store(get_settings())
        report = export_graph(store, output, fmt, when(start, "--start"), when(end, "--end"), kinds)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--format") from exc
    _echo_json(report)


# ``flockwatch worker <stage>``: one long-running consumer group per stage.
WORKERS = {
    "normalize": "Raw records → normalised posts (bad records → dead-letter topic).",
    "text": "Normalised posts → text scores and narratives (single-writer; model loaded once).",
    "media": "Normalised posts → media scores: safe fetch, provenance, bank matches, detectors (models loaded once).",
    "index": "Posts and scores → the store, committing offsets only after the store acknowledged.",
    "rollups": "Text scores → narrative and account documents, recomputed from the stored posts once indexed.",
    "alerts": "Posts and scores → alerts (store, topic, sinks) per $FLOCKWATCH_ALERTS_CONFIG (single-writer).",
    "graph": "Normalised posts → coordination edges, cascades and accounts in the store (single-writer).",
}


def _worker_command(name: str, summary: str) -> Callable[[], None]:
    def command() -> None:
        _run_worker(name)

    command.__doc__ = summary
    return command


for _name, _summary in WORKERS.items():
    worker_app.command(_name)(_worker_command(_name, _summary))


def _run_worker(name: str) -> None:
    import logging
    import signal
    import threading

    from flockwatch.adapters.kafka_bus import ensure_topics, run_stage
    from flockwatch.adapters.single_writer import SecondWriter
    from flockwatch.workers import build_stage, group_id
    from flockwatch.yamlconf import ConfigError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    # A worker started before its services waits for them (logging why) instead of exiting.
    ensure_topics(settings, wait_s=None)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    def log_batch(counts: object) -> None:
        logging.getLogger(f"flockwatch.worker.{name}").info("batch: %s", dict(counts))  # type: ignore[call-overload]

    try:
        stage = build_stage(name, settings, wait_s=None)
    except (ConfigError, ValueError) as exc:  # bad alert rules or settings: waiting would not mend them
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        report = run_stage(
            settings,
            stage,
            group_id(settings, name),
            stop=stop,
            on_batch=log_batch,
            wait_s=None,
            instance_id=settings.kafka_group_instance_id or None,
            # The alerts stage judges its last burst interval on shutdown and publishes what that raises.
            flush_on_stop=getattr(stage, "final_flush", None),
        )
    except SecondWriter as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    finally:
        close = getattr(stage, "close", None)
        if close is not None:
            close()  # the alerts stage lets its sink deliveries finish
    _echo_json({"stage": name, **dict(report.counts), "elapsed_s": round(report.elapsed_s, 1)})


@app.command()
def demo(
    dataset: Annotated[str, typer.Option(help="Dataset format to replay.")] = "ira_2016",
    limit: Annotated[int | None, typer.Option(help="Records to replay (0 = all).")] = 30_000,
    rate: Annotated[float | None, typer.Option(help="At most this many records per second.")] = None,
    fresh: Annotated[bool, typer.Option(help="Delete this deployment's indices first.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON only.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Also show third-party warnings and library logs (FLOCKWATCH_VERBOSE=1).")
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Worker processes of each stage that scales out (normalize, media, index, rollups); the "
            "single-writer stages (text, graph, alerts) run one. More than FLOCKWATCH_TOPIC_PARTITIONS would idle.",
        ),
    ] = 1,
) -> None:
    """Start what is not running, replay a real dataset through every stage, print a summary."""
    from flockwatch.cli.demo import run_demo

    if verbose:
        show_everything()
    settings = get_settings()
    with _progress(f"replaying {dataset}", limit or None, quiet=as_json) as advance:
        summary = run_demo(
            settings, dataset, limit=limit or None, rate=rate, fresh=fresh, on_progress=advance, workers=workers
        )
    api = _demo_api_access(settings)
    if as_json:
        stages = {name: dict(counts) for name, counts in summary.stage_counts.items()}
        extra = {"top": summary.top, "example_queries": summary.example_queries, "stages": stages, "api": api}
        _echo_json(summary.as_dict() | extra)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Flockwatch demo: {dataset}", show_header=False)
    for k, v in summary.as_dict().items():
        table.add_row(k.replace("_", " "), str(v))
    for name, values in summary.top.items():
        table.add_row(f"top {name}", ", ".join(f"{value} ({count:,})" for value, count in values))
    console = Console()
    console.print(table)
    console.print("Try next:")
    for q in summary.example_queries:
        console.print(f"  {q}", markup=False, soft_wrap=True)  # commands stay copy-pasteable
    console.print(f"Query API (start it with `flockwatch serve`): {api['url']}", markup=False, soft_wrap=True)
    console.print(f"  dashboard: {api['dashboard']} (sign in with this token)", markup=False, soft_wrap=True)
    console.print(f"  analyst token: {api['token']}", markup=False, soft_wrap=True)
    console.print(
        f"  curl -H 'Authorization: Bearer {api['token']}' '{api['url']}posts?limit=5'", markup=False, soft_wrap=True
    )


def _demo_api_access(settings: Settings) -> dict[str, str]:
    """The API's and the dashboard's URLs and a fresh analyst token named ``demo`` (the previous demo token is
    revoked)."""
    from flockwatch.api.access import Role
    from flockwatch.api.app import API, api_paths

    tokens, audit = api_paths(settings)
    tokens.revoke("demo")
    token = tokens.create("demo", Role.analyst)
    audit.append("demo", "admin", "token_create", "demo", {"role": "analyst"})
    base = f"http://{settings.api_host}:{settings.api_port}"
    return {"url": f"{base}{API}/", "dashboard": f"{base}/", "token": token}


@app.command()
def search(
    query: Annotated[
        str, typer.Argument(help="Lucene query string, e.g. 'hashtags:maga AND author.category:RightTroll'.")
    ],
    size: Annotated[int, typer.Option(help="How many posts.")] = 10,
) -> None:
    """Search stored posts, newest first; one JSON document per line."""
    from flockwatch.store import open_store

    for doc in open_store(get_settings()).posts.query_string(query, size=size):
        typer.echo(json.dumps(doc, ensure_ascii=False, default=str))


@app.command("dead-letters")
def dead_letters(
    limit: Annotated[int, typer.Option(min=1, help="How many, oldest first.")] = 20,
    with_original: Annotated[bool, typer.Option(help="Include the original bytes (base64).")] = False,
    stage: Annotated[
        str | None, typer.Option(help="Only the letters of this stage (a worker's name, replay or collect).")
    ] = None,
    redrive: Annotated[
        bool,
        typer.Option(
            help="Put the originals back on their source topics, for the stages to take again (once what rejected "
            "them is fixed). Goes on where the last redrive of the same --stage stopped."
        ),
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="With --redrive: say what would be redriven, send nothing.")] = False,
) -> None:
    """What the pipeline rejected: stage, reason and where it came from; one JSON object per line."""
    from pydantic import ValidationError

    from flockwatch.adapters.kafka_bus import read_topic
    from flockwatch.schema import DeadLetter
    from flockwatch.topics import Topic
    from flockwatch.workers import STAGES

    if stage is not None and stage not in (known := (*STAGES, "replay", "collect")):
        raise typer.BadParameter(f"no stage {stage!r}; dead letters come from {', '.join(known)}", param_hint="--stage")
    if redrive and with_original:
        raise typer.BadParameter("--with-original lists letters; --redrive sends them", param_hint="--with-original")
    if redrive:
        from kafka.errors import KafkaTimeoutError

        from flockwatch.adapters.redrive import redrive_dead_letters

        try:
            lines, complete = redrive_dead_letters(get_settings(), stage, limit, dry_run=dry_run)
        except KafkaTimeoutError as exc:  # nothing was committed: the next run sends what this one might have
            typer.echo(f"the broker did not answer in time ({exc}); nothing committed: run it again", err=True)
            raise typer.Exit(1) from exc
        for line in lines:
            typer.echo(json.dumps(line, ensure_ascii=False))
        actions = Counter(line["action"] for line in lines)
        typer.echo(f"dead letters: {dict(actions) or 'none to redrive'}", err=True)
        if not complete:
            typer.echo("the broker stopped answering before the run reached the topic's end: run it again", err=True)
            raise typer.Exit(1)
        return
    if dry_run:
        raise typer.BadParameter("--dry-run goes with --redrive", param_hint="--dry-run")

    def of_stage(value: bytes) -> bool:
        try:
            return stage is None or DeadLetter.model_validate_json(value).stage == stage
        except ValidationError:
            return stage is None  # shown as what it is, below

    for value in read_topic(get_settings(), Topic.dead_letter, limit, keep=of_stage):
        try:
            letter = DeadLetter.model_validate_json(value)
        except ValidationError as exc:  # not written by Flockwatch
            typer.echo(json.dumps({"error": f"not a dead letter: {exc.errors()[0]['msg']}", "bytes": len(value)}))
            continue
        exclude = None if with_original else {"original_b64"}
        doc = letter.model_dump(mode="json", exclude=exclude)
        doc["original_bytes"] = len(letter.original())
        typer.echo(json.dumps(doc, ensure_ascii=False))


@contextmanager
def _progress(label: str, total: int | None, quiet: bool = False) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr; yields a callback taking the records done so far."""
    if quiet:
        yield lambda _done: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as progress:
        task = progress.add_task(label, total=total)
        yield lambda done: progress.update(task, completed=done)


def main() -> None:  # pragma: no cover - console entry point (pyproject [project.scripts])
    quiet_third_party()  # before any command imports a model library
    try:
        app()
    except Exception as exc:
        line = setup_error_line(exc)
        if line is None:
            line = service_error_line(exc, get_settings())
        if line is None:
            raise
        # A service that is down or still starting is an operator's matter, not a bug: one line, no traceback.
        typer.echo(f"flockwatch: {line}", err=True)
        raise SystemExit(1) from None


def setup_error_line(exc: BaseException) -> str | None:
    """One line for a mistake in the settings or the local set-up (a bad ``FLOCKWATCH_*`` value, no JDK, the
    other store engine asked for), or None for any other error."""
    from pydantic import ValidationError

    from flockwatch.adapters.client_security import SecuritySettingsError
    from flockwatch.adapters.local_services import ServiceError
    from flockwatch.store.documents import StoreAccessDenied, WrongStoreEngine

    if isinstance(exc, ValidationError) and exc.title == Settings.__name__:
        problems = [f"FLOCKWATCH_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()]
        return "invalid settings: " + "; ".join(problems)
    if isinstance(exc, ServiceError | WrongStoreEngine | SecuritySettingsError | StoreAccessDenied):
        return str(exc)
    return None


def service_error_line(exc: BaseException, settings: Settings) -> str | None:
    """One line for an error that means "a service is not answering", or None for any other error."""
    from flockwatch.adapters import local_services
    from flockwatch.adapters.kafka_bus import kafka_transient
    from flockwatch.messages import TransientError
    from flockwatch.readiness import ServiceNotReady, describe
    from flockwatch.store.engines.rest import store_transient

    if isinstance(exc, ServiceNotReady):
        return str(exc)
    module = type(exc).__module__
    if module.startswith("kafka") and kafka_transient(exc):
        service, name = f"Kafka at {settings.kafka_bootstrap}", "kafka"
    elif isinstance(exc, TransientError) and store_transient(exc):
        service, name = settings.store_name, settings.store_engine
    else:
        return None
    return str(ServiceNotReady(service, describe(exc), local_services.hint(settings, name)))


if __name__ == "__main__":  # pragma: no cover
    main()
