"""Cascade risk and early-warning scores: how much a cascade's *spread* looks like a false rumour's.

Two small gradient-boosted tree ensembles over the same spread-only features (:func:`spread_features`):

* ``risk``: the whole cascade as observed;
* ``early_warning``: the cascade truncated to the reshares made within ``HORIZON_S`` (one hour) of the root,
  so it can be scored an hour after a post, before the cascade has grown.

Trained on Weibo CED (rumour vs non-rumour) and Twitter15 (false vs true rumours) together, splits fixed and
disjoint by cascade id (Twitter15: the dataset's ``tvt`` split; CED: a hash of the cascade id). The ensembles
are fitted with scikit-learn at training time only and exported to plain JSON (split feature, threshold,
children, leaf values), so scoring needs no ML library and loads nothing executable.

Left out on purpose: cascade size and any count of reshares (on CED they stand in for the source's follower
count, which the data README flags as a confound; the card shows what adding log-size would change), follower
counts, absolute times (dates, hour of day), user identities and text. Who reshared enters only through the
optional fusion with a deployment's own account history (:mod:`flockwatch.graph.account_history`,
:func:`fit_fusion`, :meth:`RiskModel.scores_with_history`): the model holds its three weights per score, no account.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from flockwatch.graph.account_history import AccountHistory, HistoryEvidence, history_evidence, learn, resharers
from flockwatch.metrics import auroc
from flockwatch.model_card import markdown_table, write_block

if TYPE_CHECKING:
    from flockwatch.graph.cascades import Tree as CascadeTree

FORMAT = "flockwatch.cascade_risk/2"
HORIZON_S = 3600.0
# Delay bins (seconds from the root) whose shares of the reshares are features; the last is open-ended.
DELAY_BINS = (300.0, 900.0, 3600.0, 6 * 3600.0, 86400.0)
FEATURES = (
    "log_first_delay_min",
    "log_delay_p10_min",
    "log_delay_median_min",
    "log_delay_p90_min",
    "share_0_5min",
    "share_5_15min",
    "share_15_60min",
    "share_1_6h",
    "share_6_24h",
    "share_after_24h",
    "interarrival_cv",
    "log_lifetime_min",
    "log_reshare_lag_min",
    "root_share",
    "mean_depth",
    "share_depth_2plus",
    "share_depth_3plus",
    "structural_virality",
    "breadth_share",
    "largest_branch_share",
    "resharer_share",
    "top_resharer_share",
    "distinct_user_share",
)


def truncate(tree: CascadeTree, horizon: float | None) -> CascadeTree:
    """The cascade as it stood ``horizon`` seconds after the root (the root always stays).

    :func:`~flockwatch.graph.cascades.build_tree` makes times non-decreasing along every path, so the nodes
    kept are closed under "parent of" and the breadth-first order survives.
    """
    from flockwatch.graph.cascades import Tree

    if horizon is None or all(t <= horizon for t in tree.time):
        return tree
    keep = [i for i, t in enumerate(tree.time) if i == 0 or t <= horizon]
    new = {old: k for k, old in enumerate(keep)}
    return Tree(tree.cascade_id, [tree.ids[i] for i in keep], [-1] + [new[tree.parent[i]] for i in keep[1:]],
                [tree.time[i] for i in keep], [tree.user[i] for i in keep], tree.root_time)  # fmt: skip


def spread_features(tree: CascadeTree, horizon: float | None = None) -> list[float]:
    """The model inputs (``FEATURES``, in order) of ``tree``, truncated to ``horizon`` seconds when given.

    Delays are minutes from the root, on a log scale so that platforms with other time scales differ by a
    shift rather than a stretch. A cascade without reshares gets the horizon (or 0) as its delays.
    """
    t = truncate(tree, horizon)
    n = len(t.parent)
    delays = np.sort(np.asarray(t.time[1:], dtype=np.float64))
    if not len(delays):
        delays = np.array([horizon or 0.0])
    m = n - 1

    def lmin(seconds: float) -> float:
        return math.log1p(max(seconds, 0.0) / 60.0)

    edges = (0.0, *DELAY_BINS, math.inf)
    shares = [float(((delays > lo) & (delays <= hi)).mean()) if lo > 0 else float((delays <= hi).mean())
              for lo, hi in itertools.pairwise(edges)]  # fmt: skip
    gaps = np.diff(np.concatenate([[0.0], delays]))
    cv = float(gaps.std(ddof=1) / gaps.mean()) if len(gaps) > 1 and gaps.mean() > 0 else 1.0
    parent = np.asarray(t.parent, dtype=np.int64)
    depth = np.zeros(n, dtype=np.int64)
    for i in range(1, n):
        depth[i] = depth[parent[i]] + 1
    sizes = np.ones(n, dtype=np.float64)
    for i in range(n - 1, 0, -1):
        sizes[parent[i]] += sizes[i]
    out_degree = np.bincount(parent[1:], minlength=n) if m else np.zeros(n, dtype=np.int64)
    through = parent[1:] != 0  # reshares of a reshare
    time = np.asarray(t.time, dtype=np.float64)
    lags = time[1:][through] - time[parent[1:][through]]
    users = [u for u in t.user[1:] if u]
    levels = np.bincount(depth)
    return [
        lmin(float(delays[0])),
        lmin(float(np.quantile(delays, 0.1))),
        lmin(float(np.quantile(delays, 0.5))),
        lmin(float(np.quantile(delays, 0.9))),
        *shares,
        cv,
        lmin(float(delays[-1])),
        lmin(float(np.median(lags))) if len(lags) else -1.0,
        float((parent[1:] == 0).mean()) if m else 1.0,
        float(depth[1:].mean()) if m else 0.0,
        float((depth[1:] >= 2).mean()) if m else 0.0,
        float((depth[1:] >= 3).mean()) if m else 0.0,
        float(2.0 * np.sum(sizes[1:] * (n - sizes[1:])) / (n * (n - 1))) if n > 1 else 0.0,
        float(levels.max() / n),
        float(sizes[1:].max() / m) if m else 0.0,
        float((out_degree[1:] > 0).sum() / m) if m else 0.0,
        float(out_degree[1:].max() / m) if m else 0.0,
        len(set(users)) / len(users) if users else 1.0,
    ]


# --------------------------------------------------------------------------------------------------------
# The model: boosted regression trees on the log-odds, as JSON


@dataclass
class Ensemble:
    """Gradient-boosted trees: ``log-odds = init + learning_rate * sum(leaf values)``.

    Each tree is ``[feature, threshold, left, right, value]`` (parallel lists; ``left == -1`` marks a leaf).
    Inputs are rounded to float32 before the ``x <= threshold`` test, as scikit-learn's trees do, so scores
    equal scikit-learn's to the last bits.
    """

    init: float
    learning_rate: float
    max_depth: int
    trees: list[list[list[Any]]]

    def raw(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Log-odds of the rows of ``x``."""
        x32 = np.asarray(x, dtype=np.float32).astype(np.float64)
        total = np.zeros(len(x32))
        rows = np.arange(len(x32))
        for feature, threshold, left, right, value in self.trees:
            f = np.asarray(feature, dtype=np.int64)
            th, lo, hi = np.asarray(threshold), np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)
            node = np.zeros(len(x32), dtype=np.int64)
            for _ in range(self.max_depth):
                inner = lo[node] >= 0
                go_left = x32[rows, np.where(inner, f[node], 0)] <= th[node]
                node = np.where(inner, np.where(go_left, lo[node], hi[node]), node)
            total += np.asarray(value)[node]
        out: NDArray[np.float64] = self.init + self.learning_rate * total
        return out

    def raw_one(self, x: Sequence[float]) -> float:
        """Log-odds of one row, walking the trees in plain Python (numpy's per-call cost would dominate)."""
        x32 = np.asarray(x, dtype=np.float32).tolist()
        total = 0.0
        for feature, threshold, left, right, value in self.trees:
            node = 0
            while left[node] >= 0:
                node = left[node] if x32[feature[node]] <= threshold[node] else right[node]
            total += value[node]
        return self.init + self.learning_rate * total

    def to_dict(self) -> dict[str, Any]:
        return {"init": self.init, "learning_rate": self.learning_rate, "max_depth": self.max_depth,
                "trees": self.trees}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Ensemble:
        return cls(float(data["init"]), float(data["learning_rate"]), int(data["max_depth"]), data["trees"])

    @classmethod
    def from_sklearn(cls, model: Any, y: NDArray[np.float64], n_trees: int) -> Ensemble:
        """Export the first ``n_trees`` stages of a fitted binary ``GradientBoostingClassifier`` (prior init)."""
        p = float(np.mean(y))
        trees: list[list[list[Any]]] = []
        for est in model.estimators_[:n_trees, 0]:
            t = est.tree_
            trees.append([[int(v) for v in t.feature], [float(v) for v in t.threshold],
                          [int(v) for v in t.children_left], [int(v) for v in t.children_right],
                          [float(v) for v in t.value[:, 0, 0]]])  # fmt: skip
        return cls(math.log(p / (1 - p)), float(model.learning_rate), int(model.max_depth), trees)


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


