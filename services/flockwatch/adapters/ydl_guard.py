"""yt-dlp's own page requests under the fetch guards: one request handler, the only one yt-dlp is given.

Out of the box yt-dlp sends requests through its own handlers (urllib, requests, curl_cffi, websockets),
which follow redirects internally; an extractor, its redirects and its hand-offs to other extractors
(the generic one included) can then reach any address the worker can. :class:`GuardedYoutubeDL` builds
its request director with :class:`GuardedRH` alone, and every request and every redirect hop goes
through the media fetcher's rules: :func:`~flockwatch.adapters.media_fetch.parse_url` (http/https, no
credentials, no internal names), :func:`~flockwatch.adapters.media_fetch.connect_checked` (every resolved
address checked before connecting, the connection pinned to it, TLS verified against the name) and
:func:`~flockwatch.adapters.media_fetch.redirect_target` (each hop re-checked, no https→http downgrade).

Anything else is unsupported and fails the request: proxies, websockets, impersonation, ``file:``/``data:``
URLs, compressed bodies. Bodies are read whole under ``policy.page_max_bytes`` (a body shorter than its
``Content-Length`` is a failed request, not a page); one extraction makes at most ``policy.max_page_requests``
requests within ``policy.deadline_s``.

A collector given a page URL explicitly (``flockwatch collect video --url``) may name a *trusted origin*: that
scheme, host and port alone may also reach the networks its host resolved to (a local test server, a mirror the
operator chose), as :class:`~flockwatch.adapters.connectors.http_api.ApiClient` trusts its configured endpoint.
Every other origin, and every redirect away from it, is checked as usual; metadata endpoints never pass.
"""

from __future__ import annotations

import dataclasses
import http.client
import io
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from typing import Any

import yt_dlp
from yt_dlp.networking.common import Request, RequestHandler, Response
from yt_dlp.networking.exceptions import HTTPError, RequestError, UnsupportedRequest

from flockwatch.adapters.media_fetch import (
    Deadline,
    FetchPolicy,
    IPNetwork,
    Target,
    connect_checked,
    parse_url,
    redirect_target,
)
from flockwatch.media.errors import MediaRefused

_REDIRECTS = {301, 302, 303, 307, 308}
# Never forwarded: routing and hop-by-hop headers (we set Host, Connection and Accept-Encoding ourselves).
_DROP_HEADERS = {"host", "connection", "proxy-authorization", "proxy-connection", "accept-encoding", "te", "upgrade"}
# Dropped when a redirect leaves the origin: the cookie jar re-adds whatever cookies the new host has.
_ORIGIN_HEADERS = {"authorization", "cookie"}
_NO_PROXY = (None, "__noproxy__")


class GuardRefused(RequestError):  # type: ignore[misc]
    """A request the guard refused; yt-dlp reports it as a network error, with our reason as its text."""


@dataclass
class PageGuard:
    """What one extraction may still do (requests, time), and the reasons of the requests it refused."""

    policy: FetchPolicy
    # (scheme, host, port) given explicitly by an operator, and the networks it may reach besides the policy's.
    trusted_origin: tuple[str, str, int] | None = None
    trusted_networks: frozenset[IPNetwork] = frozenset()
    deadline: Deadline = field(init=False)
    requests: int = 0
    refused: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.deadline = Deadline(self.policy.deadline_s)
        self._trusted_policy = dataclasses.replace(
            self.policy, allow_addresses=self.policy.allow_addresses | self.trusted_networks
        )

    def policy_for(self, target: Target) -> FetchPolicy:
        """The address rules for ``target``: the trusted origin's own networks pass for it alone."""
        if self.trusted_origin is not None and _origin(target) == self.trusted_origin:
            return self._trusted_policy
        return self.policy

    def count(self) -> None:
        if self.requests >= self.policy.max_page_requests:
            raise MediaRefused(f"too many page requests: more than {self.policy.max_page_requests}")
        self.requests += 1


def _origin(t: Target) -> tuple[str, str, int]:
    return t.scheme, t.host, t.port


def _body(data: Any) -> bytes | None:
    if data is None or isinstance(data, bytes):
        return data
    if isinstance(data, io.IOBase):
        out = data.read()
        return out if isinstance(out, bytes) else str(out).encode()
    return b"".join(data)


def _with_cookies(target: Target, method: str, headers: Mapping[str, str], jar: CookieJar) -> urllib.request.Request:
    """A urllib request for the jar's cookie policy (it reads the URL and method, and adds ``Cookie``)."""
    ureq = urllib.request.Request(target.url, headers=dict(headers), method=method)
    jar.add_cookie_header(ureq)
    return ureq


def _read_page(resp: http.client.HTTPResponse, conn: http.client.HTTPConnection, guard: PageGuard) -> bytes:
    cap = guard.policy.page_max_bytes
    declared = resp.getheader("Content-Length")
    if declared and declared.strip().isdigit() and int(declared) > cap:
        raise MediaRefused(f"page too large: Content-Length {declared.strip()} bytes > cap {cap}")
    encoding = (resp.getheader("Content-Encoding") or "identity").strip().lower()
    if encoding != "identity":
        raise MediaRefused(f"refused Content-Encoding {encoding!r}: only identity bodies are read")
    out = bytearray()
    while True:
        if conn.sock is not None:
            conn.sock.settimeout(min(guard.policy.read_timeout_s, guard.deadline.remaining()))
        chunk = resp.read1(64 * 1024)
        guard.deadline.remaining()  # raises once past the deadline (its watchdog's shutdown reads as EOF)
        if not chunk:
            if resp.length:  # the server promised more than it sent: a truncated page
                raise http.client.IncompleteRead(bytes(out), resp.length)
            return bytes(out)
        out += chunk
        if len(out) > cap:
            raise MediaRefused(f"page too large: over {cap} bytes")


