"""The safe media fetcher against a local HTTP server: the good path, and every refusal with its reason.

The server listens on 127.0.0.1, which the default policy refuses; positive cases use a policy that
allows exactly 127.0.0.1/32. Addresses that must never be contacted (10/8, 169.254.169.254...) are
refused before any connection, so these tests touch no network beyond loopback.
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from flockwatch.adapters.media_fetch import (
    DEFAULT_POLICY,
    REFUSED_NETWORKS,
    FetchPolicy,
    IPNetwork,
    cache_path,
    check_address,
    check_hostname,
    fetch_media,
    sidecar_path,
    try_fetch,
)
from flockwatch.adapters.video_platforms import (
    choose_format,
    fetch_video,
    info_path,
    is_video_platform_url,
    ydl_options,
)
from flockwatch.media.errors import MediaRefused

Route = Callable[["_Handler"], None]

LOCAL = FetchPolicy(
    allow_addresses=frozenset({ipaddress.ip_network("127.0.0.1/32")}),
    connect_timeout_s=2.0,
    read_timeout_s=2.0,
    deadline_s=5.0,
)
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(200)


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 12), (200, 40, 90)).save(buf, "JPEG")
    return buf.getvalue()


JPEG = _jpeg()


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


@dataclass
class Server:
    base: str
    port: int
    routes: dict[str, Route]
    seen: list[Seen] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        return self.base + path


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer

    def do_GET(self) -> None:
        state = self.server.state
        state.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}))
        route = state.routes.get(self.path.split("?")[0])
        if route is None:
            self.send_error(404)
            return
        route(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    state: Server


@pytest.fixture
def server() -> Iterator[Server]:
    httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
    port = httpd.server_address[1]
    state = Server(base=f"http://127.0.0.1:{port}", port=port, routes={})
    httpd.state = state
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    state.stop.set()
    httpd.shutdown()
    httpd.server_close()


# --- route helpers ----------------------------------------------------------------------------------


def body(data: bytes, ctype: str = "image/jpeg", headers: dict[str, str] | None = None) -> Route:
    def route(h: _Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    return route


def redirect(location: str, status: int = 302) -> Route:
    def route(h: _Handler) -> None:
        h.send_response(status)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return route


def endless(state: Server, name: str) -> Route:
    """A JPEG head, then zeros forever with no Content-Length; counts what was sent."""

    def route(h: _Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "image/jpeg")
        h.send_header("Connection", "close")
        h.end_headers()
        state.sent[name] = 0
        block = bytes(64 * 1024)
        try:
            h.wfile.write(JPEG[:64])
            while not state.stop.is_set() and state.sent[name] < 500 * 1024 * 1024:
                h.wfile.write(block)
                state.sent[name] += len(block)
        except OSError:
            pass

    return route


def head_then_hang(length: int, state: Server) -> Route:
    """Declares ``length`` bytes, sends a JPEG head, then waits (a real client must not wait with it)."""

    def route(h: _Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "image/jpeg")
        h.send_header("Content-Length", str(length))
        h.end_headers()
        h.wfile.write(JPEG[:200])
        h.wfile.flush()
        state.stop.wait(10)

    return route


def trickle(state: Server) -> Route:
    """A JPEG head, then one byte every 50 ms for 3 s: each read is quick, the whole takes too long."""

    def route(h: _Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "image/jpeg")
        h.send_header("Content-Length", str(1 << 20))
        h.end_headers()
        end = time.monotonic() + 3.0
        try:
            h.wfile.write(JPEG[:100])
            h.wfile.flush()
            while not state.stop.wait(0.05) and time.monotonic() < end:
                h.wfile.write(b"\x00")
                h.wfile.flush()
        except OSError:
            pass

    return route


def silent(state: Server) -> Route:
    def route(h: _Handler) -> None:
        state.stop.wait(10)

    return route


def truncated(data: bytes, declared: int) -> Route:
    def route(h: _Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "image/jpeg")
        h.send_header("Content-Length", str(declared))
        h.end_headers()
        h.wfile.write(data)
        h.close_connection = True

    return route


def fake_dns(monkeypatch: pytest.MonkeyPatch, table: dict[str, list[str]]) -> list[str]:
    """Resolve the names in ``table`` to its addresses (others as usual); returns the names looked up."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host in table:
            asked.append(host)
            out = []
            for ip in table[host]:
                v6 = ":" in ip
                family = socket.AF_INET6 if v6 else socket.AF_INET
                sockaddr = (ip, port, 0, 0) if v6 else (ip, port)
                out.append((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
            return out
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def refused(url: str, cache: Path, policy: FetchPolicy = LOCAL, **kw: Any) -> str:
    with pytest.raises(MediaRefused) as e:
        fetch_media(url, cache, policy, **kw)
    return e.value.reason


# --- the good path ------------------------------------------------------------------------------------


def test_good_jpeg_lands_in_content_addressed_cache(server: Server, tmp_path: Path) -> None:
    server.routes["/cat.jpg"] = body(JPEG)
    media = fetch_media(server.url("/cat.jpg"), tmp_path, LOCAL)
    sha = hashlib.sha256(JPEG).hexdigest()
    assert (media.kind, media.mime, media.sha256, media.size) == ("image", "image/jpeg", sha, len(JPEG))
    assert media.path == tmp_path / sha[:2] / sha == cache_path(tmp_path, sha)
    assert media.path.read_bytes() == JPEG
    assert media.source == server.url("/cat.jpg")
    meta = json.loads(sidecar_path(tmp_path, sha).read_text())
    assert meta["url"] == meta["final_url"] == server.url("/cat.jpg")
    assert meta["redirects"] == []
    assert meta["content_type"] == "image/jpeg"
    assert meta["fetched_at"].startswith("20")
    # Again: same cache path, and no partial files left behind.
    assert fetch_media(server.url("/cat.jpg"), tmp_path, LOCAL).path == media.path
    assert list((tmp_path / ".partial").iterdir()) == []


def test_redirects_are_followed_and_recorded(server: Server, tmp_path: Path) -> None:
    server.routes["/a"] = redirect("/b", 301)
    server.routes["/b"] = redirect(server.url("/c.jpg"), 307)
    server.routes["/c.jpg"] = body(JPEG)
    media = fetch_media(server.url("/a"), tmp_path, LOCAL)
    meta = json.loads(sidecar_path(tmp_path, media.sha256).read_text())
    assert meta["final_url"] == server.url("/c.jpg")
    assert meta["redirects"] == [server.url("/b"), server.url("/c.jpg")]


def test_hostname_is_resolved_once_and_the_connection_pinned(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.routes["/p.jpg"] = body(JPEG)
    asked = fake_dns(monkeypatch, {"media.example.com": ["127.0.0.1"]})
    media = fetch_media(f"http://media.example.com:{server.port}/p.jpg", tmp_path, LOCAL)
    assert media.kind == "image"
    assert asked == ["media.example.com"]  # one lookup: nothing left for a rebinding answer to change
    assert server.seen[-1].headers["host"] == f"media.example.com:{server.port}"
    assert server.seen[-1].headers["accept-encoding"] == "identity"


def test_extra_headers_pass_only_harmless_ones(server: Server, tmp_path: Path) -> None:
    server.routes["/h.jpg"] = body(JPEG)
    extra = {"User-Agent": "ua-x", "Referer": "https://r.example/", "Cookie": "s=1", "Authorization": "t"}
    fetch_media(server.url("/h.jpg"), tmp_path, LOCAL, extra_headers=extra)
    seen = server.seen[-1].headers
    assert (seen["user-agent"], seen["referer"]) == ("ua-x", "https://r.example/")
    assert "cookie" not in seen and "authorization" not in seen


# --- refused addresses and URLs -------------------------------------------------------------------------


def test_default_policy_refuses_loopback_without_connecting(server: Server, tmp_path: Path) -> None:
    server.routes["/cat.jpg"] = body(JPEG)
    reason = refused(server.url("/cat.jpg"), tmp_path, DEFAULT_POLICY)
    assert reason == "refused address 127.0.0.1: loopback"
    assert server.seen == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://169.254.169.254/latest/meta-data/", "refused address 169.254.169.254: cloud metadata endpoint"),
        ("http://10.1.2.3/a.jpg", "refused address 10.1.2.3: private"),
        ("http://192.168.1.1/a.jpg", "refused address 192.168.1.1: private"),
        ("http://172.20.0.1/a.jpg", "refused address 172.20.0.1: private"),
        ("http://100.64.1.1/a.jpg", "refused address 100.64.1.1: carrier-grade NAT"),
        ("http://0.0.0.0/a.jpg", "refused address 0.0.0.0: unspecified"),
        ("http://224.0.0.1/a.jpg", "refused address 224.0.0.1: multicast"),
        ("http://[::1]/a.jpg", "refused address ::1: loopback"),
        ("http://[fe80::1]/a.jpg", "refused address fe80::1: link-local"),
        ("http://[fd00:ec2::254]/", "refused address fd00:ec2::254: cloud metadata endpoint"),
        ("http://[::ffff:127.0.0.1]/a.jpg", "refused address ::ffff:7f00:1: IPv6 form of 127.0.0.1 (loopback)"),
        ("http://[::ffff:169.254.169.254]/", "IPv6 form of 169.254.169.254 (cloud metadata endpoint)"),
        ("http://[2002:a00:1::]/a.jpg", "IPv6 form of 10.0.0.1 (private)"),  # 6to4
        ("http://2130706433/a.jpg", "refused address 127.0.0.1: loopback"),  # decimal inet_aton form
        ("http://0x7f000001/a.jpg", "refused address 127.0.0.1: loopback"),
        ("http://localhost/a.jpg", "refused host localhost: internal name"),
        ("http://metadata.google.internal/computeMetadata/v1/", "cloud metadata endpoint"),
        ("http://db.corp.internal/a.jpg", "refused host db.corp.internal: internal name"),
        ("http://intranet/a.jpg", "unqualified (intranet) name"),
        ("file:///etc/passwd", "refused URL scheme 'file': only http and https are fetched"),
        ("ftp://example.com/a.jpg", "refused URL scheme 'ftp'"),
        ("data:image/png;base64,iVBORw0KGgo=", "refused URL scheme 'data'"),
        ("gopher://example.com/", "refused URL scheme 'gopher'"),
        ("javascript:alert(1)", "refused URL scheme 'javascript'"),
        ("//example.com/a.jpg", "refused URL scheme '(none)'"),
        ("http://user:pw@example.com/a.jpg", "refused URL: credentials in URL"),
        ("http://example.com:99999/a.jpg", "refused URL"),
        ("http:///a.jpg", "refused URL: no host"),
    ],
)
def test_refused_urls(url: str, expected: str, tmp_path: Path) -> None:
    # LOCAL allows 127.0.0.1, yet its IPv6 and numeric spellings stay refused unless they map onto it;
    # the default policy is what production uses.
    assert expected in refused(url, tmp_path, DEFAULT_POLICY)


def test_allowing_loopback_does_not_open_metadata(tmp_path: Path) -> None:
    policy = replace(LOCAL, allow_addresses=frozenset({ipaddress.ip_network("169.254.0.0/16")}))
    assert "cloud metadata endpoint" in refused("http://169.254.169.254/", tmp_path, policy)


@pytest.mark.parametrize(
    "target",
    [
        "http://10.0.0.1/a.jpg",
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://[::1]:8080/",
        "file:///etc/passwd",
        "http://localhost/",
    ],
)
def test_redirect_into_internal_address_is_refused(server: Server, tmp_path: Path, target: str) -> None:
    server.routes["/r"] = redirect(target)
    reason = refused(server.url("/r"), tmp_path)
    assert reason.startswith(("refused address", "refused URL scheme", "refused host")), reason
    assert [s.path for s in server.seen] == ["/r"]


def test_too_many_redirects(server: Server, tmp_path: Path) -> None:
    server.routes["/loop"] = redirect("/loop")
    assert refused(server.url("/loop"), tmp_path) == "too many redirects: more than 5"
    assert len(server.seen) == 6  # the first request and five followed hops
    assert "too many redirects" in refused(server.url("/loop"), tmp_path, replace(LOCAL, max_redirects=0))


def test_hostname_resolving_to_private_address(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"evil.example.com": ["10.0.0.5"], "mixed.example.com": ["93.184.216.34", "127.0.0.1"]})
    assert refused("http://evil.example.com/a.jpg", tmp_path) == "refused address 10.0.0.5: private"
    # One internal answer among public ones refuses the host.
    assert refused("http://mixed.example.com/a.jpg", tmp_path, DEFAULT_POLICY).endswith("loopback")


