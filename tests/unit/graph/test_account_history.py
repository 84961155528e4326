"""Resharer history: shares by hand, leave-one-out equals learning without the cascade, the file round-trips and
bad files are refused, and the fusion with the spread score."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flockwatch.config import REPO_ROOT
from flockwatch.graph.account_history import AccountHistory, history_evidence, learn, renamed, resharers
from flockwatch.graph.cascade_risk import RiskModel, fuse
from flockwatch.graph.cascades import Event, build_tree

JUDGED = [("c1", True, {"a", "b"}), ("c2", True, {"a"}), ("c3", False, {"b", "c"})]


def test_shares_and_score_by_hand() -> None:
    history = learn(JUDGED, "by hand")
    assert history.records == {"a": [2, 2], "b": [1, 2], "c": [0, 1]}
    # a: 2.5/3, b: 1.5/3; d has no record and does not count
    evidence = history_evidence(history, ["a", "b", "d"])
    assert evidence.score == pytest.approx((2.5 / 3 + 1.5 / 3) / 2)
    assert (evidence.resharers, evidence.known) == (3, 2)
    assert evidence.flagged == [{"account": "a", "flagged": 2, "seen": 2}, {"account": "b", "flagged": 1, "seen": 2}]
    sentence = evidence.to_dict()["explanation"]
    assert "2 of its 3 resharers" in sentence and "a (2 of 2)" in sentence
    shown = renamed(evidence.to_dict(), lambda a: f"p-{a}")
    assert [f["account"] for f in shown["flagged_resharers"]] == ["p-a", "p-b"]
    assert "p-a (2 of 2)" in shown["explanation"] and "a (2" not in shown["explanation"].replace("p-a (2", "")
    assert evidence.log_odds == pytest.approx(math.log(evidence.score / (1 - evidence.score)))


def test_no_record_is_no_evidence() -> None:
    evidence = history_evidence(learn(JUDGED, "by hand"), ["x", "y"])
    assert (evidence.score, evidence.known, evidence.flagged, evidence.log_odds) == (0.5, 0, [], 0.0)
    assert "no history evidence" in evidence.to_dict()["explanation"]
    assert history_evidence(AccountHistory(), []).score == 0.5


def test_a_cascade_is_never_scored_on_its_own_verdict() -> None:
    history = learn(JUDGED, "by hand")
    own = history_evidence(history, {"a", "b"}, "c1")
    without = history_evidence(learn(JUDGED[1:], "without c1"), {"a", "b"})
    assert own == without
    # c's only judged cascade is c3: scoring c3 leaves it without a record
    assert history_evidence(history, {"b", "c"}, "c3").known == 1


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.sets(st.sampled_from("abcdefgh"), max_size=5)), min_size=1, max_size=12),
    st.data(),
)
def test_leave_one_out_equals_learning_without_it(cascades: list[tuple[bool, set[str]]], data: st.DataObject) -> None:
    judged = [(f"c{i}", flagged, accounts) for i, (flagged, accounts) in enumerate(cascades)]
    k = data.draw(st.integers(0, len(judged) - 1))
    cid, _, accounts = judged[k]
    full = history_evidence(learn(judged, "all"), accounts, cid)
    assert full == history_evidence(learn(judged[:k] + judged[k + 1 :], "rest"), accounts)
    assert 0 < full.score < 1


def test_file_round_trips_and_bad_files_are_refused(tmp_path: Path) -> None:
    history = learn(JUDGED, "by hand")
    path = tmp_path / "history.json"
    path.write_text(history.to_json())
    assert AccountHistory.load(path) == history
    with pytest.raises(ValueError, match="judged twice"):
        history.add("c1", False, {"z"})
    for bad in ({"format": "other"}, {**json.loads(history.to_json()), "records": {"a": [3, 2]}}, {"format": None}):
        path.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=str(path)):
            AccountHistory.load(path)
    path.write_text(json.dumps({**json.loads(history.to_json()), "records": {"a": [1]}}))
    with pytest.raises(ValueError, match=str(path)):
        AccountHistory.load(path)


def test_resharers_leave_out_the_root_author_and_missing_users() -> None:
    tree = build_tree("r", [Event("r", None, 0.0, "author"), Event("1", "r", 5.0, "a"), Event("2", "r", 9.0, None)])
    assert resharers(tree) == {"a"}


def test_fusion_with_the_committed_weights() -> None:
    model = RiskModel.load(REPO_ROOT / "models" / "cascade_risk" / "model.json")
    assert model.history_fusion is not None and set(model.history_fusion) == {"risk", "early_warning"}
    events = [Event("r", None, 0.0, "author")] + [Event(str(i), "r", 300.0 * i, f"u{i}") for i in range(1, 30)]
    tree = build_tree("r", events, "r")
    spread = model.scores(tree)
    empty = model.scores_with_history(tree, AccountHistory())
    assert (empty.spread_risk, empty.spread_early_warning) == spread
    w = model.history_fusion["risk"]
    assert empty.risk == pytest.approx(fuse(w, math.log(spread[0] / (1 - spread[0])), 0.0))
    bad = learn([("old", True, {f"u{i}" for i in range(1, 30)})], "all flagged")
    good = learn([("old", False, {f"u{i}" for i in range(1, 30)})], "none flagged")
    flagged, cleared = model.scores_with_history(tree, bad), model.scores_with_history(tree, good)
    assert cleared.risk < empty.risk < flagged.risk  # the history weight is positive
    # the early score reads only the first hour's resharers (u1..u12)
    assert (flagged.history.known, flagged.early_history.known) == (29, 12)
    with pytest.raises(ValueError, match="no history fusion"):
        RiskModel(model.feature_names, model.risk, model.early_warning, model.horizon_s).scores_with_history(tree, bad)


def test_fuse_is_the_logistic_of_the_weighted_log_odds() -> None:
    assert fuse([0.0, 1.0, 0.0], 0.3, 5.0) == pytest.approx(1 / (1 + math.exp(-0.3)))
    assert fuse([0.1, 0.5, 2.0], 1.0, -1.0) == pytest.approx(1 / (1 + math.exp(-(0.1 + 0.5 - 2.0))))


def test_the_graph_stage_loads_a_history_or_says_why_not(tmp_path: Path) -> None:
    from flockwatch.stages.graph import CascadeEntry, load_account_history, load_risk_model

    risk = load_risk_model()
    assert load_account_history(None, risk) is None
    path = tmp_path / "history.json"
    with pytest.raises(ValueError, match="cannot read"):
        load_account_history(path, risk)
    path.write_text(learn(JUDGED, "by hand").to_json())
    with pytest.raises(ValueError, match="history weights"):
        load_account_history(path, None)
    history = load_account_history(path, risk)
    assert history == learn(JUDGED, "by hand") and risk is not None
    entry = CascadeEntry("x:r")
    for i, user in enumerate(["root", "a", "b", "z"]):
        entry.add(f"x:{i}" if i else "x:r", (None if i == 0 else "x:r", 1000.0 + 600.0 * i, user))
    doc = entry.document(None, risk, history)
    assert {k: doc[k] for k in ("risk_score", "spread_risk_score", "resharer_history")} == {
        k: v for k, v in risk.scores_with_history(entry.tree(), history).fields().items()
        if k in ("risk_score", "spread_risk_score", "resharer_history")
    }  # fmt: skip
    assert doc["resharer_history"]["known_resharers"] == 2
    # without the history its fields are written as nulls: a rewrite keeps none of the earlier evidence
    spread_only = entry.document(None, risk)
    assert spread_only["resharer_history"] is None and spread_only["spread_risk_score"] is None
    assert spread_only["risk_score"] == risk.scores(entry.tree())[0]
