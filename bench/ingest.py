"""Posts/s from replay to indexed (no scoring), on the real broker and store.

Each run uses a fresh topic and index namespace, starts the streaming stages (one process
each, as `flockwatch demo` does), replays IRA 2016 at full speed and stops the clock when
every post is committed by the index stage. The figure is the median over the runs.

With ``--engine opensearch --engine elasticsearch`` the runs alternate between the two stores (both running, the
second one on the store port + 1), so both medians come from one session on the same machine.

    python -m bench.ingest --posts 100000 --runs 3
    python -m bench.ingest --posts 100000 --runs 3 --engine opensearch --engine elasticsearch
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time

from bench.report import write_section
from flockwatch.adapters import local_services
from flockwatch.adapters.replayer import replay
from flockwatch.adapters.scratch import scratch_namespace
from flockwatch.cli.demo import stage_processes, wait_for_stages
from flockwatch.config import Settings
from flockwatch.replay import normalize_record, read_dataset
from flockwatch.store import open_store
from flockwatch.store.documents import IndexKind

# Replay to indexed without scoring: the foundation's path.
INGEST_STAGES = ("normalize", "index")


def distinct_posts(posts: int) -> int:
    """Rows captured twice in the release share a post id and collapse into one document."""
    records = itertools.islice(read_dataset("ira_2016", None, Settings().data_dir), posts)
    return len({post.key for post in map(normalize_record, records) if post is not None})


ENGINE_NAMES = {"opensearch": "OpenSearch", "elasticsearch": "Elasticsearch"}


def engine_settings(engine: str) -> Settings:
    """The configured store for the configured engine; the other engine one port up (both run side by side)."""
    base = Settings()
    if engine == base.store_engine:
        return base
    return base.model_copy(
        update={
            "store_engine": engine,
            "store_port": base.store_port + 1,
            "store_transport_port": base.store_transport_port + 1,
        }
    )


def service_versions(settings: Settings, engine: str) -> tuple[str, str]:
    """(Kafka, store) versions, from the jar names of what ``flockwatch up`` runs."""
    kafka = sorted(local_services.kafka_libs(settings).glob("kafka_2.13-*.jar"))
    if engine == "elasticsearch":
        search = sorted(local_services.elasticsearch_libs(settings).glob("elasticsearch-[0-9]*.jar"))
    else:
        search = sorted(local_services.opensearch_libs(settings).glob("opensearch-[0-9]*.jar"))
    return (
        kafka[0].stem.split("-", 1)[1] if kafka else "?",
        search[0].stem.split("-", 1)[1] if search else "?",
    )


def one_run(posts: int, expected: int, base: Settings) -> tuple[float, float, int]:
    with scratch_namespace("bench", base) as settings:
        with stage_processes(settings, INGEST_STAGES):
            time.sleep(3.0)  # let the consumer groups settle before the clock starts
            started = time.monotonic()
            replay(settings, "ira_2016", limit=posts)
            produced_s = time.monotonic() - started
            if not wait_for_stages(settings, timeout_s=1200, poll_s=0.2, stages=INGEST_STAGES):
                raise TimeoutError("pipeline did not catch up")
            total_s = time.monotonic() - started
        store = open_store(settings)
        store.engine.refresh()
        indexed = store.engine.count(IndexKind.posts)
        if indexed != expected:
            raise AssertionError(f"indexed {indexed} != {expected} distinct posts")
        return total_s, produced_s, indexed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--engine",
        action="append",
        choices=sorted(ENGINE_NAMES),
        help="store engine to measure (repeat for both; default: the configured one)",
    )
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    engines = list(dict.fromkeys(args.engine or [Settings().store_engine]))

    for engine in engines:
        settings = engine_settings(engine)
        local_services.up(settings, list(local_services.default_services(settings)))
    expected = distinct_posts(args.posts)
    runs: dict[str, list[tuple[float, float, int]]] = {engine: [] for engine in engines}
    for _ in range(args.runs):  # alternating, so both engines see the same machine
        for engine in engines:
            runs[engine].append(one_run(args.posts, expected, engine_settings(engine)))
    rows = []
    for engine in engines:
        totals = [r[0] for r in runs[engine]]
        rates = sorted(args.posts / t for t in totals)
        replay_rate = statistics.median(args.posts / r[1] for r in runs[engine])
        kafka, search = service_versions(Settings(), engine)
        rows.append(
            f"| {ENGINE_NAMES[engine]} {search} (Kafka {kafka}) | **{statistics.median(rates):,.0f}** | "
            f"{', '.join(f'{r:,.0f}' for r in rates)} | {replay_rate:,.0f} | {statistics.median(totals):.1f} s |"
        )
    names = " and ".join(ENGINE_NAMES[e] for e in engines)
    body = (
        f"IRA 2016, first {args.posts:,} posts, {args.runs} runs per store, replay → Kafka → normalize → Kafka → "
        f"index → {names} (acknowledged and committed), on the same {os.cpu_count()} cores"
        + (", runs alternating between the stores" if len(engines) > 1 else "")
        + ". Target: ≥ 2,000 posts/s.\n\n"
        "| store | replay to indexed, median (posts/s) | all runs (posts/s) | replay into Kafka alone, median "
        "(posts/s) | median wall time |\n|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )
    if len(engines) == 2:
        medians = [statistics.median(args.posts / r[0] for r in runs[e]) for e in engines]
        body += f"\n{ENGINE_NAMES[engines[1]]} / {ENGINE_NAMES[engines[0]]}: {medians[1] / medians[0]:.2f}x\n"
    print(body)
    if not args.no_write:
        write_section("ingest", "python -m bench.ingest " + " ".join(sys.argv[1:]), body)


if __name__ == "__main__":
    main()
