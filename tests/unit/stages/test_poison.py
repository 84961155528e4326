"""Poison records: bounded document ids, isolation of whole-batch failures, oversize posts and dead letters."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaConnectionError, MessageSizeTooLargeError

from flockwatch.adapters.kafka_bus import batch_transient, in_message
from flockwatch.config import Settings
from flockwatch.media.score import MediaResult
from flockwatch.messages import MAX_DEAD_LETTER_KEY, InMessage, OutMessage, StageOutcome, dead_letter_key
from flockwatch.replay import read_dataset
from flockwatch.schema import (
    DEAD_LETTER_KEEP_BYTES,
    MAX_DEAD_LETTER_ORIGINAL,
    MAX_DOCUMENT_ID_BYTES,
    Author,
    DeadLetter,
    MediaItem,
    MediaScore,
    Post,
    RawRecord,
    SourceRef,
    TextScore,
    document_id,
)
from flockwatch.stages.isolate import MAX_ATTEMPTS, IsolationPaused, process_isolating
from flockwatch.stages.media import score_batch as score_media_batch
from flockwatch.stages.normalize import normalize_batch
from flockwatch.stages.rollups import RollupsStage, TextRollups
from flockwatch.store.documents import IndexKind, StoreUnavailable
from flockwatch.topics import LARGE_MESSAGE_BYTES, Topic
from tests.fakes.store import InMemoryStore

T0 = datetime(2016, 10, 1, tzinfo=UTC)


def msg(value: bytes, offset: int = 0) -> InMessage:
    return InMessage("t.posts.raw", 0, offset, str(offset).encode(), value)


# --- document ids ---------------------------------------------------------------------------------------------


def test_short_ids_are_unchanged_and_long_ones_hashed_below_the_limit() -> None:
    assert document_id("twitter:123") == "twitter:123"
    exact = "p:" + "x" * (MAX_DOCUMENT_ID_BYTES - 2)
    assert document_id(exact) == exact
    long_key = "p:" + "x" * 511  # 513 bytes
    bounded = document_id(long_key)
    assert len(bounded.encode()) <= MAX_DOCUMENT_ID_BYTES
    assert bounded.startswith("p:xxx") and bounded.endswith(hashlib.sha256(long_key.encode()).hexdigest())
    assert document_id(long_key) == bounded  # deterministic: rewrites stay idempotent
    assert document_id(bounded) == bounded  # an id already bounded maps to itself


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=3000), st.text(min_size=1, max_size=3000))
def test_document_ids_fit_and_distinct_keys_stay_distinct(a: str, b: str) -> None:
    for key in (a, b):
        assert len(document_id(key).encode("utf-8")) <= MAX_DOCUMENT_ID_BYTES
    if a != b:
        assert document_id(a) != document_id(b)


def test_long_multibyte_keys_cut_at_a_character_boundary() -> None:
    key = "weibo:" + "微" * 400  # 1,206 bytes; the 200-byte head splits a character
    bounded = document_id(key)
    assert len(bounded.encode()) <= MAX_DOCUMENT_ID_BYTES
    bounded.encode("utf-8")  # valid text, no stray surrogate


# --- isolation of whole-batch failures ------------------------------------------------------------------------


class PoisonStage:
    """Fails any batch that holds a poison value, as a stage bug on one odd record would."""

    def __init__(self, poison: set[bytes], exc: type[Exception] = RuntimeError) -> None:
        self.poison, self.exc, self.calls = poison, exc, 0

    def process(self, batch: Sequence[InMessage]) -> StageOutcome:
        self.calls += 1
        if any(m.value in self.poison for m in batch):
            raise self.exc("cannot handle this record")
        out = StageOutcome()
        out.out = [OutMessage(Topic.normalized, m.key, m.value.upper()) for m in batch]
        out.counts["done"] += len(batch)
        return out


def run_isolating(stage: PoisonStage, batch: Sequence[InMessage]) -> tuple[StageOutcome, list[OutMessage]]:
    delivered: list[OutMessage] = []
    waits: list[float] = []
    outcome = process_isolating(
        "s", stage.process, delivered.extend, batch, is_transient=batch_transient, wait=waits.append
    )
    assert len(waits) == (MAX_ATTEMPTS - 1) * outcome.counts["isolated"]
    return outcome, delivered


def test_a_poison_record_is_bisected_out_and_dead_lettered_with_its_attempts() -> None:
    batch = [msg(f"m{i}".encode(), i) for i in range(64)]
    stage = PoisonStage({b"m37"})
    outcome, delivered = run_isolating(stage, batch)
    good = sorted(o.value for o in delivered if o.topic is Topic.normalized)
    assert good == sorted(f"M{i}".encode() for i in range(64) if i != 37)
    [letter] = [DeadLetter.model_validate_json(o.value) for o in delivered if o.topic is Topic.dead_letter]
    assert letter.original() == b"m37" and letter.source_offset == 37
    assert letter.attempts == MAX_ATTEMPTS
    assert "RuntimeError: cannot handle this record" in letter.reason and f"{MAX_ATTEMPTS} times" in letter.reason
    assert outcome.counts["done"] == 63 and outcome.counts["isolated"] == 1
    # log2(64) halvings down to the record, not one call per record
    assert stage.calls < 2 * 64


def test_several_poison_records_each_cost_only_themselves() -> None:
    batch = [msg(f"m{i}".encode(), i) for i in range(20)]
    outcome, delivered = run_isolating(PoisonStage({b"m0", b"m7", b"m8", b"m19"}), batch)
    letters = sorted(
        DeadLetter.model_validate_json(o.value).source_offset or 0 for o in delivered if o.topic is Topic.dead_letter
    )
    assert letters == [0, 7, 8, 19]
    assert outcome.counts["done"] == 16


def test_a_record_that_fails_once_then_succeeds_is_not_dead_lettered() -> None:
    flaky = {"left": 1}

    def process(batch: Sequence[InMessage]) -> StageOutcome:
        if len(batch) == 1 and flaky["left"]:
            flaky["left"] -= 1
            raise RuntimeError("flaky")
        if len(batch) > 1:
            raise RuntimeError("whole batch fails")
        out = StageOutcome()
        out.counts["done"] += 1
        return out

    outcome = process_isolating(
        "s", process, lambda _o: None, [msg(b"a", 0), msg(b"b", 1)], is_transient=batch_transient
    )
    assert outcome.counts == {"done": 2, "isolation_splits": 1}


class Clock:
    """A clock that moves on by ``step`` seconds at each reading."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_isolation_pauses_at_its_deadline_with_the_handled_records_a_prefix() -> None:
    # A stage failing on every record costs each one its attempts: past the deadline, what is handled is handed
    # back so the loop commits it and polls again, instead of outlasting max.poll.interval and looping.
    def process(_batch: Sequence[InMessage]) -> StageOutcome:
        raise OSError(28, "No space left on device")

    delivered: list[OutMessage] = []
    batch = [msg(f"m{i}".encode(), i) for i in range(64)]
    with pytest.raises(IsolationPaused) as paused:
        process_isolating(
            "s", process, delivered.extend, batch, is_transient=batch_transient, deadline=10.0, clock=Clock(1.0)
        )
    done = paused.value.done
    assert 0 < done < 64
    letters = [DeadLetter.model_validate_json(o.value) for o in delivered]
    assert [letter.source_offset for letter in letters] == list(range(done))  # exactly the handled prefix
    assert paused.value.outcome.counts["isolated"] == done


