"""The narrative exemplar bank: which narrative's exemplar is nearest (by cosine) to a post's embedding.

A matrix product against every exemplar costs O(n) per post, and n grows with every new narrative: in the
10-minute soak of ``bench/pipeline.py`` the text stage fell ever further behind, and ``bench/narrative_bank.py``
measures exact search at 2.3 ms per post once 55,787 exemplars are banked. The bank is therefore an HNSW graph
(Malkov & Yashunin, "Efficient and robust approximate nearest neighbor search using Hierarchical Navigable Small
World graphs", IEEE TPAMI 2020), faiss's ``IndexHNSWFlat`` over unit vectors with inner product, whose search
visits about ``ef_search · log n`` vectors.

* **Approximate.** The top-1 it returns can miss the true nearest exemplar; ``bench/narrative_bank.py`` measures
  how often the paraphrase decision differs from exact search (``kind="flat"``, faiss's brute force).
* **Deterministic.** Vectors are added one at a time, in order, and faiss draws HNSW levels from a fixed seed:
  the same sequence of adds builds the same graph. A restart re-adds the saved vectors in their order, so the
  resumed stream answers exactly as the uninterrupted one would have.
* faiss gets one OpenMP thread: one vector per call has nothing to share, and idle OpenMP workers spin on the
  two cores the whole pipeline shares (faiss ships its own libgomp, so torch's threads are untouched).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray

BankKind = Literal["hnsw", "flat"]


class ExemplarBank:
    """Unit-norm vectors, each labelled with its narrative id; ``nearest`` answers the best (id, cosine)."""

    def __init__(
        self, dim: int, kind: BankKind = "hnsw", *, m: int = 32, ef_construction: int = 64, ef_search: int = 64
    ):
        import faiss  # type: ignore[import-untyped, unused-ignore]

        faiss.omp_set_num_threads(1)
        self.dim = dim
        self._index: faiss.Index
        if kind == "hnsw":
            hnsw = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = ef_construction
            hnsw.hnsw.efSearch = ef_search
            self._index = hnsw
        elif kind == "flat":
            self._index = faiss.IndexFlatIP(dim)
        else:
            raise ValueError(f"exemplar bank kind {kind!r}: expected 'hnsw' or 'flat'")
        self.ids: list[str] = []  # row -> narrative id

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, narrative_id: str, vec: NDArray[np.float32]) -> None:
        self._index.add(np.ascontiguousarray(vec, dtype=np.float32).reshape(1, self.dim))
        self.ids.append(narrative_id)

    def nearest(self, vec: NDArray[np.float32]) -> tuple[str, float] | None:
        """The nearest exemplar's narrative id and cosine, or None while the bank is empty."""
        if not self.ids:
            return None
        sims, rows = self._index.search(np.ascontiguousarray(vec, dtype=np.float32).reshape(1, self.dim), 1)
        row = int(rows[0, 0])
        return None if row < 0 else (self.ids[row], float(sims[0, 0]))

    def vector(self, row: int) -> NDArray[np.float32]:
        """The vector added at ``row``."""
        return np.asarray(self._index.reconstruct(row), dtype=np.float32)

    def vectors(self) -> NDArray[np.float32]:
        """Every vector, in the order added (what a snapshot saves and ``add`` replays)."""
        if not self.ids:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self._index.reconstruct_n(0, len(self.ids)), dtype=np.float32)
