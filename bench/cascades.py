"""Cascade rebuilding + metrics + risk score at scale: all Weibo CED reposts, and Twitter15.

    .venv/bin/python bench/cascades.py [--runs 3]

Runs ``flockwatch graph cascades`` as a separate process (start-up and archive reading included) on
``spread/weibo_ced/CED_Dataset.tar.gz`` (3,387 cascades, 1,275,180 reposts; target: <= 30 s) and on
``spread/twitter15/twitter15_tree.tar.gz``, reports the median wall time, the repairs the trees needed
and a few metric distributions, and writes the ``cascades`` section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.report import write_section  # noqa: E402
from flockwatch.config import Settings  # noqa: E402

DATASETS = {
    "ced": "spread/weibo_ced/CED_Dataset.tar.gz",
    "twitter1516": "spread/twitter15/twitter15_tree.tar.gz",
}


def run(fmt: str, path: Path, out: Path) -> float:
    exe = Path(sys.executable).parent / "flockwatch"
    started = time.perf_counter()
    subprocess.run(
        [str(exe), "graph", "cascades", "--input", str(path), "--format", fmt, "--output", str(out)],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def describe(out: Path) -> dict[str, object]:
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    repairs: dict[str, int] = {}
    for r in rows:
        for k, v in r["repairs"].items():
            repairs[k] = repairs.get(k, 0) + int(v)

    def med(key: str) -> float:
        values = [float(r[key]) for r in rows if r.get(key) is not None]
        return round(statistics.median(values), 3) if values else float("nan")

    return {
        "cascades": len(rows),
        "nodes": sum(int(r["size"]) for r in rows),
        "repairs": repairs,
        "median_size": med("size"),
        "median_depth": med("depth"),
        "median_structural_virality": med("structural_virality"),
        "median_root_share": med("root_share"),
        "median_risk_score": med("risk_score"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    data_dir = Settings().data_dir
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, rel in DATASETS.items():
            out = Path(tmp) / f"{fmt}.jsonl"
            times = [run(fmt, data_dir / rel, out) for _ in range(args.runs)]
            results[fmt] = {"wall_s": round(statistics.median(times), 2), "runs_s": [round(t, 2) for t in times],
                            **describe(out)}  # fmt: skip
    print(json.dumps(results, indent=2))
    if args.no_docs:
        return
    ced, tw = results["ced"], results["twitter1516"]
    body = "\n".join(
        [
            "`flockwatch graph cascades --input FILE --format ced|twitter1516 --output OUT.jsonl`, one process per "
            f"run (start-up, archive decompression, JSON parsing, tree repair, metrics, risk score, JSONL "
            f"output), median of {args.runs} runs.",
            "",
            "| dataset | cascades | nodes | median wall s | runs s | target |",
            "|---|---:|---:|---:|---|---|",
            f"| Weibo CED (all reposts) | {ced['cascades']} | {ced['nodes']} | **{ced['wall_s']}** | {ced['runs_s']} "
            "| <= 30 s |",
            f"| Twitter15 | {tw['cascades']} | {tw['nodes']} | {tw['wall_s']} | {tw['runs_s']} | |",
            "",
            f"Repairs made while rebuilding the trees: CED {ced['repairs']}; Twitter15 {tw['repairs']}.",
            f"Medians: CED size {ced['median_size']}, depth {ced['median_depth']}, structural virality "
            f"{ced['median_structural_virality']}, root share {ced['median_root_share']}; Twitter15 size "
            f"{tw['median_size']}, depth {tw['median_depth']}, structural virality "
            f"{tw['median_structural_virality']}, root share {tw['median_root_share']}.",
        ]
    )
    write_section("cascades", "python bench/cascades.py --runs " + str(args.runs), body)


if __name__ == "__main__":
    main()