@dataclass
class RiskModel:
    feature_names: list[str]
    risk: Ensemble
    early_warning: Ensemble
    horizon_s: float
    meta: dict[str, Any] = field(default_factory=dict)
    # score name -> (bias, spread weight, history weight) on log-odds; fitted on validation (see fit_fusion)
    history_fusion: dict[str, list[float]] | None = None

    def _log_odds(self, tree: CascadeTree) -> tuple[float, float]:
        return (self.risk.raw_one(spread_features(tree)),
                self.early_warning.raw_one(spread_features(tree, self.horizon_s)))  # fmt: skip

    def scores(self, tree: CascadeTree) -> tuple[float, float]:
        """``(risk_score, early_warning_score)`` of one cascade; the early score reads only the first
        ``horizon_s`` seconds (a younger cascade is scored on what it holds so far)."""
        risk, early = self._log_odds(tree)
        return _sigmoid(risk), _sigmoid(early)

    def scores_with_history(self, tree: CascadeTree, history: AccountHistory) -> FusedScores:
        """Both scores with the resharers' history fused in (the early score reads the first hour's resharers)."""
        if self.history_fusion is None:
            raise ValueError("this risk model carries no history fusion weights; retrain it")
        spread = self._log_odds(tree)
        whole = history_evidence(history, resharers(tree), tree.cascade_id)
        early = history_evidence(history, resharers(truncate(tree, self.horizon_s)), tree.cascade_id)
        fused = [fuse(self.history_fusion[k], s, h.log_odds)
                 for k, s, h in (("risk", spread[0], whole), ("early_warning", spread[1], early))]  # fmt: skip
        return FusedScores(fused[0], fused[1], _sigmoid(spread[0]), _sigmoid(spread[1]), whole, early)

    def score(self, tree: CascadeTree) -> float:
        return self.scores(tree)[0]

    def to_json(self) -> str:
        """Readable head and meta; one line per tree (a tree indented number by number would be huge)."""

        def ensemble(e: Ensemble) -> str:
            head = json.dumps({k: v for k, v in e.to_dict().items() if k != "trees"})[:-1]
            trees = ",\n    ".join(json.dumps(tree, separators=(",", ":")) for tree in e.trees)
            return f'{head}, "trees": [\n    {trees}\n  ]}}'

        head = json.dumps({"format": FORMAT, "feature_names": self.feature_names, "horizon_s": self.horizon_s,
                           "history_fusion": self.history_fusion, "meta": self.meta},
                          indent=2, ensure_ascii=False)[:-2]  # fmt: skip
        return f'{head},\n  "risk": {ensemble(self.risk)},\n  "early_warning": {ensemble(self.early_warning)}\n}}'

    @classmethod
    def load(cls, path: Path | str) -> RiskModel:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("format") != FORMAT or list(data.get("feature_names", [])) != list(FEATURES):
            raise ValueError(f"{path}: not a {FORMAT} model with the code's features {FEATURES}")
        risk, early = Ensemble.from_dict(data["risk"]), Ensemble.from_dict(data["early_warning"])
        return cls(list(data["feature_names"]), risk, early, float(data["horizon_s"]), data.get("meta", {}),
                   data.get("history_fusion"))  # fmt: skip


