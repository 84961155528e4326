"""Narrative paraphrase threshold: MiniLM cosine of same-message pairs vs each post's nearest unrelated post.

    .venv/bin/python bench/narratives.py [--rows 60000] [--bank 10000] [--queries 2000]

Data: the first ``--rows`` English posts of the IRA 2016 file (``campaigns/ira_2016``), reduced to distinct
copy forms (:func:`flockwatch.text.canonical.copy_form`) of at least ``min_paraphrase_words`` words, as the
paraphrase tier sees them. Vectors are the worker's (``onnx-int8`` MiniLM on normalised text).

* **edited copies**: pairs of distinct copy forms with Jaccard ≥ 0.5 on word 2-shingles (what MinHash
  already joins): the same message with words added, cut or changed, at most 2 pairs per group of
  connected copies (bot templates would dominate otherwise). Their cosine says how high a known
  same-message pair scores.
* **lexical band**: pairs with Jaccard in [0.3, 0.5), below the near-copy tier: unlabelled, partly
  rewordings, partly different messages on one template; reported, not used to choose.
* **nearest unrelated**: for each of ``--queries`` posts, the highest cosine to any post of a bank of
  ``--bank`` others that shares under 20% of its shingles. A threshold at or below it would have merged the
  query into something lexically unrelated: the per-post false-merge rate with a bank of that size (an upper
  bound: some of those neighbours are real paraphrases, see the examples).

Choose and report on different posts: every copy form goes to the **choose** or the **report** part by a
hash of the account that first posted it (pairs across the parts are dropped; each part draws its own
queries and bank). The threshold is chosen on the choose part only: the lowest grid value whose
nearest-unrelated rate there is at most ``FALSE_MERGE_BUDGET``. Edited-copy recall and the unrelated-
neighbour rate at that threshold, and at the one in ``NarrativeConfig``, are then reported on the report part.

Writes the ``Narrative paraphrase threshold`` section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import os
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.report import write_section  # noqa: E402
from flockwatch.config import get_settings  # noqa: E402
from flockwatch.text.canonical import canonical_text, copy_form  # noqa: E402
from flockwatch.text.embed import shared_embedder  # noqa: E402
from flockwatch.text.narratives import MINHASH_SCHEME, NarrativeConfig, _shingles  # noqa: E402

THRESHOLDS = (0.75, 0.80, 0.83, 0.86, 0.88, 0.90, 0.93)
# At most 1 new post in 200 may join a lexically unrelated narrative (against a bank of --bank posts).
FALSE_MERGE_BUDGET = 0.005
PARTS = ("choose", "report")


def part_of(account: str) -> int:
    """0 = choose, 1 = report: by account, so one account's posts never sit on both sides."""
    return int(hashlib.blake2b(f"narratives:{account}".encode(), digest_size=8).hexdigest(), 16) % 2


def choose_threshold(nearest: np.ndarray, grid: tuple[float, ...] = THRESHOLDS) -> float:
    """The lowest grid threshold whose nearest-unrelated rate is within the budget (the highest if none is)."""
    for t in sorted(grid):
        if float(np.mean(nearest >= t)) <= FALSE_MERGE_BUDGET:
            return t
    return max(grid)


def english_posts(rows: int) -> Iterator[tuple[str, str]]:
    """(normalised text, account) of the English posts among the first ``rows`` IRA 2016 rows, in file order."""
    path = get_settings().data_dir / "campaigns" / "ira_2016" / "ira_tweets_2016-10_2016-11.csv.gz"
    with gzip.open(path, "rb") as raw:
        reader = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", errors="replace"))
        for i, row in enumerate(reader):
            if i >= rows:
                break
            if row.get("language") == "English":
                yield canonical_text(row.get("content") or ""), row.get("author_id") or ""


def read_forms(rows: int, min_words: int) -> tuple[list[str], list[str], list[str]]:
    """Distinct copy forms (with one normalised text and the first account for each) of the first ``rows``
    English IRA posts."""
    forms: dict[str, tuple[str, str]] = {}
    for norm, account in english_posts(rows):
        form = copy_form(norm)
        if len(form.split()) >= min_words:
            forms.setdefault(form, (norm, account))
    return list(forms), [n for n, _ in forms.values()], [a for _, a in forms.values()]