def test_isolation_handles_at_least_one_record_before_pausing_and_goes_straight_to_it() -> None:
    sizes: list[int] = []

    def process(batch: Sequence[InMessage]) -> StageOutcome:
        sizes.append(len(batch))
        raise OSError(28, "No space left on device")

    delivered: list[OutMessage] = []
    batch = [msg(f"m{i}".encode(), i) for i in range(64)]
    with pytest.raises(IsolationPaused) as paused:  # the deadline passed before isolation began
        process_isolating(
            "s", process, delivered.extend, batch, is_transient=batch_transient, deadline=-1.0, clock=Clock(1.0)
        )
    assert paused.value.done == 1 and [DeadLetter.model_validate_json(o.value).source_offset for o in delivered] == [0]
    # The whole batch, then its head record alone (its attempts), not halves of 32, 16, 8...
    assert sizes == [64] + [1] * MAX_ATTEMPTS


def test_a_batch_isolated_within_its_deadline_is_not_paused() -> None:
    batch = [msg(f"m{i}".encode(), i) for i in range(16)]
    outcome = process_isolating(
        "s", PoisonStage({b"m9"}).process, lambda _o: None, batch, is_transient=batch_transient, deadline=1e9
    )
    assert outcome.counts["done"] == 15 and outcome.counts["isolated"] == 1


