"""A post's spread history over HTTP with the whole Weibo CED replay indexed (issue 13; target: p95 <= 300 ms).

    .venv/bin/python -m bench.api_spread [--reuse] [--cleanup] [--rounds 3] [--sample 300] [--largest 20]

1. **Index** ``spread/weibo_ced/CED_Dataset.tar.gz`` (3,387 sources, 1,275,180 reposts) into the store under its
   own prefix (``benchspread``, tokens and audit log under ``/tmp/benchspread-state``), in the replayer's order and
   the stages' batches of 2,000, through the pipeline's own code in one process: ``normalize_record`` (normalize
   stage), ``to_upsert`` + ``Engine.bulk_upsert`` (index stage: the posts indices), ``GraphState.add_posts`` +
   ``flush`` (graph stage: cascade documents with ``members``, ``events``, metrics and risk score, and account
   documents). The stage's streaming co-action windows are left out: the spread route reads none of what they
   write, and a file-by-file replay of cascades years apart would drop nearly all of them as late anyway.
   ``--reuse`` skips this when the store already holds every post and cascade (the indexing figures then come
   from the run that built it, kept in the state folder).
2. **Sample**, with a fixed seed: ``--sample`` post keys drawn uniformly over every cascade member (reservoir
   sampling over a paged read of the cascades, so the 1.27M keys are never all in memory), and the roots of the
   ``--largest`` cascades.
3. **Serve** with ``flockwatch serve`` (a subprocess on a free port) and time ``GET /api/v1/posts/{key}/spread``
   with an analyst's bearer token over one keep-alive HTTP connection, request sent to body read, after a short
   warm-up on other keys; ``--rounds`` passes over the sample. p50/p95/max per group are medians over rounds.

Writes the "API spread history" section of docs/benchmarks.md (``--no-docs``: print only). ``--cleanup`` deletes
the prefix's indices and the state folder afterwards (alone, without a run: ``--cleanup --rounds 0``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx

from bench.report import write_section
from flockwatch.api.access import Role
from flockwatch.api.app import api_paths
from flockwatch.config import Settings
from flockwatch.replay import normalize_record, read_dataset
from flockwatch.schema import Post
from flockwatch.stages.graph import GraphPost, GraphSettings, GraphState, GraphStore, load_risk_model
from flockwatch.stages.index import engagement_snapshot, to_upsert
from flockwatch.store import Store, prepare_store
from flockwatch.store.documents import IndexKind, Upsert

SECTION = "API spread history"
COMMAND = ".venv/bin/python -m bench.api_spread"
DATASET = "weibo_ced"
PREFIX = "benchspread"
STATE_DIR = Path("/tmp/benchspread-state")
TARGET_P95_MS = 300.0
BATCH = 2000  # records per poll of a cheap stage (flockwatch.stages.batching.DEFAULT_RECORDS)
# What the whole archive gives: 3,387 sources + 1,275,180 reposts - 724 mids repeated within their file.
EXPECTED_POSTS = 1_277_843
EXPECTED_CASCADES = 3_387
WARMUP = 10
T = TypeVar("T")


# --- pure pieces ---------------------------------------------------------------------------------------


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def reservoir(items: Iterable[T], k: int, rng: random.Random) -> list[T]:
    """``k`` items drawn uniformly without replacement from a stream of unknown length (Algorithm R), in O(k)
    memory; the same stream and seed give the same draw."""
    kept: list[T] = []
    for i, item in enumerate(items):
        if i < k:
            kept.append(item)
        else:
            j = rng.randrange(i + 1)
            if j < k:
                kept[j] = item
    return kept


@dataclass(frozen=True)
class CascadeRef:
    cascade_id: str
    root_key: str
    size: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class Sample:
    random: list[str]  # timed keys drawn over every member
    largest: list[str]  # roots of the largest cascades, largest first
    warmup: list[str]  # other members, requested before the clock starts


def draw_sample(cascades: Iterable[CascadeRef], n_random: int, n_largest: int, seed: int, warmup: int = 0) -> Sample:
    """``n_random`` (+ ``warmup``) members drawn uniformly over all cascades (so a cascade is drawn in proportion
    to its size, as posts are) and the roots of the ``n_largest`` cascades by size (ties by id)."""
    rng = random.Random(seed)
    sizes: list[tuple[int, str, str]] = []  # (size, id, root) of every cascade: a few thousand small tuples

    def stream() -> Iterator[str]:
        for c in cascades:
            sizes.append((c.size, c.cascade_id, c.root_key))
            yield from c.members

    members = reservoir(stream(), n_random + warmup, rng)
    rng.shuffle(members)  # slots nobody replaced keep the stream's order: shuffle before splitting off the warm-up
    largest = [root for _, _, root in sorted(sizes, key=lambda s: (-s[0], s[1]))[:n_largest]]
    return Sample(random=members[:n_random], largest=largest, warmup=members[n_random:])


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in [0, 100]): a value that was measured, never an interpolation."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(ms: Sequence[float]) -> dict[str, float]:
    return {"n": len(ms), "p50": percentile(ms, 50), "p95": percentile(ms, 95), "max": max(ms, default=math.nan)}


def median_summary(rounds: Sequence[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over rounds."""
    return {k: statistics.median(r[k] for r in rounds) for k in ("n", "p50", "p95", "max")}


