"""Narrative paraphrase threshold: MiniLM cosine of same-message pairs vs each post's nearest unrelated post.

    .venv/bin/python bench/narratives.py [--rows 60000] [--bank 10000] [--queries 2000]

Data: the first ``--rows`` English posts of the IRA 2016 file (``campaigns/ira_2016``), reduced to distinct
copy forms (:func:`flockwatch.text.normalize.copy_form`) of at least ``min_paraphrase_words`` words, as the
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

Writes the ``Narrative paraphrase threshold`` section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.report import write_section  # noqa: E402
from flockwatch.config import get_settings  # noqa: E402
from flockwatch.text.embed import shared_embedder  # noqa: E402
from flockwatch.text.narratives import MINHASH_SCHEME, NarrativeConfig, _shingles  # noqa: E402
from flockwatch.text.normalize import copy_form, normalize_text  # noqa: E402

THRESHOLDS = (0.75, 0.80, 0.83, 0.86, 0.88, 0.90, 0.93)


def read_forms(rows: int, min_words: int) -> tuple[list[str], list[str]]:
    """Distinct copy forms (and one normalised text for each) of the first ``rows`` English IRA posts."""
    path = get_settings().data_dir / "campaigns" / "ira_2016" / "ira_tweets_2016-10_2016-11.csv.gz"
    forms: dict[str, str] = {}
    with gzip.open(path, "rb") as raw:
        reader = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", errors="replace"))
        for i, row in enumerate(reader):
            if i >= rows:
                break
            if row.get("language") != "English":
                continue
            norm = normalize_text(row.get("content") or "")
            form = copy_form(norm)
            if len(form.split()) >= min_words:
                forms.setdefault(form, norm)
    return list(forms), list(forms.values())


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--bank", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    from datasketch import MinHash, MinHashLSH  # type: ignore[import-untyped, unused-ignore]

    cfg = NarrativeConfig()
    started = time.perf_counter()
    forms, norms = read_forms(args.rows, cfg.min_paraphrase_words)
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
    edited = per_group(edited, len(forms), rng)
    band = per_group(band, len(forms), rng)
    order = list(range(len(forms)))
    rng.shuffle(order)
    queries, bank = order[: args.queries], order[args.queries : args.queries + args.bank]
    needed = sorted({*queries, *bank, *(i for p in edited + band for i in p[:2])})
    embedder = shared_embedder()
    vecs = dict(zip(needed, embedder.embed([norms[i] for i in needed]), strict=True))

    def cos(pairs: list[tuple[int, int, float]]) -> np.ndarray:
        return np.array([float(vecs[i] @ vecs[j]) for i, j, _ in pairs])

    cos_edited, cos_band = cos(edited), cos(band)
    bank_mat = np.stack([vecs[i] for i in bank])
    nearest: list[tuple[float, int, int]] = []
    for q in queries:
        sims = bank_mat @ vecs[q]
        for r in np.argsort(-sims)[:20]:  # the best lexically unrelated one is among the top few
            if jaccard(shingles[q], shingles[bank[r]]) < 0.2:
                nearest.append((float(sims[r]), q, bank[r]))
                break
    cos_nearest = np.array([c for c, _, _ in nearest])
    elapsed = time.perf_counter() - started

    def quant(a: np.ndarray, p: float) -> str:
        return f"{np.quantile(a, p):.3f}" if len(a) else "-"

    lines = [
        f"{len(forms):,} distinct English copy forms (≥ {cfg.min_paraphrase_words} words) from the first "
        f"{args.rows:,} IRA 2016 rows; `onnx-int8` MiniLM on normalised text; {elapsed:.0f} s in all.",
        "",
        "| pairs | n | p05 | p25 | median | p75 | p95 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, arr in (
        ("edited copies (Jaccard ≥ 0.5, ≤ 2 per group)", cos_edited),
        ("lexical band (Jaccard 0.3–0.5)", cos_band),
        (f"nearest unrelated in a bank of {len(bank):,} (Jaccard < 0.2)", cos_nearest),
    ):
        lines.append(
            f"| {name} | {len(arr):,} | " + " | ".join(quant(arr, p) for p in (0.05, 0.25, 0.5, 0.75, 0.95)) + " |"
        )
    lines += [
        "",
        "Share of pairs at or above each cosine threshold (the last column is the false-merge rate per new post "
        "against that bank, an upper bound):",
        "",
        "| threshold | edited copies | lexical band | nearest unrelated |",
        "|---:|---:|---:|---:|",
    ]
    for t in THRESHOLDS:
        mark = " **(used)**" if abs(t - cfg.cosine) < 1e-9 else ""
        lines.append(
            f"| {t:.2f}{mark} | {np.mean(cos_edited >= t):.1%} | {np.mean(cos_band >= t):.1%} | "
            f"{np.mean(cos_nearest >= t):.1%} |"
        )
    near_t = sorted((c, a, b) for c, a, b in nearest if cfg.cosine <= c)[:5]
    lines += ["", f"Nearest-unrelated pairs at or above {cfg.cosine} (what the tier would merge), lowest first:", ""]
    lines += [f"- {c:.3f}: “{forms[a][:110]}” ↔ “{forms[b][:110]}”" for c, a, b in near_t] or ["- none"]
    band_t = sorted(((float(vecs[i] @ vecs[j]), i, j) for i, j, _ in band), reverse=True)
    band_t = [x for x in band_t if x[0] < cfg.cosine][:3] + [x for x in band_t if x[0] >= cfg.cosine][-3:]
    lines += ["", "Lexical-band pairs just below and just above it:", ""]
    lines += [f"- {c:.3f}: “{forms[a][:110]}” ↔ “{forms[b][:110]}”" for c, a, b in band_t]
    body = "\n".join(lines)
    print(body)
    command = "bench/narratives.py " + " ".join(f"--{k} {v}" for k, v in vars(args).items() if k != "seed")
    write_section("Narrative paraphrase threshold", command, body)


if __name__ == "__main__":
    main()
