"""A local Jetstream for tests: ``/subscribe`` over a real websocket, serving recorded events.

It speaks what the connector relies on, as Jetstream does: ``cursor`` (events with ``time_us >= cursor``, in the
recorded order), ``wantedCollections`` (commit events of those collections; ``identity``/``account`` events
always pass), ``wantedDids`` and ``maxMessageSizeBytes``. Knobs make it misbehave like a real server can: drop
the connection (no close frame) after K events, pace events, then stay open and silent (a firehose with nothing
new) or close.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

RECORDED = Path("connectors/bluesky_jetstream/expected_v1.jsonl")


def recorded_lines(data_dir: Path) -> list[str]:
    """The recorded events, one JSON text per event, exactly as Jetstream sent them."""
    return [line for line in (data_dir / RECORDED).read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass
class Jetstream:
    """What to serve and how.

    ``refuse``: the first handshakes are answered with these HTTP statuses (``[503, 429]``), then accepted.
    ``drops[i]``: connection ``i`` is cut (no close frame) after that many frames, or at its end if it has fewer;
    connections past the list are not cut.
    ``events_per_s``: pace. ``live``: the events are *published* at that pace from the first connection on, and a
    subscription without a cursor gets only what is published after it connects (the live tail); one with a
    cursor first gets the published events with ``time_us >= cursor``, then the live tail. Without ``live``
    every subscription gets every event with ``time_us >= cursor`` (all without a cursor), paced.
    ``then``: once everything is sent, stay open and silent (``idle``, a firehose with nothing new) or close.
    """

    lines: list[str]
    drops: list[int] = field(default_factory=list)
    events_per_s: float | None = None
    live: bool = False
    then: Literal["idle", "close"] = "idle"
    refuse: list[int] = field(default_factory=list)
    # Frames served as they are after the events (not JSON, not an object...).
    extra_frames: list[str | bytes] = field(default_factory=list)
    # What each connection asked for (its query), in order, and how many frames each one got.
    queries: list[dict[str, list[str]]] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    _events: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _started: float | None = None

    def __post_init__(self) -> None:
        self._events = [json.loads(line) for line in self.lines]
        if self.live and not self.events_per_s:
            raise ValueError("a live stream needs events_per_s (its publication pace)")

    def wanted(self, index: int, query: dict[str, list[str]], *, replay: bool = True) -> bool:
        """Whether event ``index`` goes to a subscription with ``query`` (the cursor applies to replays)."""
        event, line = self._events[index], self.lines[index]
        collections = set(query.get("wantedCollections", []))
        dids = set(query.get("wantedDids", []))
        limit = int(query["maxMessageSizeBytes"][0]) if query.get("maxMessageSizeBytes") else 0
        if replay and query.get("cursor") and event["time_us"] < int(query["cursor"][0]):
            return False
        if dids and event.get("did") not in dids:
            return False
        if collections and event.get("kind") == "commit" and event["commit"]["collection"] not in collections:
            return False
        return not (limit > 0 and len(line.encode()) > limit)

    def selected(self, query: dict[str, list[str]]) -> list[str]:
        """The lines a (not live) subscription with ``query`` receives, in order."""
        return [self.lines[i] for i in range(len(self.lines)) if self.wanted(i, query)]

    def _published(self) -> int:
        assert self._started is not None and self.events_per_s
        return min(len(self.lines), int((time.monotonic() - self._started) * self.events_per_s))

    def _frames(self, query: dict[str, list[str]]) -> Iterator[str | bytes]:
        if not self.live:
            for line in self.selected(query):
                if self.events_per_s:
                    time.sleep(1.0 / self.events_per_s)
                yield line
        else:
            head = self._published()
            if query.get("cursor"):
                yield from (self.lines[i] for i in range(head) if self.wanted(i, query))
            for i in range(head, len(self.lines)):
                while self._published() <= i and not self.stopping.is_set():
                    time.sleep(0.005)
                if self.wanted(i, query, replay=False):
                    yield self.lines[i]
        yield from self.extra_frames

    def handler(self, ws: ServerConnection) -> None:
        query = parse_qs(urlsplit(ws.request.path if ws.request else "").query)
        with self._lock:
            number = len(self.queries)
            self.queries.append(query)
            self.sent.append(0)
            if self._started is None:
                self._started = time.monotonic()
        drop_after = self.drops[number] if number < len(self.drops) else None
        try:
            for frame in self._frames(query):
                if drop_after is not None and self.sent[number] >= drop_after:
                    break
                if self.stopping.is_set():
                    return
                ws.send(frame)
                self.sent[number] += 1
            if drop_after is not None:
                ws.close_socket()  # a dropped connection: no close frame
                return
            if self.then == "close":
                ws.close()
                return
            while not self.stopping.is_set():  # open and silent, as a firehose with nothing new
                try:
                    ws.recv(timeout=0.2)
                except TimeoutError:
                    continue
        except ConnectionClosed:
            return


def _answer(status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(status, "", Headers({"Content-Length": "0", **(headers or {})}), b"")


@contextmanager
def jetstream_server(stream: Jetstream) -> Iterator[str]:
    """``stream`` on an ephemeral loopback port until the block ends; yields the ``ws://.../subscribe`` URL."""
    refusals = list(stream.refuse)

    def process_request(_ws: ServerConnection, request: Request) -> Response | None:
        if urlsplit(request.path).path != "/subscribe":
            return _answer(404)
        if refusals:
            status = refusals.pop(0)
            # A redirect points at a private address: what a hijacked endpoint would do.
            where = {"Location": "ws://10.0.0.1/subscribe"} if 300 <= status < 400 else {"Retry-After": "0"}
            return _answer(status, where)
        return None

    server: Server = serve(stream.handler, "127.0.0.1", 0, process_request=process_request, compression=None)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}/subscribe"
    finally:
        stream.stopping.set()
        server.shutdown()
        thread.join(timeout=5)