@pytest.mark.parametrize("exc", [StoreUnavailable("store away"), KafkaConnectionError("broker away")])
def test_transient_errors_retry_the_whole_batch_as_before(exc: Exception) -> None:
    def process(_batch: Sequence[InMessage]) -> StageOutcome:
        raise exc

    with pytest.raises(type(exc)):
        process_isolating("s", process, lambda _o: None, [msg(b"a", 0), msg(b"b", 1)], is_transient=batch_transient)


def test_an_output_the_broker_refuses_for_good_is_isolated_not_retried_forever() -> None:
    assert not batch_transient(MessageSizeTooLargeError("too large"))
    delivered: list[OutMessage] = []

    def deliver(out: Sequence[OutMessage]) -> None:
        if any(len(o.value) > 100 for o in out if o.topic is not Topic.dead_letter):
            raise MessageSizeTooLargeError("the message is larger than the topic takes")
        delivered.extend(out)

    batch = [msg(b"x" * (200 if i == 3 else 10), i) for i in range(8)]
    outcome = process_isolating("s", PoisonStage(set()).process, deliver, batch, is_transient=batch_transient)
    [letter] = [DeadLetter.model_validate_json(o.value) for o in delivered if o.topic is Topic.dead_letter]
    assert letter.source_offset == 3 and "MessageSizeTooLargeError" in letter.reason
    assert outcome.counts["done"] == 7


# --- dead letters too large for their envelope ------------------------------------------------------------------


def test_an_original_too_large_for_the_envelope_is_kept_truncated_with_size_and_sha256() -> None:
    original = b"{" + b"x" * 13_000_000
    letter = DeadLetter.of("normalize", "not JSON", original, source_offset=5)
    assert letter.original_truncated and letter.original_size == len(original)
    assert letter.original_sha256 == hashlib.sha256(original).hexdigest()
    assert letter.original() == original[:DEAD_LETTER_KEEP_BYTES]
    assert "truncated" in letter.reason and letter.reason.startswith("not JSON")
    assert len(letter.to_bytes()) < LARGE_MESSAGE_BYTES
    # the largest original kept whole still fits the dead-letter topic, base64 and all
    whole = DeadLetter.of("normalize", "r" * 5000, b"y" * MAX_DEAD_LETTER_ORIGINAL)
    assert not whole.original_truncated and len(whole.to_bytes()) < LARGE_MESSAGE_BYTES - 1024


# --- normalize: bounds and the normalized topic's limit ---------------------------------------------------------


def cnt_record(**payload: Any) -> bytes:
    row = {"message_id": "1", "user_id": "u1", "message": "hello", "timestamp": "1475280000", **payload}
    return RawRecord(format="cnt_csv", source_uri="test.csv", payload=row).to_bytes()


