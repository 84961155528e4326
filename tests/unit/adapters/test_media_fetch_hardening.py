"""No way around the fetch guards: yt-dlp's own requests, https→http downgrades, NAT64, local paths.

A fake video platform (``vimeo.com`` resolved to 127.0.0.2, the one address the policy allows) serves pages
that redirect, or hand off to another extractor, towards a "target" server on 127.0.0.1 (loopback: refused)
and towards 169.254.169.254 (the metadata endpoint). The real yt-dlp runs, with the default (guarded)
factory; the platform URL carries a port, so yt-dlp's generic extractor reads it. The target must record
zero requests, and no socket may ever connect anywhere but the platform. Controls show the same pages do
reach the target when it is allowed, or when yt-dlp runs without the guard (the hole this closes).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import flockwatch.adapters.media_fetch as fetch_module
from flockwatch.adapters.media_fetch import FetchPolicy, check_address, fetch_media
from flockwatch.adapters.media_scorer import build_scorer
from flockwatch.adapters.video_platforms import fetch_video, ydl_options
from flockwatch.config import Settings
from flockwatch.media.errors import MediaRefused
from flockwatch.messages import InMessage
from flockwatch.schema import Author, MediaItem, MediaScore, Post, SourceRef
from flockwatch.stages.media import score_batch
from tests.unit.adapters.test_media_fetch import _tls_files

PLATFORM_IP, TARGET_IP = "127.0.0.2", "127.0.0.1"
POLICY = FetchPolicy(
    allow_addresses=frozenset({ipaddress.ip_network(f"{PLATFORM_IP}/32")}),
    connect_timeout_s=2.0,
    read_timeout_s=2.0,
    deadline_s=10.0,
)
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(200)


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 12), (20, 140, 90)).save(buf, "JPEG")
    return buf.getvalue()


JPEG = _jpeg()
Reply = tuple[int, dict[str, str], bytes]


@dataclass
class Site:
    ip: str
    port: int
    scheme: str = "http"
    routes: dict[str, Callable[[], Reply]] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)

    def url(self, path: str, host: str | None = None) -> str:
        return f"{self.scheme}://{host or self.ip}:{self.port}{path}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        site = self.server.site
        site.seen.append(self.path)
        route = site.routes.get(self.path.split("?")[0])
        status, headers, data = route() if route else (404, {"Content-Type": "text/plain"}, b"not here")
        self.send_response(status)
        for k, v in (headers | {"Content-Length": str(len(data))}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    site: Site


def _serve(ip: str, tls: ssl.SSLContext | None = None) -> tuple[_Server, Site]:
    httpd = _Server((ip, 0), _Handler)
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    httpd.site = Site(ip, httpd.server_address[1], "https" if tls else "http")
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return httpd, httpd.site


@pytest.fixture
def sites() -> Iterator[tuple[Site, Site]]:
    """(platform on 127.0.0.2, target on 127.0.0.1)."""
    servers = [_serve(PLATFORM_IP), _serve(TARGET_IP)]
    yield servers[0][1], servers[1][1]
    for httpd, _ in servers:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(autouse=True)
def connects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every address any socket in this process tries to connect to (a bypass of the guard shows here).

    Also a fence: only loopback is really connected, so even a broken guard sends nothing elsewhere.
    """
    seen: list[str] = []
    real = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        host = str(address[0]) if isinstance(address, tuple) else str(address)
        seen.append(host)
        if not host.startswith("127."):
            raise ConnectionRefusedError(f"test fence: no connection to {host}")
        real(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return seen


def fake_dns(monkeypatch: pytest.MonkeyPatch, table: dict[str, list[str]]) -> None:
    """Names in ``table`` resolve to its addresses, literals to themselves, anything else fails: no real DNS."""

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        try:
            ips = [str(ipaddress.ip_address(name))]
        except ValueError:
            if name not in table:
                raise socket.gaierror(socket.EAI_NONAME, f"test resolver: unknown name {name}") from None
            ips = table[name]
        out = []
        for ip in ips:
            v6 = ":" in ip
            family = socket.AF_INET6 if v6 else socket.AF_INET
            out.append((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port, 0, 0) if v6 else (ip, port)))
        return out

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def page(html: str) -> Callable[[], Reply]:
    return lambda: (200, {"Content-Type": "text/html; charset=utf-8"}, html.encode())


