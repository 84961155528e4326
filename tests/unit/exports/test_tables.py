from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flockwatch.csv_cells import safe_cell
from flockwatch.exports import tables
from flockwatch.exports.tables import COLUMNS, coerce, rows, to_csv, to_jsonl, to_parquet, to_time
from tests.unit.exports.case_data import ACCOUNTS, HANDLES, RAW_IDS, SHA_FAKE, case_items

KIND_DOCS = {
    "posts": "posts",
    "accounts": "accounts",
    "cascades": "cascades",
    "cascade_events": "cascades",
    "edges": "edges",
}


def table(kind: str) -> list[dict[str, object]]:
    return rows(kind, case_items()[KIND_DOCS[kind]])


@pytest.mark.parametrize("kind", list(COLUMNS))
def test_rows_have_exactly_the_columns_in_order(kind: str) -> None:
    out = table(kind)
    assert out
    assert all(list(r) == [c for c, _ in COLUMNS[kind]] for r in out)


def test_post_row_flattens_nested_fields() -> None:
    row = table("posts")[0]
    assert row["author_id"] == RAW_IDS[0] and row["author_handle"] == HANDLES[0]
    assert row["account_key"] == ACCOUNTS[0]
    assert row["hashtags"] == "a b c"
    assert row["media_sha256"] == SHA_FAKE
    assert row["machine_score"] == 0.9 and row["text_label"] == "machine"
    assert (row["machine_score_low"], row["machine_score_high"]) == (0.85, 0.93)
    older = {**case_items()["posts"][0], "text_score": {"machine_score": 0.9, "label": "machine"}}
    [row] = rows("posts", [older])  # stored before scores carried an interval: empty cells
    assert row["machine_score_low"] is None and row["machine_score_high"] is None
    assert row["likes"] == 0 and row["media_bank_matches"] == 1
    assert row["created_at"] == datetime(2020, 9, 13, 12, 26, 40, tzinfo=UTC)


def test_cascade_row_flattens_the_history_evidence() -> None:
    [row] = table("cascades")
    history = case_items()["cascades"][0]["resharer_history"]
    assert row["resharer_history_score"] == history["score"] and row["resharers_with_a_record"] == 2
    assert row["spread_risk_score"] is None  # absent from the document: empty, not an error


def test_cascade_events_one_row_per_event() -> None:
    out = table("cascade_events")
    assert [r["post_key"] for r in out] == ["twitter:p00", "twitter:p11", "twitter:p21", "twitter:p31"]
    assert out[1]["parent_key"] == "twitter:p00" and out[1]["account"] == ACCOUNTS[1]


@pytest.mark.parametrize("kind", list(COLUMNS))
def test_parquet_keeps_types_and_values(kind: str, tmp_path: Path) -> None:
    out = table(kind)
    data = to_parquet(out, kind, tmp_path / "t.parquet")
    assert (tmp_path / "t.parquet").read_bytes() == data
    back = pq.read_table(io.BytesIO(data))
    assert back.schema.equals(tables.arrow_schema(kind))
    assert back.to_pylist() == out


def test_parquet_types_per_column() -> None:
    schema = tables.arrow_schema("edges")
    assert str(schema.field("weight").type) == "int64"
    assert str(schema.field("min_dt_s").type) == "double"
    assert str(schema.field("significant").type) == "bool"
    assert str(schema.field("first_seen").type) == "timestamp[us, tz=UTC]"


@pytest.mark.parametrize("kind", list(COLUMNS))
def test_csv_reads_back_with_the_csv_module(kind: str) -> None:
    out = table(kind)
    reader = csv.DictReader(io.StringIO(to_csv(out, kind).decode("utf-8")))
    assert reader.fieldnames == [c for c, _ in COLUMNS[kind]]
    back = list(reader)
    assert len(back) == len(out)
    for got, want in zip(back, out, strict=True):
        for name, typ in COLUMNS[kind]:
            value = want[name]
            if value is None:
                assert got[name] == ""
            elif typ == "time":
                assert datetime.fromisoformat(got[name]) == value
            elif typ == "bool":
                assert got[name] == ("true" if value else "false")
            elif typ in ("int", "float"):
                assert float(got[name]) == value
            else:
                assert got[name].lstrip("'") == value


def test_csv_neutralises_formulas() -> None:
    out = table("posts")
    out[0]["text"] = "=HYPERLINK(1)"
    assert "'=HYPERLINK(1)" in to_csv(out, "posts").decode()


def test_jsonl_one_object_per_row_in_column_order() -> None:
    out = table("accounts")
    lines = to_jsonl(out, "accounts").decode().splitlines()
    assert len(lines) == len(out)
    first = json.loads(lines[0])
    assert list(first) == [c for c, _ in COLUMNS["accounts"]]
    assert first["key"] == ACCOUNTS[0] and first["first_seen"].startswith("2020-09-13T12:26:40")
    assert to_jsonl([], "accounts") == b""


def test_malformed_values_become_missing() -> None:
    out = rows("edges", [{"kind": "co_link", "weight": "lots", "min_dt_s": float("nan"), "first_seen": "never"}])
    assert out[0]["weight"] is None and out[0]["min_dt_s"] is None and out[0]["first_seen"] is None


def test_unknown_kind_and_format() -> None:
    with pytest.raises(ValueError, match="unknown table kind"):
        rows("people", [])
    with pytest.raises(ValueError, match="unknown table format"):
        tables.export_table("posts", [], "xlsx")  # type: ignore[arg-type]


def test_pandas_options_cover_every_column() -> None:
    opts = tables.pandas_read_csv_options("posts")
    assert set(opts["dtype"]) | set(opts["parse_dates"]) == {c for c, _ in COLUMNS["posts"]}
    assert opts["dtype"]["likes"] == "Int64" and "created_at" in opts["parse_dates"]


@given(st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_to_time_reads_iso_epoch_and_naive_alike(when: datetime) -> None:
    assert to_time(when.isoformat()) == when
    assert to_time(when.isoformat().replace("+00:00", "Z")) == when
    assert to_time(when.replace(tzinfo=None).isoformat()) == when
    assert abs((to_time(when.timestamp()) or when) - when).total_seconds() < 1e-3


@given(st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.floats(), st.text(max_size=8)))
def test_coerce_gives_the_column_type_or_none(value: object) -> None:
    for typ, kinds in (("int", int), ("float", float), ("bool", bool), ("str", str)):
        out = coerce(value, typ)  # type: ignore[arg-type]
        assert out is None or type(out) is kinds


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=20), min_size=1, max_size=5))
def test_text_survives_csv_and_parquet(texts: list[str]) -> None:
    out = [dict.fromkeys((c for c, _ in COLUMNS["cascade_events"]), None) | {"post_key": t} for t in texts]
    back_pq = pq.read_table(io.BytesIO(to_parquet(out, "cascade_events"))).column("post_key").to_pylist()
    assert back_pq == texts
    reader = csv.DictReader(io.StringIO(to_csv(out, "cascade_events").decode("utf-8"), newline=""))
    got = [r["post_key"] for r in reader]
    assert got == [str(safe_cell(t)) for t in texts]
