"""Bank lookups at hash-sharing scale: the PDQ hash index with 1M banked hashes, on one core.

    taskset -c 0 .venv/bin/python -m bench.bank_index [--size 1000000] [--no-write]

Banks of ``--size`` hashes: (a) every bank-side hash of the real cnndetection + c2pa_examples pictures
(up to 648 per picture, :func:`flockwatch.media.hashing.image_hashes`) plus uniformly random hashes in
groups of 648 (synthetic pictures) up to the size; (b) uniformly random hashes only. Lookups are the
5-hash query side of edited copies of the real pictures (every edit of bench.media_matching and
bench.media_occlusion), i.e. one ``flockwatch match`` lookup each, at the picture threshold (52 bits):

- with 1-bit probes (what :class:`flockwatch.media.bank.Bank` does above ``EXACT_UP_TO`` hashes),
- exact (``threshold // 16`` = 3-bit probes, the same result as a linear scan),
- a linear scan (numpy XOR + popcount over every banked hash), on a few lookups;

and whether the 1-bit probes find what the exact search finds (every match within 31 bits must be there).
Then the keypoint stage's candidate step (:class:`flockwatch.media.keypoints.DescriptorIndex`) over as many
banked ORB descriptors (the real pictures' plus random ones), looked up with occluded copies.
Memory is the index's arrays and the growth of the process's resident set while building it. The process
pins itself to one core (``os.sched_setaffinity``) whether or not ``taskset`` is used.

Writes the "Bank index" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench.media_matching import EDITS as PDQ_EDITS
from bench.media_matching import EXTRA_EDITS, content, unrelated_images
from bench.media_occlusion import EDITS as OCCLUSION_EDITS
from bench.media_occlusion import edit_rng
from bench.report import write_section
from flockwatch.media import hashing
from flockwatch.media import keypoints as kp
from flockwatch.media.decode import open_image
from flockwatch.media.hash_index import EXACT_UP_TO, FAST_PROBE_BITS, HashIndex

COMMAND = "taskset -c 0 .venv/bin/python -m bench.bank_index"
PER_ITEM = 648
EXACT_SAMPLE = 40
LINEAR_SAMPLE = 8
AGREE_SAMPLE = 300


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def random_words(n: int, rng: np.random.Generator) -> npt.NDArray[np.uint64]:
    return rng.integers(0, 2**64, size=(n, 4), dtype=np.uint64, endpoint=False)


def build(words: npt.NDArray[np.uint64], owners: npt.NDArray[np.int64]) -> tuple[HashIndex, float, float]:
    before = rss_mib()
    t = time.perf_counter()
    index = HashIndex(words, owners)
    return index, time.perf_counter() - t, rss_mib() - before


def rate(
    index: HashIndex, queries: list[npt.NDArray[np.uint64]], probe: int | None
) -> tuple[float, list[dict[int, int]]]:
    t = time.perf_counter()
    out = [index.search(q, hashing.MATCH_BITS, probe) for q in queries]
    return len(queries) / (time.perf_counter() - t), out


def linear_rate(words: npt.NDArray[np.uint64], queries: list[npt.NDArray[np.uint64]]) -> float:
    t = time.perf_counter()
    for q in queries:
        np.flatnonzero(hashing.hamming_matrix(q, words).min(axis=0) <= hashing.MATCH_BITS)
    return len(queries) / (time.perf_counter() - t)


def section(size: int) -> str:
    rng = np.random.default_rng(16)
    paths = unrelated_images()
    pictures = [content(open_image(p)) for p in paths]
    real = [hashing.to_words(hashing.image_hashes(im, "bank").hashes) for im in pictures]
    real_words = np.concatenate(real)
    real_owners = np.concatenate([np.full(len(w), k, dtype=np.int64) for k, w in enumerate(real)])
    fill = max(0, size - len(real_words))
    words_a = np.concatenate([real_words, random_words(fill, rng)])[:size]
    owners_a = np.concatenate([real_owners, len(real) + np.arange(fill, dtype=np.int64) // PER_ITEM])[:size]

    # Queries: every edit of every 4th picture (the 5-hash query side).
    edits = {**PDQ_EDITS, **EXTRA_EDITS}
    queries: list[npt.NDArray[np.uint64]] = []
    for k in range(0, len(pictures), 4):
        for i, fn in enumerate(edits.values()):
            queries.append(hashing.to_words(hashing.image_hashes(fn(pictures[k], k + i), "query").hashes))
        for name, fn2 in OCCLUSION_EDITS.items():
            q = fn2(pictures[k], edit_rng(paths[k].name, name))
            queries.append(hashing.to_words(hashing.image_hashes(q, "query").hashes))
    queries = [q for q in queries if len(q)]
    random.Random(3).shuffle(queries)

    index_a, build_a, rss_a = build(words_a, owners_a)
    fast_a, found_fast = rate(index_a, queries, FAST_PROBE_BITS)
    exact_a, found_exact = rate(index_a, queries[:EXACT_SAMPLE], None)
    linear_a = linear_rate(words_a, queries[:LINEAR_SAMPLE])
    exact_all = found_exact + [index_a.search(q, hashing.MATCH_BITS, None) for q in queries[EXACT_SAMPLE:AGREE_SAMPLE]]
    pairs = [(o, d, k) for k, r in enumerate(exact_all) for o, d in r.items()]  # the first AGREE_SAMPLE lookups
    found = sum(o in found_fast[k] for o, _, k in pairs)
    within31 = [(o, k) for o, d, k in pairs if d <= 31]
    missed31 = sum(o not in found_fast[k] for o, k in within31)
    same_distance = sum(found_fast[k].get(o) == d for o, d, k in pairs)
    nbytes_a = index_a.nbytes()
    del index_a

    words_b = random_words(size, rng)
    owners_b = np.arange(size, dtype=np.int64) // PER_ITEM
    index_b, build_b, rss_b = build(words_b, owners_b)
    fast_b, _ = rate(index_b, queries, FAST_PROBE_BITS)
    random_queries = [random_words(5, rng) for _ in range(len(queries))]
    fast_b_random, _ = rate(index_b, random_queries, FAST_PROBE_BITS)
    nbytes_b = index_b.nbytes()
    del index_b

    # The keypoint stage's candidate step at the same number of banked descriptors: the real pictures'
    # ORB descriptors plus random ones in pictures of BANK_FEATURES, looked up with occluded copies.
    real_kp = [kp.keypoints(im) for im in pictures]
    n_real = sum(len(p) for p in real_kp)
    n_fake = max(0, size - n_real) // kp.BANK_FEATURES
    fake_kp: list[kp.Keypoints | None] = [
        kp.Keypoints(
            np.zeros((kp.BANK_FEATURES, 2), np.float32),
            rng.integers(0, 256, size=(kp.BANK_FEATURES, 32), dtype=np.uint8),
            (kp.SIDE, kp.SIDE),
        )
        for _ in range(n_fake)
    ]
    before = rss_mib()
    t = time.perf_counter()
    desc_index = kp.DescriptorIndex([*real_kp, *fake_kp])
    desc_build = time.perf_counter() - t
    desc_rss = rss_mib() - before
    kp_queries = []
    for k in range(0, len(pictures), 4):
        for name, fn2 in OCCLUSION_EDITS.items():
            kp_queries.append((k, kp.keypoints(fn2(pictures[k], edit_rng(paths[k].name, name)), kp.QUERY_FEATURES)))
    t = time.perf_counter()
    proposed = [desc_index.candidates(q) for _, q in kp_queries]
    desc_rate = len(kp_queries) / (time.perf_counter() - t)
    own_first = sum(bool(c) and c[0] == k for (k, _), c in zip(kp_queries, proposed, strict=True))
    own_in = sum(k in c for (k, _), c in zip(kp_queries, proposed, strict=True))
    desc_mib = desc_index.nbytes() / 2**20
    del desc_index

    return "\n".join(
        [
            f"### {size:,} banked PDQ hashes, {len(queries)} lookups (5 query hashes each), one core",
            "",
            f"Lookups: the query side of {len(edits) + len(OCCLUSION_EDITS)} kinds of edited copies of every 4th of "
            f"{len(paths)} real pictures, threshold {hashing.MATCH_BITS} bits. Multi-index hashing, 16 chunks of "
            "16 bits (flockwatch/media/hash_index.py).",
            "",
            "| bank | build s | index MiB | RSS growth MiB | lookups/s, 1-bit probes | lookups/s, exact "
            "| lookups/s, linear scan |",
            "|---|---|---|---|---|---|---|",
            f"| (a) {len(real_words):,} real hashes ({len(real)} pictures) + {fill:,} random | {build_a:.1f} | "
            f"{nbytes_a / 2**20:.0f} | {rss_a:.0f} | "
            f"**{fast_a:,.0f}** | {exact_a:,.1f} | {linear_a:,.1f} |",
            f"| (b) {size:,} random | {build_b:.1f} | {nbytes_b / 2**20:.0f} | {rss_b:.0f} | **{fast_b:,.0f}** "
            f"(random queries: {fast_b_random:,.0f}) | | |",
            "",
            f"1-bit probes against the exact search on bank (a), over the first {len(exact_all)} lookups: "
            f"{len(pairs)} (lookup, picture) matches within {hashing.MATCH_BITS} bits; found **{found}** "
            f"({found / max(1, len(pairs)):.3f}), with the same best distance {same_distance}; within 31 bits "
            f"{len(within31)}, missed **{missed31}** (must be 0: the pigeonhole guarantee).",
            "",
            f"Exact search (3-bit probes) is what Bank uses up to {EXACT_UP_TO:,} hashes; its rate and the "
            f"linear scan's are over the first {EXACT_SAMPLE} and {LINEAR_SAMPLE} lookups.",
            "",
            f"Keypoint stage's candidate step (flockwatch/media/keypoints.py, DescriptorIndex) over "
            f"{n_real + n_fake * kp.BANK_FEATURES:,} banked ORB descriptors ({len(real_kp)} real pictures + "
            f"{n_fake:,} pictures of random descriptors): built in {desc_build:.1f} s, {desc_mib:.0f} MiB "
            f"(RSS growth {desc_rss:.0f} MiB); **{desc_rate:,.0f}** candidate lookups/s ({kp.QUERY_FEATURES} "
            f"query descriptors each) over {len(kp_queries)} occluded copies; the copy's own picture proposed "
            f"first {own_first}, among the {kp.CANDIDATES} candidates {own_in}.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--no-write", action="store_true", help="print only, leave docs/benchmarks.md alone")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    body = section(args.size)
    print(body)
    if not args.no_write and args.size == 1_000_000:
        write_section("Bank index", COMMAND, body)


if __name__ == "__main__":
    main()