def fuse(weights: Sequence[float], spread_log_odds: float, history_log_odds: float) -> float:
    """``sigmoid(bias + w_spread * spread + w_history * history)``: Platt-style stacking of the two log-odds."""
    bias, w_spread, w_history = weights
    return _sigmoid(bias + w_spread * spread_log_odds + w_history * history_log_odds)


@dataclass(frozen=True)
class FusedScores:
    risk: float
    early_warning: float
    spread_risk: float
    spread_early_warning: float
    history: HistoryEvidence
    early_history: HistoryEvidence

    def fields(self) -> dict[str, Any]:
        """A cascade record's score fields: the fused scores, the spread-only ones and the history evidence."""
        return {"risk_score": self.risk, "early_warning_score": self.early_warning,
                "spread_risk_score": self.spread_risk, "spread_early_warning_score": self.spread_early_warning,
                "resharer_history": self.history.to_dict(),
                "early_resharer_history": self.early_history.to_dict()}  # fmt: skip


# --------------------------------------------------------------------------------------------------------
# Data: labelled cascades with fixed splits

SPLITS = ("train", "validation", "test")
DATASETS = ("weibo_ced", "twitter15")
_TVT = {"training": "train", "validation": "validation", "test": "test"}  # Twitter15's csv names -> ours


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