def redirect(location: str, status: int = 302) -> Callable[[], Reply]:
    return lambda: (status, {"Location": location}, b"")


def _platform_routes(platform: Site, target: Site) -> None:
    secret = target.url("/secret")
    platform.routes |= {
        "/redirect-local": redirect(secret),
        "/redirect-metadata": redirect("http://169.254.169.254/latest/meta-data/"),
        "/redirect-name": redirect(target.url("/secret", host="intranet-cache.example.com"), 307),
        "/handoff-local": page(f'<html><head><meta http-equiv="refresh" content="0;url={secret}"></head></html>'),
        "/handoff-embed": page(
            "<html><head><title>clip</title></head><body>"
            '<iframe src="https://www.youtube.com/embed/dQw4w9WgXcQ"></iframe></body></html>'
        ),
        "/media-local": page(
            f'<html><head><title>clip</title><meta property="og:video" content="{target.url("/v.mp4")}">'
            "</head><body></body></html>"
        ),
        "/good": page(
            f'<html><head><title>clip</title><meta property="og:video" content="{platform.url("/v.mp4")}">'
            "</head><body></body></html>"
        ),
        "/v.mp4": lambda: (200, {"Content-Type": "video/mp4"}, MP4),
    }
    target.routes |= {
        "/secret": page("<html><head><title>internal admin</title></head><body>secret</body></html>"),
        "/v.mp4": lambda: (200, {"Content-Type": "video/mp4"}, MP4),
    }


@pytest.fixture
def platform(sites: tuple[Site, Site], monkeypatch: pytest.MonkeyPatch) -> tuple[Site, Site, Callable[[str], str]]:
    """The fake platform and target, DNS for the names they use, and ``page URL for a path``."""
    plat, target = sites
    _platform_routes(plat, target)
    fake_dns(
        monkeypatch,
        {
            "vimeo.com": [PLATFORM_IP],
            "intranet-cache.example.com": [TARGET_IP],
            "www.youtube.com": ["169.254.169.254"],
            "youtube.com": ["169.254.169.254"],
        },
    )
    return plat, target, lambda path: f"http://vimeo.com:{plat.port}{path}"


HOSTILE = [
    ("/redirect-local", "refused address 127.0.0.1: loopback"),
    ("/redirect-metadata", "refused address 169.254.169.254: cloud metadata endpoint"),
    ("/redirect-name", "refused address 127.0.0.1: loopback"),
    ("/handoff-local", "refused address 127.0.0.1: loopback"),
    ("/handoff-embed", "refused address 169.254.169.254: cloud metadata endpoint"),
    ("/media-local", "refused address 127.0.0.1: loopback"),
]


@pytest.mark.parametrize(("path", "reason"), HOSTILE, ids=[p.strip("/") for p, _ in HOSTILE])
def test_platform_page_cannot_lead_ytdlp_to_internal_addresses(
    platform: tuple[Site, Site, Callable[[str], str]], connects: list[str], tmp_path: Path, path: str, reason: str
) -> None:
    plat, target, page_url = platform
    with pytest.raises(MediaRefused) as e:
        fetch_video(page_url(path), tmp_path, POLICY)
    assert reason in e.value.reason, e.value.reason
    assert path in plat.seen  # the platform page itself was read...
    assert target.seen == []  # ...and nothing it pointed at was
    assert set(connects) == {PLATFORM_IP}, connects  # refused before connecting: no packet to 169.254.169.254


