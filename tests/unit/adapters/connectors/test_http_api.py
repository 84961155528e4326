"""The connectors' HTTP client against a local server that misbehaves on purpose.

Waits are recorded, not slept (``sleep=``), so the retry schedule itself is what is checked."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from flockwatch.adapters.connectors.http_api import ApiClient, ApiError, Refused
from tests.local_http import serving, url_of


class Script:
    """What the server answers, request by request (the last entry repeats)."""

    def __init__(self, *answers: dict[str, Any]) -> None:
        self.answers = list(answers)
        self.paths: list[str] = []

    def next(self) -> dict[str, Any]:
        index = min(len(self.paths) - 1, len(self.answers) - 1)
        return self.answers[index]


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script({"status": 200, "body": b"{}"})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            script.paths.append(self.path)
            answer = script.next()
            if answer.get("hang"):
                time.sleep(answer["hang"])
            body: bytes = answer.get("body", b"")
            self.send_response(answer.get("status", 200))
            for name, value in answer.get("headers", {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(answer.get("length", len(body))))
            self.end_headers()
            try:
                self.wfile.write(body)
                self.wfile.flush()
            except BrokenPipeError:  # the client gave up on a hanging answer, as it should
                return
            if "length" in answer:
                self.close_connection = True

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Handler) as httpd:
        yield url_of(httpd), script


def client(base: str, **kw: Any) -> tuple[ApiClient, list[float]]:
    slept: list[float] = []
    return ApiClient(endpoint=base, sleep=slept.append, timeout_s=kw.pop("timeout_s", 2.0), **kw), slept


def test_429_waits_what_retry_after_says(server: tuple[str, Script]) -> None:
    base, script = server
    script.answers = [{"status": 429, "headers": {"Retry-After": "7"}}, {"status": 200, "body": b'{"ok": 1}'}]
    api, slept = client(base)
    assert api.get_json(f"{base}/x") == {"ok": 1}
    assert slept == [7.0] and len(script.paths) == 2


def test_5xx_backs_off_with_jitter_then_succeeds(server: tuple[str, Script]) -> None:
    base, script = server
    script.answers = [{"status": 503}, {"status": 502}, {"status": 500}, {"status": 200, "body": b"[]"}]
    api, slept = client(base, backoff_base_s=1.0, backoff_cap_s=60.0)
    assert api.get_json(f"{base}/x") == []
    assert len(slept) == 3 and all(0 <= s <= 2**i for i, s in enumerate(slept))


def test_truncated_page_is_fetched_again(server: tuple[str, Script]) -> None:
    base, script = server
    script.answers = [{"status": 200, "body": b'{"half": ', "length": 40}, {"status": 200, "body": b'{"whole": 1}'}]
    api, _ = client(base)
    assert api.get_json(f"{base}/x") == {"whole": 1}
    assert len(script.paths) == 2


def test_a_hanging_server_times_out_and_is_retried(server: tuple[str, Script]) -> None:
    base, script = server
    script.answers = [{"hang": 1.5, "body": b"{}"}, {"status": 200, "body": b'{"late": 0}'}]
    api, _ = client(base, timeout_s=0.5)
    assert api.get_json(f"{base}/x") == {"late": 0}


def test_gives_up_after_the_attempt_budget(server: tuple[str, Script]) -> None:
    base, script = server
    script.answers = [{"status": 503}]
    api, slept = client(base, max_attempts=3)
    with pytest.raises(ApiError, match="gave up after 3 attempts; last: HTTP 503"):
        api.get_json(f"{base}/x")
    assert len(script.paths) == 3 and len(slept) == 3


def test_refusals_are_not_retried(server: tuple[str, Script]) -> None:
    base, script = server
    script.answers = [{"status": 404, "body": b"no such subreddit"}]
    api, slept = client(base)
    with pytest.raises(ApiError) as caught:
        api.get_json(f"{base}/x")
    assert caught.value.status == 404 and len(script.paths) == 1 and not slept


def test_a_spent_rate_limit_budget_delays_the_next_request(server: tuple[str, Script]) -> None:
    base, script = server
    script.answers = [
        {"status": 200, "body": b"{}", "headers": {"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": "30"}}
    ]
    api, slept = client(base)
    api.get_json(f"{base}/a")
    assert slept == []
    api.get_json(f"{base}/b")
    assert len(slept) == 1 and 29 < slept[0] <= 30


def test_redirects_inside_the_endpoint_are_followed(server: tuple[str, Script]) -> None:
    base, script = server
    script.answers = [{"status": 302, "headers": {"Location": "/moved"}}, {"status": 200, "body": b"{}"}]
    api, _ = client(base)
    response = api.request("GET", f"{base}/x")
    assert response.url == f"{base}/moved" and script.paths == ["/x", "/moved"]


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:1/other-port",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/",
        "file:///etc/passwd",
    ],
)
def test_redirects_off_the_endpoint_to_private_addresses_are_refused(server: tuple[str, Script], location: str) -> None:
    base, script = server
    script.answers = [{"status": 302, "headers": {"Location": location}}]
    api, _ = client(base)
    with pytest.raises(Refused):
        api.get_json(f"{base}/x")
    assert len(script.paths) == 1


def test_only_the_configured_endpoint_may_be_private(server: tuple[str, Script]) -> None:
    base, _ = server
    api, _ = client("https://api.example.org")
    with pytest.raises(Refused, match="loopback"):
        api.get_json(f"{base}/x")


def test_gzip_bodies_are_inflated_under_the_cap(server: tuple[str, Script]) -> None:
    base, script = server
    script.answers = [{"status": 200, "body": gzip.compress(b'{"a": 1}'), "headers": {"Content-Encoding": "gzip"}}]
    api, _ = client(base)
    assert api.get_json(f"{base}/x") == {"a": 1}
    bomb = gzip.compress(b"0" * (8 << 20))  # 8 MiB of zeros in about 8 KiB
    script.answers = [{"status": 200, "body": bomb, "headers": {"Content-Encoding": "gzip"}}]
    small, _ = client(base, max_body_bytes=1 << 20)
    with pytest.raises(ApiError, match="inflates past"):
        small.get_json(f"{base}/y")