def hash_split(cascade_id: str) -> str:
    """CED has no split of its own: 70 / 15 / 15 by a hash of the cascade id (fixed, order-free)."""
    bucket = int(hashlib.sha256(cascade_id.encode()).hexdigest()[:8], 16) % 20
    return "test" if bucket < 3 else "validation" if bucket < 6 else "train"


@dataclass(frozen=True)
class Case:
    """One labelled cascade: dataset, split, label (1 = false rumour / rumour), both feature rows, and the
    values left out of the model (size, depth, reshares in the first hour) for the card's comparisons."""

    dataset: str
    cascade_id: str
    split: str
    y: float
    x: list[float]
    x_early: list[float]
    size: float
    depth: float
    n_early: float
    resharers: frozenset[str] = frozenset()  # for the history fusion (never a model feature)
    resharers_early: frozenset[str] = frozenset()


def _case(dataset: str, cascade_id: str, split: str, y: float, tree: CascadeTree) -> Case:
    depth = max(tree.depths(), default=0)
    early = sum(1 for t in tree.time[1:] if t <= HORIZON_S)
    return Case(dataset, cascade_id, split, y, spread_features(tree), spread_features(tree, HORIZON_S),
                float(len(tree.parent)), float(depth), float(early), frozenset(resharers(tree)),
                frozenset(resharers(truncate(tree, HORIZON_S))))  # fmt: skip


def twitter15_trees(data_dir: Path) -> Iterator[tuple[str, str, float, CascadeTree]]:
    """(cascade id, split, label, tree) of Twitter15's false (1) and true (0) rumour trees, with the dataset's own
    split (``tvt`` column)."""
    from flockwatch.graph.cascade_io import read_twitter1516
    from flockwatch.graph.cascades import build_tree

    folder = data_dir / "spread" / "twitter15"
    split = twitter15_split(folder / "twitter15_dataset_with_tvt.csv")
    for c in read_twitter1516(folder / "twitter15_tree.tar.gz"):
        label, part = split.get(c.cascade_id, (c.label or "", ""))
        if label not in ("false", "true") or part not in _TVT or not c.events:
            continue
        yield c.cascade_id, _TVT[part], 1.0 if label == "false" else 0.0, build_tree(c.cascade_id, c.events, c.root_id)


