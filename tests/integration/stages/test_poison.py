"""Poison messages on the real broker and store do not stall any stage (issue 15).

100 real posts plus a 513-byte post key (with a 500-character author id: a long account key), a 600-character
author id, a post with 50,000 hashtags, a 2 MB post and a 13 MB invalid raw record, through every streaming
stage in its own worker process: all good posts stored, each bad record dead-lettered once with its reason,
every consumer group's lag back to 0 within 60 s, no worker exits.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from kafka import KafkaConsumer
from typer.testing import CliRunner

from flockwatch.adapters.kafka_bus import ensure_topics, group_lag, make_producer, read_topic, run_stage
from flockwatch.cli.app import app
from flockwatch.cli.demo import stage_processes, wait_for_stages
from flockwatch.config import Settings
from flockwatch.messages import InMessage, StageOutcome
from flockwatch.replay import read_dataset
from flockwatch.schema import DEAD_LETTER_KEEP_BYTES, MAX_DOCUMENT_ID_BYTES, DeadLetter, RawRecord, document_id
from flockwatch.stages.isolate import MAX_ATTEMPTS
from flockwatch.stages.normalize import NormalizeStage, normalize_batch
from flockwatch.store import open_store, prepare_store
from flockwatch.store.documents import IndexKind, Upsert
from flockwatch.topics import Topic, topic_name
from flockwatch.workers import STAGES, group_id

pytestmark = [pytest.mark.integration, pytest.mark.store]

DRAIN_S = 60.0
T0 = datetime(2016, 10, 1, tzinfo=UTC)


def cnt(message_id: str, user_id: str = "u1", **extra: str) -> bytes:
    row = {
        "message_id": message_id,
        "user_id": user_id,
        "message": f"post {message_id[:20]}",
        "timestamp": "1475280000",
        **extra,
    }
    return RawRecord(format="cnt_csv", source_uri="poison.csv", position=message_id[:20], payload=row).to_bytes()


def jetstream_with_tags(n: int) -> bytes:
    tag = {"$type": "app.bsky.richtext.facet#tag"}
    facets = [{"index": {"byteStart": 0, "byteEnd": 1}, "features": [{**tag, "tag": f"t{i}"}]} for i in range(n)]
    record = {"$type": "app.bsky.feed.post", "text": "#t", "createdAt": "2023-11-14T22:13:20Z", "facets": facets}
    event = {
        "did": "did:plc:poison",
        "time_us": 1_700_000_000_000_000,
        "kind": "commit",
        "commit": {"operation": "create", "collection": "app.bsky.feed.post", "rkey": "3k", "record": record},
    }
    return RawRecord(format="bluesky_jetstream", source_uri="js.jsonl", payload=event).to_bytes()


def dead_letters(settings: Settings) -> list[DeadLetter]:
    consumer = KafkaConsumer(
        topic_name(settings.topic_prefix, Topic.dead_letter),
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
        max_partition_fetch_bytes=32 * 1024 * 1024,
    )
    try:
        return [DeadLetter.model_validate_json(m.value) for m in consumer]
    finally:
        consumer.close()


def send_ira_on_one_key(settings: Settings, n: int) -> list[bytes]:
    """The first ``n`` IRA records on the raw topic under one key: one partition, read as one batch."""
    good = [r.to_bytes() for r in itertools.islice(read_dataset("ira_2016", None, settings.data_dir), n)]
    ensure_topics(settings)
    producer = make_producer(settings)
    for value in good:
        producer.send(topic_name(settings.topic_prefix, Topic.raw), key=b"same", value=value)
    producer.flush()
    producer.close()
    return good


@pytest.mark.store_long
def test_poison_records_cost_only_themselves(settings: Settings) -> None:
    good = [r.to_bytes() for r in itertools.islice(read_dataset("ira_2016", None, settings.data_dir), 100)]
    long_key_id = "k" * 505  # "twitter:" + 505 characters: a 513-byte post key
    long_key = f"twitter:{long_key_id}"
    long_author = "a" * 500  # valid, but "twitter:" + 500 characters is over the id limit as an account key
    huge_raw = json.dumps({"kind": "raw", "format": "ira_2016", "payload": {"content": "x" * 13_000_000}}).encode()
    bad: dict[str, tuple[bytes | None, str]] = {
        "600-character author id": (cnt("poison-author", user_id="a" * 600), "author.id"),
        "50,000 hashtags": (jetstream_with_tags(50_000), "hashtags"),
        "2 MB post": (
            cnt("poison-2mb", urls=" ".join(f"https://e.com/{i}/" + "p" * 2300 for i in range(900))),
            "exceeds the 1048576-byte message limit",
        ),
        "13 MB invalid raw record": (huge_raw, "source_uri"),
        "null value (a tombstone)": (None, "empty record value"),
    }
    assert len(long_key.encode()) == 513 and len(bad["2 MB post"][0] or b"") > 2_000_000
    assert len(huge_raw) > 13_000_000
    ensure_topics(settings)
    producer = make_producer(settings)
    raw_topic = topic_name(settings.topic_prefix, Topic.raw)

    with stage_processes(settings, STAGES) as running:
        # A first post through every stage: the workers are up (models loaded, groups joined) before the clock.
        producer.send(raw_topic, key=b"warm", value=good[0])
        producer.flush()
        assert wait_for_stages(settings, timeout_s=600, stages=STAGES, exited=running.exited)

        values: list[bytes | None] = [*good[1:], cnt(long_key_id, user_id=long_author)]
        for i, (value, _) in enumerate(bad.values()):
            values.insert(20 * i + 10, value)  # among the good ones, so they share batches
        started = time.monotonic()
        for i, value in enumerate(values):
            producer.send(raw_topic, key=str(i).encode(), value=value)
        producer.flush()
        drained = wait_for_stages(settings, timeout_s=DRAIN_S, stages=STAGES, exited=running.exited)
        drain_s = time.monotonic() - started
        assert running.exited() == [], "no worker exits"
        print(f"poison: every stage's lag back to 0 in {drain_s:.1f}s")
        assert drained, f"lag not back to 0 within {DRAIN_S}s"
    producer.close()

    store = open_store(settings)
    store.engine.refresh()
    # the 100 good posts and the one with a long key (a legal id: stored under a bounded document id)
    assert store.engine.count(IndexKind.posts) == 101
    stored = store.posts.get(long_key)
    assert stored is not None and stored["key"] == long_key
    assert stored["_id"] == document_id(long_key) and len(stored["_id"].encode()) <= MAX_DOCUMENT_ID_BYTES
    assert stored.get("text_score", {}).get("label")  # scored and merged into the same document
    account = store.engine.get(IndexKind.accounts, f"twitter:{long_author}")
    assert account is not None and account["key"] == f"twitter:{long_author}"

    letters = dead_letters(settings)
    assert sorted(letter.stage for letter in letters) == ["normalize"] * len(bad), [lt.reason for lt in letters]
    for what, (value, reason) in bad.items():
        original = value or b""  # a null value's dead letter holds no bytes
        [letter] = [
            lt
            for lt in letters
            if lt.original_sha256 == hashlib.sha256(original).hexdigest() or lt.original() == original
        ]
        assert reason in letter.reason, (what, letter.reason)
    [huge] = [lt for lt in letters if lt.original_truncated]
    assert huge.original_size == len(huge_raw) and huge.original() == huge_raw[:DEAD_LETTER_KEEP_BYTES]
    assert "truncated" in huge.reason
    for name, counts in running.counts.items():
        assert counts["isolated"] == 0, name  # nothing reached a stage it could fail on


class BuggyNormalize:
    """The normalize stage with a bug that one (valid) record triggers: any batch holding it raises."""

    name = "normalize"
    inputs: tuple[Topic, ...] = (Topic.raw,)

    def __init__(self, poison: bytes) -> None:
        self.poison = poison

    def process(self, messages: Sequence[InMessage]) -> StageOutcome:
        if any(m.value == self.poison for m in messages):
            raise RuntimeError("stage bug on this record")
        return normalize_batch(messages)


def test_a_stage_bug_on_one_record_costs_that_record_not_the_stage(settings: Settings) -> None:
    good = send_ira_on_one_key(settings, 40)

    group = group_id(settings, "normalize")
    report = run_stage(settings, BuggyNormalize(good[17]), group, until_caught_up=True, max_seconds=120)
    assert report.counts["normalized"] == 39 and report.counts["isolated"] == 1
    assert report.retries == 0  # isolated inside the batch, not retried as a whole
    assert group_lag(settings, group, (Topic.raw,)) == 0
    [letter] = dead_letters(settings)
    assert letter.original() == good[17] and letter.attempts == MAX_ATTEMPTS and letter.source_offset == 17
    assert "RuntimeError: stage bug on this record" in letter.reason


def redrive_cli(settings: Settings, *args: str) -> list[dict[str, object]]:
    result = CliRunner().invoke(
        app, ["dead-letters", "--redrive", *args], env={"FLOCKWATCH_TOPIC_PREFIX": settings.topic_prefix}
    )
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_a_record_dead_lettered_by_a_stage_bug_is_redriven_once_the_bug_is_fixed(settings: Settings) -> None:
    good = send_ira_on_one_key(settings, 12)
    group = group_id(settings, "normalize")
    buggy = run_stage(settings, BuggyNormalize(good[5]), group, until_caught_up=True, max_seconds=120)
    assert buggy.counts["normalized"] == 11 and buggy.counts["isolated"] == 1

    assert redrive_cli(settings, "--stage", "text") == []  # another stage's letters: none
    [planned] = redrive_cli(settings, "--stage", "normalize", "--dry-run")
    assert planned["action"] == "would redrive" and planned["source_offset"] == 5

    # Redriven while the bug is still live: the record is dead-lettered again, and the run still ends with the
    # one letter it started with (the new letter is the next run's).
    stop = threading.Event()
    live = threading.Thread(
        target=run_stage, args=(settings, BuggyNormalize(good[5]), group), kwargs={"stop": stop}, daemon=True
    )
    live.start()
    try:
        time.sleep(3)  # the live worker joins its group
        [redriven] = redrive_cli(settings, "--stage", "normalize")
        assert redriven["action"] == "redriven" and redriven["to"] == topic_name(settings.topic_prefix, Topic.raw)
        deadline = time.monotonic() + 30
        while len(dead_letters(settings)) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        stop.set()
        live.join(timeout=60)
    assert len(dead_letters(settings)) == 2

    # The bug fixed, the second letter goes back and the post is normalised; nothing is left to redrive.
    [again] = redrive_cli(settings, "--stage", "normalize")
    assert again["action"] == "redriven" and again["dead_letter_offset"] == 1
    fixed = run_stage(settings, NormalizeStage(), group, until_caught_up=True, max_seconds=120)
    assert fixed.counts["normalized"] == 1 and fixed.counts["dead_lettered"] == 0
    assert redrive_cli(settings, "--stage", "normalize") == []
    assert len(read_topic(settings, Topic.normalized, 100)) == 12 and len(dead_letters(settings)) == 2


class FullDisk:
    """The normalize stage on a full disk: every record fails, alone too."""

    name = "normalize"
    inputs: tuple[Topic, ...] = (Topic.raw,)

    def process(self, _messages: Sequence[InMessage]) -> StageOutcome:
        raise OSError(28, "No space left on device")


def test_a_batch_failing_record_after_record_is_dead_lettered_once_within_the_poll_interval(
    settings: Settings,
) -> None:
    # 40 records at 0.6 s of retries each outlast a 6 s max.poll.interval: without pausing at half of it, the
    # worker would leave its group, the commit would fail, and the batch would come round again and again.
    send_ira_on_one_key(settings, 40)
    short = settings.model_copy(update={"kafka_max_poll_interval_s": 6.0})
    group = group_id(settings, "normalize")
    report = run_stage(short, FullDisk(), group, until_caught_up=True, max_seconds=120)
    assert report.counts["isolation_paused"] >= 2 and report.counts["commit_failed"] == 0
    assert report.counts["isolated"] == 40 and group_lag(settings, group, (Topic.raw,)) == 0
    letters = dead_letters(settings)
    assert sorted(letter.source_offset or 0 for letter in letters) == list(range(40))  # each once


def test_every_kind_of_document_takes_a_long_id_and_reads_back_by_it(settings: Settings) -> None:
    store = prepare_store(settings, text=True, graph=True)
    long = "twitter:" + "x" * 600  # 608 bytes: over the store's id limit
    kinds = [k for k in IndexKind if k not in (IndexKind.posts, IndexKind.alerts, IndexKind.watchlists)]
    upserts = [Upsert(kind, f"{long}:{kind.value}", {"key": f"{long}:{kind.value}"}) for kind in kinds]
    cascade = Upsert(IndexKind.cascades, long, {"cascade_id": long, "members": [long + ":member"]})
    post = Upsert(IndexKind.posts, long, {"key": long, "text": "a long key"}, T0)
    result = store.engine.bulk_upsert([*upserts, cascade, post])
    assert (result.written, result.rejected) == (len(upserts) + 2, [])
    store.engine.refresh()
    for u in upserts:
        assert set(store.engine.get_many(u.kind, [u.doc_id, "missing"])) == {u.doc_id}, u.kind
        assert (store.engine.get(u.kind, u.doc_id) or {}).get("key") == u.doc_id
    assert (store.posts.get(long) or {}).get("text") == "a long key"
    assert store.graph.cascades_by_member([long + ":member"]) == {long + ":member": long}
    # rewriting a long id updates the same document (idempotent), never a second one
    store.engine.bulk_upsert([Upsert(IndexKind.posts, long, {"text": "again"}, T0)])
    store.engine.refresh()
    assert store.engine.count(IndexKind.posts) == 1 and (store.posts.get(long) or {}).get("text") == "again"
    alert_id = "burst:hashtag:" + "#" * 600
    alert = {"alert_id": alert_id, "rule": "burst", "created_at": T0.isoformat(), "status": "new"}
    assert store.alerts.upsert([alert]).rejected == []
    assert (store.alerts.get(alert_id) or {}).get("alert_id") == alert_id
    store.engine.refresh()
    assert store.alerts.statuses([alert_id]) == {alert_id: "new"}
