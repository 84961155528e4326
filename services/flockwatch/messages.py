"""Plain-data messages that stages consume and emit, free of any Kafka client type, and :func:`parse`, the one
place a message's bytes become a contract model (with its schema version checked)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any, TypeVar, overload

from pydantic import Field, TypeAdapter, ValidationError

from flockwatch.schema import SCHEMA_VERSION, Contract, DeadLetter
from flockwatch.topics import Topic

C = TypeVar("C", bound=Contract)


class TransientError(RuntimeError):
    """A stage could not finish a batch for a reason that passes (a server away): retry it later."""


class UpstreamBehind(TransientError):
    """What a batch needs is not there yet because an earlier stage has not caught up: an expected wait."""


def still_waiting(since: dict[str, float], missing: Sequence[str], now: float, max_wait_s: float) -> list[str]:
    """The keys of ``missing`` waited for less than ``max_wait_s`` so far. ``since`` (key → when first missed) is
    updated in place; a key missed over ``4 × max_wait_s`` ago is forgotten (its batch went to another consumer)."""
    horizon = now - 4 * max_wait_s
    for key in [k for k, t in since.items() if t <= horizon]:
        del since[key]
    return [k for k in missing if now - since.setdefault(k, now) < max_wait_s]


@dataclass(frozen=True)
class InMessage:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    # The ``posts.raw`` partition the record entered the pipeline at (stamped by the Kafka adapter): per raw
    # partition, posts keep the order the replayer sent them in, which the graph stage's watermark relies on.
    raw_partition: int | None = None


@dataclass(frozen=True)
class OutMessage:
    topic: Topic
    key: bytes | None
    value: bytes
    raw_partition: int | None = None  # carried over from the input it was derived from
    # The partition to write to (modulo the topic's partitions); None: by key. Normalised posts keep their raw
    # record's partition, so each normalised partition is one raw partition's sequence (see topics.py).
    partition: int | None = None


@dataclass
class StageOutcome:
    out: list[OutMessage] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def dead_letter(self, stage_name: str, msg: InMessage, reason: str, attempts: int | None = None) -> None:
        # DeadLetter.of truncates an original too large for the envelope (keeping its size and sha256).
        letter = DeadLetter.of(
            stage_name,
            reason,
            msg.value,
            attempts=attempts,
            source_topic=msg.topic,
            source_partition=msg.partition,
            source_offset=msg.offset,
        )
        self.out.append(OutMessage(Topic.dead_letter, dead_letter_key(msg.key), letter.to_bytes()))
        self.counts["dead_lettered"] += 1

    def dead_letter_document(self, stage_name: str, kind: str, doc_id: str, doc: Any, reason: str) -> None:
        """A document the store refused for good (not worth retrying). It is derived from many messages, so the
        document itself is the dead letter's original; counted as ``rejected``."""
        letter = DeadLetter.of(
            stage_name,
            f"store rejected the {kind} document {doc_id!r}: {reason}",
            json.dumps(doc, sort_keys=True, default=str).encode(),
        )
        self.out.append(OutMessage(Topic.dead_letter, dead_letter_key(doc_id.encode()), letter.to_bytes()))
        self.counts["rejected"] += 1


# Longer keys are replaced by their sha256: a dead letter must fit the topic even when its record's key was huge.
MAX_DEAD_LETTER_KEY = 1024


def dead_letter_key(key: bytes | None) -> bytes | None:
    """The key a dead letter is written under: the record's own, or its sha256 (hex) when over
    :data:`MAX_DEAD_LETTER_KEY` bytes."""
    if key is None or len(key) <= MAX_DEAD_LETTER_KEY:
        return key
    return hashlib.sha256(key).hexdigest().encode()


def describe_error(exc: Exception) -> str:
    """One line an operator can act on: which field, what was wrong."""
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err["loc"]) or "record"
            parts.append(f"{where}: {err['msg']}")
        more = f" (+{exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
        return "; ".join(parts) + more
    return f"{type(exc).__name__}: {exc}"


@cache
def _adapter(kinds: tuple[type[Contract], ...]) -> TypeAdapter[Any]:
    if len(kinds) == 1:
        return TypeAdapter(kinds[0])
    # Several contracts on one topic: the ``kind`` field says which (one pass, no trial parses).
    union: Any = kinds[0]
    for kind in kinds[1:]:
        union = union | kind
    return TypeAdapter(Annotated[union, Field(discriminator="kind")])


@overload
def parse(value: bytes, kind: type[C], /) -> C: ...
@overload
def parse(value: bytes, kind: type[Contract], /, *more: type[Contract]) -> Any: ...
def parse(value: bytes, kind: type[Contract], /, *more: type[Contract]) -> Any:
    """The contract model in one message's bytes: one of ``kind, *more`` (told apart by the ``kind`` field).

    Raises ``ValueError`` naming what is wrong: not UTF-8, not a JSON object, a schema version this build does
    not read, or (a pydantic ``ValidationError``) the fields that fail the contract. Stages catch it and
    dead-letter the message with :func:`describe_error`.

    >>> from flockwatch.schema import TextScore
    >>> parse(b'{"schema_version": 9, "kind": "text_score"}', TextScore)
    Traceback (most recent call last):
    ...
    ValueError: unsupported schema_version 9 (this build reads 1)
    """
    try:
        item = _adapter((kind, *more)).validate_json(value)
    except ValidationError:
        problem = _diagnose(value)
        if problem:
            raise ValueError(problem) from None
        raise
    if item.schema_version != SCHEMA_VERSION:
        raise ValueError(_version_problem(item.schema_version))
    return item


def _version_problem(version: object) -> str:
    return f"unsupported schema_version {version!r} (this build reads {SCHEMA_VERSION})"


def _diagnose(value: bytes) -> str | None:
    """Why bytes that failed validation are not a contract at all (encoding, JSON, version), if that is why."""
    if not value:
        return "empty record value (null or zero bytes)"
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 at byte {exc.start}"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    if not isinstance(data, dict):
        return f"expected a JSON object, got {type(data).__name__}"
    version = data.get("schema_version", SCHEMA_VERSION)
    return None if version == SCHEMA_VERSION else _version_problem(version)