def ced_trees(
    data_dir: Path, keep: Callable[[str], bool] | None = None
) -> Iterator[tuple[str, str, float, CascadeTree]]:
    """(cascade id, split, label, tree) of Weibo CED (rumour = 1), split by :func:`hash_split`; ``keep`` filters
    cascade ids (tests)."""
    from flockwatch.graph.cascade_io import read_ced
    from flockwatch.graph.cascades import build_tree

    for c in read_ced(data_dir / "spread" / "weibo_ced" / "CED_Dataset.tar.gz"):
        if not c.events or c.label not in ("rumor", "non-rumor") or (keep is not None and not keep(c.cascade_id)):
            continue
        tree = build_tree(c.cascade_id, c.events, c.root_id)
        yield c.cascade_id, hash_split(c.cascade_id), float(c.label == "rumor"), tree


def twitter15_cases(data_dir: Path) -> list[Case]:
    return [_case("twitter15", *t) for t in twitter15_trees(data_dir)]


def ced_cases(data_dir: Path, keep: Callable[[str], bool] | None = None) -> list[Case]:
    return [_case("weibo_ced", *t) for t in ced_trees(data_dir, keep)]


def load_cases(data_dir: Path) -> list[Case]:
    return ced_cases(data_dir) + twitter15_cases(data_dir)


def split_digest(ids: Sequence[str]) -> str:
    """A short fingerprint of a split's cascade ids (order-free), so the committed figures name the exact trees."""
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------------------------------------
# Training

DEPTH_GRID = (2, 3, 4)
N_TREES_GRID = (100, 200, 300)
LEARNING_RATE = 0.05
MIN_SAMPLES_LEAF = 10


def _boost(x: NDArray[np.float64], y: NDArray[np.float64], depth: int, n_trees: int) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier  # type: ignore[import-untyped, unused-ignore]

    model = GradientBoostingClassifier(n_estimators=n_trees, max_depth=depth, learning_rate=LEARNING_RATE,
                                       min_samples_leaf=MIN_SAMPLES_LEAF, random_state=0)  # fmt: skip
    return model.fit(x, y)


def _aurocs(cases: Sequence[Case], scores: NDArray[np.float64]) -> dict[str, float]:
    """AUROC per dataset and pooled (false / rumour = positive), rounded for the card."""
    y = np.array([c.y for c in cases])
    ds = np.array([c.dataset for c in cases])
    out = {d: round(auroc(y[ds == d], scores[ds == d]), 4) for d in DATASETS}
    out["pooled"] = round(auroc(y, scores), 4)
    return out


Grid = tuple[Sequence[int], Sequence[int]]  # depths, numbers of trees
GRID: Grid = (DEPTH_GRID, N_TREES_GRID)