def test_unresolvable_host(tmp_path: Path) -> None:
    assert refused("http://no-such-host.invalid/a.jpg", tmp_path).startswith("cannot resolve host")


# --- size, time and content ---------------------------------------------------------------------------------


def test_endless_body_stops_at_the_cap(server: Server, tmp_path: Path) -> None:
    server.routes["/big"] = endless(server, "big")
    policy = replace(LOCAL, image_max_bytes=256 * 1024)
    start = time.monotonic()
    reason = refused(server.url("/big"), tmp_path, policy)
    assert reason == "too large: over 262144 bytes for image"
    assert time.monotonic() - start < 3
    server.stop.set()
    time.sleep(0.05)
    # We stopped reading near the cap: the server got nowhere near its 500 MiB (socket buffers aside).
    assert server.sent["big"] < 32 * 1024 * 1024
    assert list((tmp_path / ".partial").iterdir()) == []


def test_large_content_length_refused_before_reading(server: Server, tmp_path: Path) -> None:
    server.routes["/huge"] = head_then_hang(10**12, server)
    server.routes["/30mb.jpg"] = head_then_hang(30 * 1024 * 1024, server)
    start = time.monotonic()
    assert refused(server.url("/huge"), tmp_path) == f"too large: Content-Length {10**12} bytes > cap {200 << 20}"
    # Under the video cap but over the image cap: refused as soon as the head says "JPEG".
    assert (
        refused(server.url("/30mb.jpg"), tmp_path)
        == f"too large: Content-Length {30 << 20} bytes > image cap {20 << 20}"
    )
    assert time.monotonic() - start < 1.5  # neither waited for the hanging body


