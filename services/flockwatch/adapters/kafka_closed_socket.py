"""Drop kafka-python's error report for a read on a socket it has already closed.

kafka-python 3.0's transport reads in a loop that waits for the socket, then reads it. When the client closes the
connection in between (a producer or consumer shutting down, a connection dropped for idleness), the loop still
runs once: ``recv`` on the cleared socket raises ``AttributeError`` and the library logs it at ERROR level with a
traceback, naming the transport "(closed)". Nothing is lost (the connection was already gone and in-flight
requests fail over as for any disconnect), but the line reads like a fault and lands in command output. Errors on
open transports, and every other exception, are kept.
"""

from __future__ import annotations

import logging

TRANSPORT_LOGGER = "kafka.net.transport"


class ClosedSocketRead(logging.Filter):
    """Rejects the one record described in the module doc; passes everything else."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (
            record.funcName == "_sock_recv"
            and isinstance(exc, AttributeError)
            and "'NoneType' object has no attribute 'recv'" in str(exc)
            and "(closed)>" in record.getMessage()
        )


def install() -> None:
    """Add the filter to the transport's logger once (idempotent: imports can run it again)."""
    logger = logging.getLogger(TRANSPORT_LOGGER)
    if not any(isinstance(f, ClosedSocketRead) for f in logger.filters):
        logger.addFilter(ClosedSocketRead())
