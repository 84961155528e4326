"""Bluesky through Jetstream: the firehose as JSON over a websocket, one event per text frame.

- **What is asked for.** ``/subscribe`` with ``wantedCollections`` (repeatable; default posts and reposts),
  ``wantedDids`` (repeatable), ``cursor`` (a ``time_us``, microseconds) and ``maxMessageSizeBytes``.
  Compression is off: no ``compress=true`` (Jetstream's zstd needs its dictionary) and no permessage-deflate;
  each frame is one plain JSON event, parsed once.
- **Where it connects.** Only to the configured endpoint (``--endpoint`` or ``Settings.jetstream_url``, ``ws://``
  or ``wss://``), which is trusted as given, loopback included. Redirects are refused: Jetstream never sends
  one, and following it would let a proxy in front of the endpoint send us anywhere.
- **Resuming.** The cursor is the highest ``time_us`` emitted so far. Jetstream's ``time_us`` is *not*
  monotonic in the order events are served (the recorded capture goes backwards 42 times in 151 steps: the
  relay's order, time stamps from parallel workers), so resuming at the last ``time_us`` would skip events that
  arrive after it with a smaller one. As Jetstream's own README advises, a reconnect (or a restart) asks from
  ``cursor - rewind_s`` and drops what it already emitted: events are identified by (did, time_us, kind,
  collection, rkey, operation), kept for the rewind window. Across a restart the in-memory set is gone; the
  replayed window is at-least-once there, which post keys make idempotent (FileSink skips keys it wrote).
- **Dropped connections** are retried with backoff and jitter (:func:`~flockwatch.collect.backoff.retry_delay`),
  from the latest cursor. A refusal that will not change (HTTP 4xx other than 408/429 on the handshake, a
  redirect) is an :class:`~flockwatch.adapters.connectors.http_api.ApiError`.
- **Ending.** A stream runs until the caller stops reading; with ``idle_timeout_s`` (one-shot ``--output``) it
  ends once that long passes without a new event. While idle it yields empty batches about once a second so
  the runner can notice a stop signal.
- **What is emitted.** Every frame becomes a ``bluesky_jetstream`` record for the replay normaliser; a frame
  that is not a JSON object becomes an unreadable record (``replay.payload.unreadable``), dead-lettered with
  its reason. Records are batched (up to ``BATCH_MAX`` or ``BATCH_WINDOW_S``), one cursor per batch.
"""

from __future__ import annotations

import hashlib
import logging
import random
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from flockwatch.adapters.connectors.base import Batch, raw_record
from flockwatch.adapters.connectors.http_api import ApiError
from flockwatch.collect.backoff import RETRY_STATUSES, retry_delay
from flockwatch.config import Settings
from flockwatch.replay import bluesky_jetstream
from flockwatch.replay.payload import READER_ERROR, loads_bounded, unreadable
from flockwatch.schema import RawRecord

log = logging.getLogger(__name__)

FORMAT = bluesky_jetstream.NAME
DEFAULT_COLLECTIONS = (bluesky_jetstream.POST, bluesky_jetstream.REPOST)
# Largest frame accepted. A post record is a few KB; Jetstream is asked not to send more
# (``maxMessageSizeBytes``), so an oversize event is left out by the server instead of closing our
# connection on every replay of it.
MAX_MESSAGE_BYTES = 2 * 1024 * 1024
BATCH_MAX = 500
BATCH_WINDOW_S = 0.2
# How far before its cursor a reconnect asks from (see the module docstring).
REWIND_S = 2.0
# A silent stream yields an empty batch this often, so the runner can check for a stop.
HEARTBEAT_S = 1.0
CONNECT_TIMEOUT_S = 10.0
USER_AGENT = "flockwatch-collector/0.1 (+https://github.com/flockwatch)"