def test_slow_server_stopped_by_the_deadline(server: Server, tmp_path: Path) -> None:
    server.routes["/slow"] = trickle(server)
    policy = replace(LOCAL, deadline_s=0.8, read_timeout_s=0.5)
    start = time.monotonic()
    assert refused(server.url("/slow"), tmp_path, policy).startswith("deadline exceeded")
    assert time.monotonic() - start < 2.0


def test_silent_server_times_out(server: Server, tmp_path: Path) -> None:
    server.routes["/silent"] = silent(server)
    policy = replace(LOCAL, deadline_s=5.0, read_timeout_s=0.3)
    start = time.monotonic()
    assert refused(server.url("/silent"), tmp_path, policy).startswith("timed out reading from 127.0.0.1")
    assert time.monotonic() - start < 2.0


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "markup"),
        (b"<?xml version='1.0'?><svg/>", "markup"),
        (b"<!DOCTYPE html><html><body>not a cat</body></html>", "markup"),
        (b"\xef\xbb\xbf  \n<HTML><script src=x></script>" + b" " * 80, "markup"),
        (b"%PDF-1.7\n" + bytes(100), "not media: PDF document"),
        (b"PK\x03\x04" + bytes(100), "not media: archive"),
        (b"just some text, certainly not a picture of anything" * 3, "not media: unrecognised content"),
        (b"", "empty file"),
    ],
)
def test_non_media_served_as_jpeg_refused(server: Server, tmp_path: Path, data: bytes, expected: str) -> None:
    server.routes["/x.jpg"] = body(data, "image/jpeg")
    assert expected in refused(server.url("/x.jpg"), tmp_path)
    assert not any(p.is_file() for p in tmp_path.rglob("*"))  # nothing cached, no partials left


