"""The HTTP client every pull connector uses: platform APIs asked politely and safely.

- **Where it may connect.** The configured endpoint (``--endpoint``, an instance URL, a feed) is trusted as
  given, loopback and private addresses included: the operator chose it. Every *other* origin, and every
  redirect hop, goes through the media fetcher's address rules (:func:`flockwatch.adapters.media_fetch.
  connect_checked`): a public API that redirects to ``169.254.169.254`` or ``127.0.0.1`` is refused.
- **How it retries.** Connection failures, timeouts, truncated bodies and 408/429/5xx are retried with
  backoff and jitter (:mod:`flockwatch.collect.backoff`); ``Retry-After`` and spent rate-limit budgets
  (``X-Ratelimit-Remaining: 0``) are honoured before the next request, not after the next refusal.
- **What it reads.** Bodies are capped (``max_body_bytes``); gzip bodies are inflated under the same cap.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import random
import socket
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from flockwatch.adapters.media_fetch import (
    DEFAULT_POLICY,
    Deadline,
    FetchPolicy,
    Target,
    connect_checked,
    parse_url,
)
from flockwatch.collect.backoff import MAX_SERVER_WAIT_S, RETRY_STATUSES, retry_delay, server_wait_s
from flockwatch.media.errors import MediaRefused

log = logging.getLogger(__name__)

MB = 1 << 20
_REDIRECTS = {301, 302, 303, 307, 308}
_CHUNK = 64 * 1024


class ApiError(RuntimeError):
    """The platform refused for good (4xx other than 408/429), or kept failing past the retry budget."""

    def __init__(self, message: str, status: int | None = None, wait_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        # How long the server asked us to wait (Retry-After, a spent rate-limit budget), when it said.
        self.wait_s = wait_s


class Refused(ApiError):
    """A URL or redirect the address rules refuse (private address, downgrade, bad scheme)."""


class _Retryable(Exception):
    def __init__(self, reason: str, wait_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait_s = wait_s


@dataclass(frozen=True)
class ApiResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    url: str  # after redirects

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise ApiError(f"{self.url}: response is not JSON ({exc})", self.status) from None


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of ``url``, default ports filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower().rstrip("."), parts.port or (443 if scheme == "https" else 80)


def with_params(url: str, params: Mapping[str, Any] | None) -> str:
    """``url`` with ``params`` appended to its query (``None`` values left out)."""
    if not params:
        return url
    query = urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)
    if not query:
        return url
    return f"{url}{'&' if urlsplit(url).query else '?'}{query}"


@dataclass
class ApiClient:
    """Requests to one platform. ``endpoint`` is the trusted base URL (see the module docstring)."""

    endpoint: str | None = None
    user_agent: str = "flockwatch-collector/0.1 (+https://github.com/flockwatch)"
    timeout_s: float = 20.0
    max_body_bytes: int = 32 * MB
    max_attempts: int = 6
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    policy: FetchPolicy = DEFAULT_POLICY
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    # Requests made (every attempt and redirect hop), for tests and logs.
    requests: int = 0
    _not_before: float = 0.0

    def trusted(self, url: str) -> bool:
        return self.endpoint is not None and origin(url) == origin(self.endpoint)

    def _target(self, url: str) -> Target:
        if self.trusted(url):
            scheme, host, port = origin(url)
            parts = urlsplit(url)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            return Target(url=url, scheme=scheme, host=host, port=port, path=path)
        try:
            return parse_url(url)
        except MediaRefused as exc:
            raise Refused(exc.reason) from None

    def _connect(self, target: Target, deadline: Deadline) -> http.client.HTTPConnection:
        policy = self.policy
        if self.trusted(target.url):
            # The endpoint's own addresses are let through (loopback and private too); nothing else is.
            try:
                infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
            except OSError as exc:
                raise _Retryable(f"cannot resolve {target.host}: {exc}") from None
            nets = frozenset(ipaddress.ip_network(str(info[4][0]).split("%", 1)[0]) for info in infos)
            policy = FetchPolicy(allow_addresses=policy.allow_addresses | nets, connect_timeout_s=self.timeout_s)
        try:
            return connect_checked(target, policy, deadline)
        except MediaRefused as exc:
            if exc.reason.startswith("cannot connect") or exc.reason.startswith("cannot resolve"):
                raise _Retryable(exc.reason) from None
            raise Refused(exc.reason) from None

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
        ok: frozenset[int] = frozenset({200}),
    ) -> ApiResponse:
        """``method url`` with retries; returns a response whose status is in ``ok`` (e.g. 304 for a
        conditional GET), raises :class:`ApiError` for any other final answer."""
        full = with_params(url, params)
        last = ""
        for attempt in range(self.max_attempts):
            self._wait_turn()
            try:
                response = self._once(method, full, headers or {}, data)
            except _Retryable as exc:
                last = exc.reason
                wait = (
                    exc.wait_s
                    if exc.wait_s is not None
                    else retry_delay(attempt, self.backoff_base_s, self.backoff_cap_s, self.rng)
                )
                if wait > MAX_SERVER_WAIT_S:
                    raise ApiError(f"{full}: server asked to wait {wait:.0f} s ({last}); giving up") from None
                log.info("retrying %s in %.2f s: %s", full, wait, last)
                self.sleep(wait)
                continue
            self._note_budget(response)
            if response.status in ok:
                return response
            raise ApiError(f"{method} {full}: HTTP {response.status}: {response.body[:300]!r}", response.status)
        raise ApiError(f"{method} {full}: gave up after {self.max_attempts} attempts; last: {last}")

    def get_json(
        self, url: str, *, params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None
    ) -> Any:
        return self.request("GET", url, params=params, headers=headers).json()

    def _wait_turn(self) -> None:
        left = self._not_before - time.monotonic()
        if left > 0:
            self.sleep(left)

    def _note_budget(self, response: ApiResponse) -> None:
        wait = server_wait_s(response.status, response.headers)
        if wait is not None and response.status not in RETRY_STATUSES:
            self._not_before = time.monotonic() + min(wait, MAX_SERVER_WAIT_S)

    def _headers(self, extra: Mapping[str, str], data: bytes | None) -> dict[str, str]:
        out = {"User-Agent": self.user_agent, "Accept": "application/json", "Accept-Encoding": "gzip, identity"}
        out.update(extra)
        if data is not None:
            out.setdefault("Content-Type", "application/x-www-form-urlencoded")
            out["Content-Length"] = str(len(data))
        return out

    def _once(self, method: str, url: str, extra: Mapping[str, str], data: bytes | None) -> ApiResponse:
        """One request, following redirects; raises :class:`_Retryable` for what is worth another try."""
        deadline = Deadline(self.timeout_s * 3)
        target = self._target(url)
        for _hop in range(self.policy.max_redirects + 1):
            self.requests += 1
            conn = self._connect(target, deadline)
            try:
                deadline.guard(conn)
                if conn.sock is not None:
                    conn.sock.settimeout(self.timeout_s)
                conn.request(method, target.path, body=data, headers=self._headers(extra, data))
                resp = conn.getresponse()
                if resp.status in _REDIRECTS and resp.getheader("Location"):
                    target = self._redirect(target, resp.getheader("Location") or "")
                    if resp.status == 303:
                        method, data = "GET", None
                    continue
                headers = {k: v for k, v in resp.getheaders()}
                body = self._body(resp)
            except (OSError, http.client.HTTPException, MediaRefused) as exc:
                raise _Retryable(f"{type(exc).__name__}: {exc}") from None
            finally:
                deadline.release()
                conn.close()
            if resp.status in RETRY_STATUSES:
                raise _Retryable(f"HTTP {resp.status}", server_wait_s(resp.status, headers))
            return ApiResponse(resp.status, headers, body, target.url)
        raise Refused(f"{url}: more than {self.policy.max_redirects} redirects")

    def _redirect(self, current: Target, location: str) -> Target:
        next_url = urljoin(current.url, location.strip())
        if current.scheme == "https" and urlsplit(next_url).scheme.lower() != "https":
            raise Refused(f"refused redirect from https to {next_url}")
        return self._target(next_url)

    def _body(self, resp: http.client.HTTPResponse) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while chunk := resp.read1(_CHUNK):
            size += len(chunk)
            if size > self.max_body_bytes:
                raise ApiError(f"response over {self.max_body_bytes} bytes")
            chunks.append(chunk)
        if resp.length:  # promised more than it sent: a truncated page
            raise http.client.IncompleteRead(b"".join(chunks), resp.length)
        body = b"".join(chunks)
        if (resp.getheader("Content-Encoding") or "").strip().lower() in ("gzip", "x-gzip"):
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                body = inflater.decompress(body, self.max_body_bytes + 1)
            except zlib.error as exc:
                raise http.client.IncompleteRead(body) from exc
            if len(body) > self.max_body_bytes or inflater.unconsumed_tail:
                raise ApiError(f"gzip body inflates past {self.max_body_bytes} bytes")
        return body

    @contextmanager
    def stream(
        self, url: str, *, headers: Mapping[str, str] | None = None, read_timeout_s: float = 90.0
    ) -> Iterator[Iterator[bytes]]:
        """A long-lived GET (server-sent events), as an iterator of raw lines. One attempt, no redirects: the
        caller owns reconnecting (with its cursor) and backoff. Raises :class:`ApiError` for a non-200 answer
        (with ``status``), ``OSError``/``HTTPException`` for a broken connection."""
        self._wait_turn()
        target = self._target(url)
        deadline = Deadline(max(self.timeout_s, 1.0) * 3)
        self.requests += 1
        try:
            conn = self._connect(target, deadline)
        except _Retryable as exc:  # cannot resolve or connect: a broken connection, as documented
            raise ConnectionError(exc.reason) from None
        try:
            sent = self._headers({"Accept": "text/event-stream", **(headers or {})}, None)
            conn.request("GET", target.path, headers=sent | {"Accept-Encoding": "identity"})
            resp = conn.getresponse()
            if resp.status != 200:
                wait = server_wait_s(resp.status, {k: v for k, v in resp.getheaders()})
                raise ApiError(f"GET {url}: HTTP {resp.status}", resp.status, wait)
            if conn.sock is not None:
                conn.sock.settimeout(read_timeout_s)
            yield _lines(resp, self.max_body_bytes)
        finally:
            conn.close()


def _lines(resp: http.client.HTTPResponse, max_line: int) -> Iterator[bytes]:
    while True:
        line = resp.readline(max_line + 1)
        if not line:
            return
        if len(line) > max_line:
            raise ApiError(f"stream line over {max_line} bytes")
        yield line
