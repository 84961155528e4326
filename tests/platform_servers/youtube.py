"""A local stand-in for www.youtube.com, so yt-dlp's *own* YouTube extractors run offline in tests.

There are no recorded YouTube pages in the shared data, so the pages are built here in YouTube's shape, the parts
yt-dlp reads: a playlist page (``ytcfg.set(...)`` and ``ytInitialData`` with ``playlistVideoRenderer`` items and
the playlist's metadata, sidebar and owner), a watch page (``ytInitialPlayerResponse``: ``videoDetails`` and
``playerMicroformatRenderer`` with ``publishDate``/``uploadDate``), the InnerTube ``search`` answer
(``videoRenderer`` items) and ``{}`` for every other InnerTube call (yt-dlp retries those and carries on).

It is served over TLS with a certificate for www.youtube.com made for the test; :func:`youtube_dns` points the
name (port 443) at the local server and makes the media fetcher trust that certificate, for the test's duration
only (pytest's ``monkeypatch``). Every request still goes through the guarded handler, so the address rules are
exercised as in production, with ``127.0.0.1`` let through by the test's policy.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOSTS = ("www.youtube.com", "youtube.com")
CHANNEL = ("Harbour Town Council", "UCx9kN3Qv0c1Ff2YkQe5g7Aw", "@harbourtowncouncil")
OTHER_CHANNEL = ("Ferry Watch", "UCa1b2c3d4e5f6g7h8i9j0kL", "@ferrywatch")
CFG = {
    "INNERTUBE_API_KEY": "AIzaSyLocalTestKey",
    "INNERTUBE_CONTEXT": {"client": {"clientName": "WEB", "clientVersion": "2.20250603.00.00", "hl": "en"}},
    "INNERTUBE_CLIENT_NAME": 1,
    "INNERTUBE_CLIENT_VERSION": "2.20250603.00.00",
    "VISITOR_DATA": "CgtMb2NhbFRlc3Q%3D",
}


@dataclass(frozen=True)
class Video:
    video_id: str
    title: str
    views: int
    published: str  # ISO 8601 with offset, as the watch page's microformat writes it
    description: str
    channel: tuple[str, str, str] = CHANNEL


VIDEOS = (
    Video(
        "Qm3xT9pLk2E",
        "Ferry timetable: what is actually changing",
        18422,
        "2025-06-03T05:00:07-07:00",
        "Nothing is being cancelled. Timetable: https://council.example.gov/transport/ferries?utm_source=youtube "
        "#FerryFacts",
    ),
    Video("aB3dE5fG7hI", "Why the 7:15 ferry rumour spread", 5310, "2025-06-01T10:30:00-07:00", "How it started."),
    Video("Zz9Yy8Xx7Ww", "Council Q&A: transport", 977, "2025-05-28T09:00:00-07:00", "Questions from residents."),
)


def _text(value: str) -> dict[str, Any]:
    return {"runs": [{"text": value}]}


def _byline(channel: tuple[str, str, str]) -> dict[str, Any]:
    name, ucid, handle = channel
    endpoint = {
        "commandMetadata": {"webCommandMetadata": {"url": f"/{handle}", "webPageType": "WEB_PAGE_TYPE_CHANNEL"}},
        "browseEndpoint": {"browseId": ucid, "canonicalBaseUrl": f"/{handle}"},
    }
    return {"runs": [{"text": name, "navigationEndpoint": endpoint}]}


def _renderer(video: Video, index: int | None) -> dict[str, Any]:
    watch = f"/watch?v={video.video_id}" + (f"&list=PLferry&index={index}" if index else "")
    return {
        "videoId": video.video_id,
        "thumbnail": {"thumbnails": [{"url": f"https://i.ytimg.com/vi/{video.video_id}/hqdefault.jpg", "width": 480}]},
        "title": {
            "runs": [{"text": video.title}],
            "accessibility": {"accessibilityData": {"label": f"{video.title} 3 minutes, 12 seconds"}},
        },
        "shortBylineText": _byline(video.channel),
        "lengthText": {"simpleText": "3:12"},
        "lengthSeconds": "192",
        "navigationEndpoint": {
            "commandMetadata": {"webCommandMetadata": {"url": watch, "webPageType": "WEB_PAGE_TYPE_WATCH"}},
            "watchEndpoint": {"videoId": video.video_id},
        },
        "thumbnailOverlays": [
            {"thumbnailOverlayTimeStatusRenderer": {"text": {"simpleText": "3:12"}, "style": "DEFAULT"}}
        ],
    }


def playlist_renderer(video: Video, index: int) -> dict[str, Any]:
    item = _renderer(video, index) | {
        "index": {"simpleText": str(index)},
        "isPlayable": True,
        "videoInfo": {"runs": [{"text": f"{video.views:,} views"}, {"text": " • "}, {"text": "2 days ago"}]},
    }
    return {"playlistVideoRenderer": item}


def search_renderer(video: Video) -> dict[str, Any]:
    item = _renderer(video, None) | {
        "ownerText": _byline(video.channel),
        "longBylineText": _byline(video.channel),
        "descriptionSnippet": _text(video.description[:100]),
        "publishedTimeText": {"simpleText": "2 days ago"},
        "viewCountText": {"simpleText": f"{video.views:,} views"},
        "shortViewCountText": {"simpleText": f"{video.views // 1000}K views"},
    }
    return {"videoRenderer": item}


def _html(title: str, script: str) -> bytes:
    return (
        f"<!DOCTYPE html><html lang='en'><head><title>{title} - YouTube</title>"
        f"<script>ytcfg.set({json.dumps(CFG)});</script></head><body><script>{script}</script></body></html>"
    ).encode()


def playlist_page(playlist_id: str, videos: list[Video]) -> bytes:
    name, ucid, _handle = CHANNEL
    owner = {"title": {"runs": [{"text": name, "navigationEndpoint": {"browseEndpoint": {"browseId": ucid}}}]}}
    data = {
        "contents": {
            "twoColumnBrowseResultsRenderer": {
                "tabs": [
                    {
                        "tabRenderer": {
                            "selected": True,
                            "content": {
                                "sectionListRenderer": {
                                    "contents": [
                                        {
                                            "itemSectionRenderer": {
                                                "contents": [
                                                    {
                                                        "playlistVideoListRenderer": {
                                                            "contents": [
                                                                playlist_renderer(v, i)
                                                                for i, v in enumerate(videos, start=1)
                                                            ],
                                                            "playlistId": playlist_id,
                                                        }
                                                    }
                                                ]
                                            }
                                        }
                                    ]
                                }
                            },
                        }
                    }
                ]
            }
        },
        "metadata": {"playlistMetadataRenderer": {"title": "Ferry rumours explained", "description": "All of it."}},
        "microformat": {
            "microformatDataRenderer": {
                "urlCanonical": f"https://www.youtube.com/playlist?list={playlist_id}",
                "title": "Ferry rumours explained",
            }
        },
        "sidebar": {
            "playlistSidebarRenderer": {
                "items": [
                    {
                        "playlistSidebarPrimaryInfoRenderer": {
                            "title": _text("Ferry rumours explained"),
                            "stats": [_text(f"{len(videos)} videos"), {"simpleText": "1,024 views"}],
                        }
                    },
                    {"playlistSidebarSecondaryInfoRenderer": {"videoOwner": {"videoOwnerRenderer": owner}}},
                ]
            }
        },
    }
    return _html("Ferry rumours explained", f"var ytInitialData = {json.dumps(data)};")


def watch_page(video: Video) -> bytes:
    name, ucid, handle = video.channel
    player = {
        "playabilityStatus": {"status": "OK", "playableInEmbed": True},
        "videoDetails": {
            "videoId": video.video_id,
            "title": video.title,
            "lengthSeconds": "192",
            "channelId": ucid,
            "shortDescription": video.description,
            "viewCount": str(video.views),
            "author": name,
            "isPrivate": False,
            "isLiveContent": False,
            "allowRatings": True,
            "thumbnail": {"thumbnails": [{"url": f"https://i.ytimg.com/vi/{video.video_id}/hqdefault.jpg"}]},
        },
        "microformat": {
            "playerMicroformatRenderer": {
                "title": {"simpleText": video.title},
                "description": {"simpleText": video.description},
                "lengthSeconds": "192",
                "ownerProfileUrl": f"http://www.youtube.com/{handle}",
                "externalChannelId": ucid,
                "ownerChannelName": name,
                "viewCount": str(video.views),
                "category": "News & Politics",
                "publishDate": video.published,
                "uploadDate": video.published,
                "isUnlisted": False,
                "isFamilySafe": True,
            }
        },
    }
    return _html(video.title, f"var ytInitialPlayerResponse = {json.dumps(player)};var ytInitialData = {{}};")


def search_answer(videos: list[Video]) -> bytes:
    items = [search_renderer(v) for v in videos]
    section = {"itemSectionRenderer": {"contents": items}}
    data = {
        "contents": {
            "twoColumnSearchResultsRenderer": {"primaryContents": {"sectionListRenderer": {"contents": [section]}}}
        }
    }
    return json.dumps(data).encode()


@dataclass
class YouTube:
    """What the stand-in serves; ``requests`` logs ``METHOD path`` in order."""

    videos: list[Video] = field(default_factory=lambda: list(VIDEOS))
    requests: list[str] = field(default_factory=list)

    def answer(self, method: str, path: str) -> tuple[int, str, bytes]:
        self.requests.append(f"{method} {path}")
        if path.startswith("/playlist"):
            return 200, "text/html; charset=utf-8", playlist_page("PLferry", self.videos)
        if path.startswith("/watch"):
            wanted = path.split("v=", 1)[-1].split("&", 1)[0]
            video = next((v for v in self.videos if v.video_id == wanted), None)
            if video is not None:
                return 200, "text/html; charset=utf-8", watch_page(video)
        if path.startswith("/youtubei/v1/search"):
            return 200, "application/json", search_answer(self.videos)
        if path.startswith("/youtubei/"):
            return 200, "application/json", b"{}"
        if path == "/" or path.startswith("/?"):
            return 200, "text/html; charset=utf-8", _html("YouTube", "var ytInitialData = {};")
        return 404, "text/html", b"<html><body>404 Not Found</body></html>"


def _certificate() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOSTS[0])])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in HOSTS]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), pem_key


@contextmanager
def youtube_server(site: YouTube) -> Iterator[tuple[int, bytes]]:
    """The stand-in over TLS on an ephemeral port; yields (port, the certificate's PEM)."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            status, kind, body = site.answer(self.command, self.path)
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    cert, key = _certificate()
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "cert.pem").write_bytes(cert)
        (Path(folder) / "key.pem").write_bytes(key)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(Path(folder) / "cert.pem", Path(folder) / "key.pem")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield server.server_address[1], cert
    finally:
        server.shutdown()
        server.server_close()


def youtube_dns(monkeypatch: pytest.MonkeyPatch, port: int, cert: bytes) -> None:
    """www.youtube.com:443 → 127.0.0.1:``port`` and the test certificate trusted, in this process, for the test."""
    from flockwatch.adapters import media_fetch

    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.create_connection

    def getaddrinfo(host: Any, service: Any, *args: Any, **kwargs: Any) -> Any:
        return real_getaddrinfo("127.0.0.1" if host in HOSTS else host, service, *args, **kwargs)

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        if tuple(address) == ("127.0.0.1", 443):
            address = ("127.0.0.1", port)
        return real_connect(address, *args, **kwargs)

    def tls_context() -> ssl.SSLContext:
        context = ssl.create_default_context()
        context.load_verify_locations(cadata=cert.decode())
        return context

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(media_fetch, "_tls_context", tls_context)