def subscribe_url(
    endpoint: str, collections: list[str], dids: list[str], cursor: int | None, max_bytes: int = MAX_MESSAGE_BYTES
) -> str:
    """The ``/subscribe`` URL with the query Jetstream reads (the endpoint's own query kept)."""
    parts = urlsplit(endpoint)
    params: list[tuple[str, str]] = [("wantedCollections", c) for c in collections]
    params += [("wantedDids", d) for d in dids]
    if cursor is not None:
        params.append(("cursor", str(cursor)))
    params.append(("maxMessageSizeBytes", str(max_bytes)))
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/subscribe", query, ""))


def _time_us(event: dict[str, Any]) -> int | None:
    value = event.get("time_us")
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def event_identity(event: dict[str, Any], time_us: int | None) -> str:
    """What makes an event the same event when Jetstream serves it again (a replay from a rewound cursor)."""
    commit = event.get("commit")
    commit = commit if isinstance(commit, dict) else {}
    return "|".join(
        str(v)
        for v in (
            event.get("did"),
            time_us,
            event.get("kind"),
            commit.get("collection"),
            commit.get("rkey"),
            commit.get("operation"),
        )
    )


def _position(event: dict[str, Any], time_us: int | None) -> str:
    """The platform's id for the event: a commit's record URI, else the account and time."""
    did = event.get("did")
    commit = event.get("commit")
    if isinstance(did, str) and isinstance(commit, dict):
        collection, rkey = commit.get("collection"), commit.get("rkey")
        if isinstance(collection, str) and isinstance(rkey, str):
            return f"at://{did}/{collection}/{rkey}"
    return f"{did if isinstance(did, str) else '?'}@{time_us if time_us is not None else '?'}"


@dataclass(frozen=True)
class Received:
    """One frame as a record, with what deduplication and the cursor need."""

    record: RawRecord
    time_us: int | None
    identity: str


def frame_record(message: str | bytes, source_uri: str, collected_at: datetime | None = None) -> Received:
    """The raw record one Jetstream frame becomes; never raises (an unusable frame is an unreadable record)."""
    payload: Any
    try:
        text = message.decode("utf-8") if isinstance(message, bytes) else message
        payload = loads_bounded(text)
        if not isinstance(payload, dict):
            raise ValueError(f"not a JSON object but {type(payload).__name__}")
    except UnicodeDecodeError as exc:
        payload = unreadable(f"frame is not valid UTF-8 ({exc.reason} at byte {exc.start})", message)
    except ValueError as exc:
        payload = unreadable(f"frame is not a Jetstream event: {exc}", message)
    else:
        time_us = _time_us(payload)
        if time_us is not None:
            record = raw_record(
                FORMAT,
                source_uri,
                _position(payload, time_us),
                payload,
                event_time=bluesky_jetstream.event_time(payload),
                collected_at=collected_at,
            )
            return Received(record, time_us, event_identity(payload, time_us))
    # No time to tell it by: the frame's bytes identify it (a replay sends the same bytes).
    digest = hashlib.sha256(message if isinstance(message, bytes) else message.encode("utf-8", "replace")).hexdigest()
    position = f"unreadable:{digest[:16]}" if READER_ERROR in payload else _position(payload, None)
    record = raw_record(FORMAT, source_uri, position, payload, collected_at=collected_at)
    return Received(record, None, f"frame:{digest}")


@dataclass
class Emitted:
    """The events already emitted in the rewind window, and the highest ``time_us`` (the cursor)."""

    window_us: int
    high: int | None = None
    seen: dict[str, int] = field(default_factory=dict)
    # Forgetting starts past this many remembered events (and past twice what survived the last pruning).
    min_prune: int = 10_000
    _prune_at: int = 0

    def __post_init__(self) -> None:
        self._prune_at = self.min_prune

    def admit(self, received: Received) -> bool:
        """Whether ``received`` is new (and remember it)."""
        if received.identity in self.seen:
            return False
        at = received.time_us if received.time_us is not None else (self.high or 0)
        self.seen[received.identity] = at
        if received.time_us is not None and (self.high is None or received.time_us > self.high):
            self.high = received.time_us
        if len(self.seen) > self._prune_at:
            self._prune()
        return True

    def _prune(self) -> None:
        # Kept: twice the window below the cursor, so a replay from ``high - window`` still finds them.
        floor = (self.high or 0) - 2 * self.window_us
        self.seen = {k: t for k, t in self.seen.items() if t >= floor}
        self._prune_at = max(self.min_prune, 2 * len(self.seen))


