"""Narrative exemplar bank: HNSW against exact search, in cost per post and in the paraphrase decisions.

    .venv/bin/python bench/narrative_bank.py [--rows 120000] [--runs 3]

Data: the first ``--rows`` rows of the IRA 2016 file (``campaigns/ira_2016``), English ones only, in file order,
as the text stage assigns them: normalised text, embedded (``onnx-int8`` MiniLM) when its copy form has at least
``min_paraphrase_words`` words. The embeddings are computed once; only ``NarrativeIndex.assign`` is timed.

* **Cost per post**: the whole stream assigned by an index with each bank (``flat``: faiss's exact inner-product
  scan; ``hnsw``: what the stage uses), ``--runs`` times, kinds interleaved; medians of the ms per post over each
  tenth of the stream, so the growth with the bank shows.
* **Decisions**: one more pass with the exact bank deciding, where every paraphrase-tier query is also asked of an
  HNSW bank holding the same exemplars: how often the nearest narrative, and the decision (cosine ≥ threshold,
  and to which narrative), are the same.

Writes the ``Narrative exemplar bank`` section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.narratives import english_posts  # noqa: E402
from bench.report import write_section  # noqa: E402
from flockwatch.text.canonical import copy_form  # noqa: E402
from flockwatch.text.embed import shared_embedder  # noqa: E402
from flockwatch.text.exemplar_bank import BankKind, ExemplarBank  # noqa: E402
from flockwatch.text.narratives import DIM, NarrativeConfig, NarrativeIndex  # noqa: E402

TENTHS = 10
KINDS: tuple[BankKind, ...] = ("flat", "hnsw")  # interleaved within each run


def read_stream(rows: int, min_words: int) -> tuple[list[str], list[int]]:
    """Normalised English texts in file order, and the positions of those the paraphrase tier embeds."""
    texts = [norm for norm, _ in english_posts(rows)]
    return texts, [i for i, t in enumerate(texts) if len(copy_form(t).split()) >= min_words]


def timed_pass(kind: BankKind, texts: list[str], vecs: list[NDArray[np.float32] | None]) -> tuple[list[float], int]:
    """ms per post over each tenth of the stream, and the exemplars at the end."""
    index = NarrativeIndex(NarrativeConfig(exemplar_bank=kind), track_stats=False)
    step = -(-len(texts) // TENTHS)
    per_tenth = []
    for start in range(0, len(texts), step):
        t0 = time.perf_counter()
        for i in range(start, min(start + step, len(texts))):
            index.assign(texts[i], vecs[i], item_id=str(i))
        per_tenth.append((time.perf_counter() - t0) * 1000 / max(1, min(step, len(texts) - start)))
    return per_tenth, index.exemplars


class ComparingBank(ExemplarBank):
    """The exact bank, deciding; an HNSW bank with the same exemplars asked the same queries beside it."""

    def __init__(self, dim: int, threshold: float) -> None:
        super().__init__(dim, "flat")
        self.hnsw = ExemplarBank(dim, "hnsw")
        self.threshold = threshold
        self.queries = self.same_nearest = self.same_decision = self.exact_merges = self.hnsw_merges = 0

    def add(self, narrative_id: str, vec: NDArray[np.float32]) -> None:
        super().add(narrative_id, vec)
        self.hnsw.add(narrative_id, vec)

    def nearest(self, vec: NDArray[np.float32]) -> tuple[str, float] | None:
        exact, approx = super().nearest(vec), self.hnsw.nearest(vec)
        if exact is None or approx is None:
            return exact
        self.queries += 1
        self.same_nearest += exact[0] == approx[0]
        merge_e = exact[0] if exact[1] >= self.threshold else None
        merge_a = approx[0] if approx[1] >= self.threshold else None
        self.same_decision += merge_e == merge_a
        self.exact_merges += merge_e is not None
        self.hnsw_merges += merge_a is not None
        return exact


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=120_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    cfg = NarrativeConfig()
    texts, embedded = read_stream(args.rows, cfg.min_paraphrase_words)
    t0 = time.perf_counter()
    vecs: list[NDArray[np.float32] | None] = [None] * len(texts)
    for i, v in zip(embedded, shared_embedder().embed([texts[i] for i in embedded]), strict=True):
        vecs[i] = v
    embed_s = time.perf_counter() - t0

    runs: dict[str, list[list[float]]] = {"flat": [], "hnsw": []}
    exemplars = 0
    for _ in range(args.runs):
        for kind in KINDS:
            per_tenth, exemplars = timed_pass(kind, texts, vecs)
            runs[kind].append(per_tenth)
            print(kind, " ".join(f"{x:.3f}" for x in per_tenth), flush=True)
    med = {k: [statistics.median(r[t] for r in v) for t in range(len(v[0]))] for k, v in runs.items()}

    index = NarrativeIndex(cfg, track_stats=False)
    bank = index._current.bank = ComparingBank(DIM, cfg.cosine)  # one generation: cfg never forgets
    for i, text in enumerate(texts):
        index.assign(text, vecs[i], item_id=str(i))

    lines = [
        f"{len(texts):,} English posts of the first {args.rows:,} IRA 2016 rows, in file order; {len(embedded):,} "
        f"embedded for the paraphrase tier ({embed_s:.0f} s to embed, not timed below); {exemplars:,} exemplars at "
        f"the end. {args.runs} runs per bank, interleaved; medians.",
        "",
        "ms per post for `NarrativeIndex.assign` (all tiers), by tenth of the stream:",
        "",
        "| tenth | " + " | ".join(str(t + 1) for t in range(len(med["flat"]))) + " |",
        "|---|" + "---:|" * len(med["flat"]),
        "| exact (`flat`) | " + " | ".join(f"{x:.3f}" for x in med["flat"]) + " |",
        "| HNSW (`hnsw`, used) | " + " | ".join(f"{x:.3f}" for x in med["hnsw"]) + " |",
        "",
        f"Last tenth: exact {med['flat'][-1]:.3f} ms, HNSW {med['hnsw'][-1]:.3f} ms per post "
        f"(**{med['flat'][-1] / med['hnsw'][-1]:.1f}×**); first tenth {med['flat'][0]:.3f} against "
        f"{med['hnsw'][0]:.3f}.",
        "",
        f"Decisions, exact bank deciding, HNSW asked beside it ({bank.queries:,} paraphrase-tier queries against a "
        f"non-empty bank, threshold {cfg.cosine}):",
        "",
        f"- same nearest narrative: **{bank.same_nearest / bank.queries:.2%}**",
        f"- same decision (no merge, or a merge into the same narrative): **{bank.same_decision / bank.queries:.2%}**",
        f"- paraphrase merges: exact {bank.exact_merges:,}, HNSW {bank.hnsw_merges:,}",
    ]
    body = "\n".join(lines)
    print(body)
    write_section("Narrative exemplar bank", f"bench/narrative_bank.py --rows {args.rows} --runs {args.runs}", body)


if __name__ == "__main__":
    main()
