"""Where alerts go: a signed JSON webhook, a Slack-compatible webhook and email over SMTP.

Every delivery is retried with exponential backoff (``RetryPolicy``); a sink that keeps failing is
given up on and the failure is returned as a :class:`Delivery` record (the stage stores it on the
alert), never raised. :class:`Dispatcher` runs deliveries on a background thread so a slow or dead
sink never holds up the pipeline.

**Webhook signature.** The body is the alert as JSON. Headers::

    X-Flockwatch-Timestamp: <unix seconds>
    X-Flockwatch-Signature: sha256=<hex HMAC-SHA256(key, "<timestamp>." + body)>

Receivers recompute the HMAC with the shared key (:func:`verify_signature`) and reject stale
timestamps, which stops replays of a captured request.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import queue
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from flockwatch.alerts.rules import RetryPolicy, SinkSpec, severity_rank
from flockwatch.schema import Alert

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Flockwatch-Signature"
TIMESTAMP_HEADER = "X-Flockwatch-Timestamp"
USER_AGENT = "flockwatch-alerts/1"


class SinkError(RuntimeError):
    """A delivery failed. ``permanent``: retrying cannot help (a 4xx answer, a refused recipient)."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Delivery:
    sink: str
    ok: bool
    attempts: int
    at: str
    error: str | None = None
    permanent: bool = False  # failed for good: retrying cannot help

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if v is not None}
        if not self.permanent:
            del out["permanent"]
        return out