def test_markup_refused_after_reading_only_the_head(server: Server, tmp_path: Path) -> None:
    # An SVG that claims to be a 150 MB JPEG: refused on its first bytes, no waiting for the rest.
    def route(h: _Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "image/jpeg")
        h.send_header("Content-Length", str(150 << 20))
        h.end_headers()
        h.wfile.write(b"<svg xmlns='http://www.w3.org/2000/svg'>" + b" " * 100)
        h.wfile.flush()
        server.stop.wait(10)

    server.routes["/fake.jpg"] = route
    start = time.monotonic()
    assert "markup" in refused(server.url("/fake.jpg"), tmp_path)
    assert time.monotonic() - start < 1.5


def test_gzip_content_encoding_refused(server: Server, tmp_path: Path) -> None:
    server.routes["/gz.jpg"] = body(JPEG, headers={"Content-Encoding": "gzip"})
    assert (
        refused(server.url("/gz.jpg"), tmp_path) == "refused Content-Encoding 'gzip': only identity bodies are fetched"
    )


def test_truncated_body_refused(server: Server, tmp_path: Path) -> None:
    server.routes["/t.jpg"] = truncated(JPEG[:300], 5000)
    assert refused(server.url("/t.jpg"), tmp_path).startswith("truncated download")


def test_http_error_status(server: Server, tmp_path: Path) -> None:
    assert refused(server.url("/missing.jpg"), tmp_path) == "HTTP 404 Not Found"


