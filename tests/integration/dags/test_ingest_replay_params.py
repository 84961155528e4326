"""``ingest_replay`` on the real broker: bad lines are dead-lettered; a path outside the data dir produces nothing.

The data directory is a scratch one (``FLOCKWATCH_DATA_DIR``) holding a toolkit CSV with two bad
rows among good ones and real Jetstream events with one line nested 5,000 levels deep: the three
bad lines of issue #15. The DAG replays the CSV, the replayer the events; every good line must be
on the raw topic and each bad one on the dead-letter topic with its reason and original bytes.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer

from flockwatch.adapters.replayer import replay
from flockwatch.config import REPO_ROOT, Settings
from flockwatch.replay.cnt_csv import COLUMNS
from flockwatch.schema import DeadLetter, RawRecord
from flockwatch.topics import Topic, topic_name
from tests.dag_runner import RUNNER, airflow_env, dag_test

# Not marked `store`: what these check happens in the DAG and on the broker, before or apart from the store's
# engine, so the Elasticsearch leg of `make test` skips them.
pytestmark = pytest.mark.integration

JETSTREAM = Settings().data_dir / "connectors/bluesky_jetstream/expected_v1.jsonl"
NESTED = b'{"did":"did:plc:x","kind":"commit","time_us":1,"commit":' + b"[" * 5_000 + b"]" * 5_000 + b"}\n"


def csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


GOOD_ROWS = [
    [str(1000 + i), f"u{i % 7}", f"user{i % 7}", "", "", f"post {i} #tag", str(1478563200 + i), ""] for i in range(60)
]
LONG_ROW = ["2001", "u1", "alice", "", "", "x" * (csv.field_size_limit() + 10), "1478563200", ""]
EXTRA_ROW = ["2002", "u2", "bob", "", "", "hello", "1478563200", "", "surplus"]


def messages(settings: Settings, stage: Topic) -> list[bytes]:
    consumer = KafkaConsumer(
        topic_name(settings.topic_prefix, stage),
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
        max_partition_fetch_bytes=32 * 1024 * 1024,
    )
    try:
        return [m.value for m in consumer]
    finally:
        consumer.close()


def replay_result(airflow_home: Path) -> dict[str, Any]:
    """The ``replay_dataset`` task's return value in the latest ``ingest_replay`` run."""
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        [(raw,)] = db.execute(
            "SELECT value FROM xcom WHERE key = 'return_value' AND task_id = 'replay_dataset' AND dag_run_id ="
            " (SELECT max(id) FROM dag_run WHERE dag_id = 'ingest_replay')"
        ).fetchall()
    value = json.loads(raw)
    return dict(json.loads(value) if isinstance(value, str) else value)


def test_three_bad_lines_are_dead_lettered_and_every_good_line_produced(
    settings: Settings, airflow_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    good_events = JETSTREAM.read_bytes().splitlines(keepends=True)
    (data / "events.jsonl").write_bytes(b"".join(good_events[:70]) + NESTED + b"".join(good_events[70:]))
    rows = [list(COLUMNS), *GOOD_ROWS[:20], LONG_ROW, *GOOD_ROWS[20:40], EXTRA_ROW, *GOOD_ROWS[40:]]
    (data / "messages.csv").write_bytes(csv_bytes(rows))
    monkeypatch.setenv("FLOCKWATCH_DATA_DIR", str(data))

    conf = {"dataset": "cnt_csv", "path": "messages.csv", "limit": None}
    state = dag_test(airflow_home, settings, "ingest_replay.py", "ingest_replay_dag", conf)
    assert state.endswith("success"), state
    assert replay_result(airflow_home) == {"read": 62, "produced": 60, "oversize": 0, "rejected": 2}
    report = replay(settings.model_copy(update={"data_dir": data}), "bluesky_jetstream", data / "events.jsonl")
    assert (report.produced, report.rejected, report.errors) == (len(good_events), 1, [])

    raw = [RawRecord.model_validate_json(v) for v in messages(settings, Topic.raw)]
    assert sorted(r.payload["message_id"] for r in raw if r.format == "cnt_csv") == [r[0] for r in GOOD_ROWS]
    assert sorted(int(r.position or 0) for r in raw if r.format == "bluesky_jetstream") == [
        i for i in range(1, len(good_events) + 2) if i != 71
    ]
    letters = {
        letter.original(): letter
        for letter in map(DeadLetter.model_validate_json, messages(settings, Topic.dead_letter))
    }
    assert set(letters) == {NESTED, csv_bytes([LONG_ROW]), csv_bytes([EXTRA_ROW])}
    assert all(letter.stage == "replay" for letter in letters.values())
    assert "nested" in letters[NESTED].reason
    assert "field larger than field limit" in letters[csv_bytes([LONG_ROW])].reason
    assert "9 fields, the header has 8" in letters[csv_bytes([EXTRA_ROW])].reason


def run_dag(airflow_home: Path, settings: Settings, conf: dict[str, Any]) -> str:
    """``dag.test`` of ``ingest_replay`` in a fresh interpreter; all it printed (``dag_test`` keeps the state only)."""
    env = airflow_env(airflow_home) | {
        "FLOCKWATCH_TOPIC_PREFIX": settings.topic_prefix,
        "FLOCKWATCH_INDEX_PREFIX": settings.index_prefix,
    }
    dag_file = str(REPO_ROOT / "dags" / "ingest_replay.py")
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, dag_file, "ingest_replay_dag", json.dumps(conf)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.stdout + done.stderr


def test_a_path_outside_the_data_directory_fails_before_anything_is_produced(
    settings: Settings, airflow_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    outside = tmp_path / "private.csv"
    outside.write_bytes(csv_bytes([list(COLUMNS), *GOOD_ROWS]))
    (data / "harmless.csv").symlink_to(outside)  # looks inside, resolves outside
    monkeypatch.setenv("FLOCKWATCH_DATA_DIR", str(data))

    output = run_dag(airflow_home, settings, {"dataset": "cnt_csv", "path": "harmless.csv"})
    assert "DAGRUN_STATE=" in output and output.split("DAGRUN_STATE=")[-1].strip().endswith("failed"), output[-3000:]
    assert "OutsideDataDirError" in output and "is outside the data directory" in output
    # A bound broken in the run's conf is refused by Airflow before any task runs.
    refused = run_dag(airflow_home, settings, {"dataset": "cnt_csv", "path": str(outside), "limit": 0})
    assert "ParamValidationError" in refused and "DAGRUN_STATE=" not in refused, refused[-3000:]
    assert messages(settings, Topic.raw) == []
    assert messages(settings, Topic.dead_letter) == []
