"""Whole-pipeline throughput and memory, every stage a separate ``flockwatch worker`` process, as deployed.

Throughput: for P = 1, 2, 3 topic partitions (= workers per scalable stage; single-writer stages run one worker),
each run gets a fresh topic and index namespace on the running Kafka and OpenSearch, starts the workers, waits until
every consumer group has all its members, then replays IRA 2016 at full speed (``flockwatch replay`` in its own
process) and counts, every half second, the post documents in the store that carry a text score. The clock stops
when that count reaches the distinct posts replayed. Reported: posts/s over the whole run, the steady-state slope
(20% → 80% stored), the wall time and each stage's consumer lag at that moment (which stage is behind). The P values
are interleaved round by round so they see the same machine; figures are medians over the rounds.

Memory: one soak run (P = --soak-partitions) replays at --soak-rate posts/s (the target load) for --soak-minutes and
samples the RSS of every process of the stack (Kafka and OpenSearch JVMs, every worker, the replayer) every
--sample-s seconds; it writes docs/pipeline-memory.csv and docs/pipeline-memory.png and checks the 8 GiB goal.

    python -m bench.pipeline                                   # 3 rounds of 20,000 posts x P=1,2,3, 10 min soak
    python -m bench.pipeline --posts 3000 --rounds 1 --soak-minutes 1 --no-write   # a quick look
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from flockwatch.config import Settings

ROOT = Path(__file__).resolve().parents[1]
FLOCKWATCH = ROOT / ".venv" / "bin" / "flockwatch"
MEMORY_PNG = ROOT / "docs" / "pipeline-memory.png"
MEMORY_CSV = ROOT / "docs" / "pipeline-memory.csv"
TARGET_POSTS_S = 300.0
MEMORY_GOAL_BYTES = 8 * 2**30
COMMAND = "python -m bench.pipeline"

Series = Sequence[tuple[float, int]]  # (seconds since the replay started, posts stored with scores)


# --- pure parts -------------------------------------------------------------------------------------------------


def time_to_reach(series: Series, target: int) -> float | None:
    """The first time the count reached ``target``, interpolated between the two samples around it."""
    prev: tuple[float, int] | None = None
    for t, n in series:
        if n >= target:
            if prev is None or n == prev[1]:
                return t
            t0, n0 = prev
            return t0 + (t - t0) * (target - n0) / (n - n0)
        prev = (t, n)
    return None


def steady_rate(series: Series, total: int, lo: float = 0.2, hi: float = 0.8) -> float | None:
    """Posts/s between ``lo`` and ``hi`` of ``total`` stored: the rate without start-up and the tail."""
    start, end = time_to_reach(series, round(total * lo)), time_to_reach(series, round(total * hi))
    if start is None or end is None or end <= start:
        return None
    return (round(total * hi) - round(total * lo)) / (end - start)


@dataclass(frozen=True)
class RunResult:
    partitions: int
    posts: int  # distinct posts replayed: what must end stored with scores
    wall_s: float  # replay start → every post stored with scores
    replay_s: float  # replay start → replayer done
    steady: float | None
    first_s: float | None  # replay start → the first post stored with scores (latency through every stage)
    lag_mid: Mapping[str, int]  # stage → its consumer lag when half the posts were stored: where the time goes
    lag: Mapping[str, int]  # stage → its consumer lag when the clock stopped
    cpu_s: Mapping[str, float] = field(default_factory=dict)  # component → CPU seconds spent during the run

    @property
    def rate(self) -> float:
        return self.posts / self.wall_s


def median_lags(lags: Sequence[Mapping[str, int]]) -> str:
    """``stage median`` for the stages with a lag in some run, else "all 0"."""
    stages = [s for s in dict.fromkeys(s for lag in lags for s in lag) if any(lag.get(s, 0) for lag in lags)]
    return ", ".join(f"{s} {statistics.median(lag.get(s, 0) for lag in lags):,.0f}" for s in stages) or "all 0"


def throughput_table(runs: Sequence[RunResult]) -> str:
    """One row per P: medians over the rounds, then every run, and the median lag per stage mid-run and at the end."""
    lines = [
        "| P | replay → stored with scores, median (posts/s) | all runs (posts/s) | steady 20→80%, median (posts/s) "
        "| median wall time | first post stored after | replay alone, median | lag at 50% stored | lag at the stop |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in sorted({r.partitions for r in runs}):
        mine = [r for r in runs if r.partitions == p]
        rates = sorted(r.rate for r in mine)
        steadies = [r.steady for r in mine if r.steady is not None]
        firsts = [r.first_s for r in mine if r.first_s is not None]
        mark = "✅" if statistics.median(rates) >= TARGET_POSTS_S else "❌"
        lines.append(
            f"| {p} | **{statistics.median(rates):,.0f}** {mark} | {', '.join(f'{x:,.0f}' for x in rates)} | "
            f"{f'{statistics.median(steadies):,.0f}' if steadies else '-'} | "
            f"{statistics.median(r.wall_s for r in mine):.1f} s | "
            f"{f'{statistics.median(firsts):.1f} s' if firsts else '-'} | "
            f"{statistics.median(r.posts / r.replay_s for r in mine):,.0f} posts/s | "
            f"{median_lags([r.lag_mid for r in mine])} | {median_lags([r.lag for r in mine])} |"
        )
    return "\n".join(lines)


def cpu_table(runs: Sequence[RunResult]) -> str:
    """CPU milliseconds per post stored, per component (workers of a stage summed), median over the runs of each P:
    what a post costs each part of the stack, the basis of the projection in docs/scaling.md."""
    parts = sorted({component_group(n) for r in runs for n in r.cpu_s})
    ps = sorted({r.partitions for r in runs})
    lines = ["| component | " + " | ".join(f"P={p} (ms/post)" for p in ps) + " |", "|---|" + "---|" * len(ps)]
    for part in [*parts, "total"]:
        cells = []
        for p in ps:
            per = [
                1000 * (sum(r.cpu_s.values()) if part == "total" else sum(
                    v for n, v in r.cpu_s.items() if component_group(n) == part)) / r.posts
                for r in runs if r.partitions == p
            ]  # fmt: skip
            cells.append(f"{statistics.median(per):.2f}")
        lines.append(f"| {part} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


Sample = tuple[float, Mapping[str, int]]  # (seconds since the soak started, component → RSS bytes)


def component_group(name: str) -> str:
    """``index-2`` → ``index``: workers of one stage add up to one line of the plot."""
    head, _, tail = name.rpartition("-")
    return head if head and tail.isdigit() else name


@dataclass(frozen=True)
class MemorySummary:
    peak_total: int
    peak_total_at_s: float
    peaks: dict[str, int] = field(default_factory=dict)  # component → its own peak (at any time)


def summarize_rss(samples: Sequence[Sample]) -> MemorySummary:
    """Peak of the summed RSS (at one sample time) and each component's own peak."""
    peaks: dict[str, int] = {}
    best, best_t = 0, 0.0
    for t, rss in samples:
        total = sum(rss.values())
        if total > best:
            best, best_t = total, t
        for name, value in rss.items():
            peaks[name] = max(peaks.get(name, 0), value)
    return MemorySummary(best, best_t, dict(sorted(peaks.items(), key=lambda kv: -kv[1])))


