"""Evaluation metrics shared by the training scripts (pure numpy, no state)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def auroc(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Area under the ROC curve: the chance that a random positive (label 1) outscores a random negative (label 0).

    Computed as the Mann–Whitney U statistic over ``n_pos · n_neg`` from average ranks, so tied scores count
    half (the same as the trapezoid under the ROC curve). U is a sum of half-integers, hence exact in float64,
    and the result is that exact U divided once by ``n_pos · n_neg``. Returns NaN when either class is
    empty (no curve to measure); raises ``ValueError`` on labels other than 0/1 or on NaN scores (they
    have no rank).
    """
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1 or y.shape != s.shape:
        raise ValueError(f"labels {y.shape} and scores {s.shape} must be 1-D and the same length")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    if np.isnan(s).any():
        raise ValueError("scores hold NaN")
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inv, counts = np.unique(s, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inv]  # 1-based; a tie group shares its mean rank
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def auroc_pos_neg(pos: npt.ArrayLike, neg: npt.ArrayLike) -> float:
    """:func:`auroc` for scores already split by class: ``pos`` (label 1) against ``neg`` (label 0)."""
    p, n = np.asarray(pos, dtype=np.float64).ravel(), np.asarray(neg, dtype=np.float64).ravel()
    return auroc(np.r_[np.ones(p.size, dtype=np.int64), np.zeros(n.size, dtype=np.int64)], np.r_[p, n])
