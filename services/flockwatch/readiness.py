"""Waiting for a service that is still starting: bounded retries with backoff, then one clear line.

A freshly started broker answers metadata requests seconds before its group coordinator (the offsets topic)
is ready, and a store answers HTTP before it accepts templates. Every call that can meet a service in that
state goes through :func:`retry_until_ready`; after the bound it raises :class:`ServiceNotReady`, whose message
is one line naming the service and what to do, which the CLI prints instead of a traceback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)

# A ``wait_s`` default meaning "the settings' bound" (``None`` means: wait without bound, as a worker does).
SETTINGS_BOUND = -1.0


def resolve_wait(wait_s: float | None, settings_bound: float) -> float | None:
    return settings_bound if wait_s == SETTINGS_BOUND else wait_s


class ServiceNotReady(RuntimeError):
    """A service did not become ready within the bound. ``str()`` is one line: service, cause, what to do."""

    def __init__(self, service: str, cause: str, hint: str) -> None:
        self.service, self.cause, self.hint = service, cause, hint
        super().__init__(f"{service} is not ready: {cause}. {hint}")


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: ``first_s``, doubling up to ``max_s`` between attempts."""

    first_s: float = 0.25
    max_s: float = 5.0

    def delays(self) -> Callable[[], float]:
        state = {"next": self.first_s}

        def step() -> float:
            delay = state["next"]
            state["next"] = min(delay * 2, self.max_s)
            return delay

        return step


def retry_until_ready(
    service: str,
    call: Callable[[], T],
    *,
    is_transient: Callable[[BaseException], bool],
    wait_s: float | None,
    hint: str,
    backoff: Backoff = Backoff(),
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """``call()`` until it returns, retrying the errors ``is_transient`` accepts for at most ``wait_s`` seconds
    (``None``: without bound, as a long-running worker does). Other errors propagate at once.

    >>> attempts = []
    >>> def flaky() -> str:
    ...     attempts.append(1)
    ...     if len(attempts) < 3:
    ...         raise ConnectionError("refused")
    ...     return "ok"
    >>> retry_until_ready("Kafka", flaky, is_transient=lambda e: isinstance(e, ConnectionError),
    ...                   wait_s=10, hint="", sleep=lambda s: None)
    'ok'
    """
    deadline = None if wait_s is None else clock() + wait_s
    delay = backoff.delays()
    attempt = 0
    while True:
        attempt += 1
        try:
            return call()
        except Exception as exc:
            if not is_transient(exc):
                raise
            cause = describe(exc)
            pause = delay()
            if deadline is not None and clock() + pause > deadline:
                raise ServiceNotReady(
                    service, f"{cause} (gave up after {attempt} attempts, {wait_s:g} s)", hint
                ) from exc
            # The first few are the normal start-up race; later ones are worth an operator's eye.
            log.log(logging.INFO if attempt < 4 else logging.WARNING, "waiting for %s (%s); %s", service, cause, hint)
            sleep(pause)


def describe(exc: BaseException) -> str:
    """An exception as one short line: its type and its message with whitespace collapsed."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]