def test_guarded_platform_still_extracts_and_downloads(
    platform: tuple[Site, Site, Callable[[str], str]], connects: list[str], tmp_path: Path
) -> None:
    plat, target, page_url = platform
    media = fetch_video(page_url("/good"), tmp_path, POLICY)
    assert (media.kind, media.sha256) == ("video", hashlib.sha256(MP4).hexdigest())
    assert plat.seen[0] == "/good" and "/v.mp4" in plat.seen and target.seen == []


@pytest.mark.parametrize("path", ["/redirect-local", "/redirect-name", "/handoff-local", "/media-local"])
def test_control_the_same_pages_reach_the_target_when_it_is_allowed(
    platform: tuple[Site, Site, Callable[[str], str]], tmp_path: Path, path: str
) -> None:
    _, target, page_url = platform
    both = FetchPolicy(
        allow_addresses=frozenset(ipaddress.ip_network(f"{ip}/32") for ip in (PLATFORM_IP, TARGET_IP)),
        deadline_s=10.0,
    )
    with contextlib.suppress(MediaRefused):  # the "secret" page holds no video; what matters is it was reached
        fetch_video(page_url(path), tmp_path, both)
    assert target.seen, "the page's redirect or hand-off did not reach the target: the test proves nothing"


@pytest.mark.parametrize("path", ["/redirect-local", "/handoff-local"])
def test_control_unguarded_ytdlp_follows_into_loopback(
    platform: tuple[Site, Site, Callable[[str], str]], tmp_path: Path, path: str
) -> None:
    """The hole this closes: plain ``yt_dlp.YoutubeDL`` follows the page wherever it points."""
    import yt_dlp

    _, target, page_url = platform
    with pytest.raises(MediaRefused):
        fetch_video(page_url(path), tmp_path, POLICY, ydl_factory=lambda o: yt_dlp.YoutubeDL(o))
    assert "/secret" in target.seen


def test_guard_counts_requests_and_caps_page_size(
    platform: tuple[Site, Site, Callable[[str], str]], tmp_path: Path
) -> None:
    plat, _, page_url = platform
    plat.routes["/loop"] = redirect("/loop")
    with pytest.raises(MediaRefused, match="too many redirects"):
        fetch_video(page_url("/loop"), tmp_path, POLICY)
    assert plat.seen.count("/loop") == POLICY.max_redirects + 1
    plat.routes["/huge"] = page("<html>" + "x" * 5000 + "</html>")
    with pytest.raises(MediaRefused, match="page too large"):
        small = FetchPolicy(allow_addresses=POLICY.allow_addresses, page_max_bytes=4096)
        fetch_video(page_url("/huge"), tmp_path, small)
    few = FetchPolicy(allow_addresses=POLICY.allow_addresses, max_page_requests=1)
    with pytest.raises(MediaRefused, match="too many page requests"):
        fetch_video(page_url("/handoff-local"), tmp_path, few)  # the hand-off is the second request


def test_guarded_handler_refuses_proxies_and_other_schemes() -> None:
    from yt_dlp.networking.common import Request
    from yt_dlp.networking.exceptions import RequestError

    from flockwatch.adapters.video_platforms import guarded_factory

    with guarded_factory(POLICY)(ydl_options(POLICY)) as ydl:  # type: ignore[attr-defined]
        assert list(ydl._request_director.handlers) == ["Guarded"]  # yt-dlp's own handlers are not built
        for req in (
            Request("http://vimeo.com/1", proxies={"all": "http://10.0.0.1:3128"}),
            Request("data:text/plain,hi"),
            Request("file:///etc/passwd"),
            Request("ws://vimeo.com/socket"),
        ):
            with pytest.raises(RequestError):
                ydl.urlopen(req)


# --- https → http ---------------------------------------------------------------------------------


