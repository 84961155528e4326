"""The concrete alert sinks: a signed JSON webhook (HTTP POST), a Slack-compatible webhook and email over SMTP.

What a delivery is, how it is retried and signed, and the background :class:`~flockwatch.alerts.delivery.Dispatcher`
are in :mod:`flockwatch.alerts.delivery`; this module only talks to the network.
"""

from __future__ import annotations

import json
import os
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage

from flockwatch.alerts.delivery import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    USER_AGENT,
    Sink,
    SinkError,
    alert_json,
    alert_text,
    header_safe,
    sign,
    slack_escape,
)
from flockwatch.alerts.rules import SinkSpec, valid_url
from flockwatch.schema import Alert


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