def fit_and_evaluate(
    cases: Sequence[Case], early: bool, grid_axes: Grid = GRID
) -> tuple[Ensemble, Ensemble, dict[str, Any]]:
    """Choose depth and number of trees on validation (pooled AUROC, model fitted on train), report the test
    split with that train-fitted model, then refit on train + validation: the shipped ensemble. Returns the shipped
    ensemble, the train-fitted one (the history fusion is fitted over its scores) and the figures.

    The first ``n`` trees of a fit are the fit with ``n`` trees (boosting is sequential and nothing is drawn at
    random), so one fit per depth serves every number of trees; a one-point ``grid_axes`` rebuilds the chosen
    model alone (the test does, to stay fast)."""
    part = {s: [c for c in cases if c.split == s] for s in SPLITS}

    def xy(sel: Sequence[Case]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        x = np.array([c.x_early if early else c.x for c in sel], dtype=np.float64)
        return x, np.array([c.y for c in sel], dtype=np.float64)

    x_tr, y_tr = xy(part["train"])
    x_va, _ = xy(part["validation"])
    x_te, _ = xy(part["test"])
    grid: dict[str, dict[str, float]] = {}
    fitted = {}
    for depth in grid_axes[0]:
        fitted[depth] = _boost(x_tr, y_tr, depth, max(grid_axes[1]))
        for n in grid_axes[1]:
            ens = Ensemble.from_sklearn(fitted[depth], y_tr, n)
            grid[f"depth {depth}, {n} trees"] = _aurocs(part["validation"], ens.raw(x_va))
    best = max(grid, key=lambda k: grid[k]["pooled"])  # first of equals: the grid's order breaks ties
    depth, n_trees = int(best.split()[1].rstrip(",")), int(best.split()[2])
    chosen = Ensemble.from_sklearn(fitted[depth], y_tr, n_trees)
    x_all, y_all = xy(part["train"] + part["validation"])
    final = Ensemble.from_sklearn(_boost(x_all, y_all, depth, n_trees), y_all, n_trees)
    figures = {
        "validation_grid": grid,
        "chosen": {
            "max_depth": depth,
            "n_trees": n_trees,
            "learning_rate": LEARNING_RATE,
            "min_samples_leaf": MIN_SAMPLES_LEAF,
        },
        "validation": grid[best],
        "test": _aurocs(part["test"], chosen.raw(x_te)),
    }

    # What log-size would add (validation only, the same depth and trees): the card's case for leaving it out.
    def size_of(sel: Sequence[Case]) -> NDArray[np.float64]:
        return np.array([math.log1p(c.n_early) if early else math.log(c.size) for c in sel], dtype=np.float64)

    with_size = _boost(np.column_stack([x_tr, size_of(part["train"])]), y_tr, depth, n_trees)
    x_va_size = np.column_stack([x_va, size_of(part["validation"])])
    figures["validation_with_log_size"] = _aurocs(part["validation"], with_size.decision_function(x_va_size))
    return final, chosen, figures


def fit_fusion(cases: Sequence[Case], spread: Ensemble, early: bool) -> tuple[list[float], dict[str, Any]]:
    """Weights that fuse the spread log-odds with the resharers' history log-odds, and their figures.

    The history is learnt from the train split's whole cascades, one per dataset (two platforms' account ids never
    meet); ``spread`` is the train-fitted ensemble, so validation is unseen by both inputs. A logistic regression
    over the two log-odds, fitted on validation, gives ``(bias, w_spread, w_history)``; the test split chose nothing.
    The early score's history reads only the first hour's resharers (their records come from whole cascades).
    """
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped, unused-ignore]

    def judged(d: str) -> Iterator[tuple[str, bool, frozenset[str]]]:
        return ((c.cascade_id, c.y == 1.0, c.resharers) for c in cases if c.dataset == d and c.split == "train")

    histories = {d: learn(judged(d), f"{d} train split") for d in DATASETS}
    evidence = [history_evidence(histories[c.dataset], c.resharers_early if early else c.resharers) for c in cases]
    rows = np.array([c.x_early if early else c.x for c in cases], dtype=np.float64)
    x = np.column_stack([spread.raw(rows), [e.log_odds for e in evidence]])
    y = np.array([c.y for c in cases])
    split = np.array([c.split for c in cases])
    val, te = split == "validation", split == "test"
    model = LogisticRegression().fit(x[val], y[val])
    weights = [float(model.intercept_[0]), float(model.coef_[0][0]), float(model.coef_[0][1])]
    fused = weights[0] + x @ np.asarray(weights[1:])
    test = [c for c in cases if c.split == "test"]
    known = {d: round(float(np.mean([e.known / e.resharers for c, e in zip(cases, evidence, strict=True)
                                     if c.split == "test" and c.dataset == d and e.resharers])), 4)
             for d in DATASETS}  # fmt: skip
    figures = {
        "weights": {"bias": round(weights[0], 4), "spread": round(weights[1], 4), "history": round(weights[2], 4)},
        "history_test": _aurocs(test, x[te, 1]),
        "fused_validation": _aurocs([c for c in cases if c.split == "validation"], fused[val]),
        "fused_test": _aurocs(test, fused[te]),
        "test_resharers_with_a_record": known,
    }
    return weights, figures


