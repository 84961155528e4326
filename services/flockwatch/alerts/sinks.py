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
import json
import logging
import math
import os
import queue
import re
import smtplib
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any, Protocol

from flockwatch.alerts.rules import RetryPolicy, SinkSpec, severity_rank, valid_url
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


def _post_json(url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> int:
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("User-Agent", USER_AGENT)
    for k, v in headers.items():
        request.add_header(k, v)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        permanent = 400 <= exc.code < 500 and exc.code not in (408, 425, 429)
        raise SinkError(f"HTTP {exc.code}", permanent=permanent) from None
    except (urllib.error.URLError, OSError) as exc:
        # Never the URL in the message; `from None` keeps it out of logged tracebacks too.
        raise SinkError(f"cannot reach the sink: {getattr(exc, 'reason', exc)}") from None


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


@dataclass
class WebhookSink:
    spec: SinkSpec
    key: bytes
    clock: Callable[[], float] = time.time

    @property
    def name(self) -> str:
        return self.spec.name or "webhook"

    def send(self, alert: Alert, timeout_s: float) -> None:
        body = alert_json(alert)
        ts = str(int(self.clock()))
        headers = {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: sign(self.key, ts, body)}
        assert self.spec.url is not None
        _post_json(self.spec.url, body, headers, timeout_s)


@dataclass
class SlackSink:
    spec: SinkSpec

    @property
    def name(self) -> str:
        return self.spec.name or "slack"

    def send(self, alert: Alert, timeout_s: float) -> None:
        title = header_safe(f"[{alert.severity.upper()}] {alert.rule}: {alert.entity}", 150)
        body = alert_text(alert).split("\n", 1)[1]
        payload = {
            # `text` and mrkdwn are parsed for markup and mentions; plain_text is not.
            "text": slack_escape(title + " — " + alert.summary),
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": title}},
                {"type": "section", "text": {"type": "mrkdwn", "text": slack_escape(body[:2900])[:2900]}},
            ],
        }
        assert self.spec.url is not None
        _post_json(self.spec.url, json.dumps(payload).encode("utf-8"), {}, timeout_s)


@dataclass
class EmailSink:
    spec: SinkSpec
    username: str | None = None
    password: str | None = None

    @property
    def name(self) -> str:
        return self.spec.name or "email"

    def send(self, alert: Alert, timeout_s: float) -> None:
        spec = self.spec
        assert spec.host is not None and spec.sender is not None
        msg = EmailMessage()
        # Entities come from posts: a newline in one must not break (or inject) a header.
        msg["Subject"] = header_safe(f"[flockwatch][{alert.severity}] {alert.rule}: {alert.entity}")
        msg["From"] = spec.sender
        msg["To"] = ", ".join(spec.to)
        msg["X-Flockwatch-Alert"] = header_safe(alert.alert_id)
        msg.set_content(alert_text(alert))
        msg.add_attachment(alert_json(alert), maintype="application", subtype="json", filename="alert.json")
        try:
            with smtplib.SMTP(spec.host, spec.port, timeout=timeout_s) as smtp:
                if spec.starttls:
                    # verifies the chain and the host name; no fallback to plaintext
                    smtp.starttls(context=ssl.create_default_context(cafile=spec.ca_file))
                if self.username and self.password:
                    smtp.login(self.username, self.password)
                refused = smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            raise SinkError(f"all recipients refused: {exc.recipients}", permanent=True) from exc
        except smtplib.SMTPResponseException as exc:
            raise SinkError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", permanent=500 <= exc.smtp_code < 600) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise SinkError(f"SMTP {spec.host}:{spec.port}: no STARTTLS offered", permanent=True) from exc
        except ssl.SSLCertVerificationError as exc:
            raise SinkError(f"SMTP {spec.host}:{spec.port}: TLS certificate not trusted: {exc.verify_message}") from exc
        except (smtplib.SMTPException, OSError, ValueError) as exc:
            raise SinkError(f"SMTP {spec.host}:{spec.port}: {exc}") from exc
        if refused:
            raise SinkError(f"recipients refused: {sorted(refused)}", permanent=True)


def build_sinks(specs: Sequence[SinkSpec], env: Mapping[str, str] | None = None) -> list[Sink]:
    """Sinks from their specs, reading secrets from ``env``; ValueError names a missing variable."""
    env = os.environ if env is None else env
    out: list[Sink] = []
    for spec in specs:
        if spec.url_env:
            url = env.get(spec.url_env, "")
            if not valid_url(url):
                # never echo the value: it is the secret
                raise ValueError(f"sink {spec.name}: environment variable {spec.url_env} does not hold an http(s) URL")
            spec = spec.model_copy(update={"url": url})
        if spec.type == "webhook":
            assert spec.secret_env is not None
            secret = env.get(spec.secret_env)
            if not secret:
                raise ValueError(f"sink {spec.name}: environment variable {spec.secret_env} (its HMAC key) is not set")
            out.append(WebhookSink(spec, secret.encode("utf-8")))
        elif spec.type == "slack":
            out.append(SlackSink(spec))
        else:
            user = env.get(spec.username_env) if spec.username_env else None
            password = env.get(spec.password_env) if spec.password_env else None
            if (spec.username_env and not user) or (spec.password_env and not password):
                raise ValueError(f"sink {spec.name}: SMTP credentials variables are not set")
            out.append(EmailSink(spec, user, password))
    return out


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


class Dispatcher:
    """Delivers alerts on a background thread; ``on_result(alert, [delivery])`` records each sink's outcome
    as soon as it is known, so an acknowledged delivery is recorded before the next sink is tried.

    With ``pending`` (the store's outbox), the thread also loads what still owes a delivery, at start and
    every ``rescan_s``: what a killed worker left undelivered, what overflowed the queue, what a sink
    failed on for a while. The queue is bounded: when full, ``submit`` returns False at once and the
    alert waits in the outbox (without one, it is recorded as not delivered, ``queue full``).
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
    ) -> None:
        self.sinks = list(sinks)
        self.policy = policy
        self.on_result = on_result
        self.sleep = sleep
        self.pending = pending
        self.rescan_s = rescan_s
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
