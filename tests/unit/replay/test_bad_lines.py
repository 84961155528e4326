"""One bad line does not end a replay: it is dead-lettered by the replayer with its reason and bytes.

The fixtures are real Jetstream events and toolkit CSV rows with three bad lines among them (a
deeply nested Jetstream line, a CSV field over ``csv.field_size_limit()``, a CSV row with an extra
column) and, separately, a Jetstream line that is not UTF-8. Every good line must reach the raw
topic and each bad one the dead-letter topic, with a reason naming the line and its original bytes.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import tarfile
from pathlib import Path

from flockwatch.adapters.replayer import ReplayReport, replay_records
from flockwatch.config import Settings
from flockwatch.replay import normalize_record, read_dataset
from flockwatch.replay.cnt_csv import COLUMNS
from flockwatch.replay.csv_rows import CsvReject, CsvRow, read_rows
from flockwatch.schema import DeadLetter, RawRecord
from tests.unit.adapters.test_replayer import FakeProducer

DATA = Settings().data_dir
JETSTREAM = DATA / "connectors/bluesky_jetstream/expected_v1.jsonl"
SETTINGS = Settings(topic_prefix="t")
NESTED = b'{"did":"did:plc:x","kind":"commit","time_us":1,"commit":' + b"[" * 5_000 + b"]" * 5_000 + b"}\n"
LONG_FIELD = csv.field_size_limit() + 10


def csv_rows(n: int) -> list[list[str]]:
    return [
        [str(1000 + i), f"u{i % 7}", f"user{i % 7}", "", "", f"post {i} #tag https://t.co/{i}", str(1478563200 + i), ""]
        for i in range(n)
    ]


def csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def replay_file(fmt: str, path: Path) -> tuple[ReplayReport, FakeProducer]:
    producer = FakeProducer()
    report = replay_records(read_dataset(fmt, path, DATA), producer, SETTINGS, ReplayReport(format=fmt))
    return report, producer


def letters(producer: FakeProducer) -> list[DeadLetter]:
    return [DeadLetter.model_validate_json(v) for t, _, v in producer.sent if t == "t.dead-letter"]


def raw_positions(producer: FakeProducer) -> list[str]:
    return [RawRecord.model_validate_json(v).position or "" for t, _, v in producer.sent if t == "t.posts.raw"]


def test_three_bad_lines_among_good_ones_give_every_good_row_and_three_dead_letters(tmp_path: Path) -> None:
    good_events = JETSTREAM.read_bytes().splitlines(keepends=True)
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"".join(good_events[:70]) + NESTED + b"".join(good_events[70:]))
    good_rows = csv_rows(60)
    long_row = ["2001", "u1", "alice", "", "", "x" * LONG_FIELD, "1478563200", ""]
    extra_row = ["2002", "u2", "bob", "", "", "hello", "1478563200", "", "surplus"]
    messages = tmp_path / "messages.csv"
    messages.write_bytes(
        csv_bytes([list(COLUMNS), *good_rows[:20], long_row, *good_rows[20:40], extra_row, *good_rows[40:]])
    )

    jet_report, jet_producer = replay_file("bluesky_jetstream", events)
    csv_report, csv_producer = replay_file("cnt_csv", messages)

    assert (jet_report.read, jet_report.produced, jet_report.rejected, jet_report.errors) == (
        len(good_events) + 1, len(good_events), 1, []
    )  # fmt: skip
    assert raw_positions(jet_producer) == [str(i) for i in range(1, len(good_events) + 2) if i != 71]
    assert (csv_report.read, csv_report.produced, csv_report.rejected, csv_report.errors) == (62, 60, 1 + 1, [])
    # every good row, in order, under its own line number (the header is line 1)
    produced_rows = [RawRecord.model_validate_json(v).payload for t, _, v in csv_producer.sent if t == "t.posts.raw"]
    assert [p["message_id"] for p in produced_rows] == [r[0] for r in good_rows]
    assert raw_positions(csv_producer)[20] == "23"

    nested, long_letter, extra_letter = letters(jet_producer) + letters(csv_producer)
    assert nested.stage == "replay" and "line 71" in nested.reason and "nested" in nested.reason
    assert nested.original() == NESTED
    assert "line 22" in long_letter.reason and "field larger than field limit" in long_letter.reason
    assert long_letter.original() == csv_bytes([long_row])
    assert "line 43" in extra_letter.reason and "9 fields, the header has 8" in extra_letter.reason
    assert extra_letter.original() == csv_bytes([extra_row])


def test_invalid_utf8_is_dead_lettered_with_its_bytes_not_replaced(tmp_path: Path) -> None:
    good = JETSTREAM.read_bytes().splitlines(keepends=True)[:5]
    bad = good[1].replace(b'"did"', b'"d\xffid"', 1)
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"".join([good[0], bad, *good[2:]]))
    report, producer = replay_file("bluesky_jetstream", events)
    assert (report.produced, report.rejected) == (4, 1)
    [letter] = letters(producer)
    assert "line 2 is not valid UTF-8" in letter.reason
    assert letter.original() == bad
    assert all(b"\\ufffd" not in v and "\ufffd" not in v.decode() for t, _, v in producer.sent if t == "t.posts.raw")


def test_csv_rows_that_are_not_utf8_are_rejected_and_reading_goes_on(tmp_path: Path) -> None:
    body = csv_bytes([list(COLUMNS), *csv_rows(2)])
    bad = csv_bytes([["3000", "u", "", "", "", "caf\xe9", "1478563200", ""]]).replace(b"\xc3\xa9", b"\xe9")
    path = tmp_path / "m.csv"
    path.write_bytes(body + bad + csv_bytes(csv_rows(3)[2:]))
    records = list(read_dataset("cnt_csv", path, DATA))
    assert [r.position for r in records] == ["2", "3", "4", "5"]
    report, producer = replay_file("cnt_csv", path)
    assert (report.produced, report.rejected) == (3, 1)
    [letter] = letters(producer)
    assert "line 4 is not valid UTF-8" in letter.reason and letter.original() == bad


def test_a_multiline_quoted_field_keeps_its_lines_together() -> None:
    rows = [["a", "b"], ["1", 'two\nlines, and a "quote"'], ["2", "x" * LONG_FIELD], ["3", "ok"]]
    header, parsed = read_rows(io.BytesIO(csv_bytes(rows)))
    out = list(parsed)
    assert header == ["a", "b"]
    assert out[0] == CsvRow(2, {"a": "1", "b": 'two\nlines, and a "quote"'})
    assert isinstance(out[1], CsvReject) and out[1].line == 4
    assert out[2] == CsvRow(5, {"a": "3", "b": "ok"})


def test_short_rows_are_filled_with_none_as_in_dictreader() -> None:
    _, parsed = read_rows(io.BytesIO(b"a,b,c\n1,2\n\n4,5,6\n"))
    assert list(parsed) == [CsvRow(2, {"a": "1", "b": "2", "c": None}), CsvRow(4, {"a": "4", "b": "5", "c": "6"})]


def test_unreadable_records_still_fail_normalisation_with_their_reason(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(NESTED)
    [raw] = list(itertools.islice(read_dataset("bluesky_jetstream", path, DATA), 1))
    try:
        normalize_record(raw)
    except ValueError as exc:
        assert "nested" in str(exc)
    else:
        raise AssertionError("an unreadable record normalised")


def test_weibo_files_nested_too_deeply_are_dead_lettered_and_the_rest_read(tmp_path: Path) -> None:
    real = next(iter(read_dataset("weibo_ced", None, DATA)))
    source = json.dumps(real.payload).encode()
    deep_item = b'{"k": ' * 100 + b"1" + b"}" * 100
    unparseable = b"[" * 100_000 + b"]" * 100_000
    members = {
        "CED_Dataset/original-microblog/1_mid1_u1.json": source,
        "CED_Dataset/original-microblog/2_mid2_u2.json": unparseable,
        "CED_Dataset/rumor-repost/1_mid1_u1.json": b'[{"mid": "r1", "uid": "x", "text": "hi"}, ' + deep_item + b"]",
    }
    archive = tmp_path / "CED_Dataset.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    report, producer = replay_file("weibo_ced", archive)
    assert (report.read, report.produced, report.rejected, report.errors) == (4, 2, 2, [])
    too_deep, nested_item = letters(producer)
    assert "nested too deeply" in too_deep.reason and too_deep.original() == unparseable[: 1024 * 1024]
    assert (
        "repost nested 100 levels deep" in nested_item.reason
        and nested_item.original() == members["CED_Dataset/rumor-repost/1_mid1_u1.json"]
    )


def test_a_twitter15_tree_line_that_is_not_utf8_is_dead_lettered_and_the_tree_read(tmp_path: Path) -> None:
    (tmp_path / "source_tweets.txt").write_text("123\thello\n", encoding="utf-8")
    bad = b"['1', '124', '1.0']->['2', '12\xff5', '2.0']"
    tree = b"\n".join(
        [b"['ROOT', 'ROOT', '0.0']->['1', '123', '0.0']", bad, b"['1', '123', '0.0']->['3', '126', '3.0']"]
    )
    archive = tmp_path / "twitter15_tree.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("twitter15/tree/123.txt")
        info.size = len(tree)
        tar.addfile(info, io.BytesIO(tree))
    report, producer = replay_file("twitter15", archive)
    assert (report.produced, report.rejected, report.errors) == (2, 1, [])
    assert raw_positions(producer) == ["twitter15/tree/123.txt:1", "twitter15/tree/123.txt:3"]
    [letter] = letters(producer)
    assert "line 2 is not valid UTF-8" in letter.reason and letter.original() == bad


def test_a_quoted_field_over_the_limit_across_many_lines_is_one_rejected_row() -> None:
    """Its tail lines go with the rejected row (found by the PHEME property test: a long post of many lines came
    back as one reject and thousands of one-field rows)."""
    header = ["id", "text", "n"]
    long_text = "\n".join(f'line {i} "quoted" #tag' for i in range(LONG_FIELD // 20))
    data = csv_bytes([header, ["1", "first", "1"], ["2", long_text, "2"], ["3", "third", "3"]])
    _, rows = read_rows(io.BytesIO(data))
    got = list(rows)
    assert [type(r).__name__ for r in got] == ["CsvRow", "CsvReject", "CsvRow"]
    assert isinstance(got[1], CsvReject) and "field larger than field limit" in got[1].reason
    assert got[1].original.startswith(b'2,"line 0') and got[1].original.endswith(b'#tag",2\r\n')
    assert isinstance(got[2], CsvRow) and got[2].fields == {"id": "3", "text": "third", "n": "3"}