def train(
    data_dir: Path, out_dir: Path, cases: Sequence[Case] | None = None, grids: Mapping[str, Grid] | None = None
) -> dict[str, Any]:
    """Fit both scores, write ``model.json`` (figures in its ``meta``) and return the figures.

    ``grids`` (``"risk"`` / ``"early_warning"`` -> depths, numbers of trees) replaces the search grid; the
    command always uses the full one."""
    cases = list(cases) if cases is not None else load_cases(data_dir)
    grids = grids or {}
    by = {(d, s): [c for c in cases if c.dataset == d and c.split == s] for d in DATASETS for s in SPLITS}
    risk, risk_train, risk_fig = fit_and_evaluate(cases, early=False, grid_axes=grids.get("risk", GRID))
    early, early_train, early_fig = fit_and_evaluate(cases, early=True, grid_axes=grids.get("early_warning", GRID))
    fusion = {}
    for key, spread, fig in (("risk", risk_train, risk_fig), ("early_warning", early_train, early_fig)):
        fusion[key], fig["history"] = fit_fusion(cases, spread, early=key == "early_warning")

    def alone(value: Callable[[Case], float]) -> dict[str, dict[str, float]]:
        """AUROC of one raw value as the score, per dataset and split (positive = false / rumour)."""
        return {d: {s: round(auroc([c.y for c in by[d, s]], [value(c) for c in by[d, s]]), 4) for s in SPLITS}
                for d in DATASETS}  # fmt: skip

    median = FEATURES.index("log_delay_median_min")
    figures: dict[str, Any] = {
        "data": {
            "weibo_ced": "Weibo CED (thunlp/Chinese_Rumor_Dataset @ c1178d8), rumour (1) vs non-rumour (0)",
            "twitter15": "Twitter15 trees (gszswork/Twitter15_16_dataset @ 6a33ebd), false (1) vs true (0)",
        },
        "splits": {
            "weibo_ced": "sha256(cascade id) mod 20: 0-2 test, 3-5 validation, 6-19 train",
            "twitter15": "the dataset's tvt column",
        },
        "n": {d: {s: len(by[d, s]) for s in SPLITS} for d in DATASETS},
        "n_positive": {d: {s: int(sum(c.y for c in by[d, s])) for s in SPLITS} for d in DATASETS},
        "split_ids_sha256": {d: {s: split_digest([c.cascade_id for c in by[d, s]]) for s in SPLITS} for d in DATASETS},
        "median_size": {d: float(np.median([c.size for c in cases if c.dataset == d])) for d in DATASETS},
        "median_depth": {d: float(np.median([c.depth for c in cases if c.dataset == d])) for d in DATASETS},
        "horizon_s": HORIZON_S,
        "single_value_auroc": {
            "size (left out)": alone(lambda c: c.size),
            "reshares in the first hour (left out)": alone(lambda c: c.n_early),
            "depth": alone(lambda c: c.depth),
            "median reshare delay": alone(lambda c: c.x[median]),
        },
        "risk": risk_fig,
        "early_warning": early_fig,
        "chosen_by": "pooled validation AUROC, ensembles fitted on train; the test split chose nothing",
        "final_fit": "train + validation, with the chosen depth and number of trees",
    }
    model = RiskModel(list(FEATURES), risk, early, HORIZON_S, figures, fusion)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "model.json").write_text(model.to_json() + "\n", encoding="utf-8")
    return figures


# --------------------------------------------------------------------------------------------------------
# The card

_NAMES = {"weibo_ced": "Weibo CED", "twitter15": "Twitter15", "pooled": "pooled"}