def send_guarded(request: Request, headers: Mapping[str, str], jar: CookieJar, guard: PageGuard) -> Response:
    """Send ``request`` (yt-dlp's) under the guard, following redirects by hand; raises :class:`MediaRefused`."""
    target = parse_url(request.url)
    method: str = request.method
    data = _body(request.data)
    sent = {k: v for k, v in headers.items() if k.lower() not in _DROP_HEADERS}
    redirects = 0
    while True:
        guard.count()
        ureq = _with_cookies(target, method, sent, jar)
        hop_headers = dict(ureq.header_items()) | {"Accept-Encoding": "identity", "Connection": "close"}
        conn = connect_checked(target, guard.policy_for(target), guard.deadline)
        try:
            guard.deadline.guard(conn)
            if conn.sock is not None:
                conn.sock.settimeout(min(guard.policy.read_timeout_s, guard.deadline.remaining()))
            conn.request(method, target.path, body=data, headers=hop_headers)
            resp = conn.getresponse()
            jar.extract_cookies(resp, ureq)  # HTTPResponse has the info() the jar reads
            location = resp.getheader("Location")
            if resp.status in _REDIRECTS and location:
                if redirects >= guard.policy.max_redirects:
                    raise MediaRefused(f"too many redirects: more than {guard.policy.max_redirects}")
                redirects += 1  # and every hop counts against max_page_requests too
                following = redirect_target(target, location)  # checked, and no https→http downgrade
                new_method = _redirect_method(method, resp.status)
                if new_method != method:
                    data = None
                    sent = {k: v for k, v in sent.items() if k.lower() not in ("content-type", "content-length")}
                if _origin(following) != _origin(target):
                    sent = {k: v for k, v in sent.items() if k.lower() not in _ORIGIN_HEADERS}
                target, method = following, new_method
                continue
            body = _read_page(resp, conn, guard) if method != "HEAD" else b""
            status, reason, msg = resp.status, resp.reason, resp.msg
        except MediaRefused:
            raise
        except (OSError, http.client.HTTPException, ValueError) as e:
            if guard.deadline.expired:
                raise MediaRefused(f"deadline exceeded: extraction took over {guard.policy.deadline_s:g} s") from e
            raise MediaRefused(f"page request failed for {target.host}: {type(e).__name__}: {e}") from e
        finally:
            guard.deadline.release()
            conn.close()
        response = Response(io.BytesIO(body), target.url, _Headers(msg), status=status, reason=reason)
        if status >= 400:
            raise HTTPError(response)  # extractors read the status (and body) of failed requests
        return response


def _redirect_method(method: str, status: int) -> str:
    # As browsers and yt-dlp do: 303 → GET (HEAD stays), and a POST answered 301/302 becomes a GET.
    if status == 303 and method != "HEAD":
        return "GET"
    if status in (301, 302) and method == "POST":
        return "GET"
    return method


class _Headers:
    """Every header line (repeated ones like Set-Cookie too) in the shape ``Response`` iterates."""

    def __init__(self, msg: http.client.HTTPMessage) -> None:
        self._items = list(msg.items())

    def items(self) -> list[tuple[str, str]]:
        return self._items


class GuardedRH(RequestHandler):  # type: ignore[misc]
    """yt-dlp request handler that sends only what the fetch guards allow (see the module docstring)."""

    _SUPPORTED_URL_SCHEMES = ("http", "https")
    _SUPPORTED_PROXY_SCHEMES = ()
    _SUPPORTED_FEATURES = ()
    RH_NAME = "flockwatch-guarded"

    def __init__(self, *, guard: PageGuard, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.guard = guard

    def _check_proxies(self, proxies: Mapping[str, str | None]) -> None:
        # A proxy would make the connection on our behalf, beyond the address checks: none is used.
        for key, url in proxies.items():
            if key != "no" and url not in _NO_PROXY:
                raise UnsupportedRequest(f"proxies are not supported by the guarded handler ({key})")

    def _check_extensions(self, extensions: dict[str, Any]) -> None:
        super()._check_extensions(extensions)
        for name in ("cookiejar", "timeout", "legacy_ssl", "keep_header_casing"):
            extensions.pop(name, None)

    def _send(self, request: Request) -> Response:
        try:
            return send_guarded(request, self._get_headers(request), self._get_cookiejar(request), self.guard)
        except MediaRefused as e:
            self.guard.refused.append(e.reason)
            raise GuardRefused(e.reason) from e


class GuardedYoutubeDL(yt_dlp.YoutubeDL):  # type: ignore[misc]
    """``yt_dlp.YoutubeDL`` whose every HTTP request goes through :class:`GuardedRH` (and nothing else)."""

    def __init__(
        self,
        params: dict[str, Any],
        policy: FetchPolicy,
        *,
        trusted_origin: tuple[str, str, int] | None = None,
        trusted_networks: frozenset[IPNetwork] = frozenset(),
    ) -> None:
        self.guard = PageGuard(policy, trusted_origin=trusted_origin, trusted_networks=trusted_networks)
        super().__init__(params)

    def build_request_director(self, handlers: Any, preferences: Any = None) -> Any:
        guard = self.guard

        def guarded(**kwargs: Any) -> GuardedRH:
            return GuardedRH(guard=guard, **kwargs)

        # yt-dlp passes every registered handler class; only ours is built, so no request can bypass it.
        return super().build_request_director([guarded], preferences=None)
