"""Every replay parser at realistic sizes: no crash, every good line produced, every reject with a reason.

``test_replay_fuzz`` feeds the normalisers small payloads; here the readers get whole files whose
lines are real records made large (texts of 100,000+ characters, fields over the csv module's
131,072-character limit, thousands of fields or columns, nesting thousands of levels deep) mixed
with broken ones (bytes that are not UTF-8, extra columns, garbage), and go through the replayer.
The properties: the replay never stops (no ``errors``), the counts add up (read = produced +
dead-lettered), each line the test knows to be bad is dead-lettered with a reason and its original
bytes and each good one is produced, and whatever is produced normalises to a post, to ``None``,
or to a ``ValueError`` with a message.
"""

from __future__ import annotations

import copy
import csv
import gzip
import io
import itertools
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flockwatch.adapters.replayer import ReplayReport, replay_records
from flockwatch.config import Settings
from flockwatch.replay import normalize_record, read_dataset
from flockwatch.replay.cnt_csv import COLUMNS
from flockwatch.replay.payload import MAX_JSON_DEPTH, json_depth
from flockwatch.replay.weibo_ced import ced_members
from flockwatch.schema import DeadLetter, Post, RawRecord
from tests.unit.adapters.test_replayer import FakeProducer

DATA = Settings().data_dir
SETTINGS = Settings(topic_prefix="p")
LIMIT = csv.field_size_limit()
# Text lengths that matter: empty, tweet, long post, the post cap (100,000), over the csv field limit.
LENGTHS = st.sampled_from([0, 1, 280, 5_000, 99_999, 100_001, LIMIT - 1, LIMIT + 1, 300_000])
PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))

JET_LINES = (DATA / "connectors/bluesky_jetstream/expected_v1.jsonl").read_bytes().splitlines()
JET_POSTS = [line for line in JET_LINES if b'"app.bsky.feed.post"' in line and b'"create"' in line]
IRA_ROWS: list[list[str]] = []
with gzip.open(DATA / "campaigns/ira_2016/ira_tweets_2016-10_2016-11.csv.gz", "rt", encoding="utf-8", newline="") as f:
    IRA_ROWS = list(itertools.islice(csv.reader(f), 40))
PHEME_FILE = sorted((DATA / "spread/pheme/tweets").glob("*.csv"))[0]
with PHEME_FILE.open(encoding="utf-8", newline="") as f:
    PHEME_ROWS = list(itertools.islice(csv.reader(f), 40))