def jaccard(a: set[bytes], b: set[bytes]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def per_group(
    pairs: list[tuple[int, int, float]], n: int, rng: random.Random, k: int = 2
) -> list[tuple[int, int, float]]:
    """At most ``k`` pairs per connected group: one bot template ("X is following me now...") would
    otherwise supply most pairs and measure only itself."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j, _ in pairs:
        parent[find(i)] = find(j)
    groups: dict[int, list[tuple[int, int, float]]] = {}
    for p in pairs:
        groups.setdefault(find(p[0]), []).append(p)
    return [p for g in groups.values() for p in rng.sample(g, min(k, len(g)))]


def measure(
    part: int,
    parts: list[int],
    edited: list[tuple[int, int, float]],
    band: list[tuple[int, int, float]],
    queries: int,
    bank_size: int,
    rng: random.Random,
) -> dict[str, list[tuple[float, int, int]]]:
    """One part's pairs (both forms in the part), queries and bank; cosines filled in later."""
    mine = [i for i, p in enumerate(parts) if p == part]
    rng.shuffle(mine)
    n = len(parts)
    return {
        "edited": [
            (0.0, i, j) for i, j, _ in per_group([e for e in edited if parts[e[0]] == parts[e[1]] == part], n, rng)
        ],
        "band": [(0.0, i, j) for i, j, _ in per_group([b for b in band if parts[b[0]] == parts[b[1]] == part], n, rng)],
        "queries": [(0.0, q, -1) for q in mine[:queries]],
        "bank": [(0.0, b, -1) for b in mine[queries : queries + bank_size]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--bank", type=int, default=10_000, help="Bank size per part.")
    parser.add_argument("--queries", type=int, default=1_000, help="Queries per part.")
    parser.add_argument("--seed", type=int, default=7, help="Pair sampling and query/bank draw.")
    args = parser.parse_args()
    from datasketch import MinHash, MinHashLSH  # type: ignore[import-untyped, unused-ignore]

    cfg = NarrativeConfig()
    started = time.perf_counter()
    forms, norms, accounts = read_forms(args.rows, cfg.min_paraphrase_words)
    parts = [part_of(a) for a in accounts]
    shingles = [set(_shingles(f, cfg.shingle_words)) for f in forms]
    lsh = MinHashLSH(threshold=0.3, num_perm=cfg.num_perm)
    hashes = []
    for i, sh in enumerate(shingles):
        mh = MinHash(num_perm=cfg.num_perm, scheme=MINHASH_SCHEME)
        mh.update_batch(list(sh))
        hashes.append(mh)
        lsh.insert(i, mh)
    edited: list[tuple[int, int, float]] = []
    band: list[tuple[int, int, float]] = []
    for i, mh in enumerate(hashes):
        for j in lsh.query(mh):
            if j <= i:
                continue
            jac = jaccard(shingles[i], shingles[j])
            if jac >= cfg.jaccard:
                edited.append((i, j, jac))
            elif jac >= 0.3:
                band.append((i, j, jac))
    rng = random.Random(args.seed)
    sets = [measure(k, parts, edited, band, args.queries, args.bank, rng) for k in range(len(PARTS))]
    needed = sorted({i for st in sets for rows in st.values() for _, a, b in rows for i in (a, b) if i >= 0})
    embedder = shared_embedder()
    vecs = dict(zip(needed, embedder.embed([norms[i] for i in needed]), strict=True))

    cos: list[dict[str, np.ndarray]] = []
    pairs: list[dict[str, list[tuple[float, int, int]]]] = []
    for st in sets:
        got: dict[str, list[tuple[float, int, int]]] = {
            k: [(float(vecs[i] @ vecs[j]), i, j) for _, i, j in st[k]] for k in ("edited", "band")
        }
        bank = [b for _, b, _ in st["bank"]]
        bank_mat = np.stack([vecs[i] for i in bank])
        nearest: list[tuple[float, int, int]] = []
        for _, q, _ in st["queries"]:
            sims = bank_mat @ vecs[q]
            for r in np.argsort(-sims)[:20]:  # the best lexically unrelated one is among the top few
                if jaccard(shingles[q], shingles[bank[r]]) < 0.2:
                    nearest.append((float(sims[r]), q, bank[r]))
                    break
        got["nearest"] = nearest
        pairs.append(got)
        cos.append({k: np.array([c for c, _, _ in v]) for k, v in got.items()})
    chosen = choose_threshold(cos[0]["nearest"])
    elapsed = time.perf_counter() - started

    def quant(a: np.ndarray, p: float) -> str:
        return f"{np.quantile(a, p):.3f}" if len(a) else "-"

    rep = cos[1]
    lines = [
        f"{len(forms):,} distinct English copy forms (≥ {cfg.min_paraphrase_words} words) from the first "
        f"{args.rows:,} IRA 2016 rows; `onnx-int8` MiniLM on normalised text; {elapsed:.0f} s in all. "
        f"Forms split by a hash of their first account: choose part {parts.count(0):,} forms, "
        f"report part {parts.count(1):,}; pairs across the parts dropped; each part draws {args.queries:,} "
        f"queries and a bank of {args.bank:,} of its own forms.",
        "",
        f"**Chosen on the choose part** (lowest threshold with ≤ {FALSE_MERGE_BUDGET:.1%} of queries having an "
        f"unrelated neighbour at or above it): **{chosen:.2f}**; in `NarrativeConfig`: **{cfg.cosine:.2f}**.",
        "",
        "**Reported on the report part** (chose nothing):",
        "",
        "| threshold | edited-copy recall | unrelated-neighbour rate |",
        "|---:|---:|---:|",
    ]
    marks = {chosen: ["chosen"]}
    marks.setdefault(cfg.cosine, []).append("used")
    for t, what in sorted((t, ", ".join(w)) for t, w in marks.items()):
        lines.append(
            f"| {t:.2f} ({what}) | {np.mean(rep['edited'] >= t):.1%} of {len(rep['edited']):,} | "
            f"{np.mean(rep['nearest'] >= t):.1%} of {len(rep['nearest']):,} |"
        )
    lines += [
        "",
        "Cosine quantiles per pair kind and part:",
        "",
        "| pairs | part | n | p05 | p25 | median | p75 | p95 |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, name in (
        ("edited", "edited copies (Jaccard ≥ 0.5, ≤ 2 per group)"),
        ("band", "lexical band (Jaccard 0.3–0.5)"),
        ("nearest", f"nearest unrelated in a bank of {args.bank:,} (Jaccard < 0.2)"),
    ):
        for k, part in enumerate(PARTS):
            arr = cos[k][key]
            lines.append(
                f"| {name} | {part} | {len(arr):,} | "
                + " | ".join(quant(arr, p) for p in (0.05, 0.25, 0.5, 0.75, 0.95))
                + " |"
            )
    lines += [
        "",
        "Share of pairs at or above each cosine threshold, choose part / report part (the unrelated column is "
        "the false-merge rate per new post against that bank, an upper bound):",
        "",
        "| threshold | edited copies | lexical band | nearest unrelated |",
        "|---:|---:|---:|---:|",
    ]
    for t in THRESHOLDS:
        mark = (
            " **(" + ", ".join(w for w in ("chosen", "used") if t in marks and w in marks[t]) + ")**"
            if t in marks
            else ""
        )
        cells = [
            " / ".join(f"{np.mean(cos[k][key] >= t):.1%}" for k in range(len(PARTS)))
            for key in ("edited", "band", "nearest")
        ]
        lines.append(f"| {t:.2f}{mark} | " + " | ".join(cells) + " |")
    near_t = sorted((c, a, b) for c, a, b in pairs[1]["nearest"] if cfg.cosine <= c)[:5]
    lines += [
        "",
        f"Report-part nearest-unrelated pairs at or above {cfg.cosine} (what the tier would merge), lowest first:",
        "",
    ]
    lines += [f"- {c:.3f}: “{forms[a][:110]}” ↔ “{forms[b][:110]}”" for c, a, b in near_t] or ["- none"]
    band_t = sorted(pairs[1]["band"], reverse=True)
    band_t = [x for x in band_t if x[0] < cfg.cosine][:3] + [x for x in band_t if x[0] >= cfg.cosine][-3:]
    lines += ["", "Report-part lexical-band pairs just below and just above it:", ""]
    lines += [f"- {c:.3f}: “{forms[a][:110]}” ↔ “{forms[b][:110]}”" for c, a, b in band_t]
    body = "\n".join(lines)
    print(body)
    command = "bench/narratives.py " + " ".join(f"--{k} {v}" for k, v in vars(args).items())
    write_section("Narrative paraphrase threshold", command, body)


if __name__ == "__main__":
    main()