def grouped(samples: Sequence[Sample]) -> tuple[list[float], dict[str, list[int]]]:
    """Times and, per component group, its RSS at each time (0 where a process was not running)."""
    names = list(dict.fromkeys(component_group(n) for _, rss in samples for n in rss))
    times = [t for t, _ in samples]
    lines: dict[str, list[int]] = {n: [] for n in names}
    for _, rss in samples:
        sums = dict.fromkeys(names, 0)
        for name, value in rss.items():
            sums[component_group(name)] += value
        for n in names:
            lines[n].append(sums[n])
    return times, lines


def gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def memory_table(summary: MemorySummary, goal: int = MEMORY_GOAL_BYTES) -> str:
    mark = "✅" if summary.peak_total <= goal else "❌"
    rows = [
        f"Peak total RSS **{gib(summary.peak_total)}** {mark} (goal ≤ {gib(goal)}), at "
        f"{summary.peak_total_at_s:.0f} s.\n",
        "| process | peak RSS |",
        "|---|---|",
    ]
    rows += [f"| {name} | {gib(value)} |" for name, value in summary.peaks.items()]
    return "\n".join(rows)


# --- adapters: processes, Kafka, the store -----------------------------------------------------------------------


def worker_env(settings_env: Mapping[str, str], prefix: str, partitions: int) -> dict[str, str]:
    return {
        **os.environ,
        **settings_env,
        "FLOCKWATCH_TOPIC_PREFIX": prefix,
        "FLOCKWATCH_INDEX_PREFIX": prefix,
        "FLOCKWATCH_TOPIC_PARTITIONS": str(partitions),
    }


