"""Input files of `score text`: a byte-order mark, odd `language` values and unclosed CSV quotes cost no record."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flockwatch.text.canonical import assess, canonical_text
from flockwatch.text.records import Record, read_records


def _jsonl(path: Path, rows: list[dict[str, Any]], prefix: bytes = b"") -> Path:
    path.write_bytes(prefix + b"".join(json.dumps(r).encode() + b"\n" for r in rows))
    return path


def test_a_bom_before_the_first_jsonl_record_costs_nothing(tmp_path: Path) -> None:
    rows = [{"id": "a", "text": "first post"}, {"id": "b", "text": "second post"}]
    got = list(read_records(_jsonl(tmp_path / "in.jsonl", rows, prefix=b"\xef\xbb\xbf")))
    assert got == [Record("a", "first post"), Record("b", "second post")]


def test_a_bom_is_only_skipped_at_the_start_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"id": "a", "text": "x"}\n\xef\xbb\xbf{"id": "b", "text": "y"}\n')
    got = list(read_records(path))
    assert got[0] == Record("a", "x") and got[1].error is not None  # a BOM mid-file is damage, reported


@pytest.mark.parametrize("language", [5, True, ["en"], {"tag": "en"}, 1.5])
def test_a_non_string_language_is_no_tag(tmp_path: Path, language: object) -> None:
    rows = [{"id": "a", "text": "this is an english sentence", "language": language, "platform": "x"}]
    [rec] = read_records(_jsonl(tmp_path / "in.jsonl", rows))
    assert rec.error is None and rec.extra == {"platform": "x"}


def test_a_string_language_is_kept(tmp_path: Path) -> None:
    [rec] = read_records(_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": "hola", "language": "es"}]))
    assert rec.extra == {"language": "es"}


@pytest.mark.parametrize("language", [5, True, ["en"], {"tag": "en"}])
def test_assess_reads_a_non_string_language_as_untagged(language: Any) -> None:
    text = canonical_text("I can not believe this happened today")
    assert assess(text, language=language) == assess(text)


def _csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="")
    return path


def test_an_unclosed_csv_quote_is_one_error_record_not_lost_rows(tmp_path: Path) -> None:
    path = _csv(tmp_path / "in.csv", 'id,text\n1,fine post\n2,"broken quote here\n3,another post\n4,one more\n')
    got = list(read_records(path))
    assert [r.id for r in got] == ["1", "2", "3", "4"]
    assert [r.text for r in got] == ["fine post", "", "another post", "one more"]
    assert got[1].error is not None and got[1].error.startswith("line 3: a quote opened in this row is never closed")
    assert all(r.error is None for r in got if r.id != "2")


def test_an_unclosed_quote_before_the_id_column_names_the_row(tmp_path: Path) -> None:
    path = _csv(tmp_path / "in.csv", 'text,id\n"broken,9\n\nnext,10\n')
    got = list(read_records(path))
    assert [(r.id, r.error is None) for r in got] == [("row:2", False), ("10", True)]
    assert got[0].error is not None and got[0].error.startswith("line 2:")


def test_an_unclosed_quote_on_the_last_line_and_a_closed_multiline_field(tmp_path: Path) -> None:
    path = _csv(tmp_path / "in.csv", 'id,text\n1,"two\nlines"\n2,"never closed')
    got = list(read_records(path))
    assert got[0] == Record("1", "two\nlines") and got[1].id == "2" and got[1].error is not None
    assert len(got) == 2


def test_an_unclosed_quote_in_the_header_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="header"):
        list(read_records(_csv(tmp_path / "in.csv", 'id,text,"notes\n1,a,b\n')))


# Text csv.writer writes unquoted: a later row's quote could close a stray one, which no reader can tell apart.
_plain = st.text(st.characters(codec="utf-8", blacklist_characters=',"\r\n\ufeff'), max_size=30)


@settings(max_examples=150, deadline=None)
@given(st.lists(_plain, min_size=1, max_size=12), st.data())
def test_csv_one_record_per_row_even_with_an_unclosed_quote(tmp_path_factory: Any, texts: list[str], data: Any) -> None:
    broken = data.draw(st.one_of(st.none(), st.integers(0, len(texts) - 1)), label="broken row")
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "text"])
    for i, text in enumerate(texts):
        if i == broken:
            out.write(f'{i},"{text}\n')  # the quote never closes
        else:
            writer.writerow([i, text])
    path = _csv(tmp_path_factory.mktemp("csv") / "in.csv", out.getvalue())
    got = list(read_records(path))
    assert [r.id for r in got] == [str(i) for i in range(len(texts))]
    for i, (rec, text) in enumerate(zip(got, texts, strict=True)):
        if i == broken:
            assert rec.error is not None and rec.text == ""
        else:
            assert rec.error is None and rec.text == text


def test_reading_a_csv_leaves_the_process_wide_field_limit_as_it_was(tmp_path: Path) -> None:
    """The csv module's limit is global: the replay reader in the same process relies on it to reject oversize
    fields, so the text reader lifts it only while it parses."""
    before = csv.field_size_limit()
    path = tmp_path / "long.csv"
    path.write_text("id,text\n1," + "x" * (before + 10) + '\n2,"never closed\n')
    records = list(read_records(path))
    assert [r.id for r in records] == ["1", "2"] and len(records[0].text) == before + 10
    assert records[1].error is not None and "never closed" in records[1].error
    assert csv.field_size_limit() == before
