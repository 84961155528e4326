"""Sinks against local HTTP and SMTP servers started here on 127.0.0.1: signatures, retries, failures."""

from __future__ import annotations

import email
import json
import socketserver
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message

import pytest

from flockwatch.adapters.alert_sinks import build_sinks
from flockwatch.alerts.delivery import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Delivery,
    Dispatcher,
    backoff_delays,
    deliver,
    sign,
    verify_signature,
)
from flockwatch.alerts.rules import RetryPolicy, SinkSpec, parse_config, url_digest
from flockwatch.schema import Alert, Evidence
from tests.local_http import PostRecorder, recording_endpoint

KEY = "s3cret-key"


def make_alert(severity: str = "high", rule: str = "watched") -> Alert:
    return Alert(
        alert_id="al-1",
        rule=rule,
        severity=severity,
        entity="watch:hillary",
        created_at=datetime(2030, 1, 1, tzinfo=UTC),
        summary="candidate Hillary Clinton mentioned by machine-like text",
        evidence=[Evidence(signal="machine_text", score=0.93, on="text", detail="twitter:1: 0.93")],
        post_keys=["twitter:1"],
        narrative_id="n-1",
    )


@pytest.fixture
def http_server() -> Iterator[tuple[str, PostRecorder]]:
    with recording_endpoint([200]) as endpoint:
        yield endpoint


class SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) to receive a message: EHLO, MAIL, RCPT, DATA, QUIT."""

    server: SMTPServer

    def reply(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def handle(self) -> None:
        self.reply("220 localhost test SMTP")
        rcpt: list[str] = []
        while True:
            line = self.rfile.readline().decode().rstrip("\r\n")
            if not line:
                return
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 localhost")
            elif verb == "MAIL":
                self.reply("250 OK")
            elif verb == "RCPT":
                addr = line.split(":", 1)[1].strip().strip("<>")
                if addr in self.server.refuse:
                    self.reply("550 no such user")
                else:
                    rcpt.append(addr)
                    self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 end with .")
                data = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                self.server.messages.append((rcpt, email.message_from_bytes(b"".join(data))))
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


class SMTPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), SMTPHandler)
        self.messages: list[tuple[list[str], Message]] = []
        self.refuse: set[str] = set()


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    server = SMTPServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


FAST = RetryPolicy(attempts=3, base_delay=timedelta(0), max_delay=timedelta(0), timeout=timedelta(seconds=2))


def test_signed_webhook_is_verifiable(http_server: tuple[str, PostRecorder]) -> None:
    url, rec = http_server
    (sink,) = build_sinks([SinkSpec(type="webhook", url=url, secret_env="HOOK_KEY")], env={"HOOK_KEY": KEY})
    (d,) = deliver(make_alert(), [sink], FAST)
    assert d.ok and d.attempts == 1
    headers, body = rec.requests[0]
    assert verify_signature(KEY.encode(), body, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER])
    assert not verify_signature(b"wrong", body, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER])
    assert not verify_signature(KEY.encode(), body + b" ", headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER])
    stale = str(int(headers[TIMESTAMP_HEADER]) - 3600)
    assert not verify_signature(KEY.encode(), body, stale, sign(KEY.encode(), stale, body))
    sent = Alert.model_validate_json(body)
    assert sent.alert_id == "al-1" and sent.narrative_id == "n-1" and sent.evidence[0].score == 0.93
    assert headers["Content-Type"] == "application/json"


def test_webhook_retries_transient_failures_then_succeeds(http_server: tuple[str, PostRecorder]) -> None:
    url, rec = http_server
    rec.statuses = [503, 502, 200]
    (sink,) = build_sinks([SinkSpec(type="webhook", url=url, secret_env="K")], env={"K": KEY})
    slept: list[float] = []
    policy = RetryPolicy(attempts=4, base_delay=timedelta(seconds=0.5), max_delay=timedelta(seconds=0.8))
    (d,) = deliver(make_alert(), [sink], policy, sleep=slept.append)
    assert d.ok and d.attempts == 3 and len(rec.requests) == 3
    assert slept == [0.5, 0.8]  # exponential, capped
    assert backoff_delays(policy) == [0.5, 0.8, 0.8]


def test_permanent_failures_are_not_retried(http_server: tuple[str, PostRecorder]) -> None:
    url, rec = http_server
    rec.statuses = [404]
    (sink,) = build_sinks([SinkSpec(type="slack", url=url)])
    (d,) = deliver(make_alert(), [sink], FAST)
    assert not d.ok and d.attempts == 1 and "HTTP 404" in (d.error or "")


def test_slack_payload(http_server: tuple[str, PostRecorder]) -> None:
    url, rec = http_server
    (sink,) = build_sinks([SinkSpec(type="slack", url=url)])
    assert deliver(make_alert(), [sink], FAST)[0].ok
    payload = json.loads(rec.requests[0][1])
    assert payload["text"].startswith("[HIGH] watched: watch:hillary")
    assert payload["blocks"][0]["type"] == "header"
    assert "narrative n-1" in payload["blocks"][1]["text"]["text"]


def test_unreachable_sink_fails_after_retries() -> None:
    (sink,) = build_sinks([SinkSpec(type="slack", url="http://127.0.0.1:9/none")])
    (d,) = deliver(make_alert(), [sink], FAST)
    assert not d.ok and d.attempts == 3 and "cannot reach" in (d.error or "")


def test_email_over_smtp(smtp_server: SMTPServer) -> None:
    port = smtp_server.server_address[1]
    spec = SinkSpec(
        type="email", host="127.0.0.1", port=port, sender="fw@example.org", to=["ops@example.org"], starttls=False
    )
    (sink,) = build_sinks([spec])
    (d,) = deliver(make_alert(), [sink], FAST)
    assert d.ok, d.error
    rcpt, message = smtp_server.messages[0]
    assert rcpt == ["ops@example.org"]
    assert message["Subject"] == "[flockwatch][high] watched: watch:hillary"
    assert message["X-Flockwatch-Alert"] == "al-1"
    parts = {p.get_content_type(): p for p in message.walk()}
    text = parts["text/plain"].get_payload(decode=True)
    assert isinstance(text, bytes) and "machine_text (0.93)" in text.decode()
    attached = parts["application/json"].get_payload(decode=True)
    assert isinstance(attached, bytes) and json.loads(attached)["alert_id"] == "al-1"


def test_refused_recipient_is_a_permanent_failure(smtp_server: SMTPServer) -> None:
    smtp_server.refuse.add("nobody@example.org")
    port = smtp_server.server_address[1]
    spec = SinkSpec(
        type="email", host="127.0.0.1", port=port, sender="fw@example.org", to=["nobody@example.org"], starttls=False
    )
    (d,) = deliver(make_alert(), build_sinks([spec]), FAST)
    assert not d.ok and d.attempts == 1 and "refused" in (d.error or "")


def test_sink_filters_by_severity_and_rule(http_server: tuple[str, PostRecorder]) -> None:
    url, _ = http_server
    specs = [
        SinkSpec(type="slack", url=url, name="high-only", min_severity="high"),
        SinkSpec(type="slack", url=url + "2", name="rule-x", rules=["x"]),
    ]
    sinks = build_sinks(specs)
    assert deliver(make_alert("medium"), sinks, FAST) == []
    assert [d.sink for d in deliver(make_alert("critical"), sinks, FAST)] == ["high-only"]


def test_missing_secret_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="HOOK_KEY"):
        build_sinks([SinkSpec(type="webhook", url="http://127.0.0.1:1/", secret_env="HOOK_KEY")], env={})


def test_dispatcher_never_blocks_and_records_failures(http_server: tuple[str, PostRecorder]) -> None:
    url, rec = http_server
    rec.delay_s = 0.3  # a slow sink
    good = build_sinks([SinkSpec(type="slack", url=url, name="slow")])
    dead = build_sinks([SinkSpec(type="slack", url="http://127.0.0.1:9/", name="dead")])
    results: list[tuple[str, list[Delivery]]] = []
    dispatcher = Dispatcher(good + dead, FAST, lambda a, ds: results.append((a.alert_id, ds)), max_queue=2)
    started = time.monotonic()
    accepted = [dispatcher.submit(make_alert().model_copy(update={"alert_id": f"al-{i}"})) for i in range(5)]
    assert time.monotonic() - started < 0.2  # submit returns at once
    assert accepted.count(False) >= 1  # the bounded queue overflowed: recorded, not blocked
    assert dispatcher.drain(30)
    dispatcher.close()
    by_alert: dict[str, dict[str, Delivery]] = {}
    for aid, ds in results:  # one call per sink and alert
        by_alert.setdefault(aid, {}).update({d.sink: d for d in ds})
    assert len(by_alert) == 5
    delivered = [a for a, ds in by_alert.items() if ds["slow"].ok]
    assert delivered and all(not ds["dead"].ok for ds in by_alert.values())
    assert any(ds["slow"].error == "queue full" for ds in by_alert.values())


def test_sinks_in_the_config_file() -> None:
    config = parse_config(
        "sinks:\n  - {type: webhook, url: 'http://127.0.0.1:8080/h', secret_env: K, min_severity: high}\n"
        "  - {type: email, host: 127.0.0.1, port: 2525, sender: a@b.c, to: [d@e.f]}\n"
        "retry: {attempts: 5, base_delay: 1s, max_delay: 30s}\n"
    )
    # a webhook URL can carry a secret (Slack's does): the default name is a digest of it
    assert [s.name for s in config.sinks] == [f"webhook-{url_digest('http://127.0.0.1:8080/h')}", "email:127.0.0.1"]
    assert config.retry.attempts == 5 and backoff_delays(config.retry) == [1, 2, 4, 8]