@dataclass
class Stack:
    procs: dict[str, subprocess.Popen[bytes]]
    logs: dict[str, IO[bytes]]


def _stop(procs: Mapping[str, subprocess.Popen[bytes]]) -> None:
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for p in procs.values():
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@contextmanager
def workers(settings: Settings, partitions: int, logdir: Path) -> Iterator[Stack]:
    """``flockwatch worker <stage>`` processes: P per scalable stage, one per single-writer stage. The text
    stage's narrative index on disk belongs to the scratch namespace too: removed once the workers are gone."""
    from flockwatch.cli.demo import worker_plan
    from flockwatch.workers import STAGES, narrative_state_dir

    prefix = settings.topic_prefix

    env = worker_env({}, prefix, partitions)
    stack = Stack({}, {})
    try:
        for stage, count in worker_plan(STAGES, partitions).items():
            for n in range(1, count + 1):
                label = f"{stage}-{n}"
                log: IO[bytes] = (logdir / f"{prefix}-{label}.log").open("wb")
                stack.logs[label] = log
                stack.procs[label] = subprocess.Popen(
                    [str(FLOCKWATCH), "worker", stage], env=env, stdout=log, stderr=subprocess.STDOUT
                )
        yield stack
    finally:
        _stop(stack.procs)
        for log in stack.logs.values():
            log.close()
        shutil.rmtree(narrative_state_dir(settings), ignore_errors=True)


