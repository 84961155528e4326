"""`flockwatch collect bluesky` as a worker on the real broker: SIGKILLed while the firehose is live, restarted,
then stopped with SIGTERM. Every event reaches the raw topic (no gap), every post the store once (no duplicate)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flockwatch.adapters.kafka_bus import read_topic
from flockwatch.config import Settings
from flockwatch.replay import normalize_record, read_dataset
from flockwatch.replay.bluesky_jetstream import POST, REPOST
from flockwatch.schema import RawRecord
from flockwatch.store import open_store
from flockwatch.store.documents import IndexKind
from flockwatch.topics import Topic
from flockwatch.workers import run_until_caught_up
from tests.namespace_env import namespace_env
from tests.platform_servers.jetstream import Jetstream, jetstream_server, recorded_lines

# Not marked `store`: the cursor it resumes from lives in Kafka; the store is only where the posts are counted,
# so the Elasticsearch leg of `make test` skips it.
pytestmark = pytest.mark.integration

FLOCKWATCH = str(Path(sys.executable).with_name("flockwatch"))


def raw_positions(settings: Settings) -> list[str]:
    values = read_topic(settings, Topic.raw, 10_000, timeout_s=1.0)
    return [RawRecord.model_validate_json(v).position or "" for v in values]


def wait_for(settings: Settings, count: int, timeout_s: float) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while True:
        positions = raw_positions(settings)
        if len(set(positions)) >= count or time.monotonic() > deadline:
            return positions


def test_killed_stream_worker_resumes_from_its_kafka_cursor(settings: Settings) -> None:
    lines = recorded_lines(settings.data_dir)
    wanted = {"wantedCollections": [POST, REPOST]}
    stream = Jetstream(lines, events_per_s=6, live=True)  # 152 events in 25 s: room to kill mid-stream
    selected = stream.selected(wanted)
    expected = {
        post.key
        for record in read_dataset("bluesky_jetstream", None, settings.data_dir)
        if (post := normalize_record(record)) is not None
    }
    env = namespace_env(settings)
    with jetstream_server(stream) as url:
        command = [FLOCKWATCH, "collect", "bluesky", "--endpoint", url]
        first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        before = wait_for(settings, 8, timeout_s=60)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        assert 8 <= len(set(before)) < len(selected), "the kill did not land mid-stream: the test proves nothing"
        time.sleep(1.0)  # the firehose goes on while nobody listens
        second = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        after = wait_for(settings, len(selected), timeout_s=60)
        second.send_signal(signal.SIGTERM)  # a worker stops cleanly on SIGTERM, reporting what it did
        out, err = second.communicate(timeout=30)
    assert second.returncode == 0, err
    assert '"records"' in out
    assert "cursor" in stream.queries[-1]  # resumed from the cursor in Kafka, not from the live tail
    assert len(set(after)) == len(selected)  # every served event, none lost in the downtime

    run_until_caught_up("normalize", settings)
    run_until_caught_up("index", settings)
    store = open_store(settings)
    store.engine.refresh()
    assert store.engine.count(IndexKind.posts) == len(expected)  # each post once, however often it was read
