"""Small array helpers.

``numpy.unique`` without ``return_*`` arguments uses a hash table in numpy 2.x that is an order of
magnitude slower than sorting for millions of int64 codes; these helpers sort.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

T = TypeVar("T", bound=np.generic)


def unique_sorted(values: NDArray[T]) -> NDArray[T]:
    """Sorted distinct values (same result as ``np.unique``)."""
    out = np.sort(values)
    if len(out) > 1:
        out = out[np.concatenate(([True], out[1:] != out[:-1]))]
    return out


def unique_counts(values: NDArray[T]) -> tuple[NDArray[T], NDArray[np.int64]]:
    """Sorted distinct values and how often each occurs."""
    s = np.sort(values)
    if len(s) == 0:
        return s, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))
    counts = np.diff(np.append(starts, len(s))).astype(np.int64)
    return s[starts], counts


def unique_first(values: NDArray[Any]) -> NDArray[np.int64]:
    """Index of the first occurrence of each distinct value, in order of the sorted values."""
    order = np.argsort(values, kind="stable").astype(np.int64)
    s = values[order]
    if len(s) == 0:
        return order
    return order[np.concatenate(([True], s[1:] != s[:-1]))]


def unique_inverse(values: NDArray[T]) -> tuple[NDArray[T], NDArray[np.int64]]:
    """Sorted distinct values and, for each input, the index of its value among them."""
    order = np.argsort(values, kind="stable").astype(np.int64)
    s = values[order]
    if len(s) == 0:
        return s, order
    first = np.concatenate(([True], s[1:] != s[:-1]))
    inverse = np.empty(len(values), dtype=np.int64)
    inverse[order] = np.cumsum(first) - 1
    return s[first], inverse