class _Permanent(ApiError):
    pass


@dataclass
class JetstreamConnector:
    """One Jetstream subscription (collections and DIDs), streamed into batches."""

    endpoint: str
    collections: list[str]
    dids: list[str]
    start_cursor: int | None = None
    idle_timeout_s: float | None = None
    rewind_s: float = REWIND_S
    batch_max: int = BATCH_MAX
    batch_window_s: float = BATCH_WINDOW_S
    max_message_bytes: int = MAX_MESSAGE_BYTES
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    source: str = "bluesky"
    streaming: bool = True
    # Connections opened (every reconnect counts), for tests and logs.
    connections: int = 0

    @property
    def cursor_key(self) -> str:
        target = "jetstream/" + ",".join(sorted(self.collections))
        if self.dids:
            listed = ",".join(sorted(self.dids))
            target += "/" + (listed if len(listed) <= 200 else hashlib.sha256(listed.encode()).hexdigest()[:16])
        return f"{self.source}:{target}"

    @property
    def source_uri(self) -> str:
        parts = urlsplit(self.endpoint)
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))

    def batches(self, cursor: str | None) -> Iterator[Batch]:
        emitted = Emitted(window_us=int(self.rewind_s * 1_000_000))
        resume = self._resume_from(cursor)
        attempt = 0
        connected_once = False
        last_error = ""
        last_new = time.monotonic()
        while True:
            try:
                ws = self._open(resume)
            except _Permanent:
                raise
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                log.warning("jetstream %s: cannot connect (%s)", self.source_uri, last_error)
            else:
                connected_once = True
                with ws:
                    for batch, new in self._read(ws, emitted, last_new):
                        if new:
                            last_new = time.monotonic()
                            attempt = 0
                        yield batch
                    if self._idle(last_new):
                        return
                last_error = (
                    f"connection closed (code {ws.close_code}{': ' + ws.close_reason if ws.close_reason else ''})"
                )
                log.warning("jetstream %s: %s; reconnecting", self.source_uri, last_error)
            if emitted.high is not None:
                resume = emitted.high - emitted.window_us
            wait = retry_delay(attempt, self.backoff_base_s, self.backoff_cap_s, self.rng)
            attempt += 1
            yield from self._wait(wait, last_new)
            if self._idle(last_new):
                if not connected_once:
                    raise ApiError(f"{self.source_uri}: no connection within {self.idle_timeout_s:g} s ({last_error})")
                return

    def _resume_from(self, cursor: str | None) -> int | None:
        if cursor is None:
            return self.start_cursor
        try:
            value = int(cursor)
        except ValueError:
            raise ApiError(f"saved Jetstream cursor {cursor!r} is not a time_us; remove it to start over") from None
        return max(0, value - int(self.rewind_s * 1_000_000))

    def _idle(self, last_new: float) -> bool:
        return self.idle_timeout_s is not None and time.monotonic() - last_new >= self.idle_timeout_s

    def _wait(self, seconds: float, last_new: float) -> Iterator[Batch]:
        """Sleep ``seconds`` (at most until the idle timeout) in slices, yielding an empty batch between them so a
        stop can come in between."""
        if self.idle_timeout_s is not None:
            seconds = min(seconds, self.idle_timeout_s - (time.monotonic() - last_new))
        while seconds > 0:
            step = min(seconds, HEARTBEAT_S)
            self.sleep(step)
            seconds -= step
            if seconds > 0:
                yield Batch([])

    def _open(self, resume: int | None) -> ClientConnection:
        """A websocket to the endpoint over a socket we opened (so no redirect is ever followed)."""
        url = subscribe_url(self.endpoint, self.collections, self.dids, resume, self.max_message_bytes)
        parts = urlsplit(url)
        secure = parts.scheme == "wss"
        host = parts.hostname or ""
        sock = socket.create_connection((host, parts.port or (443 if secure else 80)), timeout=CONNECT_TIMEOUT_S)
        self.connections += 1
        try:
            return connect(
                url,
                sock=sock,
                ssl=ssl.create_default_context() if secure else None,
                server_hostname=host if secure else None,
                compression=None,
                max_size=self.max_message_bytes,
                open_timeout=CONNECT_TIMEOUT_S,
                user_agent_header=USER_AGENT,
                close_timeout=2,
            )
        except InvalidStatus as exc:
            sock.close()
            status = exc.response.status_code
            if status in RETRY_STATUSES:
                raise
            raise _Permanent(f"{self.source_uri}: handshake refused with HTTP {status}", status) from None
        except ValueError as exc:  # websockets will not follow a redirect over a socket it did not open
            sock.close()
            cause = exc.__cause__
            if isinstance(cause, InvalidStatus):
                where = cause.response.headers.get("Location", "?")
                raise _Permanent(
                    f"{self.source_uri}: redirected to {where}; redirects are not followed", cause.response.status_code
                ) from None
            raise _Permanent(f"{self.source_uri}: {exc}") from None
        except ssl.SSLCertVerificationError as exc:
            sock.close()
            raise _Permanent(f"{self.source_uri}: TLS certificate refused: {exc}") from None
        except BaseException:
            sock.close()
            raise

    def _read(self, ws: ClientConnection, emitted: Emitted, last_new: float) -> Iterator[tuple[Batch, bool]]:
        """Batches from one connection until it closes (or the stream has been idle too long).

        Yields (batch, whether it held a new event)."""
        uri = self.source_uri
        records: list[RawRecord] = []
        opened = 0.0
        quiet_since = time.monotonic()
        while True:
            now = time.monotonic()
            if records:
                timeout = max(0.0, opened + self.batch_window_s - now)
            else:
                timeout = max(0.0, quiet_since + HEARTBEAT_S - now)
                if self.idle_timeout_s is not None:
                    timeout = min(timeout, max(0.0, last_new + self.idle_timeout_s - now))
            try:
                message = ws.recv(timeout=timeout)
            except TimeoutError:
                if records:
                    yield self._batch(records, emitted), True
                    records = []
                    last_new = quiet_since = time.monotonic()
                elif self._idle(last_new):
                    return
                else:
                    yield Batch([]), False
                    quiet_since = time.monotonic()
                continue
            except ConnectionClosed:
                if records:
                    yield self._batch(records, emitted), True
                return
            received = frame_record(message, uri)
            if not emitted.admit(received):
                continue
            if not records:
                opened = time.monotonic()
            records.append(received.record)
            if len(records) >= self.batch_max or time.monotonic() - opened >= self.batch_window_s:
                yield self._batch(records, emitted), True
                records = []
                last_new = quiet_since = time.monotonic()

    @staticmethod
    def _batch(records: list[RawRecord], emitted: Emitted) -> Batch:
        return Batch(records, None if emitted.high is None else str(emitted.high))


def jetstream_connector(
    settings: Settings,
    *,
    endpoint: str | None,
    collections: list[str],
    dids: list[str],
    start_cursor: int | None,
    idle_timeout_s: float | None,
) -> JetstreamConnector:
    """The Jetstream connector for ``collect bluesky``; raises ``ValueError`` for an unusable endpoint."""
    url = (endpoint or settings.jetstream_url).strip()
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"Jetstream endpoint must be a ws:// or wss:// URL, got {url!r}")
    if parts.username is not None or parts.password is not None:
        raise ValueError("Jetstream endpoint must not carry credentials")
    if start_cursor is not None and start_cursor < 0:
        raise ValueError(f"cursor must be a time_us (microseconds since 1970), got {start_cursor}")
    if idle_timeout_s is not None and idle_timeout_s <= 0:
        raise ValueError(f"idle timeout must be positive, got {idle_timeout_s}")
    return JetstreamConnector(
        endpoint=url,
        collections=list(dict.fromkeys(collections)) or list(DEFAULT_COLLECTIONS),
        dids=list(dict.fromkeys(dids)),
        start_cursor=start_cursor,
        idle_timeout_s=idle_timeout_s,
    )
