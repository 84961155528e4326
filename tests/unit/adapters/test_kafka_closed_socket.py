"""kafka-python's report of a read on a socket it already closed is dropped; its other errors are kept."""

from __future__ import annotations

import logging
import socket
import sys

import pytest
from kafka.net.transport import KafkaTCPTransport

import flockwatch.adapters  # noqa: F401  (installs the filter: every Kafka client is imported through it)
from flockwatch.adapters.kafka_closed_socket import TRANSPORT_LOGGER


def test_the_library_reading_a_socket_it_closed_logs_nothing_and_still_reports_the_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The race as it happens: the read loop runs once more after close() cleared the socket.
    transport = KafkaTCPTransport(None, None)
    transport._closed = True
    with caplog.at_level(logging.DEBUG, logger=TRANSPORT_LOGGER):
        data, err = transport._sock_recv()
    assert data == b"" and err is not None  # the library still sees the failure and aborts (a no-op now)
    assert not [r for r in caplog.records if r.name == TRANSPORT_LOGGER]


def test_a_read_error_on_an_open_transport_is_still_logged(caplog: pytest.LogCaptureFixture) -> None:
    left, right = socket.socketpair()
    try:
        right.close()
        left.close()  # recv on a closed socket object raises OSError, not the race above
        transport = KafkaTCPTransport(None, left)
        with caplog.at_level(logging.ERROR, logger=TRANSPORT_LOGGER):
            _, err = transport._sock_recv()
        assert err is not None
        assert [r for r in caplog.records if r.name == TRANSPORT_LOGGER and r.levelno == logging.ERROR]
    finally:
        left.close()


def record(transport: str, exc: BaseException, func: str = "_sock_recv") -> logging.LogRecord:
    try:
        raise exc
    except BaseException:
        info = sys.exc_info()
    made = logging.LogRecord(
        TRANSPORT_LOGGER, logging.ERROR, __file__, 1, "%s: Error receiving network data closing socket",
        (transport,), info, func,
    )  # fmt: skip
    return made


NONE_RECV = AttributeError("'NoneType' object has no attribute 'recv'")


@pytest.mark.parametrize(
    ("transport", "exc", "func", "kept"),
    [
        ("<KafkaTCPTransport [none] (closed)>", NONE_RECV, "_sock_recv", False),
        ("<KafkaTCPTransport [127.0.0.1:9092<-5000]>", NONE_RECV, "_sock_recv", True),
        ("<KafkaTCPTransport [none] (closed)>", AttributeError("other"), "_sock_recv", True),
        ("<KafkaTCPTransport [none] (closed)>", NONE_RECV, "send", True),
        ("<KafkaTCPTransport [none] (closed)>", ConnectionResetError(104, "reset"), "_sock_recv", True),
    ],
)
def test_only_the_closed_socket_read_is_dropped(transport: str, exc: BaseException, func: str, kept: bool) -> None:
    assert bool(logging.getLogger(TRANSPORT_LOGGER).filter(record(transport, exc, func))) is kept


def test_installing_twice_adds_one_filter() -> None:
    from flockwatch.adapters import kafka_closed_socket

    kafka_closed_socket.install()
    logger = logging.getLogger(TRANSPORT_LOGGER)
    assert sum(isinstance(f, kafka_closed_socket.ClosedSocketRead) for f in logger.filters) == 1