def test_unexpected_kind_refused(server: Server, tmp_path: Path) -> None:
    server.routes["/v"] = body(JPEG, "video/mp4")
    assert refused(server.url("/v"), tmp_path, kinds=frozenset({"video"})).startswith("unexpected media kind: image")


def test_try_fetch_records_refusals_and_keeps_going(server: Server, tmp_path: Path) -> None:
    server.routes["/ok.jpg"] = body(JPEG)
    urls = ["http://169.254.169.254/", "file:///etc/shadow", server.url("/ok.jpg")]
    records = [try_fetch(u, tmp_path, LOCAL) for u in urls]
    assert [r.ok for r in records] == [False, False, True]
    assert records[0].to_dict() == {
        "url": urls[0],
        "ok": False,
        "reason": "refused address 169.254.169.254: cloud metadata endpoint",
    }
    assert records[2].to_dict()["sha256"] == hashlib.sha256(JPEG).hexdigest()


# --- check_address ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ip", ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2a00:1450:4001::200e"])
def test_public_addresses_pass(ip: str) -> None:
    assert str(check_address(ip)) == ip


def test_allow_hook_is_exact() -> None:
    allow = [ipaddress.ip_network("127.0.0.1/32")]
    assert str(check_address("127.0.0.1", allow)) == "127.0.0.1"
    assert str(check_address("::ffff:127.0.0.1", allow)) == "::ffff:7f00:1"
    with pytest.raises(MediaRefused, match="loopback"):
        check_address("127.0.0.2", allow)
    with pytest.raises(MediaRefused, match="not an IP address"):
        check_address("example.com")


def test_check_hostname_normalises() -> None:
    assert check_hostname("Media.Example.COM.") == "media.example.com"
    assert check_hostname("bücher.example") == "xn--bcher-kva.example"


# Spelled out independently of REFUSED_NETWORKS, so a deleted rule there fails this test.
_MUST_REFUSE: list[IPNetwork] = [
    ipaddress.ip_network(n)
    for n in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "100.64.0.0/10",
        "0.0.0.0/8",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::1/128",
        "::/128",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
] + [net for _, net in REFUSED_NETWORKS]


@st.composite
def refused_addresses(draw: st.DrawFn) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    net = draw(st.sampled_from(_MUST_REFUSE))
    addr = net[draw(st.integers(0, net.num_addresses - 1))]
    if isinstance(addr, ipaddress.IPv4Address) and draw(st.booleans()):
        # The same address spelled as IPv4-mapped, 6to4 or NAT64 IPv6.
        form = draw(st.sampled_from(["mapped", "6to4", "nat64"]))
        n = int(addr)
        if form == "mapped":
            return ipaddress.IPv6Address((0xFFFF << 32) | n)
        if form == "6to4":
            return ipaddress.IPv6Address((0x2002 << 112) | (n << 80) | draw(st.integers(0, (1 << 80) - 1)))
        return ipaddress.IPv6Address((0x64FF9B << 96) | n)
    return addr


