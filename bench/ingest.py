"""Posts/s from replay to indexed (no scoring), on the real broker and store.

Each run uses a fresh topic and index namespace, starts the streaming stages (one process
each, as `flockwatch demo` does), replays IRA 2016 at full speed and stops the clock when
every post is committed by the index stage. The figure is the median over the runs.

    python -m bench.ingest --posts 100000 --runs 3
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


def service_versions(settings: Settings) -> tuple[str, str]:
    """(Kafka, OpenSearch) versions, from the jar names of what ``flockwatch up`` runs."""
    kafka = sorted(local_services.kafka_libs(settings).glob("kafka_2.13-*.jar"))
    search = sorted(local_services.opensearch_libs(settings).glob("opensearch-[0-9]*.jar"))
    return (
        kafka[0].stem.split("-", 1)[1] if kafka else "?",
        search[0].stem.split("-", 1)[1] if search else "?",
    )


def one_run(posts: int, expected: int) -> tuple[float, float, int]:
    with scratch_namespace("bench") as settings:
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
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)

    local_services.up(Settings(), list(local_services.SERVICES))
    expected = distinct_posts(args.posts)
    runs = [one_run(args.posts, expected) for _ in range(args.runs)]
    totals = [r[0] for r in runs]
    rates = sorted(args.posts / t for t in totals)
    median_rate = statistics.median(rates)
    replay_rate = statistics.median(args.posts / r[1] for r in runs)
    kafka, search = service_versions(Settings())
    body = (
        f"IRA 2016, first {args.posts:,} posts, {args.runs} runs, replay → Kafka → normalize → Kafka → index → "
        f"OpenSearch (acknowledged and committed), Kafka {kafka} and OpenSearch {search} on the same "
        f"{os.cpu_count()} cores.\n\n"
        f"| figure | value |\n|---|---|\n"
        f"| replay to indexed, median | **{median_rate:,.0f} posts/s** |\n"
        f"| all runs (posts/s) | {', '.join(f'{r:,.0f}' for r in rates)} |\n"
        f"| replay into Kafka alone, median | {replay_rate:,.0f} posts/s |\n"
        f"| median wall time | {statistics.median(totals):.1f} s |\n"
        f"| target | ≥ 2,000 posts/s |\n"
    )
    print(body)
    if not args.no_write:
        write_section("ingest", "python -m bench.ingest " + " ".join(sys.argv[1:]), body)


if __name__ == "__main__":
    main()
