"""Safe fetching of the media URLs found in posts (an SSRF-hardened downloader).

A post can point anywhere, including at the machine running the worker, its cloud metadata service or the
private network behind it. So a fetch:

- accepts only ``http``/``https`` URLs without credentials;
- resolves the host itself and refuses it if *any* resolved address is loopback, private, link-local,
  multicast, reserved, unspecified, CGNAT, a cloud metadata endpoint, or an IPv6 form embedding one;
- connects to the address it checked (pinned: a second DNS answer cannot rebind it), sending the hostname
  as ``Host`` and, for https, as SNI with certificate verification;
- follows redirects by hand, re-checking every hop, up to ``max_redirects``, and never from https down to
  plain http (a downgrade would drop the certificate check and expose the request);
- sniffs the first bytes before reading the rest (HTML/SVG posing as an image stop there), then streams
  under the byte cap for the sniffed kind and a total deadline;
- stores the body content-addressed: ``cache_dir/<sha[:2]>/<sha>`` plus a ``<sha>.json`` sidecar.

Every refusal raises :class:`MediaRefused` with a readable reason; :func:`try_fetch` turns it into a
:class:`FetchRecord` so a worker can record it and keep going. yt-dlp's own page requests reuse
:func:`connect_checked` and :func:`redirect_target` (``media.ydl_guard``), so they obey the same rules.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import ipaddress
import json
import logging
import os
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import SplitResult, urljoin, urlsplit

from flockwatch.media.cache import evict, touch
from flockwatch.media.errors import MediaRefused
from flockwatch.media.signal import Kind, MediaFile
from flockwatch.media.sniff import HEAD_BYTES, sniff_bytes

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MB = 1 << 20
_CHUNK = 64 * 1024
_REDIRECTS = {301, 302, 303, 307, 308}
# Headers a caller (yt-dlp's per-format headers) may add; credentials and routing headers never pass.
_PASS_HEADERS = {"user-agent", "referer", "accept", "accept-language", "origin"}


@dataclass(frozen=True)
class FetchPolicy:
    """Caps and guards for one fetch; the defaults are for untrusted URLs from posts."""

    image_max_bytes: int = 20 * MB
    video_max_bytes: int = 200 * MB
    audio_max_bytes: int = 50 * MB
    connect_timeout_s: float = 5.0
    # Longest wait for any single read; a server trickling bytes is stopped by ``deadline_s`` instead.
    read_timeout_s: float = 15.0
    deadline_s: float = 120.0
    max_redirects: int = 5
    # yt-dlp's page requests (media.ydl_guard): each page body's cap, and how many requests one extraction
    # may make (every hop counts); the extraction as a whole runs under ``deadline_s``.
    page_max_bytes: int = 16 * MB
    max_page_requests: int = 40
    # An HLS stream (adapters.hls_fetch): at most this many segments (20 min, the decoder's cap, of 4 s segments);
    # all of them together, init section included, under ``video_max_bytes``.
    hls_max_segments: int = 300
    user_agent: str = "flockwatch-media-fetcher/0.1"
    # Networks let through despite the refusal rules (tests allow 127.0.0.1/32); metadata stays refused.
    allow_addresses: frozenset[IPNetwork] = field(default_factory=frozenset)
    # Bound on the cache directory (bodies + sidecars); None: unbounded. Past it, least recently used entries
    # are evicted after each write (media.cache; Settings.media_cache_max_bytes).
    cache_max_bytes: int | None = None
    # Entries used this recently are never evicted (another worker sharing the cache may be scoring them).
    cache_grace_s: float = 600.0

    def max_bytes(self, kind: Kind) -> int:
        return {"image": self.image_max_bytes, "video": self.video_max_bytes, "audio": self.audio_max_bytes}[kind]

    @property
    def largest_cap(self) -> int:
        return max(self.image_max_bytes, self.video_max_bytes, self.audio_max_bytes)


DEFAULT_POLICY = FetchPolicy()


# --- addresses ------------------------------------------------------------------------------------

_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack...
        "169.254.170.2",  # AWS ECS task metadata
        "100.100.100.200",  # Alibaba Cloud
        "fd00:ec2::254",  # AWS IMDS over IPv6
    )
)
_METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata", "instance-data"})
# Suffixes that only ever name internal hosts.
_INTERNAL_SUFFIXES = (".localhost", ".internal", ".local", ".localdomain", ".home.arpa", ".intranet", ".lan")


def _nets(label: str, *cidrs: str) -> list[tuple[str, IPNetwork]]:
    return [(label, ipaddress.ip_network(c)) for c in cidrs]


# Checked in order, so the most telling label wins (169.254.169.254 is "metadata" before "link-local").
REFUSED_NETWORKS: tuple[tuple[str, IPNetwork], ...] = tuple(
    _nets("loopback", "127.0.0.0/8", "::1/128")
    + _nets("unspecified", "0.0.0.0/8", "::/128")
    + _nets("private", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
    + _nets("link-local", "169.254.0.0/16", "fe80::/10")
    + _nets("multicast", "224.0.0.0/4", "ff00::/8")
    + _nets("carrier-grade NAT", "100.64.0.0/10")
    # RFC 8215: the operator picks the prefix length (/48../96), so where the IPv4 address sits is unknown;
    # the whole prefix translates into the local network's IPv4 space.
    + _nets("local-use NAT64 (RFC 8215)", "64:ff9b:1::/48")
    + _nets(
        "reserved",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "240.0.0.0/4",  # includes 255.255.255.255
        "::/96",  # deprecated IPv4-compatible IPv6
        "100::/64",
        "2001:db8::/32",
        "fec0::/10",  # deprecated site-local
    )
)

# Prefixes whose last 32 bits are an IPv4 address: the well-known NAT64 prefix (RFC 6052) and SIIT's
# IPv4-translated form (RFC 6145). A public IPv4 address behind them passes; an internal one does not.
_LOW32_FORMS = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("::ffff:0:0:0/96"))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 transition form carries (mapped, translated, 6to4, NAT64, Teredo client)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in _LOW32_FORMS):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def _refusal(ip: IPAddress) -> str | None:
    """Why ``ip`` is refused, ignoring the allow list; None when it is a public unicast address."""
    if ip in _METADATA_ADDRESSES:
        return "cloud metadata endpoint"
    for label, net in REFUSED_NETWORKS:
        if ip.version == net.version and ip in net:
            return label
    if isinstance(ip, ipaddress.IPv6Address):
        v4 = _embedded_ipv4(ip)
        if v4 is not None and (inner := _refusal(v4)) is not None:
            return f"IPv6 form of {v4} ({inner})"
    # Backstop for IANA special-purpose ranges not listed above (benchmarking, ORCHIDv2...).
    if not ip.is_global:
        return "not globally routable"
    return None


def _allowed(ip: IPAddress, allow: Iterable[IPNetwork]) -> bool:
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        candidates.append(ip.ipv4_mapped)
    return any(c.version == n.version and c in n for c in candidates for n in allow)


def check_address(ip: str | IPAddress, allow: Iterable[IPNetwork] = ()) -> IPAddress:
    """The parsed address if it may be fetched from; raises :class:`MediaRefused` with the rule it breaks.

    ``allow`` lets listed networks through (for tests and deliberate internal mirrors), except metadata
    endpoints, which are never a media source.
    """
    try:
        addr = ip if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address) else ipaddress.ip_address(ip)
    except ValueError as e:
        raise MediaRefused(f"refused address {ip!r}: not an IP address") from e
    if isinstance(addr, ipaddress.IPv6Address) and addr.scope_id:
        addr = ipaddress.IPv6Address(str(addr).split("%", 1)[0])
    reason = _refusal(addr)
    if reason is None:
        return addr
    metadata = addr in _METADATA_ADDRESSES or (
        isinstance(addr, ipaddress.IPv6Address) and _embedded_ipv4(addr) in _METADATA_ADDRESSES
    )
    if not metadata and _allowed(addr, allow):
        return addr
    raise MediaRefused(f"refused address {addr}: {reason}")


def check_hostname(host: str) -> str:
    """The hostname normalised (lower case, IDNA/ASCII, no trailing dot); refuses internal-only names."""
    name = host.strip().rstrip(".").lower()
    if not name:
        raise MediaRefused("refused URL: no host")
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError as e:
        raise MediaRefused(f"refused host {host!r}: invalid hostname") from e
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(ascii_name)
        return ascii_name  # a literal: the address check decides
    if ascii_name in _METADATA_HOSTS:
        raise MediaRefused(f"refused host {ascii_name}: cloud metadata endpoint")
    if ascii_name == "localhost" or ascii_name.endswith(_INTERNAL_SUFFIXES):
        raise MediaRefused(f"refused host {ascii_name}: internal name")
    # A single label resolves through the resolver's search domains: an intranet name.
    if "." not in ascii_name and not _looks_numeric(ascii_name):
        raise MediaRefused(f"refused host {ascii_name}: unqualified (intranet) name")
    return ascii_name


def _looks_numeric(name: str) -> bool:
    # "2130706433" or "0x7f000001": inet_aton forms the resolver turns into an address (checked there).
    return name.isdigit() or name.startswith("0x")


def resolve_checked(host: str, port: int, policy: FetchPolicy = DEFAULT_POLICY) -> list[IPAddress]:
    """Every address ``host`` resolves to, each checked; refuses if any one of them is refused.

    One bad answer refuses the host: a name that resolves to both a public and an internal address is
    either misconfigured or an attack, and which one the OS would pick is not ours to guess.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as e:
        raise MediaRefused(f"cannot resolve host {host}: {e}") from e
    addresses: list[IPAddress] = []
    for info in infos:
        addr = check_address(str(info[4][0]), policy.allow_addresses)
        if addr not in addresses:
            addresses.append(addr)
    if not addresses:
        raise MediaRefused(f"cannot resolve host {host}: no addresses")
    return addresses