@settings(max_examples=400, deadline=None)
@given(refused_addresses())
def test_check_address_never_accepts_refused_networks(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    with pytest.raises(MediaRefused):
        check_address(addr)
    with pytest.raises(MediaRefused):
        check_address(str(addr))


# --- video platforms (yt-dlp faked: no internet here) --------------------------------------------------------


def test_is_video_platform_url() -> None:
    yes = [
        "https://www.youtube.com/watch?v=abc",
        "https://youtu.be/abc",
        "https://m.youtube.com/shorts/x",
        "https://www.tiktok.com/@a/video/1",
        "https://x.com/a/status/1",
        "https://v.redd.it/xyz",
        "http://vimeo.com/1",
    ]
    no = [
        "https://evil-youtube.com/watch",
        "https://youtube.com.evil.net/watch",
        "ftp://youtube.com/a",
        "file:///youtube.com",
        "https://example.com/youtube.com",
        "not a url",
    ]
    assert all(is_video_platform_url(u) for u in yes)
    assert not any(is_video_platform_url(u) for u in no)


def _formats(base: str) -> list[dict[str, Any]]:
    return [
        {"format_id": "hls", "protocol": "m3u8_native", "url": base + "/x.m3u8", "ext": "mp4"}
        | {"vcodec": "avc1", "acodec": "mp4a", "height": 1080},
        {"format_id": "137", "protocol": "https", "url": base + "/vo", "ext": "mp4", "vcodec": "avc1"}
        | {"acodec": "none", "height": 1080},
        {"format_id": "140", "protocol": "https", "url": base + "/ao", "ext": "m4a", "vcodec": "none"}
        | {"acodec": "mp4a"},
        {"format_id": "43", "protocol": "http", "url": base + "/webm", "ext": "webm", "vcodec": "vp8"}
        | {"acodec": "vorbis", "height": 720},
        {"format_id": "22", "protocol": "http", "url": base + "/huge", "ext": "mp4", "vcodec": "avc1"}
        | {"acodec": "mp4a", "height": 720, "filesize": 10**12},
        {"format_id": "18", "protocol": "http", "url": base + "/v.mp4", "ext": "mp4", "vcodec": "avc1"}
        | {"acodec": "mp4a", "height": 360, "http_headers": {"User-Agent": "ua-yt", "Cookie": "SID=secret"}},
    ]


def test_choose_format_prefers_progressive_mp4_under_the_cap() -> None:
    fmt = choose_format({"formats": _formats("http://h")}, 200 << 20)
    assert fmt["format_id"] == "18"
    only_split = [f for f in _formats("http://h") if f["format_id"] in ("hls", "137", "140")]
    with pytest.raises(MediaRefused, match="no single-file"):
        choose_format({"formats": only_split}, 200 << 20)


class FakeYDL:
    """Stands in for yt_dlp.YoutubeDL: records its options and returns a canned info dict."""

    def __init__(self, options: dict[str, Any], info: dict[str, Any]) -> None:
        self.options = options
        self.info = info
        self.calls: list[tuple[str, bool]] = []
        self.closed = False

    def extract_info(self, url: str, download: bool = True) -> Any:
        self.calls.append((url, download))
        return self.info

    def sanitize_info(self, info_dict: Any, remove_private_keys: bool = False) -> Any:
        return json.loads(json.dumps(info_dict))

    def close(self) -> None:
        self.closed = True


def _ydl(info: dict[str, Any], made: list[FakeYDL]) -> Callable[[dict[str, Any]], FakeYDL]:
    def factory(options: dict[str, Any]) -> FakeYDL:
        made.append(FakeYDL(options, info))
        return made[-1]

    return factory


PAGE = "https://www.youtube.com/watch?v=abc"


def test_fetch_video_downloads_the_chosen_format_through_the_guard(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dns(monkeypatch, {"www.youtube.com": ["142.250.80.46"]})
    server.routes["/v.mp4"] = body(MP4, "video/mp4")
    info = {"id": "abc", "title": "a clip", "uploader": "someone", "formats": _formats(server.base)}
    made: list[FakeYDL] = []
    media = fetch_video(PAGE, tmp_path, LOCAL, ydl_factory=_ydl(info, made))

    (ydl,) = made
    assert ydl.calls == [(PAGE, False)] and ydl.closed
    assert not {"cookiefile", "cookiesfrombrowser", "external_downloader", "username", "password"} & ydl.options.keys()
    assert ydl.options["noplaylist"] is True and ydl.options["postprocessors"] == []
    assert ydl.options["socket_timeout"] == LOCAL.read_timeout_s
    # Only the chosen format's URL was fetched, with its user agent and without its cookie.
    assert [s.path for s in server.seen] == ["/v.mp4"]
    assert server.seen[0].headers["user-agent"] == "ua-yt" and "cookie" not in server.seen[0].headers

    sha = hashlib.sha256(MP4).hexdigest()
    assert (media.kind, media.mime, media.sha256, media.source) == ("video", "video/mp4", sha, PAGE)
    assert media.path == cache_path(tmp_path, sha)
    meta_text = info_path(media).read_text()
    meta = json.loads(meta_text)
    assert (meta["id"], meta["title"]) == ("abc", "a clip")
    assert meta["flockwatch"]["format_id"] == "18" and meta["flockwatch"]["page_url"] == PAGE
    assert "http_headers" not in meta_text and "SID=secret" not in meta_text


def test_fetch_video_direct_url_into_metadata_service_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"www.youtube.com": ["142.250.80.46"]})
    info = {"id": "abc", "formats": [{"url": "http://169.254.169.254/latest/meta-data/", "ext": "mp4"}]}
    made: list[FakeYDL] = []
    with pytest.raises(MediaRefused, match="cloud metadata endpoint"):
        fetch_video(PAGE, tmp_path, LOCAL, ydl_factory=_ydl(info, made))
    assert made[0].closed


