"""The Coordination Network Toolkit CSV: users bring these files, so the tests write small ones."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flockwatch.config import Settings
from flockwatch.replay import detect_format, normalize_record, read_dataset
from flockwatch.replay.cnt_csv import COLUMNS
from flockwatch.replay.cnt_csv import read as read_cnt

DATA = Settings().data_dir
ROWS = [
    ["1001", "u1", "alice", "", "", "Vote! #election https://t.co/x @bob", "1478563200", "https://example.com/a"],
    ["1002", "u2", "bob", "1001", "", "Vote! #election https://t.co/x @bob", "1478563260", "https://example.com/a"],
    ["1003", "u3", "", "", "1001", "no way", "1478563320.0", ""],
]


def write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def cnt_file(tmp_path: Path) -> Path:
    return write(tmp_path / "messages.csv", list(COLUMNS), ROWS)


def test_rows_become_posts_with_reposts_and_replies(cnt_file: Path) -> None:
    records = list(read_dataset("cnt_csv", cnt_file, DATA))
    assert [r.position for r in records] == ["2", "3", "4"]
    assert records[0].event_time == datetime(2016, 11, 8, tzinfo=UTC)
    posts = [normalize_record(r) for r in records]
    original, repost, reply = posts
    assert original is not None and repost is not None and reply is not None
    assert (original.platform, original.platform_id, original.author.id, original.author.handle) == (
        "twitter",
        "1001",
        "u1",
        "alice",
    )
    assert original.text == "Vote! #election https://t.co/x @bob"
    assert original.urls == ["https://example.com/a"], "the urls column wins over short links in the text"
    assert (original.hashtags, original.mentions) == (["election"], ["bob"])
    assert original.created_at == datetime(2016, 11, 8, tzinfo=UTC)
    assert repost.reshare_of == "1001" and repost.reply_to is None
    assert reply.reply_to == "1001" and reply.author.handle is None and reply.urls == []


def test_the_platform_can_be_set_per_file_or_per_read(tmp_path: Path, cnt_file: Path) -> None:
    records = list(read_cnt(cnt_file, DATA, platform="telegram"))
    post = normalize_record(records[0])
    assert post is not None and post.platform == "telegram"
    with_column = write(tmp_path / "p.csv", [*COLUMNS, "platform"], [[*ROWS[0], "Reddit"]])
    post = normalize_record(next(read_dataset("cnt_csv", with_column, DATA)))
    assert post is not None and post.platform == "reddit"


def test_the_older_six_column_layout_reads_too(tmp_path: Path) -> None:
    path = write(
        tmp_path / "old.csv",
        ["message_id", "user_id", "repost_id", "message", "timestamp", "urls"],
        [["7", "u9", "", "see https://a.example/x", "1478563200", ""]],
    )
    assert detect_format(path).name == "cnt_csv"
    post = normalize_record(next(read_dataset("cnt_csv", path, DATA)))
    assert post is not None and post.author.handle is None and post.urls == []


def test_a_file_of_another_shape_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "other.csv", ["a", "b"], [["1", "2"]])
    with pytest.raises(ValueError, match="missing"):
        next(read_dataset("cnt_csv", path, DATA))


@pytest.mark.parametrize(
    "change",
    [{"message_id": ""}, {"timestamp": "tomorrow"}, {"timestamp": "99999999999999"}, {"platform": "Bad Name!"}],
)
def test_malformed_rows_raise_value_errors(cnt_file: Path, change: dict[str, str]) -> None:
    raw = next(read_dataset("cnt_csv", cnt_file, DATA))
    with pytest.raises(ValueError):
        normalize_record(raw.model_copy(update={"payload": {**raw.payload, **change}}))
