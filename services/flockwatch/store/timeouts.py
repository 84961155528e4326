"""Store request timeouts that notice a frozen store in seconds and still give a slow one the time it needs.

A store that accepts connections but never answers (a stopped JVM, a full GC, a hung disk) costs each request its
whole timeout. One long timeout (opensearch-py's default is 10 s, ours was 30 s) makes every stage sit that long
before it backs off; one short timeout makes a slow-but-working store fail forever. So: a short first timeout,
doubled by each timeout in a row up to a ceiling, reset by any answer (``RestEngine`` applies it to every request,
whichever the engine). The caller's batch retry (with its own backoff) does the retrying; this only decides how
long each try may wait.

A big request body (a bulk write) also gets time for its size, at ``BODY_BYTES_PER_S``: a frozen store answers
nothing whatever the size, but a working one takes longer to index more, and a bulk cut off at 5 s is sent again
whole while the store is still applying the first copy. The index stage's largest batch (2,000 IRA posts, 1.4 MB)
took 0.15-0.3 s on a 2-core machine; its first try waits about 5 + 1.5 s, reads and small writes 5 s.
"""

from __future__ import annotations

import threading
from typing import Any

# A fifth of the bulk rate measured on the local 2-core store (5-9 MB/s): a busy store still finishes in time.
BODY_BYTES_PER_S = 1024 * 1024


def body_allowance_s(body: Any) -> float:
    """Seconds a request body's size adds to its wait (bulk bodies reach the transport serialised)."""
    if isinstance(body, str):
        body = body.encode()
    return len(body) / BODY_BYTES_PER_S if isinstance(body, bytes | bytearray) else 0.0


class BackoffTimeout:
    """The wait for the next request: ``first_s``, doubled per consecutive timeout, at most ``max_s``."""

    def __init__(self, first_s: float, max_s: float) -> None:
        if not 0 < first_s <= max_s:
            raise ValueError(f"need 0 < first_s <= max_s, got {first_s} and {max_s}")
        self.first_s, self.max_s = first_s, max_s
        self._current = first_s
        self._lock = threading.Lock()

    @property
    def current_s(self) -> float:
        return self._current

    def timed_out(self) -> None:
        with self._lock:
            self._current = min(self._current * 2, self.max_s)

    def answered(self) -> None:
        with self._lock:
            self._current = self.first_s
