"""kafka-python's report of a read on a socket it already closed is dropped; its other errors are kept."""

from __future__ import annotations

import logging
import sys

import pytest

import flockwatch.adapters  # noqa: F401  (installs the filter: every Kafka client is imported through it)
from flockwatch.adapters.kafka_closed_socket import TRANSPORT_LOGGER


def record(transport: str, exc: BaseException) -> logging.LogRecord:
    try:
        raise exc
    except BaseException:
        info = sys.exc_info()
    return logging.LogRecord(
        TRANSPORT_LOGGER, logging.ERROR, __file__, 1, "%s: Error receiving network data closing socket",
        (transport,), info,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("transport", "exc", "kept"),
    [
        ("<KafkaTCPTransport [none] (closed)>", AttributeError("'NoneType' object has no attribute 'recv'"), False),
        ("<KafkaTCPTransport [IPv4 ('127.0.0.1', 9092)] (connected)>", AttributeError("x"), True),
        ("<KafkaTCPTransport [none] (closed)>", ConnectionResetError(104, "reset"), True),
    ],
)
def test_only_the_closed_socket_read_is_dropped(transport: str, exc: BaseException, kept: bool) -> None:
    assert logging.getLogger(TRANSPORT_LOGGER).filter(record(transport, exc)) is kept


def test_installing_twice_adds_one_filter() -> None:
    from flockwatch.adapters import kafka_closed_socket

    kafka_closed_socket.install()
    logger = logging.getLogger(TRANSPORT_LOGGER)
    assert sum(isinstance(f, kafka_closed_socket.ClosedSocketRead) for f in logger.filters) == 1