def jetstream_tags(n: int) -> bytes:
    facets = [
        {
            "index": {"byteStart": 0, "byteEnd": 1},
            "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": f"t{i}"}],
        }
        for i in range(n)
    ]
    event = {
        "did": "did:plc:abc",
        "time_us": 1_700_000_000_000_000,
        "kind": "commit",
        "commit": {
            "operation": "create",
            "collection": "app.bsky.feed.post",
            "rkey": "3k",
            "record": {
                "$type": "app.bsky.feed.post",
                "text": "#t",
                "createdAt": "2023-11-14T22:13:20Z",
                "facets": facets,
            },
        },
    }
    return RawRecord(format="bluesky_jetstream", source_uri="js.jsonl", payload=event).to_bytes()


def letters_of(outcome: StageOutcome) -> list[DeadLetter]:
    return [DeadLetter.model_validate_json(o.value) for o in outcome.out if o.topic is Topic.dead_letter]


def test_bad_posts_are_dead_lettered_by_normalize_with_a_reason_naming_what() -> None:
    cases = {
        cnt_record(user_id="a" * 600): "author.id",
        jetstream_tags(50_000): "hashtags",
        cnt_record(urls=" ".join(f"https://e.com/{i}/" + "p" * 2300 for i in range(900))): "message limit",
        cnt_record(message="x", message_id="m" * 513): "platform_id",
    }
    outcome = normalize_batch([msg(v, i) for i, v in enumerate(cases)])
    letters = letters_of(outcome)
    assert len(letters) == len(cases) and outcome.counts["normalized"] == 0
    for letter, (original, what) in zip(letters, cases.items(), strict=True):
        assert what in letter.reason, letter.reason
        assert letter.original() == original
    size_reason = letters[2].reason
    assert "largest: urls" in size_reason and str(1024 * 1024) in size_reason


def test_a_null_record_is_dead_lettered_not_fatal_and_a_huge_key_is_hashed_in_its_letter() -> None:
    # A tombstone on posts.raw (value None) reached the stage as None and crashed the worker at every restart.
    records = [ConsumerRecord("t.posts.raw", 0, None, 7, 0, 0, b"k" * 5000, None, [], None, 5000, -1, 0)]
    outcome = normalize_batch([in_message(r, "t.posts.raw") for r in records])
    [letter] = letters_of(outcome)
    assert letter.reason.endswith("empty record value (null or zero bytes)") and letter.original() == b""
    [out] = outcome.out
    assert out.key == hashlib.sha256(b"k" * 5000).hexdigest().encode()
    assert dead_letter_key(b"k" * MAX_DEAD_LETTER_KEY) == b"k" * MAX_DEAD_LETTER_KEY and dead_letter_key(None) is None


def test_a_long_key_is_not_bad_input_it_is_normalised() -> None:
    # "twitter:" + 505 characters = a 513-byte key; it is stored under document_id(key)
    outcome = normalize_batch([msg(cnt_record(message_id="k" * 505), 0)])
    [out] = outcome.out
    post = Post.model_validate_json(out.value)
    assert len(post.key.encode()) == 513 and out.topic is Topic.normalized


def test_a_raw_record_without_its_text_field_is_dead_lettered_naming_the_field() -> None:
    row = {"message_id": "1", "user_id": "u1", "timestamp": "1475280000"}
    no_text = RawRecord(format="cnt_csv", source_uri="t.csv", payload=row).to_bytes()
    ira = next(iter(read_dataset("ira_2016", None, Settings().data_dir)))
    ira_no_text = ira.model_copy(update={"payload": {k: v for k, v in ira.payload.items() if k != "content"}})
    outcome = normalize_batch([msg(no_text, 0), msg(ira_no_text.to_bytes(), 1)])
    reasons = [letter.reason for letter in letters_of(outcome)]
    assert reasons == ["ValueError: missing field 'message'", "ValueError: missing field 'content'"]
    # an explicit empty text is a post with no text, not a missing field
    assert normalize_batch([msg(cnt_record(message=""), 0)]).counts["normalized"] == 1


def test_list_bounds_admit_realistic_posts() -> None:
    records = list(itertools.islice(read_dataset("ira_2016", None, Settings().data_dir), 300))
    outcome = normalize_batch([msg(r.to_bytes(), i) for i, r in enumerate(records)])
    assert outcome.counts["dead_lettered"] == 0