# --- URLs -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str
    port: int
    path: str


def parse_url(url: str) -> Target:
    """Split and vet a URL: http(s) only, no credentials, a host, a valid port."""
    try:
        parts: SplitResult = urlsplit(url.strip())
        port = parts.port
    except ValueError as e:
        raise MediaRefused(f"refused URL {url!r}: {e}") from e
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise MediaRefused(f"refused URL scheme {scheme or '(none)'!r}: only http and https are fetched")
    if parts.username is not None or parts.password is not None:
        raise MediaRefused("refused URL: credentials in URL")
    host = check_hostname(parts.hostname or "")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(url=url, scheme=scheme, host=host, port=port or (443 if scheme == "https" else 80), path=path)


def redirect_target(current: Target, location: str) -> Target:
    """The vetted target of a redirect from ``current``: every hop is checked from scratch, no downgrade."""
    try:
        next_url = urljoin(current.url, location.strip())
    except ValueError as e:  # "a://[" and other unparseable Locations
        raise MediaRefused(f"refused redirect to {location[:200]!r}: {e}") from e
    target = parse_url(next_url)
    if current.scheme == "https" and target.scheme != "https":
        raise MediaRefused(f"refused redirect from https to {target.scheme}: {next_url}")
    return target


# --- connections ----------------------------------------------------------------------------------


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Talks to ``host`` (Host header) over a socket to the already-checked ``ip``."""

    def __init__(self, host: str, port: int, ip: str, connect_timeout: float) -> None:
        super().__init__(host, port, timeout=connect_timeout)
        self.pinned_ip = ip

    def connect(self) -> None:
        self.sock = socket.create_connection((self.pinned_ip, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """As :class:`_PinnedHTTPConnection`, with TLS verified against the hostname (SNI too)."""

    def __init__(self, host: str, port: int, ip: str, connect_timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=connect_timeout, context=context)
        self.pinned_ip = ip
        self.tls_context = context

    def connect(self) -> None:
        raw = socket.create_connection((self.pinned_ip, self.port), self.timeout)
        try:
            self.sock = self.tls_context.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise


def _tls_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class Deadline:
    """The fetch's total time budget; shuts the live socket down when it runs out, so no read outlasts it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self._timer: threading.Timer | None = None

    def remaining(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise MediaRefused(f"deadline exceeded: fetch took over {self.seconds:g} s")
        return left

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.end

    def guard(self, conn: http.client.HTTPConnection) -> None:
        self.release()

        def kill() -> None:
            if conn.sock is not None:
                with contextlib.suppress(OSError):
                    conn.sock.shutdown(socket.SHUT_RDWR)

        self._timer = threading.Timer(self.remaining(), kill)
        self._timer.daemon = True
        self._timer.start()

    def release(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _set_timeout(conn: http.client.HTTPConnection, seconds: float) -> None:
    if conn.sock is not None:
        conn.sock.settimeout(seconds)


# --- fetching -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchRecord:
    """The outcome of one fetch for the caller's log: the media, or the reason it was refused."""

    url: str
    media: MediaFile | None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.media is not None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"url": self.url, "ok": self.ok, "reason": self.reason}
        if self.media is not None:
            m = self.media
            out |= {"path": str(m.path), "kind": m.kind, "mime": m.mime, "sha256": m.sha256, "size": m.size}
        return out


def cache_path(cache_dir: Path, sha256: str) -> Path:
    return cache_dir / sha256[:2] / sha256


def sidecar_path(cache_dir: Path, sha256: str) -> Path:
    return cache_dir / sha256[:2] / f"{sha256}.json"


def _request_headers(target: Target, policy: FetchPolicy, extra: Mapping[str, str] | None) -> dict[str, str]:
    headers = {k: v for k, v in (extra or {}).items() if k.lower() in _PASS_HEADERS}
    headers.setdefault("User-Agent", policy.user_agent)
    headers.setdefault("Accept", "image/*, video/*, audio/*;q=0.9, */*;q=0.1")
    # We never decode Content-Encoding, so a gzip bomb cannot expand; ask for the bytes as they are.
    headers["Accept-Encoding"] = "identity"
    headers["Connection"] = "close"
    return headers


def connect_checked(target: Target, policy: FetchPolicy, deadline: Deadline) -> http.client.HTTPConnection:
    """An open connection to the first checked address that answers; nothing is sent before the checks."""
    last: Exception | None = None
    for ip in resolve_checked(target.host, target.port, policy):
        timeout = min(policy.connect_timeout_s, deadline.remaining())
        conn: http.client.HTTPConnection
        if target.scheme == "https":
            conn = _PinnedHTTPSConnection(target.host, target.port, str(ip), timeout, _tls_context())
        else:
            conn = _PinnedHTTPConnection(target.host, target.port, str(ip), timeout)
        try:
            conn.connect()
            return conn
        except ssl.SSLError as e:  # a bad certificate will not be better on another address
            conn.close()
            raise MediaRefused(f"TLS failure for {target.host}: {e}") from e
        except OSError as e:
            conn.close()
            last = e
    raise MediaRefused(f"cannot connect to {target.host}:{target.port}: {last}")


def _read_body(
    resp: http.client.HTTPResponse,
    conn: http.client.HTTPConnection,
    out: IO[bytes],
    policy: FetchPolicy,
    deadline: Deadline,
    kinds: frozenset[Kind] | None,
) -> tuple[Kind, str, str, int]:
    """Stream the body into ``out``: sniff first, then enforce the kind's cap. (kind, mime, sha256, size)."""
    declared = resp.getheader("Content-Length")
    length = int(declared) if declared and declared.strip().isdigit() else None
    if length is not None and length > policy.largest_cap:
        raise MediaRefused(f"too large: Content-Length {length} bytes > cap {policy.largest_cap}")
    h = hashlib.sha256()
    size = 0
    head = b""
    sniffed: tuple[Kind, str] | None = None
    cap = policy.largest_cap
    while True:
        _set_timeout(conn, min(policy.read_timeout_s, deadline.remaining()))
        # read1: at most one socket read, so a trickling server cannot hold us inside a single call.
        chunk = resp.read1(_CHUNK)
        deadline.remaining()  # raises once past the deadline (the watchdog's shutdown reads as EOF)
        if not chunk:
            break
        size += len(chunk)
        if size > cap:
            raise MediaRefused(f"too large: over {cap} bytes" + (f" for {sniffed[0]}" if sniffed else ""))
        h.update(chunk)
        out.write(chunk)
        if sniffed is None:
            head += chunk
            if len(head) < HEAD_BYTES:
                continue
            sniffed = _sniff(head, kinds)
            cap = policy.max_bytes(sniffed[0])
            if length is not None and length > cap:
                raise MediaRefused(f"too large: Content-Length {length} bytes > {sniffed[0]} cap {cap}")
            if size > cap:
                raise MediaRefused(f"too large: over {cap} bytes for {sniffed[0]}")
    if resp.length:  # the server promised more than it sent
        raise MediaRefused(f"truncated download: {size} bytes of {size + resp.length}")
    if sniffed is None:
        sniffed = _sniff(head, kinds)
    return sniffed[0], sniffed[1], h.hexdigest(), size


def _sniff(head: bytes, kinds: frozenset[Kind] | None) -> tuple[Kind, str]:
    kind, mime = sniff_bytes(head[:HEAD_BYTES])
    if kinds is not None and kind not in kinds:
        raise MediaRefused(f"unexpected media kind: {kind} ({mime}), wanted {'/'.join(sorted(kinds))}")
    return kind, mime


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str), encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class Opened:
    """A 200 response being read, after every redirect hop was checked."""

    response: http.client.HTTPResponse
    connection: http.client.HTTPConnection
    target: Target  # the final URL's
    redirects: list[str]

    @property
    def content_type(self) -> str:
        return self.response.getheader("Content-Type") or ""


