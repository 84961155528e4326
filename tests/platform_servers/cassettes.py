"""A server that replays recorded interactions: Betamax cassettes (Reddit, JSON) and VCR cassettes (Mastodon,
YAML), whatever host they were recorded on.

A request matches an interaction by method, path (trailing ``/`` and ``.json`` ignored: real servers answer
both) and the query parameters that choose what is served (``after``, ``before``, ``max_id``, ``min_id``,
``local``...; not ``limit``, ``raw_json`` or ``sort``). Interactions that match the same request are served in
recorded order, the last one repeating. Anything unrecorded is a 404, as Betamax would refuse it. Recorded
``text/event-stream`` bodies are sent as chunked server-sent events, then held open with heartbeats.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from tests.platform_servers.http import PlatformServer, Request, Response

UNSELECTIVE = frozenset({"limit", "raw_json", "sort"})
# Headers that describe the recorded transfer, not the answer; the server sets its own.
_TRANSFER = frozenset({"content-length", "transfer-encoding", "content-encoding", "connection", "keep-alive", "date"})


def normal_path(path: str) -> str:
    path = path.rstrip("/") or "/"
    return path.removesuffix(".json")


def selective(query: dict[str, list[str]]) -> dict[str, list[str]]:
    return {k: sorted(v) for k, v in query.items() if k not in UNSELECTIVE}


@dataclass
class Interaction:
    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    source: str = ""

    @classmethod
    def of(
        cls, method: str, uri: str, status: int, headers: dict[str, Any], body: bytes, source: str = ""
    ) -> Interaction:
        parts = urlsplit(uri)
        flat = [
            (name, value)
            for name, values in headers.items()
            for value in (values if isinstance(values, list) else [values])
            if name.lower() not in _TRANSFER
        ]
        return cls(
            method.upper(), normal_path(parts.path), selective(parse_qs(parts.query)), status, flat, body, source
        )

    @property
    def is_stream(self) -> bool:
        return any(k.lower() == "content-type" and "text/event-stream" in v for k, v in self.headers)

    def json(self) -> Any:
        return json.loads(self.body)


def load_betamax(path: Path) -> list[Interaction]:
    """A Betamax cassette's interactions (body ``string`` or ``base64_string``)."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for item in doc["interactions"]:
        request, response = item["request"], item["response"]
        body = response["body"]
        raw = base64.b64decode(body["base64_string"]) if "base64_string" in body else body["string"].encode()
        out.append(
            Interaction.of(
                request["method"], request["uri"], response["status"]["code"], response["headers"], raw, path.name
            )
        )
    return out


def load_vcr(path: Path) -> list[Interaction]:
    """A VCR.py cassette's interactions."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = []
    for item in doc["interactions"]:
        request, response = item["request"], item["response"]
        body = response["body"]["string"]
        raw = body if isinstance(body, bytes) else str(body).encode()
        out.append(
            Interaction.of(
                request["method"], request["uri"], response["status"]["code"], response["headers"], raw, path.name
            )
        )
    return out


def sse_frames(body: bytes) -> list[bytes]:
    """A recorded event-stream body as frames: each comment line alone, each event with its blank line."""
    frames: list[bytes] = []
    block: list[bytes] = []
    for line in body.splitlines(keepends=True):
        if line.startswith(b":") and not block:
            frames.append(line if line.endswith(b"\n") else line + b"\n")
        elif line.strip():
            block.append(line if line.endswith(b"\n") else line + b"\n")
        elif block:
            frames.append(b"".join(block) + b"\n")
            block = []
    if block:
        frames.append(b"".join(block) + b"\n")
    return frames


@dataclass
class Cassettes:
    """The replaying answer: interactions by (method, path, selective query), each served in order."""

    interactions: list[Interaction] = field(default_factory=list)
    # How long a replayed event stream stays open after its recorded frames (heartbeats meanwhile).
    hold_s: float = 30.0
    heartbeat_s: float = 0.25
    served: dict[int, int] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)
    server: PlatformServer | None = None

    def add(self, *interactions: Interaction) -> None:
        self.interactions.extend(interactions)

    def serve_json(
        self, method: str, path: str, doc: Any, query: str = "", headers: dict[str, Any] | None = None
    ) -> None:
        """Serve ``doc`` at ``path`` (e.g. recorded statuses at a trends path)."""
        body = json.dumps(doc).encode()
        self.add(
            Interaction.of(method, f"http://any{path}{'?' + query if query else ''}", 200, headers or {}, body, "added")
        )

    def match(self, request: Request) -> Interaction | None:
        path, query = normal_path(request.path), selective(request.query)
        candidates = [
            (i, x)
            for i, x in enumerate(self.interactions)
            if x.method == request.method and x.path == path and x.query == query
        ]
        if not candidates:
            return None
        for index, interaction in candidates:
            if index not in self.served:
                self.served[index] = 1
                return interaction
        index, interaction = candidates[-1]
        self.served[index] += 1
        return interaction

    def __call__(self, request: Request) -> Response:
        interaction = self.match(request)
        if interaction is None:
            self.unmatched.append(f"{request.method} {request.target}")
            return Response(404, b'{"error":"Record not found"}', [("Content-Type", "application/json")])
        if interaction.is_stream:
            return Response(interaction.status, b"", interaction.headers, self._events(interaction))
        return Response(interaction.status, interaction.body, interaction.headers)

    def _events(self, interaction: Interaction) -> Iterator[bytes]:
        yield from sse_frames(interaction.body)
        until = time.monotonic() + self.hold_s
        while time.monotonic() < until and not (self.server is not None and self.server.stopping.is_set()):
            time.sleep(self.heartbeat_s)
            yield b":thump\n"


def reddit_cassettes(folder: Path) -> Cassettes:
    return Cassettes([i for path in sorted(folder.glob("*.json")) for i in load_betamax(path)])


def mastodon_cassettes(folder: Path) -> Cassettes:
    return Cassettes([i for path in sorted(folder.glob("*.yaml")) for i in load_vcr(path)])


def reddit_children(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Every listing child the Reddit cassettes hold, by cassette file, in served order (comment trees are
    left nested, as served)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(folder.glob("*.json")):
        for interaction in load_betamax(path):
            if interaction.method != "GET":
                continue
            doc = interaction.json()
            for listing in doc if isinstance(doc, list) else [doc]:
                out.setdefault(path.name, []).extend(listing["data"]["children"])
    return out


def mastodon_statuses(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Every Status entity the Mastodon cassettes hold (responses, lists, search and context results, stream
    events), by cassette file, as served (a reblog's status stays embedded)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(folder.glob("*.yaml")):
        for interaction in load_vcr(path):
            if interaction.is_stream:
                docs: list[Any] = []
                for frame in sse_frames(interaction.body):
                    lines = frame.decode().splitlines()
                    if lines and lines[0] == "event: update":
                        docs.append(json.loads("\n".join(line.removeprefix("data: ") for line in lines[1:])))
            else:
                try:
                    doc = interaction.json()
                except ValueError:
                    continue
                docs = doc if isinstance(doc, list) else [doc]
                if isinstance(doc, dict):
                    docs += [s for key in ("statuses", "ancestors", "descendants") for s in doc.get(key) or []]
            found = [d for d in docs if isinstance(d, dict) and "content" in d and "account" in d]
            out.setdefault(path.name, []).extend(found)
    return out
