"""What a DAG parameter's pattern admits, the code that reads the value reads (property-based)."""

from __future__ import annotations

import re
from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from flockwatch.dag_param_patterns import DURATION, ISO_8601
from flockwatch.yamlconf import parse_duration


@given(st.from_regex(DURATION, fullmatch=True))
def test_every_admitted_duration_parses(text: str) -> None:
    assert parse_duration(text).total_seconds() >= 0


@given(st.from_regex(ISO_8601, fullmatch=True))
def test_every_admitted_timestamp_has_a_shape_fromisoformat_reads(text: str) -> None:
    # The pattern bounds the shape; a value out of range (month 13) is refused by the task with a clear error.
    # With every digit made 1, each field is in range, so a refusal could only come from the shape.
    datetime.fromisoformat("".join("1" if c.isdigit() else c for c in text))


def test_digits_of_other_scripts_are_refused() -> None:
    assert re.fullmatch(ISO_8601, "2024-01-0\u0661") is None and re.fullmatch(DURATION, "\u0661h") is None
