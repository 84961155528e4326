"""At-least-once alert delivery across a kill -9, and the Slack webhook URL kept out of logs and the store.

`flockwatch worker alerts` runs as a real subprocess against the real broker and store (a scratch
namespace). The local webhook server stalls the first request it gets, which makes "the alert is stored
and its offsets committed, but the sink has not acknowledged" a moment the test can wait for; the worker
is SIGKILLed there, restarted, and the webhook must then receive the alert, once the killed worker's claim on
the outbox entry (held for the longest its deliveries could take) has lapsed, and not before.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from flockwatch.adapters.kafka_bus import group_lag, make_producer
from flockwatch.alerts.delivery import SIGNATURE_HEADER, TIMESTAMP_HEADER, delivery_budget, verify_signature
from flockwatch.alerts.engine import alert_id
from flockwatch.alerts.rules import RetryPolicy
from flockwatch.config import Settings
from flockwatch.schema import Author, Post, SourceRef
from flockwatch.stages.alerts import INPUTS as ALERT_INPUTS
from flockwatch.store import open_store
from flockwatch.store.documents import IndexKind
from flockwatch.topics import Topic, topic_name
from flockwatch.workers import group_id
from tests.namespace_env import namespace_env

pytestmark = [pytest.mark.integration, pytest.mark.store, pytest.mark.store_long]

KEY = "outbox-test-hmac-key"
SLACK_PATH = "/hooks.slack.com/services/T0000/B0000/XXXXsecretXXXX"
SECRETS = ("hooks.slack.com", "XXXXsecretXXXX")
FLOCKWATCH = Path(sys.executable).with_name("flockwatch")


@dataclass
class Hooks:
    url: str
    release: threading.Event = field(default_factory=threading.Event)
    stalled: threading.Event = field(default_factory=threading.Event)
    acked: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    slack_calls: int = 0


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    """POST /hook: the first request hangs until released (never answered), later ones get 204.
    POST <SLACK_PATH>: 404 (a refused Slack webhook: a permanent failure the worker logs)."""
    state = Hooks("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == SLACK_PATH:
                state.slack_calls += 1
                self.send_response(404)
            elif not state.stalled.is_set():
                state.stalled.set()
                state.release.wait(120)
                self.close_connection = True
                return
            else:
                state.acked.append((dict(self.headers.items()), body))
                self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()


def wait_for(cond: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")


def test_kill_9_after_the_store_upsert_still_delivers_and_no_secret_is_written(
    settings: Settings, hooks: Hooks, tmp_path: Path
) -> None:
    config = tmp_path / "alerts.yaml"
    config.write_text(
        f"""
rules:
  - name: every-post
    scope: post
    group_by: author
    when: {{not: {{signal: has_media}}}}
    severity: high
sinks:
  - {{type: slack, url: "{hooks.url}{SLACK_PATH}"}}
  - {{type: webhook, name: hook, url: "{hooks.url}/hook", secret_env: HOOK_KEY}}
retry: {{attempts: 1, timeout: 20s, outbox_rescan: 2s}}
"""
    )
    env = namespace_env(settings, {"FLOCKWATCH_ALERTS_CONFIG": str(config), "HOOK_KEY": KEY, "PYTHONUNBUFFERED": "1"})
    logs = [tmp_path / "worker1.log", tmp_path / "worker2.log"]

    def start(log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            return subprocess.Popen([str(FLOCKWATCH), "worker", "alerts"], env=env, stdout=out, stderr=out)

    post = Post(
        platform="twitter",
        platform_id="outbox-1",
        author=Author(id="a1", handle="someone"),
        text="a post that raises an alert",
        created_at=datetime(2016, 10, 9, 20, tzinfo=UTC),
        source=SourceRef(format="test", uri="mem://"),
    )
    producer = make_producer(settings)
    try:
        producer.send(topic_name(settings.topic_prefix, Topic.normalized), value=post.to_bytes()).get(30)
    finally:
        producer.close()
    group = group_id(settings, "alerts")
    aid = alert_id("every-post", "author:twitter:a1", post.key)
    store = open_store(settings)

    t0 = time.monotonic()
    first = start(logs[0])
    try:
        # the webhook has the first request: the alert (with its outbox) was upserted before it was submitted
        assert hooks.stalled.wait(120), logs[0].read_text()
        stored = store.alerts.get(aid)
        assert stored is not None and stored.get("outbox") == ["high:hook"], stored  # slack settled (a 404)
        # ... and the batch's offset is committed: without the outbox this alert would now be lost for good
        wait_for(lambda: group_lag(settings, group, ALERT_INPUTS) == 0, 30, "the alerts worker's commit")
        first.send_signal(signal.SIGKILL)
        assert first.wait(30) == -signal.SIGKILL
        killed = time.monotonic()
    finally:
        if first.poll() is None:
            first.kill()
    hooks.release.set()
    assert not hooks.acked

    claim = delivery_budget(RetryPolicy(attempts=1, timeout=timedelta(seconds=20)), 2).total_seconds()
    second = start(logs[1])
    try:
        wait_for(lambda: hooks.acked, claim + 90, "the restarted worker to deliver from the outbox")
        after = time.monotonic() - killed
        print(
            f"killed {killed - t0:.1f}s after the first start; delivered {after:.1f}s after (claim held {claim:.0f}s)"
        )
        assert after >= claim - (killed - t0)  # not while the dead worker's claim held
        wait_for(lambda: "outbox" not in (store.alerts.get(aid) or {"outbox": 1}), 30, "the outbox entry to be settled")
    finally:
        # a graceful stop would wait out the killed member's session (another item of issue 15): not tested here
        second.kill()
        second.wait(30)
    ((headers, body),) = hooks.acked
    assert verify_signature(KEY.encode(), body, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER])
    assert json.loads(body)["alert_id"] == aid
    final = store.alerts.get(aid)
    assert final is not None
    outcome = {d["sink"]: d for d in final["deliveries"]}
    assert outcome["hook"]["ok"] and outcome["hook"]["attempts"] == 1
    (slack_name,) = [n for n in outcome if n != "hook"]
    assert not outcome[slack_name]["ok"] and outcome[slack_name]["error"] == "HTTP 404"
    assert hooks.slack_calls == 1  # refused for good: settled, not retried after the restart

    # The Slack URL (itself the secret) is in no log and nowhere in the index.
    text = "".join(log.read_text(errors="replace") for log in logs)
    assert f"sink {slack_name} failed" in text  # the failure was logged: the grep below is not vacuous
    store.engine.refresh(IndexKind.alerts)
    indexed = json.dumps(store.engine.search(IndexKind.alerts, {"match_all": {}}, size=100))
    assert aid in indexed
    for secret in SECRETS:
        assert secret not in text, secret
        assert secret not in indexed, secret
