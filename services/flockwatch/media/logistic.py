"""The weighted L2 logistic regression both small media detectors fit (synthetic image, cloned voice)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

F64 = npt.NDArray[np.float64]


def fit_logistic(
    x: F64, y: F64, sample_weight: F64, l2: float, max_iter: int = 500, tolerance_grad: float = 1e-9
) -> tuple[F64, float]:
    """``(weights, bias)`` minimising ``Σᵢ sample_weightᵢ · BCE(xᵢ·w + b, yᵢ) + l2 · ‖w‖²`` (bias unpenalised).

    Full-batch L-BFGS (strong Wolfe line search) in float64 from zeros, so a fit is a pure function of its
    inputs (values and memory layout) and the torch thread count, which the caller sets. ``x`` comes already
    standardised (the callers standardise differently) and the weights are used as given (callers normalise
    them). A caller whose objective is written ``½·λ·‖w‖²`` passes ``l2 = 0.5 * λ``.
    """
    # Zero-copy and in the caller's memory layout: the layout picks the matmul kernel and so its float sums
    # (a C-order copy of the image model's F-order design changes its weights in the last bits, then more).
    xt = torch.from_numpy(np.asarray(x, dtype=np.float64))
    yt = torch.from_numpy(np.asarray(y, dtype=np.float64))
    wt = torch.from_numpy(np.asarray(sample_weight, dtype=np.float64))
    w = torch.zeros(xt.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS(
        [w, b], lr=1.0, max_iter=max_iter, tolerance_grad=tolerance_grad, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        bce = torch.nn.functional.binary_cross_entropy_with_logits(xt @ w + b, yt, reduction="none")
        loss = (bce * wt).sum() + l2 * (w * w).sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    opt.step(closure)  # type: ignore[no-untyped-call]
    return w.detach().numpy().copy(), float(b.detach()[0])
