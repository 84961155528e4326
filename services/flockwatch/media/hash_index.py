"""A multi-index hash table over banked 256-bit PDQ hashes, so a lookup does not scan the whole bank.

Multi-index hashing (Norouzi, Punjani & Fleet, "Fast search in Hamming space with multi-index hashing",
CVPR 2012): each hash is cut into 16 chunks of 16 bits and every chunk position has a table from chunk
value to the hashes holding it (a CSR array: the hash ids sorted by chunk value, and 65,537 offsets).
A lookup probes, for every query chunk, the table entries within ``probe_bits`` bits of it
(17 entries at 1 bit, 137 at 2, 697 at 3), takes the union of the ids found as candidates and measures
their full 256-bit distance.

Pigeonhole: if two hashes are within ``d`` bits, one of the 16 chunks differs by at most ``d // 16``
bits. So probing ``threshold // 16`` bits finds every hash within ``threshold``: the same result as a
linear scan (:meth:`HashIndex.search` with ``probe_bits=None``). At the picture threshold (52 bits, see
:mod:`flockwatch.media.hashing`) that is 3 bits, ~11,000 probes and ~17% of a random bank as
candidates: barely better than the scan. Probing 1 bit is exact up to 31 bits (PDQ's usual match
threshold) and reads ~0.4% of a random bank; beyond 31 bits it finds a hash only when some chunk is
within 1 bit, which near-duplicates (a few bits per chunk) almost always have and which
``python -m bench.bank_index`` measures on real edited pictures. :class:`flockwatch.media.bank.Bank`
searches exactly up to ``EXACT_UP_TO`` banked hashes and probes 1 bit above that.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import numpy.typing as npt

from flockwatch.media.hashing import hamming_matrix

Words = npt.NDArray[np.uint64]
CHUNKS = 16
CHUNK_VALUES = 1 << 16
FAST_PROBE_BITS = 1
# Banks up to this many hashes (about 300 pictures at 648 hashes each) are searched exactly at any
# threshold; bigger ones probe FAST_PROBE_BITS (exact to 31 bits).
EXACT_UP_TO = 200_000


@cache
def probe_masks(bits: int) -> npt.NDArray[np.uint16]:
    """Every 16-bit XOR mask with at most ``bits`` bits set (the ball a chunk probe covers)."""
    values = np.arange(CHUNK_VALUES, dtype=np.uint32)
    return np.flatnonzero(np.bitwise_count(values) <= bits).astype(np.uint16)


def _chunks(words: Words) -> npt.NDArray[np.uint16]:
    return np.ascontiguousarray(words, dtype=np.uint64).reshape(-1, 4).view(np.uint16).reshape(-1, CHUNKS)


class HashIndex:
    """Range search over hashes owned by items ``0..n-1`` (several hashes per item)."""

    def __init__(self, words: Words, owners: npt.NDArray[np.int64]) -> None:
        words = np.ascontiguousarray(words, dtype=np.uint64).reshape(-1, 4)
        self.owners: npt.NDArray[np.int32] = np.asarray(owners, dtype=np.int32).reshape(-1)
        if len(words) != len(self.owners):
            raise ValueError("one owner per hash")
        # The hashes column by column: a lookup gathers one 64-bit word of each candidate at a time.
        self.columns: Words = np.ascontiguousarray(words.T)
        chunks = _chunks(words)
        n = len(words)
        self.ids: npt.NDArray[np.uint32] = np.empty((CHUNKS, n), dtype=np.uint32)
        self.offsets: npt.NDArray[np.int64] = np.empty((CHUNKS, CHUNK_VALUES + 1), dtype=np.int64)
        for j in range(CHUNKS):
            order = np.argsort(chunks[:, j], kind="stable")
            self.ids[j] = order
            counts = np.bincount(chunks[:, j], minlength=CHUNK_VALUES)
            self.offsets[j, 0] = 0
            np.cumsum(counts, out=self.offsets[j, 1:])

    @classmethod
    def from_items(cls, items: Sequence[Words]) -> HashIndex:
        """One word array per item (possibly empty); owner ids are positions in ``items``."""
        if not items:
            return cls(np.zeros((0, 4), dtype=np.uint64), np.zeros(0, dtype=np.int64))
        owners = np.concatenate([np.full(len(w), k, dtype=np.int64) for k, w in enumerate(items)])
        words = np.concatenate([np.asarray(w, dtype=np.uint64).reshape(-1, 4) for w in items])
        return cls(words, owners)

    def __len__(self) -> int:
        return len(self.owners)

    def nbytes(self) -> int:
        """Memory held by the index's arrays (hashes, owners, tables)."""
        return self.columns.nbytes + self.owners.nbytes + self.ids.nbytes + self.offsets.nbytes

    def candidates(self, query: Words, probe_bits: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(query row, hash row) pairs where some chunk of the hash is within ``probe_bits`` bits of the same
        chunk of that query hash (a pair can repeat when several chunks are close)."""
        empty = np.zeros(0, dtype=np.int64)
        if not len(self):
            return empty, empty
        qc = _chunks(query).astype(np.int64)  # (Q, 16)
        masks = probe_masks(probe_bits).astype(np.int64)
        keys = (qc[:, :, None] ^ masks[None, None, :]) + (np.arange(CHUNKS) * (CHUNK_VALUES + 1))[None, :, None]
        flat_offsets = self.offsets.reshape(-1)
        lo = flat_offsets[keys].reshape(-1)
        sizes = flat_offsets[keys + 1].reshape(-1) - lo
        hit = np.flatnonzero(sizes)
        lo, sizes = lo[hit], sizes[hit]
        total = int(sizes.sum())
        if not total:
            return empty, empty
        per_query = CHUNKS * len(masks)
        table = (hit % per_query) // len(masks)
        # Flat positions of every id in every probed range, without a Python loop.
        shift = np.repeat(table * len(self) + lo - (np.cumsum(sizes) - sizes), sizes)
        rows = self.ids.reshape(-1)[shift + np.arange(total)].astype(np.int64)
        return np.repeat(hit // per_query, sizes), rows

    def search(self, query: Words, threshold: int, probe_bits: int | None = None) -> dict[int, int]:
        """{owner: best distance among its found hashes} for owners with a hash within ``threshold`` bits.

        ``probe_bits=None`` probes ``threshold // 16`` bits: exactly what a linear scan finds, best distance
        included (a query hash finds every hash within ``threshold`` of it through one of its own chunks).
        """
        query = np.asarray(query, dtype=np.uint64).reshape(-1, 4)
        if not len(query) or not len(self):
            return {}
        bits = threshold // CHUNKS if probe_bits is None else probe_bits
        qrows, rows = self.candidates(query, min(bits, CHUNKS))
        if not len(rows):
            return {}
        # Column by column (1-D gathers and uint8 popcounts): ~3x faster than one (n, 4) gather and sum.
        # The first two words' distance is a lower bound: unrelated pairs (~64 of 128 bits) stop there.
        d = np.bitwise_count(self.columns[0].take(rows) ^ query[:, 0].take(qrows)).astype(np.int16)
        d += np.bitwise_count(self.columns[1].take(rows) ^ query[:, 1].take(qrows))
        near = np.flatnonzero(d <= threshold)
        rows, qrows, d = rows[near], qrows[near], d[near]
        for k in (2, 3):
            d += np.bitwise_count(self.columns[k].take(rows) ^ query[:, k].take(qrows))
        keep = d <= threshold
        out: dict[int, int] = {}
        for owner, dist in zip(self.owners[rows[keep]].tolist(), d[keep].tolist(), strict=True):
            if dist < out.get(owner, threshold + 1):
                out[owner] = dist
        return out


def linear_search(query: Words, items: Sequence[Words], threshold: int) -> dict[int, int]:
    """The reference the index must equal: every query hash against every hash of every item."""
    out: dict[int, int] = {}
    query = np.asarray(query, dtype=np.uint64).reshape(-1, 4)
    for k, w in enumerate(items):
        if len(w) and len(query):
            best = int(hamming_matrix(query, np.asarray(w, dtype=np.uint64).reshape(-1, 4)).min())
            if best <= threshold:
                out[k] = best
    return out