@pytest.fixture
def tls_platform(
    sites: tuple[Site, Site], tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Site, Site]]:
    """An https server on 127.0.0.2 for vimeo.com (CA trusted by the fetcher) and the plain one beside it."""
    cert, key, ca = _tls_files(tmp_path_factory.mktemp("tls"), "vimeo.com")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    httpd, secure = _serve(PLATFORM_IP, ctx)
    monkeypatch.setattr(fetch_module, "_tls_context", lambda: ssl.create_default_context(cadata=ca.decode()))
    fake_dns(monkeypatch, {"vimeo.com": [PLATFORM_IP]})
    plain, _ = sites
    yield secure, plain
    httpd.shutdown()
    httpd.server_close()


def test_https_to_http_redirect_is_refused(tls_platform: tuple[Site, Site], tmp_path: Path) -> None:
    secure, plain = tls_platform
    plain.routes["/x.jpg"] = lambda: (200, {"Content-Type": "image/jpeg"}, JPEG)
    secure.routes["/x.jpg"] = lambda: (200, {"Content-Type": "image/jpeg"}, JPEG)
    secure.routes["/down.jpg"] = redirect(plain.url("/x.jpg", host="vimeo.com"))
    secure.routes["/up.jpg"] = redirect(secure.url("/x.jpg", host="vimeo.com"))
    https = f"https://vimeo.com:{secure.port}"
    # The media fetcher: https → https is followed, https → http is not, even to an allowed address.
    assert fetch_media(f"{https}/up.jpg", tmp_path, POLICY).sha256 == hashlib.sha256(JPEG).hexdigest()
    with pytest.raises(MediaRefused, match="refused redirect from https to http"):
        fetch_media(f"{https}/down.jpg", tmp_path, POLICY)
    # yt-dlp's page requests: the same rule.
    secure.routes["/watch"] = redirect(plain.url("/watch", host="vimeo.com"))
    with pytest.raises(MediaRefused, match="refused redirect from https to http"):
        fetch_video(f"{https}/watch", tmp_path, POLICY)
    assert plain.seen == []


# --- NAT64 and other IPv6 forms -------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.integers(0, (1 << 80) - 1))
def test_local_use_nat64_prefix_is_refused_whole(low: int) -> None:
    """RFC 8215's 64:ff9b:1::/48 translates into the local IPv4 network, wherever the IPv4 bits sit."""
    addr = ipaddress.IPv6Address((0x0064FF9B0001 << 80) | low)
    with pytest.raises(MediaRefused, match="local-use NAT64"):
        check_address(addr)


@pytest.mark.parametrize(
    ("ip", "reason"),
    [
        ("64:ff9b:1::808:808", "local-use NAT64"),  # even a public IPv4 address in its low bits
        ("64:ff9b:1:a00:1::", "local-use NAT64"),  # 10.0.0.1 in a /48 prefix's position
        ("64:ff9b::a9fe:a9fe", "IPv6 form of 169.254.169.254"),  # the well-known prefix (RFC 6052)
        ("64:ff9b::7f00:1", "IPv6 form of 127.0.0.1 (loopback)"),
        ("::ffff:0:a00:1", "IPv6 form of 10.0.0.1 (private)"),  # SIIT IPv4-translated (RFC 6145)
    ],
)
def test_ipv6_translation_forms_of_internal_addresses_are_refused(ip: str, reason: str) -> None:
    with pytest.raises(MediaRefused) as e:
        check_address(ip)
    assert reason in e.value.reason


def test_well_known_nat64_of_a_public_address_passes() -> None:
    # On an IPv6-only network with DNS64, public IPv4-only hosts resolve to 64:ff9b::/96: these are the internet.
    assert str(check_address("64:ff9b::808:808")) == "64:ff9b::808:808"


# --- local paths: the CLI only ----------------------------------------------------------------------


def _message(n: int, url: str) -> InMessage:
    post = Post(
        platform="test",
        platform_id=f"local-{n}",
        author=Author(id=f"a{n}"),
        text="look",
        created_at=datetime(2026, 11, 1, 12, n, tzinfo=UTC),
        media=[MediaItem(url=url)],
        source=SourceRef(format="test", uri="test_fetch_hardening"),
    )
    return InMessage(topic="normalized", partition=0, offset=n, key=post.key.encode(), value=post.to_bytes())


