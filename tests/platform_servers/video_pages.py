"""A local video site for tests: pages yt-dlp's generic extractor reads as playlists, and the real video files.

- ``/clips.html``: an HTML page with one ``<video>`` (or ``<video><source>``) per clip: the generic extractor's
  HTML5 media entries, one playlist.
- ``/feed.xml``: an RSS 2.0 feed whose items link to the clips (titles, descriptions, ``pubDate``s): the generic
  extractor's feed playlist, flat ``url_transparent`` entries.
- ``/embeds.html``: a page embedding YouTube and Vimeo players (``<iframe>``): flat entries of those platforms'
  extractors (tests must not let the connector extract those on their own: that would go to the internet).
- ``/media/NAME.mp4``: the clips themselves, the real videos of ``media/video/tmk_variants`` in the shared data
  (served only when the data dir has them).

``clips`` decides what the pages list (a test adds one to see a re-pull emit only it); faults come from
:class:`tests.platform_servers.http.Faults`, and ``drop_next`` closes the next connections without an answer.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.platform_servers.http import PlatformServer, Request, Response, serve

VIDEO_DIR = Path("media/video/tmk_variants")
CLIPS = ("doorknob-hd-no-bar", "test-padded-dimensions", "pattern-sd-grey-bar", "pattern-sd-with-small-logo-bar")
EMBEDS = (
    "https://www.youtube.com/embed/dQw4w9WgXcQ",
    "https://player.vimeo.com/video/76979871",
    "https://www.youtube-nocookie.com/embed/jNQXAC9IVRw",
)


@dataclass
class VideoSite:
    data_dir: Path
    clips: list[str] = field(default_factory=lambda: list(CLIPS[:3]))
    base: str = ""  # the server's URL, set once it listens
    drop_next: int = 0

    def clip_path(self, name: str) -> Path:
        return self.data_dir / VIDEO_DIR / f"{name}.mp4"

    def clips_page(self) -> bytes:
        tags = []
        for number, name in enumerate(self.clips):
            src = f"/media/{name}.mp4"
            if number % 2:
                tags.append(f'<video controls><source src="{src}" type="video/mp4"></video>')
            else:
                tags.append(f'<video src="{src}" controls preload="none"></video>')
        body = "\n".join(tags)
        return (
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Clips of the week</title></head>"
            f"<body><h1>Clips of the week</h1>\n{body}\n</body></html>"
        ).encode()

    def feed(self) -> bytes:
        items = []
        for day, name in enumerate(self.clips, start=1):
            title = name.replace("-", " ").capitalize()
            items.append(
                f"<item><title>{html.escape(title)}</title><link>{self.base}/media/{name}.mp4</link>"
                f"<guid isPermaLink='false'>clip-{name}</guid>"
                f"<pubDate>Tue, {day:02d} Jul 2025 09:00:00 GMT</pubDate>"
                f"<description>{html.escape(title)} #clips https://example.org/about?utm_source=feed</description>"
                "</item>"
            )
        return (
            "<?xml version='1.0' encoding='UTF-8'?><rss version='2.0'><channel><title>Clip feed</title>"
            f"<link>{self.base}/</link><description>Weekly clips</description>{''.join(items)}</channel></rss>"
        ).encode()

    def embeds_page(self) -> bytes:
        frames = "\n".join(f'<iframe width="560" height="315" src="{url}"></iframe>' for url in EMBEDS)
        return f"<!DOCTYPE html><html><head><title>Embeds</title></head><body>{frames}</body></html>".encode()

    def answer(self, request: Request) -> Response:
        if self.drop_next > 0:
            self.drop_next -= 1
            raise ConnectionAbortedError("connection dropped on purpose")  # the client reads no status line
        if request.path == "/clips.html":
            return Response(200, self.clips_page(), [("Content-Type", "text/html; charset=utf-8")])
        if request.path == "/feed.xml":
            return Response(200, self.feed(), [("Content-Type", "application/rss+xml")])
        if request.path == "/embeds.html":
            return Response(200, self.embeds_page(), [("Content-Type", "text/html; charset=utf-8")])
        if request.path.startswith("/media/") and request.path.endswith(".mp4"):
            name = request.path.removeprefix("/media/").removesuffix(".mp4")
            path = self.clip_path(name)
            if name in CLIPS and path.is_file():
                return Response(200, path.read_bytes(), [("Content-Type", "video/mp4")])
        return Response(404, b"<html><body>Not Found</body></html>", [("Content-Type", "text/html")])


@contextmanager
def video_server(site: VideoSite) -> Iterator[PlatformServer]:
    with serve(site.answer) as server:
        site.base = server.url
        yield server