# --- indexing ------------------------------------------------------------------------------------------


@dataclass
class IndexReport:
    records: int = 0
    posts: int = 0
    not_normalized: int = 0
    rejected: int = 0
    cascades_written: int = 0
    accounts_written: int = 0
    wall_s: float = 0.0
    stored_posts: int = 0
    stored_cascades: int = 0
    date: str = ""

    @property
    def posts_per_s(self) -> float:
        return self.posts / self.wall_s if self.wall_s else math.nan


def replay_posts(data_dir: Path, report: IndexReport, limit: int | None = None) -> Iterator[Post]:
    """The dataset's records normalised as the normalize stage does (one that fails costs itself)."""
    records: Iterable[Any] = read_dataset(DATASET, None, data_dir)
    if limit is not None:
        records = itertools.islice(records, limit)
    for raw in records:
        report.records += 1
        try:
            post = normalize_record(raw)
        except Exception:  # the stage dead-letters it; here it is counted
            post = None
        if post is None:
            report.not_normalized += 1
            continue
        yield post


def index_posts(store: GraphStore, state: GraphState, posts: Iterable[Post], report: IndexReport) -> None:
    """Each batch as the index stage writes it, then as the graph stage merges it (ordered by time, a key seen
    twice in a batch once) and flushes its changed documents."""
    engine: Any = store.engine
    for batch in batches(posts, BATCH):
        upserts: list[Upsert] = []
        for post in batch:
            upserts.append(to_upsert(post))
            snapshot = engagement_snapshot(post)
            if snapshot is not None:
                upserts.append(snapshot)
        report.rejected += len(engine.bulk_upsert(upserts).rejected)
        unique: dict[str, GraphPost] = {}
        for post in batch:
            unique.setdefault(post.key, GraphPost.from_post(post))
        state.add_posts(sorted(unique.values(), key=lambda p: (p.time, p.key)))
        flushed = state.flush()
        report.rejected += len(flushed.rejected)
        report.cascades_written += flushed.cascades
        report.accounts_written += flushed.accounts
        report.posts += len(batch)