def text_of(length: int, seed: str) -> str:
    """A text of ``length`` characters built from ``seed`` (words, hashtags, links, any script)."""
    unit = (seed or "x") + " #tag https://example.com/a "
    return (unit * (length // len(unit) + 1))[:length]


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


def replay(fmt: str, path: Path) -> tuple[ReplayReport, list[RawRecord], list[DeadLetter]]:
    producer = FakeProducer()
    report = replay_records(read_dataset(fmt, path, DATA), producer, SETTINGS, ReplayReport(format=fmt))
    raw = [RawRecord.model_validate_json(v) for t, _, v in producer.sent if t == "p.posts.raw"]
    letters = [DeadLetter.model_validate_json(v) for t, _, v in producer.sent if t == "p.dead-letter"]
    return report, raw, letters


def check(report: ReplayReport, raw: list[RawRecord], letters: list[DeadLetter], good: int, bad: int) -> None:
    assert report.errors == []
    assert (report.read, report.produced, report.rejected + report.oversize_dead_lettered) == (good + bad, good, bad)
    assert len(raw) == good and len(letters) == bad
    for letter in letters:
        assert letter.reason.strip() and letter.original(), letter.reason
    for record in raw:
        try:
            outcome = normalize_record(record)
        except ValueError as exc:  # a reject names its reason
            assert str(exc).strip()
        else:
            assert outcome is None or isinstance(outcome, Post)


# ---------------------------------------------------------------------------------------------------------
# Bluesky Jetstream: one JSON event a line


@st.composite
def jetstream_line(draw: st.DrawFn) -> tuple[bytes, bool]:
    """``(line, good)``; a good line is one the reader must pass on (normalising it may still reject it)."""
    kind = draw(st.sampled_from(["real", "long_text", "many_fields", "deep", "not_utf8", "garbage"]))
    event = json.loads(draw(st.sampled_from(JET_POSTS)))
    if kind == "real":
        return draw(st.sampled_from(JET_LINES)), True
    if kind == "long_text":
        event["commit"]["record"]["text"] = text_of(draw(LENGTHS), draw(st.text(max_size=5)))
        return json.dumps(event, ensure_ascii=draw(st.booleans())).encode(), True
    if kind == "many_fields":
        n = draw(st.integers(100, 5_000))
        event["commit"]["record"].update({f"field{i}": i for i in range(n)})
        return json.dumps(event).encode(), True
    if kind == "deep":
        depth = draw(st.integers(MAX_JSON_DEPTH, 20_000))
        deep = '{"k": ' * depth + '"leaf"' + "}" * depth  # built as text: json.dumps itself would recurse
        head = json.dumps({k: v for k, v in event.items() if k != "commit"})[:-1]
        return f'{head}, "commit": {deep}}}'.encode(), False
    if kind == "not_utf8":
        raw = json.dumps(event, ensure_ascii=False).encode()
        at = draw(st.integers(1, len(raw) - 1))
        return raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80"])) + raw[at:], False
    junk = draw(st.binary(min_size=1, max_size=300).filter(lambda b: b.strip() and b"\n" not in b and b"\r" not in b))
    return junk, False


@PROPERTY
@given(st.lists(jetstream_line(), min_size=1, max_size=12))
def test_jetstream_reader(tmp_path_factory: pytest.TempPathFactory, lines: list[tuple[bytes, bool]]) -> None:
    path = tmp_path_factory.mktemp("jet") / "events.jsonl"
    path.write_bytes(b"\n".join(line for line, _ in lines) + b"\n")
    good = [line for line, ok in lines if ok or _is_event(line)]
    report, raw, letters = replay("bluesky_jetstream", path)
    check(report, raw, letters, len(good), len(lines) - len(good))
    assert {letter.original().rstrip(b"\n") for letter in letters} <= {line for line, _ in lines}


def _is_event(line: bytes) -> bool:
    """Garbage that happens to be a shallow JSON object is a line the reader passes on."""
    try:
        value = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):
        return False
    return isinstance(value, dict) and json_depth(value) <= MAX_JSON_DEPTH


# ---------------------------------------------------------------------------------------------------------
# CSV formats: the toolkit's CSV, IRA 2016, PHEME


@st.composite
def csv_row(draw: st.DrawFn, base: list[str], text_column: int) -> tuple[bytes, bool]:
    """``(encoded row, good)`` derived from a real row: long text, extra columns, embedded newlines, bad bytes."""
    row = list(base)
    kind = draw(st.sampled_from(["real", "long_text", "multiline", "extra_columns", "short", "not_utf8"]))
    good = True
    if kind == "long_text":
        length = draw(LENGTHS)
        row[text_column] = text_of(length, draw(st.text(max_size=5)))
        good = length <= LIMIT
    elif kind == "multiline":
        row[text_column] = 'line one\n"quoted", and, commas\r\nline three'
    elif kind == "extra_columns":
        row += ["surplus"] * draw(st.integers(1, 2_000))
        good = False
    elif kind == "short":
        row = row[: draw(st.integers(1, len(row) - 1))]
    out = io.StringIO(newline="")
    csv.writer(out).writerow(row)
    encoded = out.getvalue().encode()
    if kind == "not_utf8":
        at = draw(st.integers(0, len(encoded) - 2))
        encoded = encoded[:at] + b"\xff" + encoded[at:]
        good = False
    return encoded, good


def csv_file(path: Path, header: list[str], rows: list[tuple[bytes, bool]], *, gz: bool = False) -> Path:
    out = io.StringIO(newline="")
    csv.writer(out).writerow(header)
    body = out.getvalue().encode() + b"".join(row for row, _ in rows)
    path.write_bytes(gzip.compress(body) if gz else body)
    return path


@PROPERTY
@given(st.data())
def test_cnt_csv_reader(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    wide = data.draw(st.integers(0, 3_000))  # many columns: extra header names are ignored by the format
    header = [*COLUMNS, *(f"extra{i}" for i in range(wide))]
    base = ["1001", "u1", "alice", "", "", "Vote! #election", "1478563200", "https://example.com/a"] + [""] * wide
    rows = data.draw(st.lists(csv_row(base, COLUMNS.index("message")), min_size=1, max_size=10))
    path = csv_file(tmp_path_factory.mktemp("cnt") / "m.csv", header, rows)
    good = sum(ok for _, ok in rows)
    report, raw, letters = replay("cnt_csv", path)
    check(report, raw, letters, good, len(rows) - good)


@PROPERTY
@given(st.data())
def test_ira_2016_reader(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    header, *real = IRA_ROWS
    base = data.draw(st.sampled_from(real))
    rows = data.draw(st.lists(csv_row(base, header.index("content")), min_size=1, max_size=10))
    folder = tmp_path_factory.mktemp("ira")
    path = csv_file(folder / "ira_tweets_test.csv.gz", header, rows, gz=True)
    good = sum(ok for _, ok in rows)
    report, raw, letters = replay("ira_2016", path)
    check(report, raw, letters, good, len(rows) - good)


@PROPERTY
@given(st.data())
def test_pheme_reader(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    header, *real = PHEME_ROWS
    base = data.draw(st.sampled_from(real))
    text_column = header.index("text") if "text" in header else len(header) - 1
    rows = data.draw(st.lists(csv_row(base, text_column), min_size=1, max_size=10))
    path = csv_file(tmp_path_factory.mktemp("pheme") / "event.csv", header, rows)
    good = sum(ok for _, ok in rows)
    report, raw, letters = replay("pheme", path)
    check(report, raw, letters, good, len(rows) - good)


# ---------------------------------------------------------------------------------------------------------
# Normalisers on real records of every format made large


SAMPLES = {
    name: list(itertools.islice(read_dataset(name, None, DATA), 0, 400, 40))
    for name in ("ira_2016", "twitter15", "weibo_ced", "pheme", "rumoureval2017", "bluesky_jetstream")
}


def _string_paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found: list[tuple[str | int, ...]] = []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _string_paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value[:3]):
            found += _string_paths(child, (*prefix, i))
    elif isinstance(value, str):
        found.append(prefix)
    return found


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_normalisers_on_large_records(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(SAMPLES)))
    raw = data.draw(st.sampled_from(SAMPLES[name]))
    payload = copy.deepcopy(raw.payload)
    change = data.draw(st.sampled_from(["long_string", "many_fields", "deep_value"]))
    if change == "long_string":
        paths = _string_paths(payload)
        if paths:
            path = data.draw(st.sampled_from(paths))
            target: Any = payload
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = text_of(data.draw(LENGTHS), data.draw(st.text(max_size=5)))
    elif change == "many_fields":
        payload.update({f"f{i}": "v" * 10 for i in range(data.draw(st.integers(100, 5_000)))})
    else:  # as deep as a message from the broker can be (pydantic's JSON parser stops near 200)
        payload[data.draw(st.sampled_from([*payload, "new"]))] = nested(data.draw(st.integers(10, 150)))
    record = RawRecord.model_validate_json(raw.model_copy(update={"payload": payload}).to_bytes())
    try:
        outcome = normalize_record(record)
    except ValueError as exc:
        assert str(exc).strip()
    else:
        assert outcome is None or isinstance(outcome, Post)


# ---------------------------------------------------------------------------------------------------------
# Archives and folders: Weibo CED, RumourEval 2017, Twitter15


def _first_ced_files() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    source: dict[str, Any] | None = None
    for folder, _, raw in ced_members(DATA / "spread/weibo_ced/CED_Dataset.tar.gz"):
        if folder == "original-microblog" and source is None:
            source = json.loads(raw)
        elif folder != "original-microblog" and source is not None:
            return source, json.loads(raw)
    raise AssertionError("no CED source and repost file")


CED_SOURCE, CED_REPOSTS = _first_ced_files()


def tar_gz(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _deep_text(depth: int) -> str:
    return '{"k": ' * depth + '"leaf"' + "}" * depth


@st.composite
def ced_item(draw: st.DrawFn, real: dict[str, Any]) -> tuple[str, bool]:
    """``(JSON text, good)`` of one source or repost made large, deep or wrong."""
    item = copy.deepcopy(real)
    kind = draw(st.sampled_from(["real", "long_text", "many_fields", "deep", "not_object"]))
    if kind == "long_text":
        item["text"] = text_of(draw(LENGTHS), draw(st.text(max_size=5)))
    elif kind == "many_fields":
        item.update({f"f{i}": i for i in range(draw(st.integers(100, 5_000)))})
    elif kind == "deep":  # parseable, too deep for a message
        return json.dumps(item)[:-1] + ', "extra": ' + _deep_text(draw(st.integers(MAX_JSON_DEPTH, 900))) + "}", False
    elif kind == "not_object":
        return json.dumps(draw(st.sampled_from([5, "text", None, [1, 2]]))), False
    return json.dumps(item, ensure_ascii=False), True


@PROPERTY
@given(st.data())
def test_weibo_ced_reader(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    members: dict[str, bytes] = {}
    good = bad = 0
    for i in range(data.draw(st.integers(1, 3))):
        name = f"{i}_mid{i}_u{i}.json"
        if data.draw(st.booleans()):  # past Python's JSON parser: the whole file is one reject
            members[f"CED_Dataset/original-microblog/{name}"] = _deep_text(20_000).encode()
            bad += 1
        else:
            text, ok = data.draw(ced_item(CED_SOURCE))
            members[f"CED_Dataset/original-microblog/{name}"] = text.encode()
            good, bad = good + ok, bad + (not ok)
        items = data.draw(st.lists(ced_item(data.draw(st.sampled_from(CED_REPOSTS[:20]))), max_size=6))
        members[f"CED_Dataset/rumor-repost/{name}"] = ("[" + ", ".join(t for t, _ in items) + "]").encode()
        good += sum(ok for _, ok in items)
        bad += sum(not ok for _, ok in items)
    path = tar_gz(tmp_path_factory.mktemp("ced") / "CED_Dataset.tar.gz", members)
    report, raw, letters = replay("weibo_ced", path)
    check(report, raw, letters, good, bad)


@PROPERTY
@given(st.data())
def test_rumoureval2017_reader(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    folder = tmp_path_factory.mktemp("rumoureval")
    real = json.loads((DATA / "spread/rumoureval2017/traindev/posts.json").read_text(encoding="utf-8"))
    ids = list(real)[:30]
    texts: list[str] = []
    good = bad = 0
    for post_id in data.draw(st.lists(st.sampled_from(ids), min_size=1, max_size=10, unique=True)):
        text, ok = data.draw(ced_item(real[post_id]))
        ok = ok or not text.startswith("{")  # a post that is not an object reads as one missing its fields
        texts.append(f'"{post_id}": {text}')
        good, bad = good + ok, bad + (not ok)
    (folder / "posts.json").write_text("{" + ", ".join(texts) + "}", encoding="utf-8")
    (folder / "structures.json").write_text(json.dumps({ids[0]: {ids[0]: {ids[1]: []}}}), encoding="utf-8")
    report, raw, letters = replay("rumoureval2017", folder)
    check(report, raw, letters, good, bad)


@st.composite
def tree_line(draw: st.DrawFn) -> str:
    """A Twitter15 edge line: real, with ids thousands of characters long, nested brackets, or garbage."""
    kind = draw(st.sampled_from(["real", "long_ids", "deep", "garbage"]))
    uid, tid = draw(st.integers(1, 10**18)), draw(st.integers(1, 10**18))
    delay = draw(st.floats(0, 10_000, allow_nan=False))
    if kind == "real":
        return f"['{uid}', '{tid}', '{delay:.1f}']->['{uid + 1}', '{tid + 1}', '{delay + 1:.1f}']"
    if kind == "long_ids":
        long = "9" * draw(LENGTHS)
        return f"['ROOT', 'ROOT', '0.0']->['{long}', '{long}', '0.0']"
    if kind == "deep":
        depth = draw(st.integers(10, 20_000))
        return "[" * depth + "]" * depth + "->" + "[" * depth + "]" * depth
    return draw(st.text(max_size=300).map(lambda t: t.replace("\n", " ").replace("\r", " ")))


@PROPERTY
@given(st.lists(tree_line(), min_size=1, max_size=12))
def test_twitter15_reader(tmp_path_factory: pytest.TempPathFactory, lines: list[str]) -> None:
    folder = tmp_path_factory.mktemp("twitter15")
    (folder / "source_tweets.txt").write_text("123\thello #x https://t.co/y\n", encoding="utf-8")
    (folder / "label.txt").write_text("false:123\n", encoding="utf-8")
    root = "['ROOT', 'ROOT', '0.0']->['1', '123', '0.0']"
    body = "\n".join([root, *lines]).encode("utf-8", "surrogatepass")
    path = tar_gz(folder / "twitter15_tree.tar.gz", {"twitter15/tree/123.txt": body})
    report, raw, letters = replay("twitter15", path)
    assert report.errors == [] and report.read == report.produced + report.rejected + report.oversize_dead_lettered
    assert report.produced >= 1  # the root
    check(report, raw, letters, report.produced, report.rejected + report.oversize_dead_lettered)
