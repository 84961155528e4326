"""The normalize stage: every message ends up normalised, skipped or dead-lettered with a reason."""

import itertools
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from flockwatch.config import Settings
from flockwatch.messages import InMessage
from flockwatch.replay import read_dataset
from flockwatch.schema import DeadLetter, Post, RawRecord
from flockwatch.stages.normalize import normalize_batch
from flockwatch.topics import Topic


def msg(value: bytes, offset: int = 0) -> InMessage:
    return InMessage("t.posts.raw", 0, offset, b"k", value)


def ira_records(n: int) -> list[RawRecord]:
    return list(itertools.islice(read_dataset("ira_2016", None, Settings().data_dir), n))


def dead_letters(values: list[bytes]) -> list[DeadLetter]:
    outcome = normalize_batch([msg(v, i) for i, v in enumerate(values)])
    return [DeadLetter.model_validate_json(o.value) for o in outcome.out if o.topic is Topic.dead_letter]


def test_real_records_normalise_to_posts_keyed_by_post_key() -> None:
    records = ira_records(50)
    outcome = normalize_batch([msg(r.to_bytes(), i) for i, r in enumerate(records)])
    assert outcome.counts["normalized"] == 50
    assert outcome.counts["dead_lettered"] == 0
    for out in outcome.out:
        post = Post.model_validate_json(out.value)
        assert out.topic is Topic.normalized
        assert out.key == post.key.encode()


def test_each_kind_of_bad_input_is_dead_lettered_with_reason_and_original_bytes() -> None:
    good = ira_records(1)[0]
    payload = good.model_dump(mode="json")
    cases = {
        b"\xff\xfe\xfa": "invalid UTF-8",
        b"{not json": "not JSON",
        b"[1, 2]": "expected a JSON object",
        json.dumps({**payload, "schema_version": 99}).encode(): "unsupported schema_version",
        json.dumps({k: v for k, v in payload.items() if k != "payload"}).encode(): "payload",
        json.dumps({**payload, "format": "no_such_format"}).encode(): "no_such_format",
        json.dumps({**payload, "payload": {"content": 5}}).encode(): "",
    }
    letters = dead_letters(list(cases))
    assert len(letters) == len(cases)
    for letter, (original, reason_part) in zip(letters, cases.items(), strict=True):
        assert letter.original() == original
        assert letter.stage == "normalize"
        assert reason_part in letter.reason
        assert letter.reason


def test_a_bad_record_does_not_stop_the_batch() -> None:
    good = [r.to_bytes() for r in ira_records(3)]
    outcome = normalize_batch([msg(good[0], 0), msg(b"\x00garbage", 1), msg(good[1], 2), msg(good[2], 3)])
    assert outcome.counts["normalized"] == 3
    assert outcome.counts["dead_lettered"] == 1


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_and_are_accounted_for(value: bytes) -> None:
    outcome = normalize_batch([msg(value)])
    assert outcome.counts["normalized"] + outcome.counts["skipped"] + outcome.counts["dead_lettered"] == 1


def test_a_normalised_post_carries_and_stays_in_the_raw_partition_it_entered_at() -> None:
    [record] = ira_records(1)
    stamped = InMessage("t.posts.raw", 2, 0, b"k", record.to_bytes(), raw_partition=2)
    [out] = normalize_batch([stamped]).out
    # Staying in partition 2 keeps each normalised partition one raw partition's sequence (topics.py).
    assert out.topic is Topic.normalized and out.raw_partition == 2 and out.partition == 2
