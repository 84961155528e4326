"""Where connectors keep their resume points: a file (no services), or a compacted Kafka topic.

A cursor is saved only after the batch before it is durably written (see ``runner``), so a restart
re-reads at most one batch: at-least-once, and record ids (``platform:id``) make the overlap idempotent.
The Kafka store uses a log-compacted topic keyed by ``source:target``: the broker keeps the latest value of
every key for ever, and any worker that takes over a target reads it back.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Protocol

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from flockwatch.adapters.client_security import kafka_client_args
from flockwatch.config import Settings

CURSOR_TOPIC = "collect.cursors"


class CursorStore(Protocol):
    def load(self, key: str) -> str | None: ...

    def save(self, key: str, value: str) -> None: ...


class MemoryCursors:
    """Cursors for one process (one-shot pulls that must not remember, tests)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def load(self, key: str) -> str | None:
        return self.values.get(key)

    def save(self, key: str, value: str) -> None:
        self.values[key] = value


class FileCursors:
    """Cursors in one JSON file, replaced atomically on every save."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise ValueError(f"cursor file {self.path} is not JSON ({exc}); move it away to start over") from None
        if not isinstance(data, dict):
            raise ValueError(f"cursor file {self.path} is not a JSON object; move it away to start over")
        return {str(k): str(v) for k, v in data.items()}

    def load(self, key: str) -> str | None:
        return self._read().get(key)

    def save(self, key: str, value: str) -> None:
        with self._lock:
            data = self._read()
            data[key] = value
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.path)


def cursor_topic(settings: Settings) -> str:
    return f"{settings.topic_prefix}.{CURSOR_TOPIC}"


class KafkaCursors:
    """Cursors in a compacted topic; ``load`` reads the topic to its end once, then serves from memory."""

    def __init__(self, settings: Settings, producer: KafkaProducer) -> None:
        self.settings = settings
        self.topic = cursor_topic(settings)
        self.producer = producer
        self._values: dict[str, str] | None = None

    def ensure_topic(self) -> None:
        admin = KafkaAdminClient(**kafka_client_args(self.settings))
        try:
            admin.create_topics(
                [
                    NewTopic(
                        self.topic,
                        num_partitions=1,
                        replication_factor=self.settings.topic_replication_factor,
                        topic_configs={
                            "cleanup.policy": "compact",
                            "min.compaction.lag.ms": "60000",
                            "min.insync.replicas": str(self.settings.topic_insync_replicas),
                        },
                    )
                ]
            )
        except TopicAlreadyExistsError:
            pass
        finally:
            admin.close()

    def _all(self) -> dict[str, str]:
        if self._values is None:
            self.ensure_topic()
            consumer = KafkaConsumer(**kafka_client_args(self.settings), enable_auto_commit=False)
            try:
                part = TopicPartition(self.topic, 0)
                consumer.assign([part])
                consumer.seek_to_beginning(part)
                end = consumer.end_offsets([part])[part]
                values: dict[str, str] = {}
                while consumer.position(part) < end:
                    for records in consumer.poll(timeout_ms=1000).values():
                        for rec in records:
                            if rec.key is None:
                                continue
                            if rec.value is None:
                                values.pop(rec.key.decode(), None)
                            else:
                                values[rec.key.decode()] = rec.value.decode()
                self._values = values
            finally:
                consumer.close()
        return self._values

    def load(self, key: str) -> str | None:
        return self._all().get(key)

    def save(self, key: str, value: str) -> None:
        self.producer.send(self.topic, key=key.encode(), value=value.encode()).get(timeout=60)
        self._all()[key] = value