def wait_for_members(settings: Settings, plan: Mapping[str, int], stack: Stack, timeout_s: float = 300) -> None:
    """Block until every stage's consumer group is stable with all its workers: the clock must not time start-up."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    from flockwatch.adapters.client_security import kafka_client_args
    from flockwatch.workers import group_id

    groups = {group_id(settings, stage): n for stage, n in plan.items()}
    admin = KafkaAdminClient(**kafka_client_args(settings))
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            dead = [label for label, p in stack.procs.items() if p.poll() is not None]
            if dead:
                raise RuntimeError(f"worker(s) exited during start-up: {', '.join(dead)}")
            try:
                described = admin.describe_groups(list(groups))
            except KafkaError as e:  # a fresh broker has no group coordinator until its offsets topic exists
                if not e.retriable:
                    raise
                described = {}
            ready = {
                g: d.get("group_state", d.get("state")) == "Stable" and len(d.get("members") or ()) == groups[g]
                for g, d in described.items()
            }
            if all(ready.get(g, False) for g in groups):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"groups not ready: {sorted(g for g in groups if not ready.get(g))}")
            time.sleep(1.0)
    finally:
        admin.close()


def replay_process(
    prefix: str, partitions: int, log: IO[bytes], limit: int | None, rate: float | None
) -> subprocess.Popen[bytes]:
    args = [str(FLOCKWATCH), "replay", "ira_2016"]
    if limit is not None:
        args += ["--limit", str(limit)]
    if rate is not None:
        args += ["--rate", str(rate)]
    return subprocess.Popen(args, env=worker_env({}, prefix, partitions), stdout=log, stderr=subprocess.STDOUT)


SCORED = {"exists": {"field": "text_score.label"}}


def stage_lags(settings: Settings) -> dict[str, int]:
    from flockwatch.adapters.kafka_bus import group_lag
    from flockwatch.workers import STAGE_INPUTS, group_id

    return {stage: group_lag(settings, group_id(settings, stage), inputs) for stage, inputs in STAGE_INPUTS.items()}


def one_run(partitions: int, posts: int, expected: int, logdir: Path, timeout_s: float) -> RunResult:
    from flockwatch.adapters.scratch import scratch_namespace
    from flockwatch.cli.demo import worker_plan
    from flockwatch.store import open_store
    from flockwatch.store.documents import IndexKind, StoreUnavailable
    from flockwatch.workers import STAGES

    base = Settings().model_copy(update={"topic_partitions": partitions})
    with scratch_namespace("bench", base) as settings:
        store = open_store(settings)
        with workers(settings, partitions, logdir) as stack:
            wait_for_members(settings, worker_plan(STAGES, partitions), stack)
            pids = {label: p.pid for label, p in stack.procs.items()} | jvm_pids(base)
            cpu_before = {label: _cpu(pid) for label, pid in pids.items()}
            with (logdir / f"{settings.topic_prefix}-replay.log").open("wb") as log:
                started = time.monotonic()
                replayer = replay_process(settings.topic_prefix, partitions, log, posts, None)
                series: list[tuple[float, int]] = [(0.0, 0)]
                replay_s: float | None = None
                lag_mid: dict[str, int] = {}
                while series[-1][1] < expected:
                    time.sleep(0.5)
                    if replay_s is None and replayer.poll() is not None:
                        replay_s = time.monotonic() - started
                        if replayer.returncode != 0:
                            raise RuntimeError(f"replay failed ({replayer.returncode}); see {log.name}")
                    if dead := [label for label, p in stack.procs.items() if p.poll() is not None]:
                        raise RuntimeError(f"worker(s) exited: {', '.join(dead)}; see {logdir}")
                    if time.monotonic() - started > timeout_s:
                        raise TimeoutError(f"P={partitions}: {series[-1][1]} of {expected} stored with scores")
                    try:
                        store.engine.refresh()
                        series.append((time.monotonic() - started, store.engine.count(IndexKind.posts, SCORED)))
                    except StoreUnavailable:  # busy with the load: count again at the next sample
                        continue
                    if not lag_mid and series[-1][1] >= expected / 2:
                        lag_mid = stage_lags(settings)
                cpu = {label: _cpu(pid) - cpu_before[label] for label, pid in pids.items()}
                replayer.wait()
                wall = time_to_reach(series, expected) or series[-1][0]
                lag = stage_lags(settings)
    result = RunResult(
        partitions,
        expected,
        wall,
        replay_s or wall,
        steady_rate(series, expected),
        time_to_reach(series, 1),
        lag_mid,
        lag,
        cpu,
    )
    print(
        f"P={partitions}: {result.rate:,.0f} posts/s ({result.wall_s:.1f} s), steady "
        f"{result.steady or 0:,.0f}/s, first stored at {result.first_s or 0:.1f} s, lag at 50% {lag_mid}, "
        f"at the end {lag}",
        flush=True,
    )
    return result


def _cpu(pid: int) -> float:
    """User + system CPU seconds of a process and its children so far; 0 once gone."""
    import psutil  # type: ignore[import-untyped]  # installed without stubs

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
        return sum(float(t.user + t.system) for t in (q.cpu_times() for q in procs))
    except psutil.Error:
        return 0.0


def _rss(pid: int) -> int:
    """RSS of a process and its children (a worker's CLI may fork helpers); 0 once gone."""
    import psutil

    try:
        proc = psutil.Process(pid)
        return int(proc.memory_info().rss) + sum(int(c.memory_info().rss) for c in proc.children(recursive=True))
    except psutil.Error:
        return 0


@dataclass
class SoakResult:
    samples: list[Sample]
    stored: list[tuple[float, int]]  # (seconds, posts stored with scores)
    lag_end: dict[str, int]
    lag_max: dict[str, int]


def sustained(
    stored: Sequence[tuple[float, int]], rate: float, minutes: float, distinct: Callable[[int], int] | None = None
) -> str:
    """What the soak shows about keeping up: stored posts/s over its second half against the replay rate, and
    against the distinct posts among the rows replayed then (``distinct(n)``: distinct posts in the first n rows;
    a dataset's repeated rows store once, so rows/s overstates what can be stored)."""
    half = [(t, n) for t, n in stored if t >= minutes * 30]
    if len(half) < 2 or half[-1][0] <= half[0][0]:
        return "too short to tell"
    span = half[-1][0] - half[0][0]
    got = (half[-1][1] - half[0][1]) / span
    out = f"{got:,.0f} posts/s stored with scores over the second half, replayed at {rate:,.0f}/s"
    if distinct is not None:
        can = (distinct(round(rate * half[-1][0])) - distinct(round(rate * half[0][0]))) / span
        out += f" ({can:,.0f} distinct posts/s among those rows: {got / can:.0%} of them stored)"
    return out


def jvm_pids(settings: Settings) -> dict[str, int]:
    from flockwatch.adapters import local_services

    found = {name: local_services.read_pid(settings, name) for name in ("kafka", "opensearch")}
    return {name: pid for name, pid in found.items() if pid is not None}


def soak(partitions: int, minutes: float, rate: float, sample_s: float, logdir: Path) -> SoakResult:
    from flockwatch.adapters import local_services
    from flockwatch.adapters.scratch import scratch_namespace
    from flockwatch.cli.demo import worker_plan
    from flockwatch.store import open_store
    from flockwatch.store.documents import IndexKind, StoreUnavailable
    from flockwatch.workers import STAGES

    base = Settings().model_copy(update={"topic_partitions": partitions})
    services = {name: local_services.read_pid(base, name) for name in ("kafka", "opensearch")}
    result = SoakResult([], [], {}, {})
    with scratch_namespace("bench", base) as settings, workers(settings, partitions, logdir) as stack:
        store = open_store(settings)
        wait_for_members(settings, worker_plan(STAGES, partitions), stack)
        with (logdir / f"{settings.topic_prefix}-replay.log").open("wb") as log:
            replayer = replay_process(settings.topic_prefix, partitions, log, None, rate)
            started = time.monotonic()
            try:
                while (now := time.monotonic() - started) < minutes * 60:
                    pids = {n: p for n, p in services.items() if p is not None}
                    pids |= {label: p.pid for label, p in stack.procs.items()}
                    if replayer.poll() is None:
                        pids["replay"] = replayer.pid
                    result.samples.append((now, {n: _rss(pid) for n, pid in pids.items()}))
                    if len(result.samples) % 15 == 1:  # every 30 s at the default sampling
                        try:
                            store.engine.refresh(IndexKind.posts)
                            result.stored.append((now, store.engine.count(IndexKind.posts, SCORED)))
                        except StoreUnavailable as exc:  # a store busy with the load: this sample goes without
                            print(f"soak: no count at {now:.0f} s ({exc})", flush=True)
                        for stage, lag in stage_lags(settings).items():
                            result.lag_max[stage] = max(result.lag_max.get(stage, 0), lag)
                    time.sleep(sample_s)
                with contextlib.suppress(StoreUnavailable):
                    store.engine.refresh(IndexKind.posts)
                    result.stored.append((time.monotonic() - started, store.engine.count(IndexKind.posts, SCORED)))
                result.lag_end = stage_lags(settings)
                print(f"soak: lag at the end {result.lag_end}, largest {result.lag_max}", flush=True)
            finally:
                if replayer.poll() is None:
                    replayer.terminate()
                    replayer.wait(timeout=30)
    return result


def write_csv(samples: Sequence[Sample], path: Path) -> None:
    names = list(dict.fromkeys(n for _, rss in samples for n in rss))
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["seconds", *names, "total"])
        for t, rss in samples:
            out.writerow([f"{t:.1f}", *(rss.get(n, 0) for n in names), sum(rss.values())])


