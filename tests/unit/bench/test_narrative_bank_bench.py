"""bench/narrative_bank.py on a few thousand real IRA rows: both banks timed, and the decisions compared."""

from __future__ import annotations

import re

import pytest

import bench.narrative_bank as narrative_bank
from tests.unit.bench.sections import written_section


def test_a_small_run_times_both_banks_and_compares_their_decisions(monkeypatch: pytest.MonkeyPatch) -> None:
    name, command, body = written_section(monkeypatch, narrative_bank, "--rows", "3000", "--runs", "1")
    assert name == "Narrative exemplar bank" and command == "bench/narrative_bank.py --rows 3000 --runs 1"
    assert "of the first 3,000 IRA 2016 rows" in body
    assert len(re.findall(r"^\| (exact|HNSW)", body, flags=re.M)) == 2
    same = float(re.search(r"same decision .*: \*\*([\d.]+)%\*\*", body).group(1))  # type: ignore[union-attr]
    assert 95.0 <= same <= 100.0
