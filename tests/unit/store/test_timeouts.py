"""A frozen store (accepts connections, answers nothing) is noticed after the first timeout, each timeout in a row
waits twice as long up to the ceiling, and an answer resets it (flockwatch.store.timeouts), through either
engine's client."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from flockwatch.config import Settings
from flockwatch.store import open_engine
from flockwatch.store.documents import IndexKind, StoreUnavailable, Upsert
from flockwatch.store.engines.rest import RestEngine
from flockwatch.store.timeouts import BackoffTimeout, body_allowance_s
from tests.local_http import serving


def test_backoff_doubles_to_the_ceiling_and_an_answer_resets_it() -> None:
    backoff = BackoffTimeout(0.5, 3.0)
    waits = []
    for _ in range(5):
        waits.append(backoff.current_s)
        backoff.timed_out()
    assert waits == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.answered()
    assert backoff.current_s == 0.5
    with pytest.raises(ValueError):
        BackoffTimeout(2.0, 1.0)


class FreezableStore:
    """An HTTP endpoint that answers _bulk and _count like the store, or, while frozen, holds every request."""

    def __init__(self) -> None:
        self.thawed = threading.Event()
        self.thawed.set()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        store = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, doc: dict[str, Any]) -> None:
                store.thawed.wait(30)
                data = json.dumps(doc).encode()
                # The client may have given up while we were frozen.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("X-Elastic-Product", "Elasticsearch")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == "/":  # who the server is, asked by the OpenSearch client first
                    self._reply({"version": {"distribution": "opensearch", "number": "2.19.1"}})
                elif "_bulk" in self.path:
                    ids = [json.loads(line)["update"]["_id"] for line in body.splitlines()[::2]]
                    items = [{"update": {"_id": i, "status": 200, "result": "updated"}} for i in ids]
                    self._reply({"took": 1, "errors": False, "items": items})
                else:
                    self._reply({"count": 0})

            do_GET = do_POST

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


def rest_engine(settings: Settings) -> RestEngine:
    engine = open_engine(settings)
    assert isinstance(engine, RestEngine)
    return engine


@pytest.fixture(params=["opensearch", "elasticsearch"])
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def freezable() -> Iterator[tuple[FreezableStore, int]]:
    fake = FreezableStore()
    with serving(fake.handler()) as server:
        yield fake, server.server_address[1]
    fake.thawed.set()


def timed(call: Any) -> float:
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        call()
    return time.monotonic() - started


def test_frozen_store_is_noticed_after_the_first_timeout_then_waits_longer(
    freezable: tuple[FreezableStore, int], engine_name: str
) -> None:
    fake, port = freezable
    settings = Settings(store_engine=engine_name, store_port=port, store_timeout_s=0.5, store_max_timeout_s=2.0)
    engine = rest_engine(settings)
    batch = [Upsert(IndexKind.accounts, "twitter:1", {"handle": "a"})]
    assert engine.bulk_upsert(batch).written == 1
    fake.thawed.clear()
    waits = [timed(lambda: engine.bulk_upsert(batch)) for _ in range(4)]
    print("frozen store: waits " + ", ".join(f"{w:.2f} s" for w in waits))
    for got, want in zip(waits, [0.5, 1.0, 2.0, 2.0], strict=True):
        assert want <= got < want + 0.5, waits
    fake.thawed.set()
    assert engine.bulk_upsert(batch).written == 1
    assert engine.timeouts.current_s == 0.5  # the answer reset the wait


def test_default_first_timeout_is_seconds_not_half_a_minute(
    freezable: tuple[FreezableStore, int], engine_name: str
) -> None:
    fake, port = freezable
    settings = Settings(store_engine=engine_name, store_port=port)
    fake.thawed.clear()
    noticed = timed(lambda: open_engine(settings).count(IndexKind.posts))
    print(f"frozen store noticed after {noticed:.1f} s with the default settings")
    assert settings.store_timeout_s <= noticed < settings.store_timeout_s + 1 and noticed < 10


def test_an_explicit_request_timeout_is_kept(freezable: tuple[FreezableStore, int], engine_name: str) -> None:
    fake, port = freezable
    engine = rest_engine(Settings(store_engine=engine_name, store_port=port, store_timeout_s=5.0))
    fake.thawed.clear()
    started = time.monotonic()
    assert not engine.healthy(timeout_s=0.3)
    assert time.monotonic() - started < 2 and engine.timeouts.current_s == 5.0  # neither longer nor counted


def test_a_listener_that_never_accepts_is_a_timeout_too() -> None:
    """The kernel completes the handshake for a listening socket nobody accepts from: the bare frozen case."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        engine = open_engine(Settings(store_port=sock.getsockname()[1], store_timeout_s=0.5))
        assert 0.5 <= timed(lambda: engine.count(IndexKind.posts)) < 1.5


def test_a_big_bulk_gets_time_for_its_size_and_a_read_does_not(
    freezable: tuple[FreezableStore, int], engine_name: str
) -> None:
    fake, port = freezable
    settings = Settings(store_engine=engine_name, store_port=port, store_timeout_s=0.5, store_max_timeout_s=0.5)
    engine = open_engine(settings)
    big = [Upsert(IndexKind.posts, f"twitter:{i}", {"text": "x" * 200_000}) for i in range(10)]  # ~2 MB
    allowance = body_allowance_s("x" * 2_000_000)
    fake.thawed.clear()
    read = timed(lambda: engine.count(IndexKind.posts))
    write = timed(lambda: engine.bulk_upsert(big))
    print(f"frozen store: a read gave up after {read:.2f} s, a 2 MB bulk after {write:.2f} s")
    assert 0.5 <= read < 1.0, read
    assert 0.5 + allowance <= write < 1.0 + allowance + 0.5, (write, allowance)
