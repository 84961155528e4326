"""bench/narrative_memory.py on a few thousand real IRA rows: the bounded index holds at most two generations."""

from __future__ import annotations

import re

import pytest

import bench.narrative_memory as narrative_memory
from tests.unit.bench.sections import written_section


def test_a_small_run_bounds_the_forms_held(monkeypatch: pytest.MonkeyPatch) -> None:
    name, command, body = written_section(monkeypatch, narrative_memory, "--rows", "4000", "--generation-forms", "300")
    assert name == "Narrative index memory"
    assert command == "python -m bench.narrative_memory --rows 4000 --generation-forms 300"
    rows = [
        [int(c.replace(",", "")) for c in r]
        for r in re.findall(r"^\| ([\d,]+) \| ([\d,]+) \| [\d,]+ \| [\d,]+ \| ([\d,]+) \|", body, flags=re.M)
    ]
    assert len(rows) == narrative_memory.SAMPLES
    assert rows[-1][1] > 2 * 300  # unbounded: every distinct form
    assert all(bounded <= 2 * 300 for _, _, bounded in rows)
    assert re.search(r"\*\*[\d.]+ KiB per copy form\*\*", body)
