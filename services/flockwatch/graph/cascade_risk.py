"""Cascade risk score: how much a cascade's *spread* looks like a false rumour's.

Trained on Twitter15 (Ma et al., 2017), false (positive) vs true rumours, with the dataset's own
train/validation/test split.  Features come from the spread only and avoid the known size confounds
(the data README: size and follower counts separate classes for reasons that do not transfer): no size,
no depth, no branching factor (which grows with size in a star), no follower counts, no text.

Model: L2-regularised logistic regression on standardised features, fitted by iteratively reweighted
least squares (Newton's method) in numpy; the model file is plain JSON (feature names, means, scales,
weights), so scoring needs no ML library and loads nothing executable.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from flockwatch.metrics import auroc

FEATURES = (
    "log_delay_median_min",
    "log_delay_p10_min",
    "log_delay_p90_min",
    "share_first_hour",
    "interarrival_cv",
    "root_share",
    "structural_virality",
    "breadth_share",
    "spreader_gini",
)


def features(metrics: Mapping[str, Any]) -> list[float]:
    """The model's inputs from :func:`~flockwatch.graph.cascade_metrics.cascade_metrics` output."""

    def get(name: str, default: float = 0.0) -> float:
        v = metrics.get(name)
        return default if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)

    size = max(get("size", 1.0), 1.0)
    return [
        math.log1p(get("delay_median") / 60.0),
        math.log1p(get("delay_p10") / 60.0),
        math.log1p(get("delay_p90") / 60.0),
        get("share_first_hour"),
        get("interarrival_cv", 1.0),
        get("root_share"),
        get("structural_virality"),
        get("max_breadth") / size,
        get("spreader_gini"),
    ]


@dataclass
class RiskModel:
    feature_names: list[str]
    mean: list[float]
    scale: list[float]
    weights: list[float]
    bias: float
    l2: float
    meta: dict[str, Any]

    def score(self, metrics: Mapping[str, Any]) -> float:
        x = features(metrics)
        z = self.bias + sum(w * (v - m) / s for w, v, m, s in zip(self.weights, x, self.mean, self.scale, strict=True))
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    def to_json(self) -> str:
        return json.dumps(
            {"feature_names": self.feature_names, "mean": self.mean, "scale": self.scale, "weights": self.weights,
             "bias": self.bias, "l2": self.l2, "meta": self.meta},
            indent=2,
        )  # fmt: skip

    @classmethod
    def load(cls, path: Path | str) -> RiskModel:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if list(data["feature_names"]) != list(FEATURES):
            raise ValueError(f"{path}: model features {data['feature_names']} differ from the code's {FEATURES}")
        return cls(list(data["feature_names"]), data["mean"], data["scale"], data["weights"], float(data["bias"]),
                   float(data["l2"]), data.get("meta", {}))  # fmt: skip


def fit_logistic(x: NDArray[np.float64], y: NDArray[np.float64], l2: float = 1.0, iters: int = 50) -> RiskModel:
    """Standardise, then Newton/IRLS for ``min -loglik + l2/2 |w|^2`` (the bias is not penalised)."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    z = np.hstack([np.ones((len(x), 1)), (x - mean) / scale])
    w = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], l2)
    penalty[0] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -50, 50)))
        grad = z.T @ (p - y) + penalty * w
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(penalty) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return RiskModel(list(FEATURES), mean.tolist(), scale.tolist(), w[1:].tolist(), float(w[0]), l2, {})


def predict(model: RiskModel, x: NDArray[np.float64]) -> NDArray[np.float64]:
    z = model.bias + ((x - np.asarray(model.mean)) / np.asarray(model.scale)) @ np.asarray(model.weights)
    out: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))
    return out


def cross_val_auroc(
    x: NDArray[np.float64], y: NDArray[np.float64], l2: float, folds: int = 5, seed: int = 0
) -> tuple[float, float]:
    """Stratified k-fold AUROC: mean and standard deviation over folds."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=np.int64)
    for label in (0, 1):
        idx = np.flatnonzero(y == label)
        rng.shuffle(idx)
        fold[idx] = np.arange(len(idx)) % folds
    scores = []
    for k in range(folds):
        train, test = fold != k, fold == k
        model = fit_logistic(x[train], y[train], l2)
        scores.append(auroc(y[test], predict(model, x[test])))
    return float(np.mean(scores)), float(np.std(scores))


