"""Analysts' verdicts: what a verdict document holds and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flockwatch.graph.account_history import LABELS
from flockwatch.graph.verdicts import MAX_NOTE, VERDICTS, VerdictError, combined_flag, new_verdict

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


@given(own=st.none() | st.booleans(), merged=st.lists(st.booleans(), max_size=6))
def test_a_cascades_own_verdict_wins_and_merged_parts_count_only_when_they_agree(
    own: bool | None, merged: list[bool]
) -> None:
    flag = combined_flag(own, merged)
    if own is not None:
        assert flag is own
    elif merged and len(set(merged)) == 1:
        assert flag is merged[0]
    else:
        assert flag is None  # nothing judged, or parts judged both ways
