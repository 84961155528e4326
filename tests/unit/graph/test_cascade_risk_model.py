"""Cascade risk model: spread features by hand, first-hour truncation, the JSON tree export against
scikit-learn, and the committed model's scores."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from flockwatch.config import REPO_ROOT
from flockwatch.graph.cascade_risk import (
    FEATURES,
    HORIZON_S,
    Ensemble,
    RiskModel,
    _boost,
    hash_split,
    spread_features,
    truncate,
)
from flockwatch.graph.cascades import Event, build_tree, tree_from_parents

MODEL = REPO_ROOT / "models" / "cascade_risk" / "model.json"


def f(tree_features: list[float], name: str) -> float:
    return tree_features[FEATURES.index(name)]


def test_features_by_hand() -> None:
    # 0 -> 1 (60 s) -> 3 (7200 s); 0 -> 2 (120 s); users b, c, b
    t = tree_from_parents("c", [-1, 0, 0, 1], [0, 60, 120, 7200], [None, "b", "c", "b"])
    x = spread_features(t)
    assert len(x) == len(FEATURES)
    assert f(x, "log_first_delay_min") == pytest.approx(math.log1p(1.0))
    assert f(x, "log_delay_median_min") == pytest.approx(math.log1p(2.0))
    assert f(x, "share_0_5min") == pytest.approx(2 / 3) and f(x, "share_1_6h") == pytest.approx(1 / 3)
    assert f(x, "root_share") == pytest.approx(2 / 3) and f(x, "share_depth_2plus") == pytest.approx(1 / 3)
    assert f(x, "log_reshare_lag_min") == pytest.approx(math.log1p((7200 - 60) / 60))
    assert f(x, "structural_virality") == pytest.approx(10 / 6)  # distances 1, 1, 2, 2, 1, 3
    assert f(x, "largest_branch_share") == pytest.approx(2 / 3) and f(x, "distinct_user_share") == pytest.approx(2 / 3)
    early = spread_features(t, HORIZON_S)  # reshare 3 (two hours in) is not seen yet
    assert f(early, "root_share") == 1.0 and f(early, "share_depth_2plus") == 0.0
    assert f(early, "log_reshare_lag_min") == -1.0


def test_truncation_equals_the_tree_of_the_first_hour_only() -> None:
    rng = np.random.default_rng(1)
    events = [Event("r", None, 1000.0, "u0")]
    for i in range(1, 60):
        parent = events[int(rng.integers(0, i))]
        events.append(Event(f"n{i}", parent.id, parent.time + float(rng.exponential(900)), f"u{i % 17}"))
    full = build_tree("r", events, "r")
    first_hour = build_tree("r", [e for e in events if e.time - 1000.0 <= HORIZON_S], "r")
    cut = truncate(full, HORIZON_S)
    assert 1 < len(cut) < len(full)
    assert cut.ids == first_hour.ids and cut.parent == first_hour.parent and cut.time == first_hour.time
    assert spread_features(full, HORIZON_S) == spread_features(first_hour)
    lone = tree_from_parents("x", [-1], [0.0], [None])
    assert f(spread_features(lone, HORIZON_S), "log_first_delay_min") == pytest.approx(math.log1p(60.0))


def test_json_trees_score_exactly_as_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5))
    y = (x[:, 0] + x[:, 1] * x[:, 2] + 0.3 * rng.normal(size=400) > 0).astype(np.float64)
    model = _boost(x, y, 3, 40)
    exported = Ensemble.from_dict(json.loads(json.dumps(Ensemble.from_sklearn(model, y, 40).to_dict())))
    assert np.abs(exported.raw(x) - model.decision_function(x)).max() < 1e-9
    shorter = Ensemble.from_sklearn(model, y, 10)  # the first stages of a fit are a fit with fewer trees
    assert np.abs(shorter.raw(x) - _boost(x, y, 3, 10).decision_function(x)).max() < 1e-9


def test_committed_model_scores_and_the_early_score_reads_only_the_first_hour() -> None:
    model = RiskModel.load(MODEL)
    events = [Event("r", None, 0.0, "a")] + [Event(f"n{i}", "r", 60.0 * i, f"u{i}") for i in range(1, 30)]
    tree = build_tree("r", events, "r")
    risk, early = model.scores(tree)
    assert 0.0 < risk < 1.0 and 0.0 < early < 1.0 and model.score(tree) == risk
    late = [Event(f"m{i}", f"n{i}", 7200.0 + 3600.0 * i, f"v{i}") for i in range(1, 30)]
    grown = build_tree("r", events + late, "r")
    risk2, early2 = model.scores(grown)
    assert early2 == early and risk2 != risk
    lone_risk, lone_early = model.scores(tree_from_parents("x", [-1], [0.0], [None]))
    assert 0.0 < lone_risk < 1.0 and 0.0 < lone_early < 1.0


def test_model_json_round_trips_and_other_models_are_refused(tmp_path: Path) -> None:
    model = RiskModel.load(MODEL)
    path = tmp_path / "m.json"
    path.write_text(model.to_json(), encoding="utf-8")
    assert json.loads(path.read_text()) == json.loads(MODEL.read_text())
    old = {"feature_names": ["size"], "mean": [0], "scale": [1], "weights": [1], "bias": 0, "l2": 1}
    path.write_text(json.dumps(old))
    with pytest.raises(ValueError, match="features"):
        RiskModel.load(path)


def test_hash_split_is_fixed_and_near_70_15_15() -> None:
    ids = [str(3_000_000_000 + 7919 * i) for i in range(4000)]
    parts = [hash_split(i) for i in ids]
    assert hash_split("3521234567890123") == hash_split("3521234567890123")
    shares = {s: parts.count(s) / len(parts) for s in ("train", "validation", "test")}
    assert shares["train"] == pytest.approx(0.70, abs=0.03) and shares["test"] == pytest.approx(0.15, abs=0.03)


def test_the_graph_stage_stores_both_scores() -> None:
    from flockwatch.stages.graph import CascadeEntry, load_risk_model

    model = load_risk_model(MODEL)
    assert model is not None
    entry = CascadeEntry("x:r")
    entry.add("x:r", (None, 1000.0, "a"))
    for i in range(1, 12):
        entry.add(f"x:{i}", ("x:r" if i % 3 else f"x:{i - 1}", 1000.0 + 900.0 * i, f"u{i}"))
    doc = entry.document(None, model)
    tree = build_tree("x:r", [Event(k, p, t, u) for k, (p, t, u) in entry.events.items()], "x:r")
    assert (doc["risk_score"], doc["early_warning_score"]) == model.scores(tree)
    assert doc["early_warning_score"] != doc["risk_score"]  # a different tree: four reshares, not eleven
    unscored = entry.document(None, None)
    assert unscored["risk_score"] is None and unscored["early_warning_score"] is None
