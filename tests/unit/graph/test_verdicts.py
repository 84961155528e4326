"""Analysts' verdicts: what a verdict document holds and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flockwatch.graph.account_history import LABELS
from flockwatch.graph.verdicts import MAX_NOTE, VERDICTS, VerdictError, new_verdict

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def test_a_verdict_is_normalised_and_keeps_who_when_and_why() -> None:
    assert new_verdict("twitter:1", " False ", "ana", NOW, " AFP fact-check ") == {
        "cascade_id": "twitter:1", "verdict": "false", "by": "ana", "at": "2026-12-05T12:00:00+00:00",
        "note": "AFP fact-check",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("cascade_id", "verdict", "note", "reason"),
    [
        ("twitter:1", "fake", "", "one of false, true, unverified"),
        ("twitter:1", "", "", "one of"),
        ("", "false", "", "a cascade id is"),
        ("twitter:1", "true", "x" * (MAX_NOTE + 1), "note is at most"),
    ],
)
def test_what_is_refused_says_why(cascade_id: str, verdict: str, note: str, reason: str) -> None:
    with pytest.raises(VerdictError, match=reason):
        new_verdict(cascade_id, verdict, "ana", NOW, note)


def test_false_and_true_teach_the_history_and_unverified_does_not() -> None:
    assert {v: LABELS.get(v) for v in VERDICTS} == {"false": 1.0, "true": 0.0, "unverified": None}
