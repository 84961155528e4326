"""The runner writes a batch before its cursor; the file sink resumes without gap or duplicate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flockwatch.adapters.connectors.base import raw_record
from flockwatch.adapters.connectors.cursors import FileCursors, MemoryCursors
from flockwatch.adapters.connectors.runner import run_connector
from flockwatch.adapters.connectors.sink import FileSink, written_keys
from flockwatch.schema import DeadLetter
from tests.fake_connectors import Numbered, jetstream_post


def ids(path: Path) -> list[str]:
    return [json.loads(line)["platform_id"].rsplit("/", 1)[1] for line in path.read_text().splitlines()]


def test_a_crash_and_resume_loses_and_repeats_nothing(tmp_path: Path) -> None:
    out, cursor_file = tmp_path / "out.jsonl", tmp_path / "cursors.json"
    sink = FileSink(out, resume=True)
    with pytest.raises(KeyboardInterrupt):
        run_connector(Numbered(20, crash_after=10), sink, FileCursors(cursor_file))
    sink.close()
    assert json.loads(cursor_file.read_text()) == {"bluesky:numbered": "11"}
    # the crash came after batch 9..11 was written: a torn half line must not survive either
    with out.open("a") as handle:
        handle.write('{"platform": "bluesky", "platf')
    sink = FileSink(out, resume=True)
    report = run_connector(Numbered(20), sink, FileCursors(cursor_file))
    sink.close()
    assert ids(out) == [f"r{i}" for i in range(20)]
    assert report.records == 8 and report.cursor == "19"


def test_posts_carry_when_they_were_collected(tmp_path: Path) -> None:
    sink = FileSink(tmp_path / "o.jsonl")
    run_connector(Numbered(1), sink, MemoryCursors())
    sink.close()
    post = json.loads((tmp_path / "o.jsonl").read_text())
    assert post["collected_at"] == "2026-07-04T00:00:00Z"


def test_a_limit_inside_a_batch_keeps_the_old_cursor(tmp_path: Path) -> None:
    cursors = MemoryCursors()
    sink = FileSink(tmp_path / "o.jsonl")
    report = run_connector(Numbered(20, size=4), sink, cursors, limit=6)
    sink.close()
    assert report.records == 6 and report.written == 6
    assert cursors.load("bluesky:numbered") == "3"  # batch 4..7 was cut at 5: resuming re-reads it


def test_rejects_are_dead_lettered_with_their_reason(tmp_path: Path) -> None:
    bad = jetstream_post(1)
    bad["commit"]["record"] = "not an object"
    records = [raw_record("bluesky_jetstream", "live", "1", bad), raw_record("nope", "live", "2", {})]
    sink = FileSink(tmp_path / "o.jsonl")
    written, reasons = sink.write(records)
    sink.close()
    assert written == 0 and sum(reasons.values()) == 2
    letters = [DeadLetter.model_validate_json(line) for line in sink.dead_path.read_text().splitlines()]
    assert "'record' must be an object" in letters[0].reason and "unknown record format 'nope'" in letters[1].reason
    assert json.loads(letters[0].original())["payload"] == bad


def test_resume_refuses_a_file_that_is_not_its_own(tmp_path: Path) -> None:
    path = tmp_path / "o.jsonl"
    path.write_text("hello\n{}\n")
    with pytest.raises(ValueError, match="line 1 is not a collected post"):
        written_keys(path)
