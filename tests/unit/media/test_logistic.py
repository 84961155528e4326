"""The shared weighted L2 logistic fit (flockwatch.media.logistic) against scikit-learn's."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped, unused-ignore]

from flockwatch.media.logistic import fit_logistic


@pytest.mark.parametrize("l2", [1e-3, 1e-1])
def test_matches_sklearn_weighted_l2(l2: float) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4))
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0]) + rng.normal(size=300) > 0).astype(np.float64)
    sw = rng.uniform(0.2, 1.0, 300)
    sw /= sw.sum()
    w, b = fit_logistic(x, y, sw, l2)
    # Σ swᵢ·bceᵢ + l2·‖w‖² has the minimiser of sklearn's C·Σ swᵢ·bceᵢ + ½‖w‖² at C = 1 / (2·l2).
    ref = LogisticRegression(C=1 / (2 * l2), tol=1e-12, max_iter=10_000).fit(x, y, sample_weight=sw)
    assert w == pytest.approx(ref.coef_[0], abs=1e-4)  # both stop at their own tolerances
    assert b == pytest.approx(ref.intercept_[0], abs=1e-4)


def test_layout_does_not_change_the_problem() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] > 0).astype(np.float64)
    sw = np.full(200, 1 / 200)
    w_c, b_c = fit_logistic(np.ascontiguousarray(x), y, sw, 1e-2)
    w_f, b_f = fit_logistic(np.asfortranarray(x), y, sw, 1e-2)
    assert w_f == pytest.approx(w_c, abs=1e-9) and b_f == pytest.approx(b_c, abs=1e-9)
