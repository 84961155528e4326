"""The replay registry: names, defaults, detection and dispatch, on the real shared datasets."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from flockwatch.config import Settings
from flockwatch.replay import (
    FORMATS,
    UnknownFormatError,
    detect_format,
    get_format,
    normalize_record,
    read_dataset,
)
from flockwatch.schema import RawRecord

DATA = Settings().data_dir
PLATFORMS = {
    "ira_2016": "twitter",
    "twitter15": "twitter",
    "weibo_ced": "weibo",
    "pheme": "twitter",
    "rumoureval2017": "twitter",
    "bluesky_jetstream": "bluesky",
    "cnt_csv": "twitter",
    # Live connectors' payloads (flockwatch collect); their files are what a connector saved, one payload a line.
    "reddit": "reddit",
    "bluesky_appview": "bluesky",
    "mastodon": "mastodon",
    "rss": "news",
    "ytdlp": "video",
}


def test_every_required_format_is_registered_with_its_platform() -> None:
    assert {name: fmt.platform for name, fmt in FORMATS.items()} == PLATFORMS
    for name, fmt in FORMATS.items():
        assert fmt.name == name
        assert fmt.description


@pytest.mark.parametrize("name", [n for n, f in FORMATS.items() if f.default_path is not None])
def test_default_paths_exist_and_read_records_of_that_format(name: str) -> None:
    fmt = FORMATS[name]
    assert fmt.default_path is not None
    assert (DATA / fmt.default_path).exists()
    first = next(read_dataset(name, None, DATA))
    assert first.format == name
    assert not Path(first.source_uri).is_absolute(), "URIs are relative to the data dir"
    assert (DATA / first.source_uri).exists()
    assert first.position


def test_unknown_format_names_list_the_known_ones() -> None:
    with pytest.raises(UnknownFormatError) as err:
        get_format("twitter99")
    assert "twitter99" in str(err.value)
    for name in FORMATS:
        assert name in str(err.value)
    with pytest.raises(UnknownFormatError):
        read_dataset("nope", None, DATA)


def test_unknown_record_format_is_a_value_error_naming_it() -> None:
    raw = RawRecord(format="no_such_format", source_uri="x", payload={})
    with pytest.raises(ValueError, match="no_such_format"):
        normalize_record(raw)


def test_missing_paths_fail_before_reading() -> None:
    with pytest.raises(FileNotFoundError):
        read_dataset("ira_2016", Path("/definitely/not/here.csv.gz"), DATA)
    with pytest.raises(FileNotFoundError, match="no default"):
        read_dataset("cnt_csv", None, DATA)


def test_paths_relative_to_the_data_dir_are_accepted() -> None:
    records = read_dataset("pheme", Path("spread/pheme/tweets/germanwings-crash.csv"), DATA)
    assert next(records).source_uri == "spread/pheme/tweets/germanwings-crash.csv"


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("campaigns/ira_2016/ira_tweets_2016-10_2016-11.csv.gz", "ira_2016"),
        ("campaigns/ira_2016", "ira_2016"),
        ("spread/twitter15/twitter15_tree.tar.gz", "twitter15"),
        ("spread/twitter15", "twitter15"),
        ("spread/weibo_ced/CED_Dataset.tar.gz", "weibo_ced"),
        ("spread/weibo_ced", "weibo_ced"),
        ("spread/pheme", "pheme"),
        ("spread/pheme/tweets/ottawashooting.csv", "pheme"),
        ("spread/rumoureval2017/traindev", "rumoureval2017"),
        ("spread/rumoureval2017", "rumoureval2017"),
        ("connectors/bluesky_jetstream/expected_v1.jsonl", "bluesky_jetstream"),
    ],
)
def test_detect_format_recognises_each_real_dataset(relative: str, expected: str) -> None:
    assert detect_format(DATA / relative).name == expected


def test_detect_format_explains_what_it_could_not_recognise(tmp_path: Path) -> None:
    for name, content in {"notes.txt": "hello", "table.csv": "a,b\n1,2\n", "bad.tar.gz": "not gzip"}.items():
        path = tmp_path / name
        path.write_text(content)
        with pytest.raises(UnknownFormatError, match="cannot tell the dataset format"):
            detect_format(path)
    with pytest.raises(FileNotFoundError):
        detect_format(tmp_path / "absent.csv")


def test_detect_format_on_a_connector_cassette_is_not_a_false_match() -> None:
    with pytest.raises(UnknownFormatError):
        detect_format(DATA / "connectors/reddit/TestSubredditListings.test_hot.json")


def test_readers_stop_cleanly_when_the_caller_stops_early() -> None:
    for name in ("ira_2016", "twitter15", "weibo_ced"):
        assert len(list(itertools.islice(read_dataset(name, None, DATA), 5))) == 5
