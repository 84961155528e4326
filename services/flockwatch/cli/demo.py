"""`flockwatch demo`: start what is missing, replay a real dataset through every stage, summarise."""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any

from flockwatch.adapters import local_services
from flockwatch.adapters.kafka_bus import ensure_topics, group_lag, run_stage
from flockwatch.adapters.replayer import ReplayReport, replay
from flockwatch.cli.quiet import quiet_third_party
from flockwatch.config import Settings
from flockwatch.store import Store, open_store, prepare_store, when_store_ready
from flockwatch.store.documents import IndexKind
from flockwatch.workers import SINGLE_WRITER_STAGES, STAGE_INPUTS, STAGES, build_stage, group_id


@dataclass
class DemoSummary:
    dataset: str
    replay: ReplayReport
    stage_counts: dict[str, Counter[str]]
    indexed_in_store: int
    elapsed_s: float
    example_queries: list[str] = field(default_factory=list)
    # What the later stages made of it: documents per index (text-scored posts, cascades, alerts...).
    stored: dict[str, int] = field(default_factory=dict)
    # What the campaign looks like: the most frequent values of a few fields in the store.
    top: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    @property
    def dead_lettered(self) -> int:
        return self.replay.oversize_dead_lettered + sum(c["dead_lettered"] for c in self.stage_counts.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "posts_read": self.replay.read,
            "posts_produced": self.replay.produced,
            "normalized": self.stage_counts.get("normalize", Counter())["normalized"],
            "skipped_not_posts": self.stage_counts.get("normalize", Counter())["skipped"],
            "dead_lettered": self.dead_lettered,
            "indexed_in_store": self.indexed_in_store,
            **{f"stored_{name}": n for name, n in self.stored.items()},
            "replay_rate_per_s": round(self.replay.rate, 1),
            "elapsed_s": round(self.elapsed_s, 1),
            "pipeline_rate_per_s": round(self.replay.produced / self.elapsed_s, 1) if self.elapsed_s else 0.0,
        }


def _stage_process(label: str, name: str, settings_json: str, stop: MpEvent, results: Any) -> None:
    quiet_third_party()  # a spawned process inherits the environment, not the parent's filters
    settings = Settings.model_validate_json(settings_json)
    stage = build_stage(name, settings)
    try:
        # As `flockwatch worker` does: the alerts stage judges its last burst interval as it stops.
        report = run_stage(
            settings,
            stage,
            group_id(settings, name),
            stop=stop,  # type: ignore[arg-type]
            flush_on_stop=getattr(stage, "final_flush", None),
        )
    finally:
        close = getattr(stage, "close", None)
        if close is not None:
            close()  # the alerts stage lets its sink deliveries finish
    results.put((label, dict(report.counts)))


def wait_for_stages(
    settings: Settings,
    timeout_s: float,
    poll_s: float = 0.5,
    stages: Sequence[str] = STAGES,
    exited: Callable[[], list[str]] = list,
) -> bool:
    """Block until each of ``stages`` has committed everything upstream produced, in pipeline order.

    ``exited`` names the stage processes that died: waiting for them would only run out the clock."""
    deadline = time.monotonic() + timeout_s
    for name in stages:
        while group_lag(settings, group_id(settings, name), STAGE_INPUTS[name]) > 0:
            if dead := exited():
                raise RuntimeError(f"stage process(es) exited early: {', '.join(dead)}; see the output above")
            if time.monotonic() > deadline:
                return False
            time.sleep(poll_s)
    return True


def stage_lags(settings: Settings, stages: Sequence[str] = STAGES) -> dict[str, int]:
    """Messages each stage has not yet committed, by stage: what a timeout names, so a stall says where it is."""
    return {name: group_lag(settings, group_id(settings, name), STAGE_INPUTS[name]) for name in stages}


def worker_plan(stages: Sequence[str], workers: int) -> dict[str, int]:
    """Workers per stage when each stage that scales out gets ``workers`` (single-writer stages get one). More
    workers than topic partitions would idle: the caller sizes the partitions."""
    if workers < 1:
        raise ValueError("workers must be at least 1")
    return {name: 1 if name in SINGLE_WRITER_STAGES else workers for name in stages}


@dataclass
class RunningStages:
    """Stage processes of a ``stage_processes`` block, labelled ``stage`` (or ``stage-<n>`` when a stage has
    several workers): their counts per stage, summed over its workers (filled once the block exits)."""

    procs: dict[str, BaseProcess]
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    reported: set[str] = field(default_factory=set)

    def exited(self) -> list[str]:
        return [label for label, p in self.procs.items() if p.exitcode is not None]