def test_fetch_video_page_host_checked_before_extraction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"www.youtube.com": ["10.9.8.7"]})
    made: list[FakeYDL] = []
    with pytest.raises(MediaRefused, match="private"):
        fetch_video(PAGE, tmp_path, LOCAL, ydl_factory=_ydl({}, made))
    with pytest.raises(MediaRefused, match="not a known video platform"):
        fetch_video("https://example.com/watch?v=1", tmp_path, LOCAL, ydl_factory=_ydl({}, made))
    assert made == []


def test_fetch_video_extraction_error_becomes_refusal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"www.youtube.com": ["142.250.80.46"]})

    class Broken(FakeYDL):
        def extract_info(self, url: str, download: bool = True) -> Any:
            raise RuntimeError("Video unavailable")

    with pytest.raises(MediaRefused, match="video extraction failed: RuntimeError: Video unavailable"):
        fetch_video(PAGE, tmp_path, LOCAL, ydl_factory=lambda o: Broken(o, {}))


def test_real_youtubedl_accepts_the_options() -> None:
    import yt_dlp

    with yt_dlp.YoutubeDL(ydl_options(DEFAULT_POLICY)) as ydl:
        assert ydl.params.get("cookiefile") is None and ydl.params.get("cookiesfrombrowser") is None
        assert ydl.params["js_runtimes"] == {} and not ydl.params["remote_components"]
        assert len(ydl.cookiejar) == 0


# --- https: pinned address, certificate checked against the hostname -------------------------------------------


def _tls_files(tmp: Path, hostname: str) -> tuple[Path, Path, bytes]:
    """A throwaway CA and a leaf certificate for ``hostname``: (cert file, key file, CA PEM)."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    now = datetime.now(UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("test ca"))
        .issuer_name(name("test ca"))
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name(hostname))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "leaf.pem", tmp / "leaf.key"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file, ca.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, bytes]]:
    """An https server on 127.0.0.1 whose certificate names media.example.com; yields it and the CA."""
    import ssl

    cert, key, ca = _tls_files(tmp_path_factory.mktemp("tls"), "media.example.com")
    httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    port = httpd.server_address[1]
    state = Server(base=f"https://media.example.com:{port}", port=port, routes={})
    httpd.state = state
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield state, ca
    state.stop.set()
    httpd.shutdown()
    httpd.server_close()


def _trust(monkeypatch: pytest.MonkeyPatch, ca: bytes) -> None:
    import ssl

    import flockwatch.adapters.media_fetch as fetch_module

    def context() -> ssl.SSLContext:
        return ssl.create_default_context(cadata=ca.decode())

    monkeypatch.setattr(fetch_module, "_tls_context", context)


def test_https_verifies_the_hostname_on_the_pinned_address(
    tls_server: tuple[Server, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, ca = tls_server
    state.routes["/s.jpg"] = body(JPEG)
    fake_dns(monkeypatch, {"media.example.com": ["127.0.0.1"], "other.example.com": ["127.0.0.1"]})
    # Untrusted CA: refused by certificate verification.
    assert "CERTIFICATE_VERIFY_FAILED" in refused(state.url("/s.jpg"), tmp_path)
    _trust(monkeypatch, ca)
    # Trusted CA, connected to 127.0.0.1, verified as media.example.com (SNI and hostname check).
    assert fetch_media(state.url("/s.jpg"), tmp_path, LOCAL).sha256 == hashlib.sha256(JPEG).hexdigest()
    # Same server reached under another name: the certificate does not match it.
    reason = refused(f"https://other.example.com:{state.port}/s.jpg", tmp_path)
    assert reason.startswith("TLS failure for other.example.com") and "mismatch" in reason.lower()
