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

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from flockwatch.metrics import auroc
from flockwatch.model_card import markdown_table, write_block

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
    split from the right (``label, tvt, cv_fold, tt, tvt2, tvt2_1, tvt2_2, tvt2_3``).  An id that occurs
    twice is an error: it could sit in two splits, and the splits must be disjoint by tree id.
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
        tree_id = rec.split(",", 1)[0]
        if tree_id in out:
            raise ValueError(f"{csv_path}: tree id {tree_id} occurs more than once")
        out[tree_id] = (parts[1].strip(), parts[2].strip())
    return out


SPLITS = ("train", "validation", "test")
_TVT = {"training": "train", "validation": "validation", "test": "test"}  # the csv's names -> ours
# Features the model leaves out on purpose, measured alone so the card can show why (size confound).
BASELINES = ("size", "depth")
L2_GRID = (0.1, 1.0, 10.0, 100.0, 1000.0)


@dataclass(frozen=True)
class Tree:
    """One labelled Twitter15 tree: its split, label (1 = false rumour), model inputs and the left-out size/depth."""

    tree_id: str
    split: str
    y: float
    x: list[float]
    size: float
    depth: float


def twitter15_trees(data_dir: Path) -> list[Tree]:
    """The false and true rumour trees of Twitter15 with the dataset's own split (``tvt`` column)."""
    from flockwatch.graph.cascade_io import read_twitter1516
    from flockwatch.graph.cascade_metrics import cascade_metrics
    from flockwatch.graph.cascades import build_tree

    folder = data_dir / "spread" / "twitter15"
    split = twitter15_split(folder / "twitter15_dataset_with_tvt.csv")
    trees: list[Tree] = []
    for cascade in read_twitter1516(folder / "twitter15_tree.tar.gz"):
        label, part = split.get(cascade.cascade_id, (cascade.label or "", ""))
        if label not in ("false", "true") or part not in _TVT or not cascade.events:
            continue
        m = cascade_metrics(build_tree(cascade.cascade_id, cascade.events, cascade.root_id))
        trees.append(Tree(cascade.cascade_id, _TVT[part], 1.0 if label == "false" else 0.0, features(m),
                          float(m["size"]), float(m["depth"])))  # fmt: skip
    return trees


def split_digest(ids: Sequence[str]) -> str:
    """A short fingerprint of a split's tree ids (order-free), so the committed figures name the exact trees."""
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:16]


def train_twitter15(data_dir: Path, out_dir: Path, l2_grid: Sequence[float] = L2_GRID) -> dict[str, Any]:
    """Fit on the training split (L2 chosen by 5-fold CV AUROC there), report validation and test AUROC,
    refit on train + validation, write ``model.json`` (figures in its ``meta``) and return the figures."""
    trees = twitter15_trees(data_dir)
    by_split = {s: [t for t in trees if t.split == s] for s in SPLITS}

    def xy(part: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        sel = by_split[part]
        return np.array([t.x for t in sel], dtype=np.float64), np.array([t.y for t in sel], dtype=np.float64)

    x_tr, y_tr = xy("train")
    x_va, y_va = xy("validation")
    x_te, y_te = xy("test")
    cv = {l2: cross_val_auroc(x_tr, y_tr, l2) for l2 in l2_grid}
    best = max(cv, key=lambda k: cv[k][0])
    model = fit_logistic(x_tr, y_tr, best)
    val_auc = auroc(y_va, predict(model, x_va))
    test_auc = auroc(y_te, predict(model, x_te))
    final = fit_logistic(np.vstack([x_tr, x_va]), np.concatenate([y_tr, y_va]), best)

    def alone(value: Callable[[Tree], float]) -> dict[str, float]:
        """AUROC of one raw value as the score, per split (false = positive)."""
        out = {}
        for s in SPLITS:
            ys = np.array([t.y for t in by_split[s]], dtype=np.float64)
            out[s] = round(auroc(ys, np.array([value(t) for t in by_split[s]], dtype=np.float64)), 4)
        return out

    median_delay = FEATURES.index("log_delay_median_min")
    figures = {
        "data": "Twitter15 propagation trees (gszswork/Twitter15_16_dataset @ 6a33ebd), false (1) vs true (0)",
        "n": {s: len(by_split[s]) for s in SPLITS},
        "n_false": {s: sum(t.y == 1.0 for t in by_split[s]) for s in SPLITS},
        "n_true": {s: sum(t.y == 0.0 for t in by_split[s]) for s in SPLITS},
        "split_ids_sha256": {s: split_digest([t.tree_id for t in by_split[s]]) for s in SPLITS},
        "median_depth": float(np.median([t.depth for t in trees])),
        "cv_auroc_train_5fold": {str(k): [round(m, 4), round(s, 4)] for k, (m, s) in cv.items()},
        "l2": best,
        "l2_chosen_by": "5-fold stratified CV AUROC on the training split",
        "validation_auroc": round(val_auc, 4),
        "test_auroc": round(test_auc, 4),
        "reported_on": "test split, model fitted on the training split; the test split chose nothing",
        "single_feature_auroc_train": {name: round(auroc(y_tr, x_tr[:, i]), 4) for i, name in enumerate(FEATURES)},
        "single_value_auroc": {
            "size": alone(lambda t: t.size),
            "depth": alone(lambda t: t.depth),
            "log_delay_median_min": alone(lambda t: t.x[median_delay]),
        },
        "final_fit": "train + validation",
    }
    final.meta = figures
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "model.json").write_text(final.to_json() + "\n", encoding="utf-8")
    return figures


def render_card_blocks(meta: Mapping[str, Any]) -> dict[str, str]:
    """The card's generated blocks (name -> Markdown) from a model's ``meta``: a pure function, so a test can
    re-render them from the committed ``model.json`` and compare with the card."""
    n, nf, nt = meta["n"], meta["n_false"], meta["n_true"]
    data = markdown_table(
        ["split", "trees", "false (positive)", "true (negative)", "tree ids (sha256 of sorted ids, 16 hex)"],
        [[s, n[s], nf[s], nt[s], f"`{meta['split_ids_sha256'][s]}`"] for s in SPLITS]
        + [["all", sum(n.values()), sum(nf.values()), sum(nt.values()), ""]],
    )
    data += f"\n\nMedian depth of these trees: {meta['median_depth']:g}."
    alone = meta["single_value_auroc"]
    names = {"size": "size (left out)", "depth": "depth (left out)", "log_delay_median_min": "median reshare delay"}
    baselines = markdown_table(
        ["one value alone as the score", *SPLITS], [[names[k], *(f"{alone[k][s]:.3f}" for s in SPLITS)] for k in names]
    )
    cv = meta["cv_auroc_train_5fold"]
    rows: list[list[object]] = [
        [f"5-fold CV on train, L2 = {float(k):g}{' (chosen)' if float(k) == meta['l2'] else ''}, mean ± sd",
         f"{m:.3f} ± {s:.3f}"]
        for k, (m, s) in cv.items()
    ]  # fmt: skip
    rows += [
        ["validation (model fitted on train)", f"{meta['validation_auroc']:.3f}"],
        ["**test** (model fitted on train)", f"**{meta['test_auroc']:.3f}**"],
    ]
    evaluation = markdown_table(["", "AUROC"], rows)
    return {"data": data, "baselines": baselines, "evaluation": evaluation}


def write_card(meta: Mapping[str, Any], card: Path) -> None:
    """Write the generated blocks into ``card`` (created with only the blocks when it does not exist)."""
    for name, body in render_card_blocks(meta).items():
        write_block(card, name, body)