# --- rollups and media: one bad document or item costs itself ---------------------------------------------------


def test_a_rollup_document_the_store_rejects_is_dead_lettered_not_retried() -> None:
    refs = [
        {"key": f"tw:{i}", "platform": "tw", "author": {"id": a}, "text_score": {"label": "human"}}
        for i, a in enumerate(["good", "bad"])
    ]
    store = InMemoryStore()
    store.engine.docs[IndexKind.posts] = {str(r["key"]): r for r in refs}
    store.engine.reject = {"tw:bad"}  # the account document of the author "bad"
    stage = RollupsStage(TextRollups(store, threshold=0.9))
    scores = [TextScore(post_key=r["key"], post_created_at=T0, label="human", model="m").to_bytes() for r in refs]
    outcome = stage.process([InMessage("t.scores.text", 0, i, None, v) for i, v in enumerate(scores)])
    [letter] = letters_of(outcome)
    assert letter.stage == "rollups" and "tw:bad" in letter.reason and "mapper_parsing_exception" in letter.reason
    assert json.loads(letter.original())["key"] == "tw:bad"
    assert outcome.counts["rejected"] == 1 and outcome.counts["accounts_updated"] == 2


class ExplodingScorer:
    def score(self, url: str) -> MediaResult:
        if "boom" in url:
            raise MemoryError("decoder ran out of memory")
        return MediaResult(path=url, manipulation_score=0.1, decided_by="test")


def test_a_media_item_whose_scoring_raises_costs_only_itself() -> None:
    post = Post(
        platform="tw",
        platform_id="1",
        author=Author(id="a"),
        created_at=T0,
        source=SourceRef(format="t", uri="u"),
        media=[MediaItem(url="https://e.com/boom.jpg"), MediaItem(url="https://e.com/ok.jpg")],
    )
    outcome = score_media_batch([InMessage("t.posts.normalized", 0, 0, None, post.to_bytes())], ExplodingScorer())  # type: ignore[arg-type]
    scores = {s.media_url: s for s in (MediaScore.model_validate_json(o.value) for o in outcome.out)}
    assert scores["https://e.com/boom.jpg"].error == "scoring failed: MemoryError: decoder ran out of memory"
    assert scores["https://e.com/boom.jpg"].manipulation_score is None
    assert scores["https://e.com/ok.jpg"].error is None and scores["https://e.com/ok.jpg"].manipulation_score == 0.1
    assert outcome.counts["media_failed"] == 1 and outcome.counts["media_scored"] == 1


def test_base64_of_the_kept_head_decodes() -> None:
    letter = DeadLetter.of("replay", "too big", b"\x00" * (MAX_DEAD_LETTER_ORIGINAL + 1))
    assert base64.b64decode(letter.original_b64) == b"\x00" * DEAD_LETTER_KEEP_BYTES


@settings(max_examples=25, deadline=None)
@given(tags=st.integers(0, 3000), urls=st.integers(0, 1200), url_len=st.integers(10, 3000))
def test_normalize_puts_every_post_through_or_dead_letters_it_with_what_was_too_big(
    tags: int, urls: int, url_len: int
) -> None:
    links = " ".join(f"https://e.com/{i}/" + "p" * url_len for i in range(urls))
    values = [jetstream_tags(tags), cnt_record(urls=links)]
    outcome = normalize_batch([msg(v, i) for i, v in enumerate(values)])
    assert len(outcome.out) == 2  # never raises, never drops
    tagged, linked = outcome.out
    assert (tagged.topic is Topic.normalized) == (tags <= 1000)
    if tags > 1000:
        assert "hashtags" in DeadLetter.model_validate_json(tagged.value).reason
    if linked.topic is Topic.dead_letter:
        reason = DeadLetter.model_validate_json(linked.value).reason
        assert ("urls" in reason and urls > 1000) or "message limit" in reason
    else:
        assert urls <= 1000 and len(linked.value) < 1024 * 1024
