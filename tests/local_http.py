"""Local servers for tests: any socketserver run from a thread, HTTP handlers, a static directory, a POST recorder."""

from __future__ import annotations

import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

S = TypeVar("S", bound=socketserver.BaseServer)


@contextmanager
def running(server: S) -> Iterator[S]:
    """Serve ``server`` (any socketserver: HTTP, SMTP...) from a thread until the block ends, then close it."""
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serving(handler: Any, host: str = "127.0.0.1") -> Iterator[ThreadingHTTPServer]:
    """``handler`` (a request handler class or factory) on an ephemeral port of ``host`` until the block ends."""
    with running(ThreadingHTTPServer((host, 0), handler)) as server:
        yield server


def url_of(server: ThreadingHTTPServer, path: str = "") -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


class QuietStaticHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def serve_directory(root: Path) -> Iterator[str]:
    """The files under ``root`` over HTTP; yields the base URL."""
    with serving(partial(QuietStaticHandler, directory=str(root))) as server:
        yield url_of(server)


class PostRecorder:
    """What a webhook-like endpoint received, and how it answers: ``statuses`` in order, the last one repeating."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.delay_s = 0.0

    @property
    def bodies(self) -> list[bytes]:
        return [body for _, body in self.requests]

    def handler(self) -> type[BaseHTTPRequestHandler]:
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                rec.requests.append((dict(self.headers.items()), body))
                time.sleep(rec.delay_s)
                status = rec.statuses[min(len(rec.requests), len(rec.statuses)) - 1]
                reply = b"" if status == 204 else b"ok"  # a 204 has no body
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@contextmanager
def recording_endpoint(statuses: list[int], path: str = "/hook") -> Iterator[tuple[str, PostRecorder]]:
    """A POST endpoint that records each request; yields its URL and the recorder."""
    rec = PostRecorder(statuses)
    with serving(rec.handler()) as server:
        yield url_of(server, path), rec