@contextlib.contextmanager
def open_checked(
    url: str,
    policy: FetchPolicy,
    deadline: Deadline,
    extra_headers: Mapping[str, str] | None = None,
) -> Iterator[Opened]:
    """GET ``url`` under the address rules, the redirect rules and ``deadline``; yields the 200 response.

    Errors while the block reads the body are reported like errors of the request (:class:`MediaRefused`
    with the reason); the connection is closed when the block ends.
    """
    target = parse_url(url)
    redirects: list[str] = []
    while True:
        conn = connect_checked(target, policy, deadline)
        try:
            deadline.guard(conn)
            _set_timeout(conn, min(policy.read_timeout_s, deadline.remaining()))
            conn.request("GET", target.path, headers=_request_headers(target, policy, extra_headers))
            resp = conn.getresponse()
            if resp.status in _REDIRECTS:
                location = resp.getheader("Location")
                if not location:
                    raise MediaRefused(f"HTTP {resp.status} redirect without Location")
                if len(redirects) >= policy.max_redirects:
                    raise MediaRefused(f"too many redirects: more than {policy.max_redirects}")
                target = redirect_target(target, location)
                redirects.append(target.url)
                continue
            if resp.status != 200:
                raise MediaRefused(f"HTTP {resp.status} {resp.reason}".strip())
            encoding = (resp.getheader("Content-Encoding") or "identity").strip().lower()
            if encoding != "identity":
                raise MediaRefused(f"refused Content-Encoding {encoding!r}: only identity bodies are fetched")
            yield Opened(resp, conn, target, redirects)
            return
        except MediaRefused:
            raise
        except (OSError, http.client.HTTPException, ValueError) as e:
            if deadline.expired:
                raise MediaRefused(f"deadline exceeded: fetch took over {deadline.seconds:g} s") from e
            if isinstance(e, TimeoutError):
                raise MediaRefused(f"timed out reading from {target.host}: {e}") from e
            if isinstance(e, http.client.IncompleteRead):
                raise MediaRefused(f"truncated download: {e}") from e
            raise MediaRefused(f"fetch failed for {target.host}: {type(e).__name__}: {e}") from e
        finally:
            deadline.release()
            conn.close()


