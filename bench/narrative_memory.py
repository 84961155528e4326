"""Narrative index memory: without forgetting it grows with every distinct copy form; with generations it levels off.

    .venv/bin/python -m bench.narrative_memory [--rows 400000] [--generation-forms 40000]

Data: the English posts among the first ``--rows`` rows of the IRA 2016 file (``campaigns/ira_2016``), in file
order, assigned one at a time as the text stage assigns them (``item_id`` = row number). Posts whose copy form has
at least ``min_paraphrase_words`` words get an embedding; a seeded random unit vector stands in for MiniLM's (the
memory of a vector does not depend on its values, and random vectors never merge as paraphrases, so every such
new narrative banks an exemplar: the most memory the paraphrase tier can take).

Each setting runs in a fresh interpreter; its resident memory above what it held before the first post (from
``/proc/self/statm``) is sampled every twentieth of the stream, with the copy forms and exemplars the index
holds. ``generation_forms`` None is the unbounded index (batch runs); the other is a stream setting scaled down so
several generations pass within the data.

Writes the ``Narrative index memory`` section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.narratives import english_posts  # noqa: E402
from bench.report import write_section  # noqa: E402
from flockwatch.config import Settings  # noqa: E402
from flockwatch.text.canonical import copy_form  # noqa: E402
from flockwatch.text.narratives import DIM, NarrativeConfig, NarrativeIndex  # noqa: E402

SAMPLES = 20
BATCH = 200  # posts per text-stage batch (its journal lines are written and dropped after each)


def rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(rows: int, generation_forms: int | None) -> dict[str, Any]:
    """Assign the stream under one setting; samples of (posts, forms, exemplars, MiB above the start)."""
    posts = [text for text, _ in english_posts(rows)]
    config = NarrativeConfig(generation_forms=generation_forms)
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((len(posts), DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    index = NarrativeIndex(config, track_stats=False)
    start = rss_mib()
    samples = []
    step = -(-len(posts) // SAMPLES)
    t0 = time.perf_counter()
    for i, text in enumerate(posts):
        long_enough = len(copy_form(text).split()) >= config.min_paraphrase_words
        index.assign(text, vecs[i] if long_enough else None, item_id=str(i))
        if (i + 1) % BATCH == 0:
            index._changes.clear()  # what the stage's commit() writes out after each batch
        if (i + 1) % step == 0 or i + 1 == len(posts):
            samples.append((i + 1, index.forms, index.exemplars, round(rss_mib() - start, 1)))
    return {"samples": samples, "ms_per_post": (time.perf_counter() - t0) * 1000 / len(posts)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=400_000)
    ap.add_argument("--generation-forms", type=int, default=40_000)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.rows, None if args.child == "none" else int(args.child))))
        return
    runs = {}
    for setting in ("none", str(args.generation_forms)):
        cmd = [sys.executable, "-m", "bench.narrative_memory", "--rows", str(args.rows), "--child", setting]
        out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True).stdout
        runs[setting] = json.loads(out.splitlines()[-1])
        print(setting, runs[setting]["samples"][-1], flush=True)
    unbounded, bounded = runs["none"], runs[str(args.generation_forms)]
    posts, forms, exemplars, mib = unbounded["samples"][-1]
    peak = max(s[3] for s in bounded["samples"])
    g = args.generation_forms
    default = Settings.model_fields["narrative_generation_forms"].default
    lines = [
        f"{posts:,} English posts of the first {args.rows:,} IRA 2016 rows, in file order, random unit vectors for "
        f"the embeddings (see the script). Resident memory above the interpreter's before the first post.",
        "",
        f"| posts | unbounded: forms | exemplars | MiB | generations of {g:,}: forms | exemplars | MiB |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {a[0]:,} | {a[1]:,} | {a[2]:,} | {a[3]:,.0f} | {b[1]:,} | {b[2]:,} | {b[3]:,.0f} |"
            for a, b in zip(unbounded["samples"], bounded["samples"], strict=True)
        ),
        "",
        f"Unbounded: **{mib * 1024 / forms:.1f} KiB per copy form** held ({forms:,} forms, {exemplars:,} exemplars "
        f"at the end), growing with the stream. Generations of {g:,} forms: at most {2 * g:,} forms held, peak "
        f"**{peak:,.0f} MiB** ({peak / mib:.0%} of the unbounded index's end). Cost per post: "
        f"{unbounded['ms_per_post']:.3f} ms unbounded, {bounded['ms_per_post']:.3f} ms with generations "
        f"(two generations asked). At that cost per form the stream's default, "
        f"`NARRATIVE_GENERATION_FORMS` = {default:,}, holds at most {2 * default:,} forms, about "
        f"**{2 * default * mib / forms / 1024:.1f} GiB**.",
    ]
    body = "\n".join(lines)
    print(body)
    write_section(
        "Narrative index memory",
        f"python -m bench.narrative_memory --rows {args.rows} --generation-forms {args.generation_forms}",
        body,
    )


if __name__ == "__main__":
    main()