def twitter15_split(csv_path: Path) -> dict[str, tuple[str, str]]:
    """``tweet id -> (label, split)`` from ``twitter15_dataset_with_tvt.csv``.

    The file's tweet texts hold unquoted commas and newlines, so records are found by the leading id and
    split from the right (``label, tvt, cv_fold, tt, tvt2, tvt2_1, tvt2_2, tvt2_3``).
    """
    records: list[str] = []
    for line in csv_path.read_text(encoding="utf-8").splitlines()[1:]:
        if re.match(r"^\d{6,20},", line):
            records.append(line)
        elif records:
            records[-1] += "\n" + line
    out: dict[str, tuple[str, str]] = {}
    for rec in records:
        parts = rec.rsplit(",", 8)
        out[rec.split(",", 1)[0]] = (parts[1].strip(), parts[2].strip())
    return out


def train_twitter15(
    data_dir: Path, out_dir: Path, l2_grid: Sequence[float] = (0.1, 1.0, 10.0, 100.0, 1000.0)
) -> dict[str, Any]:
    """Fit on the training split (L2 chosen by 5-fold CV AUROC there), report validation and test AUROC,
    refit on train + validation, write ``model.json`` and return the figures."""
    from flockwatch.graph.cascade_io import read_twitter1516
    from flockwatch.graph.cascade_metrics import cascade_metrics
    from flockwatch.graph.cascades import build_tree

    folder = data_dir / "spread" / "twitter15"
    split = twitter15_split(folder / "twitter15_dataset_with_tvt.csv")
    rows: dict[str, tuple[list[float], float, str]] = {}
    for cascade in read_twitter1516(folder / "twitter15_tree.tar.gz"):
        label, part = split.get(cascade.cascade_id, (cascade.label or "", ""))
        if label not in ("false", "true") or not cascade.events:
            continue
        tree = build_tree(cascade.cascade_id, cascade.events, cascade.root_id)
        rows[cascade.cascade_id] = (features(cascade_metrics(tree)), 1.0 if label == "false" else 0.0, part)

    def take(parts: set[str]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        sel = [v for v in rows.values() if v[2] in parts]
        return np.array([v[0] for v in sel], dtype=np.float64), np.array([v[1] for v in sel], dtype=np.float64)

    x_tr, y_tr = take({"training"})
    x_va, y_va = take({"validation"})
    x_te, y_te = take({"test"})
    cv = {l2: cross_val_auroc(x_tr, y_tr, l2) for l2 in l2_grid}
    best = max(cv, key=lambda k: cv[k][0])
    model = fit_logistic(x_tr, y_tr, best)
    val_auc = auroc(y_va, predict(model, x_va))
    test_auc = auroc(y_te, predict(model, x_te))
    final = fit_logistic(np.vstack([x_tr, x_va]), np.concatenate([y_tr, y_va]), best)
    figures = {
        "data": "Twitter15 propagation trees (gszswork/Twitter15_16_dataset @ 6a33ebd), false (1) vs true (0)",
        "n": {"train": len(y_tr), "validation": len(y_va), "test": len(y_te)},
        "cv_auroc_train_5fold": {str(k): [round(m, 4), round(s, 4)] for k, (m, s) in cv.items()},
        "l2": best,
        "validation_auroc": round(val_auc, 4),
        "test_auroc": round(test_auc, 4),
        "single_feature_auroc_train": {name: round(auroc(y_tr, x_tr[:, i]), 4) for i, name in enumerate(FEATURES)},
        "final_fit": "train + validation",
    }
    final.meta = figures
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "model.json").write_text(final.to_json() + "\n", encoding="utf-8")
    return figures
