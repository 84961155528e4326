"""The HTTP side shared by the platform servers: routing to ``answer``, a request log, faults, chunked SSE."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.local_http import running


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def target(self) -> str:
        return self.path + (
            "?" + "&".join(f"{k}={v}" for k, vs in sorted(self.query.items()) for v in vs) if self.query else ""
        )


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    # Server-sent events: frames written as chunks while the iterator runs (``None``: a plain response).
    events: Iterator[bytes] | None = None


@dataclass
class Faults:
    """Misbehaviour for the next requests, one entry per request in order: ``"429"`` (with ``Retry-After``),
    ``"503"``, ``"truncate"`` (the real answer cut in half, its full length promised), ``"hang"`` (the real answer
    after ``hang_s``), ``"redirect:URL"`` (302 to URL), ``"drop"`` (an event stream cut off after
    ``drop_after`` events, mid-frame, without the closing chunk). ``only`` limits faults to paths containing it."""

    queue: list[str] = field(default_factory=list)
    retry_after: str = "3"
    hang_s: float = 2.0
    drop_after: int = 1
    only: str = ""

    def take(self, path: str) -> str | None:
        if self.queue and self.only in path:
            return self.queue.pop(0)
        return None


class PlatformServer(ThreadingHTTPServer):
    """A local server whose ``answer(request)`` (set by a platform) makes each response."""

    daemon_threads = True

    def __init__(self, answer: Any) -> None:
        super().__init__(("127.0.0.1", 0), PlatformHandler)
        self.answer = answer
        self.faults = Faults()
        self.requests: list[Request] = []
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def paths(self, contains: str = "") -> list[str]:
        return [r.target for r in self.requests if contains in r.path]


class PlatformHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: PlatformServer

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def log_message(self, *args: Any) -> None:
        pass

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(method, parts.path, parse_qs(parts.query), dict(self.headers.items()), body)
        self.server.requests.append(request)
        self.close_connection = True
        fault = self.server.faults.take(parts.path)
        if fault == "429":
            self._send(
                Response(429, b'{"error": "Too Many Requests"}', [("Retry-After", self.server.faults.retry_after)])
            )
            return
        if fault == "503":
            self._send(Response(503, b"<html>Service Unavailable</html>"))
            return
        if fault is not None and fault.startswith("redirect:"):
            self._send(Response(302, b"", [("Location", fault.removeprefix("redirect:"))]))
            return
        if fault == "hang":
            time.sleep(self.server.faults.hang_s)
        response = self.server.answer(request)
        try:
            if response.events is not None:
                self._stream(response, drop=fault == "drop")
            elif fault == "truncate":
                self._send(response, cut=max(1, len(response.body) // 2))
            else:
                self._send(response)
        except (BrokenPipeError, ConnectionResetError):  # the client went away (killed, or gave up on a hang)
            return

    def _send(self, response: Response, cut: int | None = None) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(response.body if cut is None else response.body[:cut])
        self.wfile.flush()

    def _stream(self, response: Response, drop: bool) -> None:
        assert response.events is not None
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        sent = 0
        for frame in response.events:
            if self.server.stopping.is_set():
                break
            if drop and sent >= self.server.faults.drop_after and frame.startswith(b"event:"):
                half = frame[: len(frame) // 2]
                self.wfile.write(f"{len(frame):x}\r\n".encode() + half)  # promised a whole frame, sent half
                self.wfile.flush()
                return
            self.wfile.write(f"{len(frame):x}\r\n".encode() + frame + b"\r\n")
            self.wfile.flush()
            sent += frame.startswith(b"event:")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


@contextmanager
def serve(answer: Any) -> Iterator[PlatformServer]:
    """A :class:`PlatformServer` answering with ``answer`` until the block ends."""
    server = PlatformServer(answer)
    with running(server):
        try:
            yield server
        finally:
            server.stopping.set()  # open event streams end at their next frame


def json_response(body: bytes, headers: list[tuple[str, str]] | None = None, status: int = 200) -> Response:
    return Response(status, body, [("Content-Type", "application/json; charset=utf-8"), *(headers or [])])
