"""bench/narrative_bank.py on a few thousand real IRA rows: both banks timed, and the decisions compared."""

from __future__ import annotations

import re

import pytest

import bench.narrative_bank as narrative_bank


def test_a_small_run_times_both_banks_and_compares_their_decisions(monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[tuple[str, str, str]] = []
    monkeypatch.setattr(narrative_bank, "write_section", lambda *a: written.append(a))
    monkeypatch.setattr("sys.argv", ["narrative_bank.py", "--rows", "3000", "--runs", "1"])
    narrative_bank.main()
    [(name, command, body)] = written
    assert name == "Narrative exemplar bank" and command == "bench/narrative_bank.py --rows 3000 --runs 1"
    assert "of the first 3,000 IRA 2016 rows" in body
    assert len(re.findall(r"^\| (exact|HNSW)", body, flags=re.M)) == 2
    same = float(re.search(r"same decision .*: \*\*([\d.]+)%\*\*", body).group(1))  # type: ignore[union-attr]
    assert 95.0 <= same <= 100.0