def plot(samples: Sequence[Sample], path: Path, title: str) -> None:
    from flockwatch.plots._figure import drawing, new_figure, to_bytes

    times, lines = grouped(samples)
    minutes = [t / 60 for t in times]
    with drawing():
        fig = new_figure(9, 4.5)
        ax = fig.add_subplot()
        names = sorted(lines, key=lambda n: -max(lines[n], default=0))
        ax.stackplot(minutes, *[[v / 2**30 for v in lines[n]] for n in names], labels=names, alpha=0.8)
        totals = [sum(lines[n][i] for n in names) / 2**30 for i in range(len(times))]
        ax.plot(minutes, totals, color="black", linewidth=1.2, label="total")
        ax.axhline(MEMORY_GOAL_BYTES / 2**30, color="red", linestyle="--", linewidth=1, label="8 GiB goal")
        ax.set_xlabel("minutes")
        ax.set_ylabel("RSS (GiB)")
        ax.set_title(title)
        ax.legend(loc="upper left", fontsize="small", ncols=2)
        path.write_bytes(to_bytes(fig, "png"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=20_000, help="IRA 2016 posts per throughput run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--partitions", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--soak-minutes", type=float, default=10.0, help="0 skips the memory soak")
    parser.add_argument("--soak-rate", type=float, default=300.0, help="posts/s replayed during the soak (the target)")
    parser.add_argument("--soak-partitions", type=int, default=3)
    parser.add_argument("--sample-s", type=float, default=2.0)
    parser.add_argument("--timeout-s", type=float, default=1800.0, help="per throughput run")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/ alone")
    args = parser.parse_args(argv)

    from bench.ingest import distinct_posts
    from bench.report import write_section

    logdir = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    print(f"worker logs: {logdir}", flush=True)
    expected = distinct_posts(args.posts)
    runs = [
        one_run(p, args.posts, expected, logdir, args.timeout_s) for _ in range(args.rounds) for p in args.partitions
    ]
    body = (
        f"IRA 2016, first {args.posts:,} posts ({expected:,} distinct), {args.rounds} rounds with P interleaved, "
        f"every stage a separate `flockwatch worker` process (single-writer stages one each, the others P each), "
        f"replay at full speed → Kafka → … → OpenSearch; the clock stops when every post is stored with its text "
        f"score. Target: ≥ {TARGET_POSTS_S:,.0f} posts/s.\n\n" + throughput_table(runs) + "\n\n"
        "CPU time per post stored, from the replay's start to the last post stored (the replayer itself not "
        "counted; the JVMs also serve whatever else runs on them):\n\n" + cpu_table(runs) + "\n"
    )
    print(body, flush=True)  # the throughput figures, before the soak
    if args.soak_minutes > 0:
        soaked = soak(args.soak_partitions, args.soak_minutes, args.soak_rate, args.sample_s, logdir)
        samples = soaked.samples
        summary = summarize_rss(samples)
        csv_path, png_path = (
            (MEMORY_CSV, MEMORY_PNG)
            if not args.no_write
            else (
                logdir / MEMORY_CSV.name,
                logdir / MEMORY_PNG.name,
            )
        )
        write_csv(samples, csv_path)
        plot(samples, png_path, f"Pipeline RSS, P={args.soak_partitions}, replay at {args.soak_rate:,.0f} posts/s")
        body += (
            f"\n### Memory\n\n{args.soak_minutes:g} min soak, P={args.soak_partitions}, IRA 2016 replayed at "
            f"{args.soak_rate:,.0f} posts/s, RSS (with children) of every process sampled every {args.sample_s:g} s"
            f" ([CSV](pipeline-memory.csv)).\n\n"
            + memory_table(summary)
            + f"\n\nKeeping up: {sustained(soaked.stored, args.soak_rate, args.soak_minutes, distinct_posts)}; "
            f"consumer lag at the "
            f"end {median_lags([soaked.lag_end])}, largest seen {median_lags([soaked.lag_max])}.\n"
            + "\n![RSS over time](pipeline-memory.png)\n"
        )
        print(f"memory CSV {csv_path}, plot {png_path}")
    print(body)
    if not args.no_write:
        write_section("pipeline", f"{COMMAND} {' '.join(sys.argv[1:] if argv is None else argv)}".strip(), body)


if __name__ == "__main__":
    main()
