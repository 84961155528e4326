"""What the resharers' history would add to the cascade risk score (#16 item 4): an exploration, not a shipped signal.

    .venv/bin/python -m bench.cascade_history            # about 30 s; writes the `cascade history` section

The shipped risk score reads how a cascade spread, never who spread it. This measures the other half on the same
splits as the model card (`flockwatch train cascade-risk`): for each resharer, the share of false / rumour cascades
among the *train* split's cascades they reshared (add-one smoothed toward 1/2); a cascade's history score is the
mean over its resharers seen in train (1/2 when none was). Nothing about any account is written out.

Three scores per dataset, each on the test split (which chooses nothing):
- spread: the card's chosen risk ensemble refitted on train only (the shipped one also saw validation);
- history: the resharer history above;
- both: a logistic regression over (spread log-odds, history log-odds, dataset) fitted on validation.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.report import write_section  # noqa: E402
from flockwatch.config import Settings  # noqa: E402
from flockwatch.graph import cascade_risk as cr  # noqa: E402
from flockwatch.graph.cascades import Tree  # noqa: E402
from flockwatch.metrics import auroc  # noqa: E402

COMMAND = "python -m bench.cascade_history"
Labelled = tuple[str, str, float, Tree]  # dataset, split, label, tree


def resharers(tree: Tree) -> set[str]:
    return {u for u in tree.user[1:] if u}


def history_scores(cases: Sequence[Labelled], horizon: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Each case's mean smoothed false share of its resharers (those within ``horizon`` of the root) over the
    train split's whole cascades (per dataset: account ids of two platforms never meet), and the share of its
    resharers that train had seen."""
    false: dict[tuple[str, str], float] = defaultdict(float)
    seen: dict[tuple[str, str], float] = defaultdict(float)
    for dataset, split, y, tree in cases:
        if split == "train":
            for u in resharers(tree):
                false[dataset, u] += y
                seen[dataset, u] += 1
    scores, coverage = [], []
    for dataset, _, _, tree in cases:
        users = resharers(cr.truncate(tree, horizon))
        known = [u for u in users if seen.get((dataset, u))]
        scores.append(np.mean([(false[dataset, u] + 0.5) / (seen[dataset, u] + 1) for u in known]) if known else 0.5)
        coverage.append(len(known) / len(users) if users else 0.0)
    return np.asarray(scores, dtype=np.float64), np.asarray(coverage, dtype=np.float64)


def spread_scores(cases: Sequence[Labelled], horizon: float | None) -> np.ndarray:
    """Log-odds of the card's chosen risk (or, with a horizon, early-warning) setting, fitted on train only."""
    score = "risk" if horizon is None else "early_warning"
    chosen = json.loads((REPO / "models/cascade_risk/model.json").read_text())["meta"][score]["chosen"]
    x = np.array([cr.spread_features(tree, horizon) for *_, tree in cases], dtype=np.float64)
    y = np.array([c[2] for c in cases])
    train = np.array([c[1] == "train" for c in cases])
    model = cr._boost(x[train], y[train], int(chosen["max_depth"]), int(chosen["n_trees"]))
    out: np.ndarray = model.decision_function(x)
    return out


def table(cases: Sequence[Labelled], horizon: float | None) -> str:
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped, unused-ignore]

    y = np.array([c[2] for c in cases])
    split = np.array([c[1] for c in cases])
    dataset = np.array([c[0] for c in cases])
    history, coverage = history_scores(cases, horizon)
    spread = spread_scores(cases, horizon)
    logit = np.log(np.clip(history, 1e-6, 1 - 1e-6) / np.clip(1 - history, 1e-6, 1))
    x = np.column_stack([spread, logit, dataset == "twitter15"])
    val, test = split == "validation", split == "test"
    both = LogisticRegression().fit(x[val], y[val]).decision_function(x)
    rows = ["| dataset (test split) | cascades | resharers seen in train (mean share) | spread | history | both |",
            "|---|---|---|---|---|---|"]  # fmt: skip
    for name in ("weibo_ced", "twitter15", None):
        sel = test & (dataset == name) if name else test
        figures = [auroc(y[sel], s[sel]) for s in (spread, history, both)]
        label = {"weibo_ced": "Weibo CED", "twitter15": "Twitter15", None: "pooled"}[name]
        cells = " | ".join(f"{f:.3f}" if not math.isnan(f) else "-" for f in figures)
        rows.append(f"| {label} | {int(sel.sum())} | {coverage[sel].mean():.3f} | {cells} |")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, help="at most this many cascades per dataset (a quick look)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)

    data = Settings().data_dir
    cases: list[Labelled] = []
    for name, trees in (("weibo_ced", cr.ced_trees(data)), ("twitter15", cr.twitter15_trees(data))):
        for k, (_, split, y, tree) in enumerate(trees):
            if args.limit is not None and k >= args.limit:
                break
            cases.append((name, split, y, tree))
    tables = [table(cases, horizon) for horizon in (None, cr.HORIZON_S)]
    body = (
        "AUROC (positive = false / rumour) on the model card's test split. *spread*: the card's chosen setting "
        "fitted on train; *history*: the mean false share, over the train split, of the cascade's resharers; "
        "*both*: a logistic regression over the two log-odds and the dataset, fitted on validation. An exploration "
        "for #16 item 4: the shipped scores are *spread* (refitted on train + validation).\n\n"
        "Whole cascade (risk):\n\n" + tables[0] + "\n\nFirst hour only (early warning; the history of the "
        "first hour's resharers):\n\n" + tables[1]
    )
    print(body)
    if not args.no_write:
        write_section("cascade history", COMMAND, body)


if __name__ == "__main__":
    main()