class Sink(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def spec(self) -> SinkSpec: ...

    def send(self, alert: Alert, timeout_s: float) -> None: ...


def sign(key: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_signature(
    key: bytes, body: bytes, timestamp: str, signature: str, now: float | None = None, tolerance_s: float = 300.0
) -> bool:
    """True when ``signature`` is ours for ``body`` at ``timestamp`` and the timestamp is fresh."""
    try:
        age = abs((time.time() if now is None else now) - float(timestamp))
    except ValueError:
        return False
    return age <= tolerance_s and hmac.compare_digest(sign(key, timestamp, body), signature)


def scrub(text: str, spec: SinkSpec) -> str:
    """``text`` without the sink's URL or its path (a Slack webhook URL is itself the secret)."""
    if not spec.url:
        return text
    parts = urllib.parse.urlsplit(spec.url)
    for secret in (spec.url, parts.path + (f"?{parts.query}" if parts.query else ""), parts.path, parts.query):
        if len(secret) > 1:
            text = text.replace(secret, "<redacted>")
    return text


def alert_json(alert: Alert) -> bytes:
    return alert.model_dump_json(exclude_none=True, exclude={"deliveries"}).encode("utf-8")


def slack_escape(text: str) -> str:
    """Slack's three control characters as entities, so alert text (posts, handles, entities) cannot
    inject markup, links or mentions such as ``<!channel>``."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def header_safe(value: str, limit: int = 200) -> str:
    """A one-line email header value: CR, LF and other control characters become spaces."""
    return _CONTROL.sub(" ", value)[:limit]


def alert_text(alert: Alert) -> str:
    lines = [
        f"[{alert.severity.upper()}] {alert.rule}: {alert.entity}",
        alert.summary,
        f"alert {alert.alert_id} · status {alert.status.value} · {alert.post_count or len(alert.post_keys)} post(s)",
    ]
    links = [
        f"{name} {value}"
        for name, value in (
            ("narrative", alert.narrative_id),
            ("cluster", alert.cluster_id),
            ("cascade", alert.cascade_id),
        )
        if value
    ]
    if alert.media:
        links.append(f"media {', '.join(alert.media[:3])}")
    if links:
        lines.append("links: " + "; ".join(links))
    for ev in alert.evidence[:5]:
        lines.append(f"- {ev.signal} ({ev.score:.2f}) on {ev.on}: {ev.detail}")
    if alert.post_keys:
        lines.append("posts: " + ", ".join(alert.post_keys[:10]))
    return "\n".join(lines)


def wants(sink: Sink, alert: Alert) -> bool:
    spec = sink.spec
    if severity_rank(alert.severity) < severity_rank(spec.min_severity):
        return False
    return spec.rules is None or alert.rule in spec.rules


def backoff_delays(policy: RetryPolicy) -> list[float]:
    """Seconds to wait before attempts 2..n: base · 2^i, capped at max_delay."""
    base = policy.base_delay.total_seconds()
    cap = policy.max_delay.total_seconds()
    return [min(base * 2**i, cap) for i in range(policy.attempts - 1)]


def delivery_budget(policy: RetryPolicy, sinks: int) -> timedelta:
    """The longest a delivery to ``sinks`` sinks one after the other can take (every attempt timing out), with a
    margin: how long its outbox claims are held."""
    one = policy.attempts * policy.timeout.total_seconds() + sum(backoff_delays(policy))
    return timedelta(seconds=one * max(1, sinks) + 5)


def deliver_one(sink: Sink, alert: Alert, policy: RetryPolicy, sleep: Callable[[float], None] = time.sleep) -> Delivery:
    delays = backoff_delays(policy)
    timeout = policy.timeout.total_seconds()
    error = ""
    permanent = False
    attempt = 0
    for attempt in range(1, policy.attempts + 1):
        try:
            sink.send(alert, timeout)
            return Delivery(sink.name, True, attempt, datetime.now(UTC).isoformat())
        except SinkError as exc:
            error = str(exc)
            if exc.permanent:
                permanent = True
                break
        except Exception as exc:  # a sink bug must not take the pipeline down
            error = f"{type(exc).__name__}: {exc}"
        if attempt < policy.attempts:
            sleep(delays[attempt - 1])
    error = scrub(error, sink.spec)[:500]  # errors are logged and stored: never with the URL in them
    log.warning("alert %s: sink %s failed after %d attempt(s): %s", alert.alert_id, sink.name, attempt, error)
    return Delivery(sink.name, False, attempt, datetime.now(UTC).isoformat(), error, permanent)


def deliver(
    alert: Alert, sinks: Sequence[Sink], policy: RetryPolicy, sleep: Callable[[float], None] = time.sleep
) -> list[Delivery]:
    """Send ``alert`` to every sink that wants it; never raises."""
    return [deliver_one(s, alert, policy, sleep) for s in sinks if wants(s, alert)]


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


# What still owes a delivery: alerts with the names of their sinks (the store's outbox).
Pending = Callable[[], Sequence[tuple[Alert, Sequence[str]]]]
# Of an alert's sinks, those this deliverer may send to now, held for the lease given (the store's outbox claims).
Claim = Callable[[Alert, Sequence[str], timedelta], Sequence[str]]


class Dispatcher:
    """Delivers alerts on a background thread; ``on_result(alert, [delivery])`` records each sink's outcome
    as soon as it is known, so an acknowledged delivery is recorded before the next sink is tried.

    With ``pending`` (the store's outbox), the thread also loads what still owes a delivery, at start and
    every ``rescan_s``: what a killed worker left undelivered, what overflowed the queue, what a sink
    failed on for a while. The queue is bounded: when full, ``submit`` returns False at once and the
    alert waits in the outbox (without one, it is recorded as not delivered, ``queue full``). With ``claim``,
    each alert is sent only to the sinks whose outbox entries it claims first: another deliverer reading the same
    outbox (a sweep, a second worker) does not send them too.
    """

    def __init__(
        self,
        sinks: Sequence[Sink],
        policy: RetryPolicy,
        on_result: Callable[[Alert, list[Delivery]], None],
        max_queue: int = 1000,
        sleep: Callable[[float], None] = time.sleep,
        pending: Pending | None = None,
        rescan_s: float = 30.0,
        claim: Claim | None = None,
    ) -> None:
        self.sinks = list(sinks)
        self.policy = policy
        self.on_result = on_result
        self.sleep = sleep
        self.pending = pending
        self.rescan_s = rescan_s
        self.claim = claim
        self.queue: queue.Queue[tuple[Alert, tuple[str, ...]] | None] = queue.Queue(maxsize=max_queue)
        self.sent = 0
        self.failed = 0
        self._busy: set[tuple[str, str]] = set()  # (alert id, severity) queued or being delivered
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="alert-sinks", daemon=True)
        self._thread.start()

    def targets(self, alert: Alert) -> list[str]:
        """Names of the sinks that want ``alert``."""
        return [s.name for s in self.sinks if wants(s, alert)]

    def submit(self, alert: Alert, sinks: Sequence[str] | None = None) -> bool:
        """Queue ``alert`` for ``sinks`` (names; default: every sink that wants it); never blocks."""
        names = tuple(self.targets(alert) if sinks is None else sinks)
        if not names:
            return True
        key = (alert.alert_id, alert.severity)
        with self._lock:
            if key in self._busy:
                return True
            try:
                self.queue.put_nowait((alert.model_copy(deep=True), names))
            except queue.Full:
                pass
            else:
                self._busy.add(key)
                return True
        if self.pending is None:
            now = datetime.now(UTC).isoformat()
            for name in names:
                self._report(alert, [Delivery(name, False, 0, now, "queue full")])
        return False

    def _report(self, alert: Alert, deliveries: list[Delivery]) -> None:
        self.sent += sum(d.ok for d in deliveries)
        self.failed += sum(not d.ok for d in deliveries)
        try:
            self.on_result(alert, deliveries)
        except Exception as exc:  # it stays in the outbox: delivered again later rather than lost
            log.warning("alert %s: could not record deliveries (%s)", alert.alert_id, describe(exc))

    def _deliver(self, alert: Alert, names: Sequence[str]) -> None:
        if self.claim is not None:
            try:
                names = self.claim(alert, names, delivery_budget(self.policy, len(names)))
            except Exception as exc:  # the store is away: the outbox keeps it for the next rescan
                log.warning("alert %s: could not claim its deliveries (%s)", alert.alert_id, describe(exc))
                return
        by_name = {s.name: s for s in self.sinks}
        for name in names:
            sink = by_name.get(name)
            if sink is None:  # the config changed since the alert was queued
                now = datetime.now(UTC).isoformat()
                self._report(alert, [Delivery(name, False, 0, now, "no such sink is configured", True)])
            else:
                self._report(alert, [deliver_one(sink, alert, self.policy, self.sleep)])

    def _load(self) -> None:
        assert self.pending is not None
        try:
            waiting = self.pending()
        except Exception as exc:  # the store is away: try again at the next rescan
            log.warning("alert outbox: cannot read it (%s); retrying in %.0fs", describe(exc), self.rescan_s)
            return
        if waiting:
            log.info("alert outbox: %d alert(s) waiting for delivery", len(waiting))
        for alert, names in waiting:
            if not self.submit(alert, names):
                return  # queue full: the rest waits for the next rescan

    def _run(self) -> None:
        next_scan = time.monotonic() if self.pending is not None else math.inf
        while True:
            if time.monotonic() >= next_scan:
                self._load()
                next_scan = time.monotonic() + self.rescan_s
            try:
                item = self.queue.get(timeout=None if math.isinf(next_scan) else 0.5)
            except queue.Empty:
                continue
            try:
                if item is None:
                    return
                alert, names = item
                try:
                    self._deliver(alert, names)
                finally:
                    with self._lock:
                        self._busy.discard((alert.alert_id, alert.severity))
            finally:
                self.queue.task_done()

    def drain(self, timeout_s: float = 30.0) -> bool:
        """Wait until every queued alert was handled; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self.queue.unfinished_tasks

    def close(self, timeout_s: float = 30.0) -> None:
        self.drain(timeout_s)
        try:
            self.queue.put_nowait(None)
        except queue.Full:
            return
        self._thread.join(timeout_s)
