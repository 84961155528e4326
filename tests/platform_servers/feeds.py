"""A local news site for tests: RSS/Atom feeds by path, with the validators real feed servers send.

/work/shared/data has no recorded feeds, so the feeds are small fixtures written after real ones
(``feeds/``: a WordPress RSS 2.0 feed with ``content:encoded``, ``dc:creator``, ``slash:comments`` and a podcast
enclosure; a news desk's RSS 2.0 with ``media:thumbnail``/``media:content`` and ``#0`` guids; a Hugo Atom feed with
``xml:base``, relative links and xhtml content; a YouTube channel's Atom feed; a feed that is not well-formed).

The site speaks conditional GET as servers do: an ``ETag`` (a hash of the body and ``etag_salt``, so a test can
change the ETag alone) and a ``Last-Modified``; a request whose ``If-None-Match`` matches gets ``304``. Faults come
from :class:`tests.platform_servers.http.Faults` (429, 503, truncation, hangs, redirects); ``cut_next`` makes the
next answers lose their second half *with* a matching ``Content-Length`` (a proxy that dropped the tail: only the
XML shows it); ``drop_next`` makes the next requests end with the connection closed and no answer at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.platform_servers.http import PlatformServer, Request, Response, serve

FIXTURES = Path(__file__).with_name("feeds")
FEEDS = ("wordpress_rss20.xml", "news_rss20.xml", "blog_atom.xml", "youtube_channel_atom.xml")
BROKEN = "broken_rss20.xml"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def header(request: Request, name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in request.headers.items() if k.lower() == lowered), None)


@dataclass
class FeedSite:
    """Feeds by path (``/feed.xml`` → body); change ``feeds`` or ``etag_salt`` between pulls."""

    feeds: dict[str, bytes]
    content_type: str = "application/rss+xml; charset=UTF-8"
    last_modified: str = "Tue, 03 Jun 2025 14:02:11 GMT"
    etag_salt: str = ""
    conditional: bool = True
    cut_next: int = 0
    drop_next: int = 0
    served: list[int] = field(default_factory=list)  # statuses answered, in order

    def etag(self, body: bytes) -> str:
        return '"' + hashlib.sha256(body + self.etag_salt.encode()).hexdigest()[:20] + '"'

    def answer(self, request: Request) -> Response:
        if self.drop_next > 0:
            self.drop_next -= 1
            self.served.append(0)
            # The handler dies before answering and the server closes the socket: the client reads no status line.
            raise ConnectionAbortedError("connection dropped on purpose")
        body = self.feeds.get(request.path)
        if body is None:
            self.served.append(404)
            return Response(404, b"<html><body>Not Found</body></html>", [("Content-Type", "text/html")])
        etag = self.etag(body)
        validators = [("ETag", etag), ("Last-Modified", self.last_modified)]
        if self.conditional and header(request, "If-None-Match") == etag:
            self.served.append(304)
            return Response(304, b"", validators)
        if self.cut_next > 0:
            self.cut_next -= 1
            body = body[: len(body) // 2]
        self.served.append(200)
        return Response(200, body, [("Content-Type", self.content_type), *validators])


@contextmanager
def feed_server(site: FeedSite) -> Iterator[PlatformServer]:
    with serve(site.answer) as server:
        yield server