def body_chunks(opened: Opened, policy: FetchPolicy, deadline: Deadline) -> Iterator[bytes]:
    """The body as it arrives: each read waits at most ``read_timeout_s`` and never past the deadline; a body
    shorter than its Content-Length is refused as truncated once it ends."""
    size = 0
    while True:
        _set_timeout(opened.connection, min(policy.read_timeout_s, deadline.remaining()))
        chunk = opened.response.read1(_CHUNK)
        deadline.remaining()
        if not chunk:
            break
        size += len(chunk)
        yield chunk
    if opened.response.length:
        raise MediaRefused(f"truncated download: {size} bytes of {size + opened.response.length}")


def read_capped(opened: Opened, policy: FetchPolicy, deadline: Deadline, cap: int, what: str) -> bytes:
    """The whole body of a small response (a playlist), refused past ``cap`` bytes."""
    declared = opened.response.getheader("Content-Length")
    if declared and declared.strip().isdigit() and int(declared) > cap:
        raise MediaRefused(f"too large: {what} of {int(declared)} bytes > cap {cap}")
    chunks: list[bytes] = []
    size = 0
    for chunk in body_chunks(opened, policy, deadline):
        size += len(chunk)
        if size > cap:
            raise MediaRefused(f"too large: {what} over {cap} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def is_hls_url(url: str) -> bool:
    """An HLS playlist by its path (``.../playlist.m3u8``), as Bluesky serves every video."""
    try:
        return urlsplit(url.strip()).path.lower().endswith(".m3u8")
    except ValueError:
        return False


# Content types servers send for HLS playlists (RFC 8216 §4: the first two; the others are in use).
HLS_CONTENT_TYPES = frozenset(
    {"application/vnd.apple.mpegurl", "application/x-mpegurl", "audio/mpegurl", "audio/x-mpegurl"}
)


def is_hls_content_type(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() in HLS_CONTENT_TYPES


def store_fetched(
    tmp_path: Path,
    cache_dir: Path,
    policy: FetchPolicy,
    sniffed: tuple[Kind, str, str, int],
    source: str,
    meta: Mapping[str, Any],
) -> MediaFile:
    """Move a fully written download into the content-addressed cache with its sidecar; evict past the bound."""
    kind, mime, sha, size = sniffed
    final = cache_path(cache_dir, sha)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        tmp_path.unlink(missing_ok=True)  # same bytes already cached
        touch(final)  # a hit: most recently used again
    else:
        os.replace(tmp_path, final)
    sidecar = {
        "url": source,
        **meta,
        "kind": kind,
        "mime": mime,
        "sha256": sha,
        "size": size,
        "fetched_at": datetime.now(UTC).isoformat(),
    }
    write_json_atomic(sidecar_path(cache_dir, sha), sidecar)
    if policy.cache_max_bytes is not None:
        evict(cache_dir, policy.cache_max_bytes, keep=sha, grace_s=policy.cache_grace_s)
    return MediaFile(path=final, kind=kind, mime=mime, sha256=sha, size=size, source=source)


def fetch_media(
    url: str,
    cache_dir: Path,
    policy: FetchPolicy = DEFAULT_POLICY,
    *,
    kinds: frozenset[Kind] | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> MediaFile:
    """Download ``url`` under ``policy`` into the content-addressed cache; raises :class:`MediaRefused`.

    ``kinds`` restricts what the body may sniff as (a video page's stream must be video or audio);
    ``extra_headers`` may add User-Agent/Referer/Accept(-Language)/Origin, nothing else (no cookies).
    An HLS playlist (a ``.m3u8`` path, or an HLS Content-Type) is fetched as one video by
    :func:`flockwatch.adapters.hls_fetch.fetch_hls`: its segments, under the same rules and deadline.
    """
    from flockwatch.adapters import hls_fetch  # it builds on this module

    if is_hls_url(url):
        return hls_fetch.fetch_hls(url, cache_dir, policy, kinds=kinds, extra_headers=extra_headers)
    deadline = Deadline(policy.deadline_s)
    partial_dir = cache_dir / ".partial"
    partial_dir.mkdir(parents=True, exist_ok=True)
    playlist: tuple[str, bytes] | None = None
    with open_checked(url, policy, deadline, extra_headers) as opened:
        content_type = opened.content_type
        if is_hls_content_type(content_type):
            playlist = (
                opened.target.url,
                read_capped(opened, policy, deadline, hls_fetch.PLAYLIST_MAX_BYTES, "playlist"),
            )
        else:
            with tempfile.NamedTemporaryFile(dir=partial_dir, delete=False) as tmp:
                tmp_path = Path(tmp.name)
                try:
                    sniffed = _read_body(opened.response, opened.connection, tmp, policy, deadline, kinds)
                except BaseException:
                    tmp.close()
                    tmp_path.unlink(missing_ok=True)
                    raise
    if playlist is not None:
        return hls_fetch.fetch_hls(
            url, cache_dir, policy, kinds=kinds, extra_headers=extra_headers, first=playlist, deadline=deadline
        )
    meta = {"final_url": opened.target.url, "redirects": opened.redirects, "content_type": content_type}
    return store_fetched(tmp_path, cache_dir, policy, sniffed, url, meta)


def try_fetch(
    url: str,
    cache_dir: Path,
    policy: FetchPolicy = DEFAULT_POLICY,
    *,
    kinds: frozenset[Kind] | None = None,
) -> FetchRecord:
    """:func:`fetch_media` that never raises :class:`MediaRefused`: the refusal is logged and returned."""
    try:
        return FetchRecord(url=url, media=fetch_media(url, cache_dir, policy, kinds=kinds))
    except MediaRefused as e:
        log.warning("media fetch refused: %s: %s", url, e.reason)
        return FetchRecord(url=url, media=None, reason=e.reason)
