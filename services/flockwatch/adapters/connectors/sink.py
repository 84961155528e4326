"""Where collected records go: Kafka's raw topic (the pipeline), or a file of normalized posts (no services).

Both sinks dead-letter what cannot be used, with the reason: the Kafka sink through the replayer (unreadable
payloads, oversize records) and then the normalize stage; the file sink by normalising on the spot and
writing rejects to ``OUT.dead-letters.jsonl`` beside the output.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Protocol

from kafka import KafkaProducer

from flockwatch.adapters.replayer import ReplayReport, replay_records
from flockwatch.config import Settings
from flockwatch.messages import describe_error
from flockwatch.replay import normalize_record
from flockwatch.schema import DeadLetter, RawRecord, post_key

STAGE = "collect"


class RecordSink(Protocol):
    def write(self, records: Sequence[RawRecord]) -> tuple[int, dict[str, int]]:
        """Write ``records`` durably; (how many were written, rejects by reason)."""
        ...


def reject_reason(reason: str) -> str:
    """A reason's class for counting (its text up to the first colon, bounded)."""
    return reason.split(":", 1)[0][:80]


class FileSink:
    """Normalized ``Post`` JSON lines, one per post key (a post collected twice keeps its first line).

    ``resume``: append to an existing file and skip the post keys already in it, so a pull resumed from
    its cursor file after a crash neither duplicates the batch it re-reads nor loses what was written.
    """

    def __init__(self, path: Path, *, resume: bool = False) -> None:
        self.path = path
        self.dead_path = path.with_name(path.name.removesuffix(".jsonl") + ".dead-letters.jsonl")
        self.seen: set[str] = set(written_keys(path)) if resume else set()
        self.dead_letters = 0
        self._resume = resume
        self._out: IO[str] = path.open("a" if resume else "w", encoding="utf-8")
        self._dead: IO[str] | None = None

    def write(self, records: Sequence[RawRecord]) -> tuple[int, dict[str, int]]:
        written = 0
        reasons: dict[str, int] = {}
        for record in records:
            try:
                post = normalize_record(record)
            # Broad on purpose, as in the normalize stage: one odd record costs that record, not the run.
            except Exception as exc:
                reason = f"{record.source_uri} at {record.position}: {describe_error(exc)}"
                self._dead_letter(reason, record)
                key = reject_reason(describe_error(exc))
                reasons[key] = reasons.get(key, 0) + 1
                continue
            if post is None or post.key in self.seen:
                continue
            self.seen.add(post.key)
            self._out.write(post.model_dump_json(exclude_none=True) + "\n")
            written += 1
        self._out.flush()
        return written, reasons

    def _dead_letter(self, reason: str, record: RawRecord) -> None:
        if self._dead is None:
            self._dead = self.dead_path.open("a" if self._resume else "w", encoding="utf-8")
        letter = DeadLetter.of(STAGE, reason, record.to_bytes())
        self._dead.write(letter.model_dump_json(exclude_none=True) + "\n")
        self._dead.flush()
        self.dead_letters += 1

    def close(self) -> None:
        self._out.close()
        if self._dead is not None:
            self._dead.close()


def written_keys(path: Path) -> list[str]:
    """The post keys of a Post JSON lines file. A torn last line (the writer was killed mid-line) is cut off,
    so appending starts on a fresh line; any other unreadable line is an error (not our file)."""
    if not path.exists():
        return []
    keys: list[str] = []
    good = 0
    with path.open("rb") as handle:
        lines = handle.readlines()
    for number, line in enumerate(lines, start=1):
        try:
            post = json.loads(line)
            keys.append(post_key(post["platform"], post["platform_id"]))
        except (ValueError, KeyError, TypeError):
            if number == len(lines) and not line.endswith(b"\n"):
                with path.open("r+b") as handle:
                    handle.truncate(good)
                break
            raise ValueError(f"{path} line {number} is not a collected post; not appending to it") from None
        good += len(line)
    return keys


class KafkaSink:
    """Raw records onto the raw topic, flushed (every record acknowledged) before ``write`` returns."""

    def __init__(self, settings: Settings, producer: KafkaProducer) -> None:
        self.settings = settings
        self.producer = producer

    def write(self, records: Sequence[RawRecord]) -> tuple[int, dict[str, int]]:
        report = replay_records(records, self.producer, self.settings, ReplayReport(format=STAGE))
        reasons = {"unreadable or oversize": report.rejected + report.oversize_dead_lettered}
        return report.produced, {k: v for k, v in reasons.items() if v}