def render_card_blocks(meta: Mapping[str, Any]) -> dict[str, str]:
    """The card's generated blocks (name -> Markdown) from a model's ``meta``: a pure function, so a test can
    re-render them from the committed ``model.json`` and compare with the card."""
    n, npos, digest = meta["n"], meta["n_positive"], meta["split_ids_sha256"]
    rows: list[list[object]] = []
    for d in DATASETS:
        rows += [[_NAMES[d], s, n[d][s], npos[d][s], n[d][s] - npos[d][s], f"`{digest[d][s]}`"] for s in SPLITS]
    data = markdown_table(["dataset", "split", "cascades", "positive", "negative", "ids (sha256 of sorted, 16 hex)"],
                          rows)  # fmt: skip
    data += (
        "\n\n"
        + "; ".join(
            f"{_NAMES[d]}: median size {meta['median_size'][d]:g}, median depth {meta['median_depth'][d]:g}"
            for d in DATASETS
        )
        + "."
    )
    alone = meta["single_value_auroc"]
    baselines = markdown_table(
        ["one value alone as the score", *(f"{_NAMES[d]} {s}" for d in DATASETS for s in SPLITS)],
        [[k, *(f"{v[d][s]:.3f}" for d in DATASETS for s in SPLITS)] for k, v in alone.items()],
    )
    cols = ["weibo_ced", "twitter15", "pooled"]
    blocks = {"data": data, "baselines": baselines}
    added = {"risk": "log size", "early_warning": "log(1 + reshares in the first hour)"}
    for key, name in (("risk", "risk"), ("early_warning", "early")):
        fig = meta[key]
        c = fig["chosen"]
        chosen = f"depth {c['max_depth']}, {c['n_trees']} trees"
        grid_rows: list[list[object]] = [
            [f"validation, {k}{' (chosen)' if k == chosen else ''}", *(f"{v[x]:.3f}" for x in cols)]
            for k, v in fig["validation_grid"].items()
        ]
        grid_rows.append([f"validation, {chosen} + {added[key]} (not shipped)",
                          *(f"{fig['validation_with_log_size'][x]:.3f}" for x in cols)])  # fmt: skip
        grid_rows.append([f"**test**, {chosen} (fitted on train)", *(f"**{fig['test'][x]:.3f}**" for x in cols)])
        blocks[name] = markdown_table(["AUROC (positive = false / rumour)", *(_NAMES[x] for x in cols)], grid_rows)
    history_rows: list[list[object]] = []
    for key, name in (("risk", "risk (whole cascade)"), ("early_warning", "early warning (first hour)")):
        fig, h = meta[key], meta[key]["history"]
        w = h["weights"]
        history_rows += [
            [f"{name}: spread alone (fitted on train)", *(f"{fig['test'][x]:.3f}" for x in cols), ""],
            [f"{name}: resharer history alone (train split's records)",
             *(f"{h['history_test'][x]:.3f}" for x in cols), ""],
            [f"{name}: **spread + history** (weights fitted on validation)",
             *(f"**{h['fused_test'][x]:.3f}**" for x in cols),
             f"{w['bias']:+.3f} {w['spread']:+.3f}·spread {w['history']:+.3f}·history"],
        ]  # fmt: skip
    coverage = "; ".join(f"{_NAMES[d]} {meta['risk']['history']['test_resharers_with_a_record'][d]:.0%}"
                         for d in DATASETS)  # fmt: skip
    blocks["history"] = (
        markdown_table(["AUROC on the test split", *(_NAMES[x] for x in cols), "fused log-odds"], history_rows)
        + f"\n\nTest cascades' resharers with a record in the train split (mean share per cascade): {coverage}."
    )
    return blocks


def write_card(meta: Mapping[str, Any], card: Path) -> None:
    """Write the generated blocks into ``card`` (created with only the blocks when it does not exist)."""
    for name, body in render_card_blocks(meta).items():
        write_block(card, name, body)
