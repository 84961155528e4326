"""Delivery hardening: the outbox (at-least-once), secrets kept out of names, errors and logs, Slack markup
escaped, email headers sanitised, STARTTLS verified against a self-signed local server, a bounded alert book."""

from __future__ import annotations

import datetime as dt
import email
import ipaddress
import json
import logging
import socketserver
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from flockwatch.adapters.alert_sinks import build_sinks
from flockwatch.alerts import outbox
from flockwatch.alerts.delivery import SinkError, deliver, header_safe, slack_escape
from flockwatch.alerts.engine import AlertEngine
from flockwatch.alerts.rules import RetryPolicy, SinkSpec, parse_config
from flockwatch.messages import InMessage
from flockwatch.schema import Alert, Post
from flockwatch.stages.alerts import build_alert_stage
from tests.fakes.store import InMemoryStore
from tests.local_http import PostRecorder, recording_endpoint, running
from tests.unit.alerts.test_engine import CONFIG, HILLARY, T0, config, fake_store, machine_score, mkpost, msg, stored

FAST = RetryPolicy(attempts=2, base_delay=timedelta(0), max_delay=timedelta(0), timeout=timedelta(seconds=3))
SLACK_PATH = "/hooks.slack.com/services/T0000/B0000/XXXXsecretXXXX"


def make_alert(entity: str = "watch:hillary", summary: str = "candidate mentioned", severity: str = "high") -> Alert:
    return Alert(
        alert_id="al-1",
        rule="watched",
        severity=severity,
        entity=entity,
        created_at=datetime(2030, 1, 1, tzinfo=UTC),
        summary=summary,
        post_keys=["twitter:1"],
    )


# --- the outbox -------------------------------------------------------------------------------------------


