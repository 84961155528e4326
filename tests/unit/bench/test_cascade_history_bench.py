"""The resharer-history exploration: history is learnt from the train split only, per dataset, and a cascade's
resharers after the horizon do not count; a small run on the real data prints both tables."""

from __future__ import annotations

import pytest

from bench.cascade_history import Labelled, history_scores, main
from flockwatch.graph.cascades import Tree


def tree(users: list[str], times: list[float] | None = None) -> Tree:
    n = len(users) + 1
    return Tree("c", [str(i) for i in range(n)], [-1] + [0] * len(users), [0.0, *(times or [60.0] * len(users))],
                [None, *users])  # fmt: skip


def test_history_comes_from_train_only_and_per_dataset() -> None:
    cases: list[Labelled] = [
        ("a", "train", 1.0, tree(["u1", "u2"])),
        ("a", "train", 0.0, tree(["u3"])),
        ("a", "validation", 0.0, tree(["u4"])),  # u4's label must not leak into the test case's score
        ("a", "test", 1.0, tree(["u1", "u4"])),
        ("b", "test", 1.0, tree(["u1"])),  # another platform's u1 is another account
        ("a", "test", 0.0, tree(["u3", "u1"], [60.0, 7200.0])),  # u1 reshared after the horizon
    ]
    scores, coverage = history_scores(cases, horizon=3600.0)
    assert scores[3] == pytest.approx((1 + 0.5) / 2) and coverage[3] == 0.5
    assert scores[4] == 0.5 and coverage[4] == 0.0
    assert scores[5] == pytest.approx(0.5 / 2) and coverage[5] == 1.0
    whole, _ = history_scores(cases, horizon=None)
    assert whole[5] == pytest.approx((0.25 + 0.75) / 2)


def test_a_small_run_prints_both_tables(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--limit", "400", "--no-write"])
    out = capsys.readouterr().out
    assert out.count("| pooled |") == 2 and "First hour only" in out
