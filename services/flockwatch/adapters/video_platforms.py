"""Video-platform links (YouTube, TikTok, X...) resolved with yt-dlp as a library, under the fetch guards.

yt-dlp only *extracts*: it reads the page and lists the formats (``download=False``), with no cookies, no
playlists, no post-processors and no external programs. We then pick one progressive format (audio and
video in one file, so nothing needs merging) and download its direct URL through
:func:`flockwatch.adapters.media_fetch.fetch_media`: the same address checks, redirects, caps and sniffing as any
other media URL. The sanitised info dict is kept as ``<sha>.info.json`` beside the cached file.

yt-dlp's own page requests go through :class:`flockwatch.adapters.ydl_guard.GuardedYoutubeDL`: every request,
redirect hop and hand-off to another extractor (the generic one included) is checked and pinned like a
media fetch. The page URL must also be on :data:`PLATFORM_HOSTS`; where yt-dlp goes from there is bounded
by the address rules, not by that list.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from flockwatch.adapters.media_fetch import (
    DEFAULT_POLICY,
    FetchPolicy,
    fetch_media,
    parse_url,
    resolve_checked,
    write_json_atomic,
)
from flockwatch.media.errors import MediaRefused
from flockwatch.media.signal import MediaFile

log = logging.getLogger(__name__)

# Registrable domains; subdomains (www., m., music.) match too.
PLATFORM_HOSTS = frozenset(
    {
        "youtube.com",
        "youtu.be",
        "youtube-nocookie.com",
        "tiktok.com",
        "vimeo.com",
        "x.com",
        "twitter.com",
        "instagram.com",
        "facebook.com",
        "fb.watch",
        "dailymotion.com",
        "dai.ly",
        "rumble.com",
        "bitchute.com",
        "twitch.tv",
        "reddit.com",
        "redd.it",
        "v.redd.it",
        "odysee.com",
        "streamable.com",
    }
)

# Protocols that are one plain HTTP GET; HLS/DASH need fragment downloading or ffmpeg.
_PROGRESSIVE = {"http", "https"}
# Keys never written to metadata: request headers and cookies the extractor may have picked up.
_SECRET_KEYS = {"http_headers", "cookies", "_cookies"}


class YoutubeDLLike(Protocol):
    """The slice of ``yt_dlp.YoutubeDL`` used here (so tests can pass a fake)."""

    def extract_info(self, url: str, download: bool = ...) -> Any: ...

    def sanitize_info(self, info_dict: Any, remove_private_keys: bool = ...) -> Any: ...

    def close(self) -> None: ...


YdlFactory = Callable[[dict[str, Any]], YoutubeDLLike]


class _YdlLog:
    """Routes yt-dlp's messages to logging (it prints errors to stderr even when quiet)."""

    def debug(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def info(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def warning(self, msg: str) -> None:
        log.info("yt-dlp: %s", msg)

    def error(self, msg: str) -> None:
        log.info("yt-dlp: %s", msg)  # the failure itself surfaces as MediaRefused


def guarded_factory(policy: FetchPolicy) -> YdlFactory:
    """Builds a ``YoutubeDL`` whose every request is sent by the guarded handler under ``policy``."""

    def factory(options: dict[str, Any]) -> YoutubeDLLike:
        # Heavy import kept local: only video-platform links need yt-dlp.
        from flockwatch.adapters.ydl_guard import GuardedYoutubeDL

        ydl: YoutubeDLLike = GuardedYoutubeDL(options, policy)
        return ydl

    return factory


def is_video_platform_url(url: str) -> bool:
    """True for http(s) links on a known video platform (by host, not by path)."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").rstrip(".").lower()
    except ValueError:
        return False
    if parts.scheme.lower() not in ("http", "https") or not host:
        return False
    return any(host == d or host.endswith("." + d) for d in PLATFORM_HOSTS)


def ydl_options(policy: FetchPolicy) -> dict[str, Any]:
    """yt-dlp options for extraction only: no cookies, downloads, post-processing or external programs."""
    return {
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "skip_download": True,
        "noplaylist": True,
        "playlist_items": "1",
        "socket_timeout": policy.read_timeout_s,
        # An explicit format keeps yt-dlp from probing for ffmpeg to decide whether it could merge.
        "format": "b/b*",
        "check_formats": False,
        "postprocessors": [],
        "cachedir": False,
        # No JavaScript runtime (deno...) is run, and no remote components are downloaded.
        "js_runtimes": {},
        "remote_components": [],
        "usenetrc": False,
        "call_home": False,
        # No proxy from the environment (the guarded handler refuses any), no spoofed X-Forwarded-For.
        "proxy": "",
        "geo_bypass": False,
        "logger": _YdlLog(),
    }


def _size(fmt: Mapping[str, Any]) -> int | None:
    for key in ("filesize", "filesize_approx"):
        value = fmt.get(key)
        if isinstance(value, int | float) and value > 0:
            return int(value)
    return None


def choose_format(info: Mapping[str, Any], max_bytes: int) -> dict[str, Any]:
    """The best single-file format with audio and video, mp4 first, under ``max_bytes`` when its size is known.

    Raises :class:`MediaRefused` when every format would need merging, a fragment downloader or DRM.
    """
    formats = info.get("formats") or ([info] if info.get("url") else [])
    candidates: list[tuple[tuple[int, int, int, float, float], dict[str, Any]]] = []
    for fmt in formats:
        if not isinstance(fmt, dict) or not isinstance(fmt.get("url"), str):
            continue
        protocol = str(fmt.get("protocol") or urlsplit(fmt["url"]).scheme).lower()
        vcodec, acodec = fmt.get("vcodec"), fmt.get("acodec")
        if protocol not in _PROGRESSIVE or fmt.get("has_drm") or vcodec == "none" or acodec == "none":
            continue
        size = _size(fmt)
        if size is not None and size > max_bytes:
            continue
        height = fmt.get("height") or 0
        rank = (
            int(fmt.get("ext") == "mp4"),
            int(vcodec is not None and acodec is not None),  # both codecs stated, not guessed
            int(height <= 1080),  # the detectors downsample: larger only costs bytes
            float(height),
            float(fmt.get("tbr") or 0.0),
        )
        candidates.append((rank, fmt))
    if not candidates:
        raise MediaRefused("no single-file audio+video format (would need merging, HLS/DASH or DRM)")
    return max(candidates, key=lambda c: c[0])[1]


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if k not in _SECRET_KEYS}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _first_video(info: Any) -> dict[str, Any]:
    if not isinstance(info, dict):
        raise MediaRefused("video extraction returned nothing")
    if info.get("_type") == "playlist" or "entries" in info:
        entries = [e for e in info.get("entries") or [] if isinstance(e, dict)]
        if not entries:
            raise MediaRefused("video extraction: empty playlist")
        return entries[0]
    return info


def fetch_video(
    url: str,
    cache_dir: Path,
    policy: FetchPolicy = DEFAULT_POLICY,
    *,
    ydl_factory: YdlFactory | None = None,
) -> MediaFile:
    """Extract ``url`` with yt-dlp, download one progressive format through the guards, keep the metadata.

    ``ydl_factory`` defaults to :func:`guarded_factory` (tests pass a fake).
    """
    if not is_video_platform_url(url):
        raise MediaRefused(f"not a known video platform URL: {url}")
    page = parse_url(url)
    resolve_checked(page.host, page.port, policy)  # the page host passes the same address rules first
    started = time.monotonic()
    ydl = (ydl_factory or guarded_factory(policy))(ydl_options(policy))
    try:
        try:
            raw = ydl.extract_info(url, download=False)
        except Exception as e:  # extractor code raises many types; the worker must keep going
            raise MediaRefused(f"video extraction failed: {type(e).__name__}: {e}") from e
        info = _first_video(raw)
        fmt = choose_format(info, policy.video_max_bytes)
        headers = fmt.get("http_headers") or info.get("http_headers") or {}
        # Extraction and download share the one deadline.
        left = max(1.0, policy.deadline_s - (time.monotonic() - started))
        media = fetch_media(
            fmt["url"],
            cache_dir,
            dataclasses.replace(policy, deadline_s=left),
            kinds=frozenset({"video", "audio"}),
            extra_headers={str(k): str(v) for k, v in headers.items()},
        )
        metadata = _scrub(ydl.sanitize_info(info, remove_private_keys=True))
    finally:
        ydl.close()
    metadata["flockwatch"] = {
        "page_url": url,
        "format_id": fmt.get("format_id"),
        "media_url": fmt["url"],
        "sha256": media.sha256,
    }
    write_json_atomic(info_path(media), metadata)
    return dataclasses.replace(media, source=url)


def info_path(media: MediaFile) -> Path:
    """Where :func:`fetch_video` keeps the yt-dlp metadata of a cached file."""
    return media.path.with_name(f"{media.sha256}.info.json")
