"""The PDQ hash index: exact lookups equal a linear scan; 1-bit probes are exact to 31 bits."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st

from flockwatch.media import hashing
from flockwatch.media.hash_index import HashIndex, linear_search, probe_masks

Words = npt.NDArray[np.uint64]


def flip(words: Words, bits: list[int]) -> Words:
    out = words.copy()
    for b in bits:
        out[0, (b // 64) % 4] ^= np.uint64(1) << np.uint64(b % 64)
    return out


@st.composite
def bank_and_query(draw: st.DrawFn) -> tuple[list[Words], Words]:
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    sizes = draw(st.lists(st.integers(0, 6), min_size=1, max_size=30))
    items = [rng.integers(0, 2**64, size=(n, 4), dtype=np.uint64, endpoint=False) for n in sizes]
    donors = [w for w in items if len(w)]
    near: bool = draw(st.booleans())
    if donors and near:
        base = donors[draw(st.integers(0, len(donors) - 1))]
        row = base[draw(st.integers(0, len(base) - 1)) : None][:1]
        query = flip(row, draw(st.lists(st.integers(0, 255), max_size=70)))
    else:
        query = rng.integers(0, 2**64, size=(1, 4), dtype=np.uint64, endpoint=False)
    extra = rng.integers(0, 2**64, size=(draw(st.integers(0, 4)), 4), dtype=np.uint64, endpoint=False)
    return items, np.concatenate([query, extra])


@settings(max_examples=150, deadline=None)
@given(bank_and_query(), st.integers(0, 70))
def test_exact_search_equals_linear_scan(case: tuple[list[Words], Words], threshold: int) -> None:
    items, query = case
    index = HashIndex.from_items(items)
    assert index.search(query, threshold) == linear_search(query, items, threshold)


@settings(max_examples=100, deadline=None)
@given(bank_and_query())
def test_one_bit_probes_are_exact_to_31_bits_and_sound_beyond(case: tuple[list[Words], Words]) -> None:
    items, query = case
    index = HashIndex.from_items(items)
    assert index.search(query, 31, probe_bits=1) == linear_search(query, items, 31)
    fast = index.search(query, hashing.MATCH_BITS, probe_bits=1)
    exact = linear_search(query, items, hashing.MATCH_BITS)
    # Never a match the scan does not have; a found item's distance is a real one (≥ its best).
    assert set(fast) <= set(exact)
    assert all(fast[k] >= exact[k] for k in fast)
    assert {k for k, d in exact.items() if d <= 31} <= set(fast)


def test_near_duplicate_found_and_empty_cases() -> None:
    rng = np.random.default_rng(0)
    items = [rng.integers(0, 2**64, size=(648, 4), dtype=np.uint64, endpoint=False) for _ in range(20)]
    index = HashIndex.from_items(items)
    assert len(index) == 20 * 648 and index.nbytes() > 0
    query = flip(items[7][100:101], list(range(0, 256, 6)))  # 43 bits away
    assert index.search(query, hashing.MATCH_BITS) == {7: 43}
    assert HashIndex.from_items([]).search(query, 52) == {}
    assert index.search(np.zeros((0, 4), dtype=np.uint64), 52) == {}


def test_probe_masks_are_the_hamming_ball() -> None:
    assert len(probe_masks(0)) == 1
    assert len(probe_masks(1)) == 17
    assert len(probe_masks(3)) == 1 + 16 + 120 + 560
