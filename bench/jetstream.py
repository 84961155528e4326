"""Bluesky Jetstream events → normalized posts, on one core.

    taskset -c 0 .venv/bin/python -m bench.jetstream [--events 30000] [--runs 5] [--no-write]

The 152 recorded Jetstream events (``connectors/bluesky_jetstream/expected_v1.jsonl``) repeated to ``--events``,
each copy with its own ``time_us`` and record keys (so no copy is a duplicate of another), in two mixes: every
recorded event (likes, follows... 32 posts in 152), and the posts and reposts alone (what ``collect bluesky``
subscribes to by default: nearly every event a post). Measured side by side, ``--runs`` times each:

- (a) the normaliser alone: ``normalize_record`` on records already built; and the client's whole CPU path
  without the network: frame text → record (``bluesky.frame_record``) → ``Post`` → its JSON line;
- (b) end to end: a local websocket server (another process, on another core when there is one) sends the
  events as fast as it can; the connector (websockets client, batching, deduplication) and ``FileSink``
  (normalise, write the output file) run in this process on one core, until every event is written.

The figure is events/s (median over runs). Target: ≥ 5,000 events/s. Writes the "Jetstream collection"
section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.report import write_section
from flockwatch.adapters.connectors.bluesky import DEFAULT_COLLECTIONS, JetstreamConnector, frame_record
from flockwatch.adapters.connectors.cursors import MemoryCursors
from flockwatch.adapters.connectors.runner import run_connector
from flockwatch.adapters.connectors.sink import FileSink
from flockwatch.config import Settings
from flockwatch.replay import normalize_record

COMMAND = "taskset -c 0 .venv/bin/python -m bench.jetstream"
RECORDED = "connectors/bluesky_jetstream/expected_v1.jsonl"
TARGET = 5_000
MIXES = {"all recorded events": False, "posts and reposts": True}


def events(count: int, posts_only: bool, data_dir: Path) -> list[str]:
    """``count`` distinct events as JSON text: the recorded ones, copy ``k`` shifted by ``k`` seconds."""
    recorded = [json.loads(line) for line in (data_dir / RECORDED).read_text().splitlines() if line.strip()]
    if posts_only:
        recorded = [e for e in recorded if e.get("commit", {}).get("collection") in DEFAULT_COLLECTIONS]
    out: list[str] = []
    copy = 0
    while len(out) < count:
        for event in recorded[: count - len(out)]:
            shifted: dict[str, Any] = {**event, "time_us": event["time_us"] + copy * 1_000_000}
            if "commit" in event:
                shifted["commit"] = {**event["commit"], "rkey": f"{event['commit']['rkey']}{copy}"}
            out.append(json.dumps(shifted, separators=(",", ":")))
        copy += 1
    return out


def _serve(count: int, posts_only: bool, data_dir: str, ready: Any, core: int | None) -> None:
    """The server process: send every event on each connection as fast as possible, then wait for the close."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.server import ServerConnection, serve

    if core is not None:
        os.sched_setaffinity(0, {core})
    lines = events(count, posts_only, Path(data_dir))

    def handler(ws: ServerConnection) -> None:
        try:
            for line in lines:
                ws.send(line)
            ws.recv(timeout=120)
        except (ConnectionClosed, TimeoutError):
            pass

    with serve(handler, "127.0.0.1", 0, compression=None, max_size=None) as server:
        ready.put(server.socket.getsockname()[1])
        server.serve_forever()


def timed(work: Callable[[], int]) -> tuple[float, int]:
    started = time.perf_counter()
    produced = work()
    return time.perf_counter() - started, produced


def normaliser_rates(lines: list[str]) -> tuple[float, float, int]:
    """(a): events/s of the normaliser alone, and of frame → record → post JSON; and the posts made."""
    records = [frame_record(line, "ws://bench/subscribe").record for line in lines]

    def normalise() -> int:
        return sum(normalize_record(r) is not None for r in records)

    def whole_path() -> int:
        made = 0
        for line in lines:
            post = normalize_record(frame_record(line, "ws://bench/subscribe").record)
            if post is not None:
                post.model_dump_json(exclude_none=True)
                made += 1
        return made

    alone_s, posts = timed(normalise)
    path_s, _ = timed(whole_path)
    return len(lines) / alone_s, len(lines) / path_s, posts


def end_to_end_rate(count: int, posts_only: bool, data_dir: Path, server_core: int | None) -> tuple[float, int]:
    """(b): events/s from the local server through the connector and FileSink into the output file."""
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    server = context.Process(target=_serve, args=(count, posts_only, str(data_dir), ready, server_core), daemon=True)
    server.start()
    try:
        port = ready.get(timeout=60)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "posts.jsonl"
            connector = JetstreamConnector(
                endpoint=f"ws://127.0.0.1:{port}/subscribe",
                collections=list(DEFAULT_COLLECTIONS),
                dids=[],
                idle_timeout_s=10.0,
            )
            sink = FileSink(out)
            started = time.perf_counter()
            try:
                report = run_connector(connector, sink, MemoryCursors(), limit=count)
            finally:
                sink.close()
            took = time.perf_counter() - started
            written = sum(1 for _ in out.open())
        if report.records != count:
            raise AssertionError(f"read {report.records} of {count} events")
        return count / took, written
    finally:
        server.terminate()
        server.join(timeout=10)


def section(count: int, runs: int) -> str:
    data_dir = Settings().data_dir
    mine = sorted(os.sched_getaffinity(0))[0]
    others = sorted(set(range(os.cpu_count() or 1)) - {mine})
    server_core = others[0] if others else None
    rows = []
    for mix, posts_only in MIXES.items():
        lines = events(count, posts_only, data_dir)
        alone, whole, e2e, posts = [], [], [], 0
        for _ in range(runs):  # the three measures side by side in every run
            a, w, posts = normaliser_rates(lines)
            rate, written = end_to_end_rate(count, posts_only, data_dir, server_core)
            if written != posts:
                raise AssertionError(f"{mix}: wrote {written} posts, the normaliser makes {posts}")
            alone.append(a)
            whole.append(w)
            e2e.append(rate)
        verdict = "meets" if statistics.median(e2e) >= TARGET else "**misses**"
        rows.append(
            f"| {mix} | {posts:,} | {statistics.median(alone):,.0f} | {statistics.median(whole):,.0f} | "
            f"**{statistics.median(e2e):,.0f}** ({', '.join(f'{r:,.0f}' for r in sorted(e2e))}) | {verdict} |"
        )
    where = f"the server process on core {server_core}" if server_core is not None else "the server on the same core"
    return (
        f"{count:,} Jetstream events per run (the 152 recorded ones repeated, each copy with its own time_us and "
        f"record keys), {runs} runs, medians. Collector on one core (core {mine}), {where}. "
        f"Target: ≥ {TARGET:,} events/s end to end.\n\n"
        "| events | posts made | (a) normaliser alone (events/s) | (a) frame → record → post JSON (events/s) | "
        "(b) websocket → connector → FileSink → file (events/s; all runs) | target |\n"
        "|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print only, leave docs/benchmarks.md alone")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    body = section(args.events, args.runs)
    print(body)
    if not args.no_write:
        write_section("Jetstream collection", f"{COMMAND} --events {args.events} --runs {args.runs}", body)


if __name__ == "__main__":
    main()