@contextmanager
def stage_processes(
    settings: Settings, stages: Sequence[str] = STAGES, workers: Mapping[str, int] | None = None
) -> Iterator[RunningStages]:
    """Run each of ``stages`` in its own process (two cores, one GIL each) for the block; ``workers[stage]``
    processes of a stage (default one) share its consumer group, as more ``flockwatch worker`` commands would."""
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    results = ctx.Queue()
    procs: dict[str, BaseProcess] = {}
    for name in stages:
        count = (workers or {}).get(name, 1)
        for n in range(1, count + 1):
            label = name if count == 1 else f"{name}-{n}"
            procs[label] = ctx.Process(
                target=_stage_process, args=(label, name, settings.model_dump_json(), stop, results), daemon=True
            )
    running = RunningStages(procs)
    for p in running.procs.values():
        p.start()
    try:
        yield running
    finally:
        stop.set()
        _collect_counts(running, results, deadline_s=120)
        for p in running.procs.values():
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()


def _collect_counts(running: RunningStages, results: Any, deadline_s: float) -> None:
    """Each stage's counts from the queue. A stage that reported may already have exited, so its exit says
    nothing; only a stage that exited without reporting (it crashed) is given up on, once the queue is empty."""
    deadline = time.monotonic() + deadline_s
    while (pending := set(running.procs) - running.reported) and time.monotonic() < deadline:
        try:
            label, c = results.get(timeout=1.0)
        except queue.Empty:
            if all(running.procs[n].exitcode is not None for n in pending):
                break
            continue
        running.reported.add(label)
        stage = label if label in STAGE_INPUTS else label.rsplit("-", 1)[0]
        running.counts.setdefault(stage, Counter()).update(Counter(c))


def run_demo(
    settings: Settings,
    dataset: str = "ira_2016",
    path: Path | None = None,
    limit: int | None = 30_000,
    rate: float | None = None,
    speed: float | None = None,
    fresh: bool = False,
    on_progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> DemoSummary:
    started = time.monotonic()
    local_services.up(settings, list(local_services.default_services(settings)))
    ensure_topics(settings)
    if fresh:
        when_store_ready(settings, open_store(settings).engine.drop_all)
    store = prepare_store(settings)
    with stage_processes(settings, workers=worker_plan(STAGES, workers)) as running:
        report = replay(settings, dataset, path, limit=limit, rate=rate, speed=speed, on_progress=on_progress)
        if not wait_for_stages(settings, timeout_s=600, exited=running.exited):
            try:
                lags = ", ".join(f"{name} {lag}" for name, lag in stage_lags(settings).items())
            except Exception as exc:  # Kafka itself may be what stalled: the timeout must still be reported
                lags = f"Kafka did not say: {exc}"
            raise TimeoutError(f"stages did not catch up within 10 minutes (messages not yet committed: {lags})")
    store.engine.refresh(IndexKind.posts)
    return DemoSummary(
        dataset=dataset,
        replay=report,
        stage_counts=running.counts,
        indexed_in_store=store.engine.count(IndexKind.posts, {"term": {"source.format": dataset}}),
        elapsed_s=time.monotonic() - started,
        example_queries=example_queries(settings, store),
        top={f: store.posts.top_values(f, size=5) for f in TOP_FIELDS},
        stored=stored_counts(store),
    )


def stored_counts(store: Store) -> dict[str, int]:
    store.engine.refresh()
    counts = {"text_scored_posts": store.engine.count(IndexKind.posts, {"exists": {"field": "text_score.label"}})}
    for kind in (
        IndexKind.narratives,
        IndexKind.cascades,
        IndexKind.accounts,
        IndexKind.coordination_edges,
        IndexKind.alerts,
    ):
        counts[kind.value] = store.engine.count(kind)
    return counts


TOP_FIELDS = ("hashtags", "author.category", "author.handle")


def example_queries(settings: Settings, store: Store) -> list[str]:
    top_tags = [tag for tag, _ in store.posts.top_values("hashtags", size=3)]
    tag = top_tags[0] if top_tags else "news"
    alias = store.engine.alias(IndexKind.posts)
    return [
        f'flockwatch search "hashtags:{tag}"',
        'flockwatch search "author.category:HashtagGamer AND text:debate" --size 5',
        "flockwatch top hashtags",
        "flockwatch top author.category",
        f"curl -s '{settings.store_url}/{alias}/_search?q=hashtags:{tag}&size=3&pretty'",
        f"curl -s '{settings.store_url}/{alias}/_count?pretty'",
    ]
