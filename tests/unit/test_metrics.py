"""The one AUROC every training script reports (flockwatch.metrics)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flockwatch.metrics import auroc, auroc_pos_neg


@pytest.mark.parametrize(
    ("labels", "scores", "expected"),
    [
        ([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 0.75),
        ([0, 0, 1, 1], [0.5, 0.5, 0.5, 0.5], 0.5),  # all tied: every pair counts half
        ([0, 1], [0.5, 0.5], 0.5),
        ([1, 0, 1, 0], [0.9, 0.9, 0.1, 0.0], 0.625),  # one tied pair of four → 2.5 / 4
        ([True, False], [1.0, 0.0], 1.0),
        ([1.0, 0.0], [0.0, 1.0], 0.0),
    ],
)
def test_auroc_by_hand(labels: list[float], scores: list[float], expected: float) -> None:
    assert auroc(np.asarray(labels), np.asarray(scores)) == expected


@pytest.mark.parametrize(("labels", "scores"), [([0, 0, 0], [0.0, 1.0, 2.0]), ([1], [0.3]), ([], [])])
def test_auroc_is_nan_without_both_classes(labels: list[int], scores: list[float]) -> None:
    assert math.isnan(auroc(labels, scores))


@pytest.mark.parametrize(
    ("labels", "scores"),
    [([0, 2], [0.1, 0.2]), ([0, 1], [0.1, float("nan")]), ([0, 1], [0.1]), ([[0, 1]], [[0.1, 0.2]])],
)
def test_auroc_rejects_bad_input(labels: npt.ArrayLike, scores: npt.ArrayLike) -> None:
    with pytest.raises(ValueError):
        auroc(labels, scores)


@given(
    st.lists(st.integers(-3, 3), min_size=1, max_size=30),
    st.lists(st.integers(-3, 3), min_size=1, max_size=30),
)
def test_auroc_is_the_pairwise_share_ties_half(pos: list[int], neg: list[int]) -> None:
    # The definition, pair by pair; small integer scores force many ties. Bit-equal: U is exact.
    pairs = [(p > n) + 0.5 * (p == n) for p in pos for n in neg]
    want = sum(pairs) / len(pairs)
    assert auroc_pos_neg(pos, neg) == want
    assert auroc([1] * len(pos) + [0] * len(neg), pos + neg) == want