def index_replay(settings: Settings, store: Store) -> IndexReport:
    report = IndexReport(date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    state = GraphState(store, GraphSettings(), load_risk_model())
    started = time.perf_counter()
    index_posts(store, state, replay_posts(settings.data_dir, report), report)
    store.engine.refresh()
    report.wall_s = time.perf_counter() - started
    report.stored_posts = store.engine.count(IndexKind.posts)
    report.stored_cascades = store.engine.count(IndexKind.cascades)
    return report


def stored_cascades(store: Store, page: int = 200) -> Iterator[CascadeRef]:
    """Every live cascade's id, root, size and members, paged by id (events left in the store)."""
    live = {"bool": {"must_not": [{"exists": {"field": "merged_into"}}]}}
    fields = ["cascade_id", "root_key", "size", "members"]
    after: Sequence[Any] | None = None
    while True:
        hits = store.engine.hits(
            IndexKind.cascades, live, size=page, sort=[{"cascade_id": "asc"}], fields=fields, after=after
        )
        for h in hits:
            s = h.source
            yield CascadeRef(
                str(s["cascade_id"]),
                str(s["root_key"]),
                int(s.get("size") or 0),
                tuple(str(m) for m in s.get("members") or ()),
            )
        if len(hits) < page:
            return
        after = hits[-1].sort


# --- serving and timing --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).parent / "flockwatch"
    env = os.environ | {
        "FLOCKWATCH_INDEX_PREFIX": settings.index_prefix,
        "FLOCKWATCH_STATE_DIR": str(settings.state_dir),
    }
    proc = subprocess.Popen(
        [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"flockwatch serve exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    proc.terminate()
    raise RuntimeError("flockwatch serve did not answer within 60 s")


def analyst_token(settings: Settings, name: str = "bench-spread") -> str:
    tokens, _ = api_paths(settings)
    tokens.revoke(name)
    return tokens.create(name, Role.analyst)


@dataclass
class Timed:
    ms: list[float] = field(default_factory=list)
    nodes: list[int] = field(default_factory=list)
    kib: list[float] = field(default_factory=list)


class HttpClient(Protocol):
    """An HTTP client with a base URL and the token in its headers (``httpx.Client``; Starlette's test client)."""

    def get(self, url: str) -> Any: ...


def time_spread(client: HttpClient, keys: Sequence[str]) -> Timed:
    out = Timed()
    for key in keys:
        started = time.perf_counter()
        response = client.get(f"/api/v1/posts/{key}/spread")
        body = response.content
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"spread of {key}: {response.status_code} {body[:300]!r}")
        out.ms.append(elapsed * 1000)
        out.kib.append(len(body) / 1024)
        out.nodes.append(len(json.loads(body)["tree"]["nodes"]))
    return out


# --- the run -------------------------------------------------------------------------------------------


def bench_settings() -> Settings:
    """The environment's settings under the bench's own prefix and state folder (overridable by the same
    environment variables)."""
    prefix = os.environ.get("FLOCKWATCH_INDEX_PREFIX", PREFIX)
    state = Path(os.environ.get("FLOCKWATCH_STATE_DIR", STATE_DIR))
    if prefix == Settings.model_fields["index_prefix"].default:
        raise SystemExit(f"refusing to benchmark in the default index prefix {prefix!r}: set another one")
    return Settings().model_copy(update={"index_prefix": prefix, "state_dir": state})


def ensure_indexed(settings: Settings, store: Store, reuse: bool) -> tuple[IndexReport, bool]:
    """(the indexing figures, whether they were measured in this run)."""
    saved = settings.state_dir / "bench-index.json"
    if reuse and saved.exists():
        posts, cascades = store.engine.count(IndexKind.posts), store.engine.count(IndexKind.cascades)
        if (posts, cascades) == (EXPECTED_POSTS, EXPECTED_CASCADES):
            return IndexReport(**json.loads(saved.read_text())), False
        print(
            f"store holds {posts} posts and {cascades} cascades, not {EXPECTED_POSTS}/{EXPECTED_CASCADES}: "
            "indexing again",
            file=sys.stderr,
        )
    store.engine.drop_all()
    saved.unlink(missing_ok=True)
    store = prepare_store(settings, text=True, graph=True)
    report = index_replay(settings, store)
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(asdict(report)))
    return report, True


def cleanup(settings: Settings, store: Store) -> None:
    store.engine.drop_all()
    shutil.rmtree(settings.state_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reuse", action="store_true", help="keep the indexed replay if it is complete")
    parser.add_argument("--cleanup", action="store_true", help="delete the indices and state folder at the end")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--largest", type=int, default=20)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    settings = bench_settings()
    store = prepare_store(settings, text=True, graph=True)
    if args.rounds == 0:
        if args.cleanup:
            cleanup(settings, store)
        return
    report, measured = ensure_indexed(settings, store, args.reuse)
    print(json.dumps(asdict(report) | {"posts_per_s": round(report.posts_per_s), "measured_now": measured}))
    sample = draw_sample(stored_cascades(store), args.sample, args.largest, args.seed, WARMUP)
    token = analyst_token(settings)
    port = free_port()
    proc = serve(settings, port)
    groups = {"random": sample.random, "largest": sample.largest}
    rounds: dict[str, list[Timed]] = {g: [] for g in groups}
    try:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as client:
            time_spread(client, sample.warmup)
            for _ in range(args.rounds):
                for name, keys in groups.items():
                    rounds[name].append(time_spread(client, keys))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    results = {
        name: median_summary([summary(t.ms) for t in timed])
        | {
            "p95_rounds": [round(percentile(t.ms, 95), 1) for t in timed],
            "mean_nodes": statistics.fmean(timed[0].nodes),
            "mean_kib": statistics.fmean(timed[0].kib),
            "max_nodes": max(timed[0].nodes),
            "max_kib": max(timed[0].kib),
        }
        for name, timed in rounds.items()
    }
    print(json.dumps(results, indent=2))
    if not args.no_docs:
        command = COMMAND + "".join(f" {a}" for a in sys.argv[1:])
        write_section(SECTION, command, body(report, measured, results, args))
    if args.cleanup:
        cleanup(settings, store)


def body(report: IndexReport, measured: bool, results: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    when = "measured in this run" if measured else f"measured when the index was built, {report.date}, reused here"
    worst = max(r["p95"] for r in results.values())
    verdict = "met" if worst <= TARGET_P95_MS else "**not met**"
    rows = [
        "| posts | requests per round | p50 ms | p95 ms | max ms | p95 per round ms | nodes (mean / max) | body KiB "
        "(mean / max) |",
        "|---|---:|---:|---:|---:|---|---|---|",
    ]
    labels = {
        "random": f"{args.sample} drawn over all members (seed {args.seed})",
        "largest": f"roots of the {args.largest} largest cascades",
    }
    for name, r in results.items():
        rows.append(
            f"| {labels[name]} | {r['n']:.0f} | {r['p50']:.1f} | **{r['p95']:.1f}** | {r['max']:.1f} | "
            f"{r['p95_rounds']} | {r['mean_nodes']:.0f} / {r['max_nodes']} | {r['mean_kib']:.0f} / "
            f"{r['max_kib']:.0f} |"
        )
    return "\n".join(
        [
            f"`GET /api/v1/posts/{{key}}/spread` (analyst token, default `max_nodes`) over HTTP to `flockwatch serve` "
            f"on loopback, one keep-alive connection, request sent to body read, with the whole Weibo CED replay "
            f"indexed in OpenSearch. {args.rounds} rounds over the sample after {WARMUP} warm-up requests; figures "
            f"are medians over rounds. Target: p95 <= {TARGET_P95_MS:.0f} ms: {verdict}.",
            "",
            *rows,
            "",
            f"Indexing ({when}): {report.records:,} records → {report.stored_posts:,} posts and "
            f"{report.stored_cascades:,} cascades stored in {report.wall_s:.0f} s ({report.posts_per_s:,.0f} "
            f"posts/s; {report.cascades_written:,} cascade and {report.accounts_written:,} account document writes, "
            f"{report.rejected} rejected, {report.not_normalized} not normalised). One process: `normalize_record`, "
            "the index stage's `to_upsert` + bulk upserts, the graph stage's `GraphState.add_posts` + `flush` "
            f"(cascades, accounts), in batches of {BATCH} in the replayer's order; no Kafka, no co-action windows.",
        ]
    )


if __name__ == "__main__":
    main()
