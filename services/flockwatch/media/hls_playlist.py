"""HLS playlists (RFC 8216) read as far as scoring needs: which variant, which segments, in which order.

Pure parsing, no I/O: the fetcher (:mod:`flockwatch.adapters.hls_fetch`) downloads what this names, under the
same guards as any media URL. Everything a playlist names is resolved against the playlist's own (final) URL.

- **Master playlists** list variants (``#EXT-X-STREAM-INF``). :func:`pick_variant` takes the one with the lowest
  ``BANDWIDTH`` among those that carry video: the signals downscale frames to at most 1920 px (and hash at 512
  px, detect faces at 640 px), so a higher rendition costs bytes and download time against the video cap and the
  fetch deadline while adding little; Bluesky's lowest rendition is 360p. Audio-only variants (``CODECS`` with no
  video codec) are never picked: a video's score comes from its frames.
- **Media playlists** list segments (``#EXTINF`` + URI) and, for fragmented MP4, the initialisation section
  (``#EXT-X-MAP``). Encrypted streams (``#EXT-X-KEY`` with a ``METHOD`` other than ``NONE``) are refused: we hold
  no keys and will not fetch them. Byte-range segments (``#EXT-X-BYTERANGE``) are refused too (one file cut into
  ranges; no platform we read uses it). A second, different ``#EXT-X-MAP`` (a discontinuity to another encoding)
  ends the list there: segments after it could not be appended to the first initialisation section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urljoin

from flockwatch.media.errors import MediaRefused

# Codec tags of video in CODECS (RFC 6381): H.264, H.265, VP9, AV1, MPEG-4 Part 2, and Dolby Vision.
_VIDEO_CODECS = ("avc1", "avc3", "hvc1", "hev1", "vp09", "vp9", "av01", "mp4v", "dvh1", "dvhe")
# name=value pairs; a value is quoted (commas allowed inside) or runs to the next comma.
_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^",]*)')


def attributes(text: str) -> dict[str, str]:
    """An attribute list (``BANDWIDTH=800000,CODECS="avc1.4d401e,mp4a.40.2"``) as a dict, quotes removed."""
    return {name: value[1:-1] if value.startswith('"') else value for name, value in _ATTRIBUTE.findall(text)}


@dataclass(frozen=True)
class Variant:
    uri: str
    bandwidth: int
    codecs: str | None = None
    resolution: tuple[int, int] | None = None

    @property
    def has_video(self) -> bool | None:
        """True/False when the playlist says; None when it does not (no CODECS and no RESOLUTION)."""
        if self.resolution is not None:
            return True
        if self.codecs is None:
            return None
        return any(c.strip().lower().startswith(_VIDEO_CODECS) for c in self.codecs.split(","))


@dataclass(frozen=True)
class MasterPlaylist:
    variants: list[Variant]


@dataclass(frozen=True)
class MediaPlaylist:
    segments: list[str]
    init: str | None = None
    durations: list[float] = field(default_factory=list)
    # False for a live playlist (no #EXT-X-ENDLIST): what it lists now is what is fetched.
    complete: bool = False

    @property
    def seconds(self) -> float:
        return sum(self.durations)


Playlist = MasterPlaylist | MediaPlaylist


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.lstrip("\ufeff").splitlines() if line.strip()]


def parse_playlist(text: str, base_url: str) -> Playlist:
    """The playlist ``text`` (fetched from ``base_url``); raises :class:`MediaRefused` with the reason."""
    lines = _lines(text)
    if not lines or lines[0] != "#EXTM3U":
        head = text.lstrip()[:40].lower()
        what = "markup (HTML/XML)" if head.startswith(("<", "\ufeff<")) else "no #EXTM3U header"
        raise MediaRefused(f"not an HLS playlist: {what}")
    if any(line.startswith("#EXT-X-STREAM-INF") for line in lines):
        return _master(lines, base_url)
    return _media(lines, base_url)


def _key_method(line: str) -> str:
    return attributes(line.split(":", 1)[1] if ":" in line else "").get("METHOD", "").upper()


def _master(lines: list[str], base_url: str) -> MasterPlaylist:
    variants: list[Variant] = []
    pending: dict[str, str] | None = None
    for line in lines[1:]:
        if line.startswith("#EXT-X-SESSION-KEY") and _key_method(line) not in ("", "NONE"):
            raise MediaRefused(f"encrypted HLS stream (METHOD={_key_method(line)}): not fetched")
        if line.startswith("#EXT-X-STREAM-INF:"):
            pending = attributes(line.split(":", 1)[1])
        elif line.startswith("#"):
            continue
        elif pending is not None:
            variants.append(_variant(pending, urljoin(base_url, line)))
            pending = None
    if not variants:
        raise MediaRefused("HLS master playlist lists no variants")
    return MasterPlaylist(variants)


def _variant(attrs: dict[str, str], uri: str) -> Variant:
    bandwidth = attrs.get("BANDWIDTH", "")
    if not bandwidth.isdigit():
        raise MediaRefused(f"HLS variant without a valid BANDWIDTH: {bandwidth[:20]!r}")
    resolution = None
    width, _, height = attrs.get("RESOLUTION", "").lower().partition("x")
    if width.isdigit() and height.isdigit():
        resolution = (int(width), int(height))
    return Variant(uri=uri, bandwidth=int(bandwidth), codecs=attrs.get("CODECS"), resolution=resolution)


def pick_variant(master: MasterPlaylist) -> Variant:
    """The lowest-bandwidth variant with video (see the module docstring); one that may have video if none says."""
    with_video = [v for v in master.variants if v.has_video]
    candidates = with_video or [v for v in master.variants if v.has_video is None]
    if not candidates:
        raise MediaRefused("HLS master playlist has only audio variants")
    return min(candidates, key=lambda v: v.bandwidth)


def _media(lines: list[str], base_url: str) -> MediaPlaylist:
    segments: list[str] = []
    durations: list[float] = []
    init: str | None = None
    duration: float | None = None
    complete = False
    for line in lines[1:]:
        if line.startswith("#EXT-X-KEY"):
            method = _key_method(line)
            if method not in ("", "NONE"):
                raise MediaRefused(f"encrypted HLS stream (METHOD={method}): not fetched")
        elif line.startswith("#EXT-X-BYTERANGE") or (line.startswith("#EXT-X-MAP") and "BYTERANGE=" in line):
            raise MediaRefused("HLS byte-range segments are not supported")
        elif line.startswith("#EXT-X-MAP:"):
            uri = attributes(line.split(":", 1)[1]).get("URI")
            if not uri:
                raise MediaRefused("HLS #EXT-X-MAP without a URI")
            resolved = urljoin(base_url, uri)
            if init is not None and resolved != init:
                break  # another initialisation section: what follows cannot be appended (see module docstring)
            init = resolved
        elif line.startswith("#EXTINF:"):
            value = line.split(":", 1)[1].split(",", 1)[0].strip()
            try:
                duration = float(value)
            except ValueError:
                raise MediaRefused(f"HLS #EXTINF with an unreadable duration: {value[:20]!r}") from None
            if not 0 <= duration < 86_400:
                raise MediaRefused(f"HLS #EXTINF with an implausible duration: {value[:20]!r}")
        elif line == "#EXT-X-ENDLIST":
            complete = True
            break
        elif line.startswith("#"):
            continue
        else:
            if duration is None:
                raise MediaRefused("HLS segment URI without #EXTINF before it")
            segments.append(urljoin(base_url, line))
            durations.append(duration)
            duration = None
    if not segments:
        raise MediaRefused("HLS media playlist lists no segments")
    return MediaPlaylist(segments=segments, init=init, durations=durations, complete=complete)