class Hook:
    """A sink that records what it sent; ``gate`` blocks send until set (a hung sink)."""

    def __init__(self, name: str = "hook", fail: bool = False) -> None:
        self.spec = SinkSpec(type="webhook", url="http://127.0.0.1:1/", secret_env="K", name=name)
        self.sent: list[tuple[str, str]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.fail = fail

    @property
    def name(self) -> str:
        return self.spec.name or "hook"

    def send(self, alert: Alert, timeout_s: float) -> None:
        self.entered.set()
        self.gate.wait()
        if self.fail:
            raise SinkError("HTTP 503")
        self.sent.append((alert.alert_id, alert.severity))


def watched_batch(store: InMemoryStore, i: int = 1) -> list[InMessage]:
    p = mkpost(i, T0, "Hillary")
    stored(store, p, machine_score(p, 0.9))
    return [msg(0, p)]


def wait_for(cond: Any, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return bool(cond())


def test_outbox_is_written_with_the_alert_and_survives_a_dead_worker() -> None:
    """The alert is stored with its outbox before the batch returns (offsets are committed after that);
    a worker that dies before its sink answered leaves the entry, and the next worker delivers it."""
    store = fake_store(HILLARY)
    hung = Hook()
    hung.gate.clear()
    first = build_alert_stage(store, config(), sinks=[hung])
    first.process(watched_batch(store))
    (doc,) = store.alerts.docs.values()
    assert doc["outbox"] == ["high:hook"]  # in the upsert itself, before process() returned
    assert hung.entered.wait(5)  # the sink thread is stuck in send: this worker now "dies"
    assert not hung.sent and not store.alerts.deliveries

    # the dead worker's claim on the entry holds for its delivery budget: no one else sends it meanwhile...
    (held,) = store.alerts.docs[doc["alert_id"]]["outbox_claims"].values()
    assert datetime.fromisoformat(held) > datetime.now(UTC) + timedelta(seconds=20)
    live = Hook()
    second = build_alert_stage(store, config(), sinks=[live], restore=list(store.alerts.docs.values()),
                               outbox_rescan_s=0.05)  # fmt: skip
    assert second.dispatcher is not None
    time.sleep(0.3)
    assert not live.sent
    # ...and once it lapses, the next rescan delivers (the input offsets were committed long ago)
    store.alerts.docs[doc["alert_id"]]["outbox_claims"] = {"high:hook": datetime.now(UTC).isoformat()}
    assert wait_for(lambda: live.sent)
    assert live.sent == [(doc["alert_id"], "high")]
    assert wait_for(lambda: "outbox" not in store.alerts.docs[doc["alert_id"]])
    assert store.alerts.deliveries[-1][1]["ok"] is True
    assert "outbox_claims" not in store.alerts.docs[doc["alert_id"]]  # the claim went with the entry
    # acknowledged: a rescan does not send it again
    time.sleep(0.3)
    assert len(live.sent) == 1
    second.close(5)
    hung.gate.set()


def test_a_failing_sink_keeps_its_entry_until_it_recovers() -> None:
    store = fake_store(HILLARY)
    ok, flaky = Hook("ok"), Hook("flaky", fail=True)
    stage = build_alert_stage(store, config(), sinks=[ok, flaky], outbox_rescan_s=0.1)
    assert stage.dispatcher is not None
    stage.dispatcher.policy = FAST
    stage.process(watched_batch(store))
    (aid,) = store.alerts.docs
    assert wait_for(lambda: store.alerts.docs[aid].get("outbox") == ["high:flaky"])  # ok acknowledged, flaky not
    failures = [d for a, d in store.alerts.deliveries if d["sink"] == "flaky"]
    assert failures and not failures[0]["ok"] and "permanent" not in failures[0]
    flaky.fail = False  # the sink comes back: the next rescan delivers
    assert wait_for(lambda: "outbox" not in store.alerts.docs[aid])
    assert flaky.sent == [(aid, "high")] and ok.sent == [(aid, "high")]
    stage.close(5)


def test_permanent_refusal_settles_and_escalation_rewrites_the_outbox() -> None:
    assert outbox.settled_by("high", "s") == ["low:s", "medium:s", "high:s"]
    docs = [
        {**make_alert().model_dump(mode="json"), "outbox": ["high:a", "medium:b"]},
        {**make_alert().model_dump(mode="json"), "alert_id": "al-2"},  # nothing owed
    ]
    ((alert, names),) = outbox.waiting(docs)
    assert alert.alert_id == "al-1" and names == ["a", "b"]
    assert outbox.with_outbox({"alert_id": "x"}, "critical", ["a"]) == {"alert_id": "x", "outbox": ["critical:a"]}
    assert outbox.with_outbox({"alert_id": "x"}, "critical", []) == {"alert_id": "x"}


# --- secrets ----------------------------------------------------------------------------------------------


@pytest.fixture
def slack_server() -> Iterator[tuple[str, PostRecorder]]:
    with recording_endpoint([404, 200], path="") as (base, rec):  # the first post fails
        yield base, rec


def test_slack_url_never_in_names_errors_or_logs(
    slack_server: tuple[str, PostRecorder], caplog: pytest.LogCaptureFixture
) -> None:
    base, rec = slack_server
    config = parse_config(
        f"sinks:\n  - {{type: slack, url: '{base}{SLACK_PATH}'}}\n"
        f"  - {{type: slack, url: 'http://127.0.0.1:9{SLACK_PATH}'}}\n"  # nothing listens there
    )
    sinks = build_sinks(config.sinks)
    names = [s.name for s in sinks]
    assert len(set(names)) == 2 and all(n.startswith("slack-") for n in names)
    caplog.set_level(logging.DEBUG)
    refused, unreachable = deliver(make_alert(), sinks, FAST)
    assert not refused.ok and refused.permanent and refused.error == "HTTP 404"
    assert not unreachable.ok and not unreachable.permanent and "cannot reach" in (unreachable.error or "")
    assert deliver(make_alert(), sinks[:1], FAST)[0].ok  # the second request is accepted
    written = json.dumps([refused.as_dict(), unreachable.as_dict(), names]) + caplog.text
    assert "sink slack-" in caplog.text  # the failures were logged, by name
    assert "hooks.slack.com" not in written and "XXXXsecretXXXX" not in written
    assert len(rec.bodies) == 2


def test_any_error_text_is_scrubbed_of_the_url() -> None:
    """Even a bug that puts the URL into an exception message does not leak it."""
    url = f"https://hooks.slack.com{SLACK_PATH}"

    class Buggy(Hook):
        def send(self, alert: Alert, timeout_s: float) -> None:
            raise ValueError(f"bad url {url} (path {SLACK_PATH})")

    sink = Buggy()
    sink.spec = SinkSpec(type="slack", url=url, name="slack")
    (d,) = deliver(make_alert(), [sink], FAST)
    assert not d.ok and "hooks.slack.com" not in (d.error or "") and "<redacted>" in (d.error or "")


# --- markup and headers -----------------------------------------------------------------------------------


def test_slack_text_is_escaped(slack_server: tuple[str, PostRecorder]) -> None:
    base, rec = slack_server
    hostile = make_alert(
        entity="hashtag:#<!channel>", summary="see <http://evil.example|your bank> & ping <@U123> <!here>"
    )
    (sink,) = build_sinks([SinkSpec(type="slack", url=base + "/hook")])
    deliver(hostile, [sink], FAST)  # the first answer is a 404; the payload is what matters
    payload = json.loads(rec.bodies[0])
    marked_up = payload["text"] + payload["blocks"][1]["text"]["text"]
    assert "<" not in marked_up and ">" not in marked_up
    assert "&lt;!channel&gt;" in marked_up and "&lt;@U123&gt;" in marked_up and "&amp; ping" in marked_up
    assert payload["blocks"][0]["text"]["type"] == "plain_text"  # not parsed for mentions
    assert slack_escape("a&b<c>") == "a&amp;b&lt;c&gt;"


def test_header_values_are_single_lines() -> None:
    assert header_safe("watch:x\r\nBcc: victim@example.org") == "watch:x Bcc: victim@example.org"
    assert "\n" not in header_safe("a\nb\tc\x00d")


# --- SMTP with STARTTLS -----------------------------------------------------------------------------------


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by itself (made here, never downloaded)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "flockwatch test smtp")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class TLSHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP to take a message, with STARTTLS (RFC 3207) when the server has a TLS context."""

    server: TLSSMTPServer

    def reply(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())
        self.wfile.flush()

    def handle(self) -> None:
        self.reply("220 localhost test SMTP")
        while True:
            try:
                line = self.rfile.readline().decode().rstrip("\r\n")
            except (OSError, ssl.SSLError):
                return
            if not line:
                return
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.reply("250-localhost" if self.server.tls else "250 localhost")
                if self.server.tls:
                    self.reply("250 STARTTLS")
            elif verb == "STARTTLS" and self.server.tls:
                self.reply("220 go ahead")
                try:
                    tls = self.server.tls.wrap_socket(self.connection, server_side=True)
                except (OSError, ssl.SSLError) as exc:
                    self.server.handshake_errors.append(str(exc))
                    return
                self.server.upgraded += 1
                self.rfile, self.wfile = tls.makefile("rb"), tls.makefile("wb")
            elif verb in ("MAIL", "RCPT", "HELO"):
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 end with .")
                data = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data.append(chunk)
                self.server.messages.append(email.message_from_bytes(b"".join(data)))
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


class TLSSMTPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, tls: ssl.SSLContext | None) -> None:
        super().__init__(("127.0.0.1", 0), TLSHandler)
        self.tls = tls
        self.messages: list[Message] = []
        self.handshake_errors: list[str] = []
        self.upgraded = 0


def smtp(tls: ssl.SSLContext | None) -> Iterator[TLSSMTPServer]:
    with running(TLSSMTPServer(tls)) as server:
        yield server


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path)


@pytest.fixture
def tls_smtp(tls_files: tuple[Path, Path]) -> Iterator[TLSSMTPServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    yield from smtp(context)


@pytest.fixture
def plain_smtp() -> Iterator[TLSSMTPServer]:
    yield from smtp(None)


def email_spec(port: int, **kw: Any) -> SinkSpec:
    return SinkSpec(type="email", host="127.0.0.1", port=port, sender="fw@example.org", to=["ops@example.org"], **kw)


def test_starttls_is_on_by_default_and_verifies_the_certificate(
    tls_smtp: TLSSMTPServer, tls_files: tuple[Path, Path]
) -> None:
    port = tls_smtp.server_address[1]
    assert email_spec(port).starttls
    (d,) = deliver(make_alert(), build_sinks([email_spec(port)]), FAST)
    assert not d.ok and "certificate" in (d.error or "").lower()
    assert not tls_smtp.messages and tls_smtp.upgraded == 0  # nothing went out, in clear or otherwise
    # with its CA configured, the same server is trusted
    (d,) = deliver(make_alert(), build_sinks([email_spec(port, ca_file=str(tls_files[0]))]), FAST)
    assert d.ok, d.error
    assert tls_smtp.upgraded == 1 and len(tls_smtp.messages) == 1


def test_no_plaintext_fallback_when_starttls_is_missing(plain_smtp: TLSSMTPServer) -> None:
    (d,) = deliver(make_alert(), build_sinks([email_spec(plain_smtp.server_address[1])]), FAST)
    assert not d.ok and d.permanent and "STARTTLS" in (d.error or "")
    assert not plain_smtp.messages


def test_credentials_need_starttls() -> None:
    with pytest.raises(ValueError, match="STARTTLS"):
        email_spec(25, starttls=False, username_env="U", password_env="P")


def test_a_newline_in_the_entity_does_not_drop_the_email(plain_smtp: TLSSMTPServer) -> None:
    alert = make_alert(entity="watch:evil\r\nBcc: victim@example.org")
    (d,) = deliver(alert, build_sinks([email_spec(plain_smtp.server_address[1], starttls=False)]), FAST)
    assert d.ok, d.error
    (message,) = plain_smtp.messages
    assert message["Subject"] == "[flockwatch][high] watched: watch:evil Bcc: victim@example.org"
    assert message["Bcc"] is None


# --- bounded memory ---------------------------------------------------------------------------------------

ONE_PER_AUTHOR = """\
rules:
  - name: per-author
    scope: post
    group_by: author
    when: {not: {signal: has_media}}
    dedupe_window: 1h
"""


def test_alert_book_stays_bounded_over_many_entities() -> None:
    engine = AlertEngine(parse_config(ONE_PER_AUTHOR), max_book=1000)
    n = 12_000
    posts: Sequence[Post] = [
        mkpost(i, T0 + timedelta(seconds=i), author=f"a{i}") for i in range(n)
    ]  # one alert (entity) per author
    new = 0
    for start in range(0, n, 500):
        result = engine.process(posts[start : start + 500])
        new += result.counts["alerts_new"]
        engine.stored(a.alert_id for a in result.changed)
        engine.notified(a.alert_id for a in result.notify)
        assert len(engine.book) <= 1000 and len(engine.by_id) <= 1000
    assert new == n
    # the most recent entities are still deduped: a second post of the last author updates its alert
    again = engine.process([mkpost(n + 1, T0 + timedelta(seconds=n + 1), text="more", author=f"a{n - 1}")])
    assert again.counts["alerts_updated"] == 1 and again.counts["alerts_new"] == 0
    assert {e.alert.alert_id for e in engine.book.values()} == set(engine.by_id)


BIG_TAGS = ONE_PER_AUTHOR.replace("per-author", "per-tag").replace("group_by: author", "group_by: hashtag")


def _wave(t: int, n: int) -> list[Post]:
    return [mkpost(t * n + i, T0 + timedelta(seconds=t * n + i), author=f"a{i}", tags=[f"wave{t}"]) for i in range(n)]


def test_alert_book_stays_bounded_by_the_post_keys_its_alerts_hold() -> None:
    """Few alerts, each holding its full ``max_post_keys``: the key budget, not the alert count, bounds them."""
    engine = AlertEngine(parse_config(BIG_TAGS), max_book=1000, max_book_post_keys=2_000)
    per_tag = engine.config.max_post_keys + 20  # more posts than an alert keeps keys for
    for t in range(40):
        result = engine.process(_wave(t, per_tag))
        assert result.counts["alerts_new"] == 1
        engine.stored(a.alert_id for a in result.changed)
        engine.notified(a.alert_id for a in result.notify)
        assert sum(len(e.alert.post_keys) for e in engine.book.values()) <= 2_000
        assert len(engine.book) <= 10
    # The latest tag's alert survived and still dedupes: one more post of it updates, not raises.
    again = engine.process([mkpost(10**6, T0 + timedelta(seconds=40 * per_tag), author="z", tags=["wave39"])])
    assert again.counts["alerts_new"] == 0
    assert {e.alert.alert_id for e in engine.book.values()} == set(engine.by_id)


def test_an_alert_waiting_to_be_stored_stays_in_the_book_over_the_key_budget() -> None:
    engine = AlertEngine(parse_config(BIG_TAGS), max_book=1000, max_book_post_keys=50)
    first = engine.process(_wave(0, 80))
    (alert,) = first.changed
    assert len(alert.post_keys) == 80 and alert.alert_id in engine.by_id  # over the budget, but not yet stored
    engine.stored([alert.alert_id])
    engine.notified([alert.alert_id])
    assert alert.alert_id not in engine.by_id  # settled now, and over the budget: it goes


def test_alerts_waiting_to_be_stored_do_not_push_settled_ones_out() -> None:
    """A store outage: unconfirmed alerts pile up past the key budget; the settled ones must stay (else every
    alert after the outage would be raised again)."""
    engine = AlertEngine(parse_config(BIG_TAGS), max_book=1000, max_book_post_keys=1_000)
    settled = []
    for t in range(3):
        result = engine.process(_wave(t, 200))
        engine.stored(a.alert_id for a in result.changed)
        engine.notified(a.alert_id for a in result.notify)
        settled += [a.alert_id for a in result.changed]
    for t in range(3, 8):
        engine.process(_wave(t, 200))  # never confirmed stored
    assert sum(len(e.alert.post_keys) for e in engine.book.values()) == 1_600  # over the budget, by the waiting
    assert set(settled) <= set(engine.by_id)


# --- the sweep (alerts DAG) -------------------------------------------------------------------------------


def test_sweep_writes_the_outbox_and_settles_what_was_delivered() -> None:
    from flockwatch.stages.alert_sweep import sweep
    from flockwatch.stages.index import post_document
    from tests.unit.alerts.test_engine import background

    game = [mkpost(10_000 + k, T0 + timedelta(minutes=60, seconds=6 * k), tags=["Game"]) for k in range(150)]
    store = InMemoryStore()
    for p in background(120) + game:
        store.posts.docs[p.key] = post_document(p)
    ok, down = Hook("ok"), Hook("down", fail=True)
    report = sweep(
        store,
        config(CONFIG + "retry: {attempts: 1}\n"),
        end=T0 + timedelta(hours=2),
        window=timedelta(hours=2),
        sinks=[ok, down],
    )
    assert report.alerts_new >= 1
    burst = next(d for d in store.alerts.docs.values() if d["entity"] == "hashtag:#game")
    assert ok.sent == [(burst["alert_id"], burst["severity"])]
    # the down sink's entry stays for a worker's outbox rescan; the delivered one is settled
    assert burst["outbox"] == [f"{burst['severity']}:down"]
    assert report.deliveries_failed == report.alerts_new


def test_slack_url_can_come_from_the_environment(slack_server: tuple[str, PostRecorder]) -> None:
    base, rec = slack_server
    (spec,) = parse_config("sinks:\n  - {type: slack, url_env: FW_SLACK_URL}\n").sinks
    assert spec.url is None and spec.name is not None and spec.name.startswith("slack-")
    with pytest.raises(ValueError, match="FW_SLACK_URL") as missing:
        build_sinks([spec], env={})
    with pytest.raises(ValueError, match="FW_SLACK_URL") as bad:
        build_sinks([spec], env={"FW_SLACK_URL": "hooks.slack.com/XXXXsecretXXXX"})
    assert "XXXXsecretXXXX" not in str(bad.value) + str(missing.value)
    (sink,) = build_sinks([spec], env={"FW_SLACK_URL": base + SLACK_PATH})
    deliver(make_alert(), [sink], FAST)
    assert len(rec.bodies) == 1  # it went to the URL from the environment
    with pytest.raises(ValueError, match="not both"):
        SinkSpec(type="slack", url=base, url_env="FW_SLACK_URL")


def test_one_deliverer_at_a_time_holds_an_outbox_entry() -> None:
    """A worker and a sweep reading the same outbox: the first to claim an entry sends it, the other skips it
    until the lease runs out; a recorded delivery releases the sink's claims."""
    from flockwatch.alerts.outbox import claim_change
    from flockwatch.store.alerts import apply_change, with_delivery

    now = datetime(2030, 1, 1, tzinfo=UTC)
    doc: dict[str, Any] = {"alert_id": "a", "outbox": ["high:slack", "high:mail"]}
    change, got = claim_change(doc, ["slack", "mail"], now, timedelta(seconds=30))
    assert got == ["slack", "mail"]
    doc = apply_change(doc, change)
    assert claim_change(doc, ["slack", "mail"], now + timedelta(seconds=10), timedelta(seconds=30)) == ({}, [])
    later = claim_change(doc, ["slack"], now + timedelta(seconds=31), timedelta(seconds=30))[1]
    assert later == ["slack"]  # the first deliverer died: its lease ran out
    doc = apply_change(doc, with_delivery(doc, {"sink": "slack", "ok": True}, ["high:slack"]))
    assert doc["outbox"] == ["high:mail"] and list(doc["outbox_claims"]) == ["high:mail"]
    # a delivery releases the claims it covers, not a higher one another deliverer holds on the same sink
    held = {"outbox": ["critical:mail"], "outbox_claims": {"critical:mail": (now + timedelta(minutes=1)).isoformat()}}
    assert (
        with_delivery(held, {"sink": "mail", "ok": False, "severity": "high"})["outbox_claims"] == held["outbox_claims"]
    )
    assert with_delivery(held, {"sink": "mail", "ok": False, "severity": "critical"})["outbox_claims"] is None
    assert claim_change({"outbox": []}, ["slack"], now, timedelta(seconds=30)) == ({}, [])  # delivered already


def test_a_second_writer_owes_no_delivery_already_made_and_never_winds_an_alert_back() -> None:
    """The stream and a sweep both escalate one alert: the second upsert does not owe the delivery the first
    made, nor lowers the count, severity or span the first wrote."""
    from flockwatch.store.alerts import merge_alert

    stored = {"alert_id": "a", "severity": "high", "post_count": 250, "first_seen": "2016-10-09T20:00:00Z",
              "last_seen": "2016-10-09T21:20:00Z",
              "deliveries": [{"sink": "hook", "ok": True, "severity": "high"}]}  # fmt: skip
    update = {"alert_id": "a", "severity": "high", "post_count": 225, "first_seen": "2016-10-09T20:05:00+00:00",
              "last_seen": "2016-10-09T21:10:00+00:00", "outbox": ["high:hook", "high:mail"]}  # fmt: skip
    merged = merge_alert(stored, update)
    assert merged["outbox"] == ["high:mail"]  # mail still owes it; hook delivered it already
    assert (merged["post_count"], merged["severity"]) == (250, "high")
    assert (merged["first_seen"], merged["last_seen"]) == ("2016-10-09T20:00:00Z", "2016-10-09T21:20:00Z")
    critical = merge_alert(stored, {**update, "severity": "critical", "outbox": ["critical:hook"]})
    assert critical["outbox"] == ["critical:hook"] and critical["severity"] == "critical"  # a new escalation is owed
    assert "outbox" not in merge_alert(stored, {**update, "outbox": ["medium:hook"]})
    # a writer with a stale, lower view does not take away what the stored outbox still owes
    owing = {**stored, "deliveries": [], "outbox": ["high:pager", "high:slack"]}
    stale = merge_alert(owing, {**update, "severity": "medium", "outbox": ["medium:slack"]})
    assert stale["outbox"] == ["high:pager", "high:slack"] and stale["severity"] == "high"