def test_stream_messages_never_make_the_worker_read_local_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tmp_path / "photo.jpg"
    real.write_bytes(JPEG)
    monkeypatch.chdir(tmp_path)  # so the relative references below name real files
    opened: list[Path] = []
    import flockwatch.media.score as score_module
    from flockwatch.media.sniff import open_media as real_open

    def spy(path: Path, **kw: Any) -> Any:
        opened.append(path)
        return real_open(path, **kw)

    monkeypatch.setattr(score_module, "open_media", spy)
    settings_ = Settings(media_cache_dir=tmp_path / "cache")
    refs = {
        "/etc/passwd": "local files are only read from the command line",
        "file:///etc/passwd": "refused media reference scheme 'file'",
        "photo.jpg": "local files are only read from the command line",
        "./photo.jpg": "local files are only read from the command line",
        str(real): "local files are only read from the command line",
        "../../etc/passwd": "local files are only read from the command line",
        "data:image/jpeg;base64," + base64.b64encode(JPEG).decode(): "refused media reference scheme 'data'",
    }
    # The scorer exactly as the worker and the DAG build it (workers.build_stage → build_scorer(settings)).
    scorer = build_scorer(settings_, store_bank=False)
    outcome = score_batch([_message(i, ref) for i, ref in enumerate(refs)], scorer)
    scores = [MediaScore.model_validate_json(m.value) for m in outcome.out]
    assert [s.media_url for s in scores] == list(refs)
    for s in scores:
        assert s.manipulation_score is None and s.error is not None, s
        assert refs[s.media_url] in s.error, (s.media_url, s.error)
    assert outcome.counts["media_refused"] == len(refs) and outcome.counts["dead_lettered"] == 0
    assert opened == []
    # The CLI's scorer reads the same file: the refusal above is the stream's rule, not a broken file.
    cli = build_scorer(settings_, store_bank=False, fetch=False, local_files=True)
    cli.signals = []  # the models are not what this is about (and load slowly)
    result = cli.score(str(real))
    assert result.error is None and result.sha256 == hashlib.sha256(JPEG).hexdigest() and opened == [real]


_LOCATIONS = st.one_of(
    st.text(max_size=300),
    st.builds(
        lambda scheme, host, rest: f"{scheme}{host}{rest}",
        st.sampled_from(["http://", "https://", "HTTP://", "//", "ftp://", "file://", "", " http://", "https:"]),
        st.sampled_from(["vimeo.com", "8.8.8.8", "[2606:4700::1]", "127.0.0.1", "", "user:pw@vimeo.com"]),
        st.text(max_size=100),
    ),
)


@settings(max_examples=500, deadline=None)
@given(_LOCATIONS)
def test_redirect_from_https_never_lands_on_anything_but_https(location: str) -> None:
    current = fetch_module.parse_url("https://vimeo.com/watch")
    try:
        target = fetch_module.redirect_target(current, location)
    except MediaRefused:
        return
    assert target.scheme == "https" and target.url.lower().startswith("https://")


@settings(max_examples=500, deadline=None)
@given(_LOCATIONS)
def test_stream_scorer_fetches_http_urls_and_opens_nothing_else(ref: str) -> None:
    from flockwatch.media.score import MediaScorer

    fetched: list[str] = []

    def fetcher(url: str) -> Any:
        fetched.append(url)
        raise MediaRefused("test fetcher: not fetching")

    result = MediaScorer([], fetcher).score(ref)  # as the worker builds it: no local files
    assert result.error is not None and result.manipulation_score is None
    scheme = ref.strip().split(":", 1)[0].lower() if ":" in ref else ""
    if fetched:  # only http(s) URLs reach the fetcher...
        assert fetched == [ref] and scheme in ("http", "https") and "://" in ref
    else:  # ...everything else is refused as a reference, never opened as a file
        assert result.error.startswith("refused media reference"), result.error
