"""Content sniffing: what a file is, from its first bytes, whatever its name or Content-Type says.

Markup (SVG, HTML, XML) is refused outright: an "image" that is a document can carry scripts and
external references, and no media signal can score it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from flockwatch.media.errors import MediaRefused
from flockwatch.media.signal import Kind, MediaFile, sha256_file

HEAD_BYTES = 64

# ISO-BMFF ("ftyp") brands: the container is shared by HEIF/AVIF images, MP4/MOV video and M4A audio.
_IMAGE_BRANDS = {b"heic", b"heix", b"mif1", b"msf1", b"avif", b"avis"}
_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"F4A "}

# The audio name of a container sniffed as video, for when it turns out to hold sound only (c2pa reads audio/mp4).
_AUDIO_MIMES = {"video/mp4": "audio/mp4", "video/quicktime": "audio/mp4", "video/webm": "audio/webm"}

_MARKUP = (b"<svg", b"<?xml", b"<!doctype", b"<html", b"<head", b"<body", b"<script", b"<!--")


_TS_PACKET = 188
# PIDs a transport stream starts with: the PAT (0), or SDT (0x11) before it as FFmpeg writes; HLS requires
# every segment to start with its PAT and PMT (RFC 8216 §3.2).
_TS_FIRST_PIDS = {0x0000, 0x0011}


def _is_mpeg_ts(head: bytes) -> bool:
    """An MPEG transport stream (HLS segments, broadcast captures): 188-byte packets, each opening with 0x47.

    From a short head only the first packet's header can be checked (sync byte, no transport error, a payload or
    adaptation field, a table PID); a longer one must also have the sync byte at every packet boundary.
    """
    if len(head) < 4 or head[0] != 0x47 or head[1] & 0x80 or not (head[3] >> 4) & 0x3:
        return False
    if len(head) > 2 * _TS_PACKET:
        return all(head[i] == 0x47 for i in range(0, len(head), _TS_PACKET))
    return ((head[1] & 0x1F) << 8 | head[2]) in _TS_FIRST_PIDS


def sniff_bytes(head: bytes) -> tuple[Kind, str]:
    """(kind, mime) of the bytes ``head`` starts; raises :class:`MediaRefused` for anything else."""
    if not head:
        raise MediaRefused("empty file")
    if head.startswith(b"\xff\xd8\xff"):
        return "image", "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image", "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio", "audio/wav"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video", "video/x-msvideo"
    if head.startswith(b"BM") and len(head) >= 14:
        return "image", "image/bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image", "image/tiff"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _IMAGE_BRANDS:
            return "image", "image/avif" if brand.startswith(b"avi") else "image/heic"
        if brand in _AUDIO_BRANDS:
            return "audio", "audio/mp4"
        return "video", "video/quicktime" if brand == b"qt  " else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video", "video/webm"
    if head.startswith(b"FLV"):
        return "video", "video/x-flv"
    if _is_mpeg_ts(head):
        return "video", "video/mp2t"
    if head.startswith(b"fLaC"):
        return "audio", "audio/flac"
    if head.startswith(b"OggS"):
        return "audio", "audio/ogg"
    if head.startswith(b"ID3") or (head[0] == 0xFF and head[1:2] and head[1] & 0xE0 == 0xE0):
        return "audio", "audio/mpeg"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(_MARKUP):
        raise MediaRefused("not media: markup (SVG/HTML/XML) posing as media")
    if head.startswith(b"%PDF"):
        raise MediaRefused("not media: PDF document")
    if head.startswith((b"PK\x03\x04", b"\x1f\x8b", b"7z\xbc\xaf", b"Rar!")):
        raise MediaRefused("not media: archive")
    raise MediaRefused("not media: unrecognised content")


def settle_kind(media: MediaFile) -> MediaFile:
    """``media`` as audio when its "video" container holds sound but no picture.

    The first bytes name only the container: an MP4 of the default isom/mp42 brands (ffmpeg's, yt-dlp's DASH
    audio) or a WebM may carry audio alone, and as video it would be refused for having no frame. Cover art
    (an attached picture) is not a video stream. Anything the probe cannot read stays as sniffed, for the
    decoders to refuse with their reason.
    """
    if media.kind != "video":
        return media
    import av  # heavy import kept local: only video containers need it

    try:
        with av.open(str(media.path)) as c:
            pictures = [s for s in c.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
            sound = bool(c.streams.audio)
    # Broad on purpose: a probe of hostile bytes raises what it likes, and refusing is the decoders' job.
    except Exception:
        return media
    if pictures or not sound:
        return media
    return dataclasses.replace(media, kind="audio", mime=_AUDIO_MIMES.get(media.mime, media.mime))


def open_media(path: Path, *, max_bytes: int | None = None, source: str = "") -> MediaFile:
    """Sniff and hash a local file; refuses directories, oversize, unreadable files and non-media."""
    try:
        if not path.is_file():
            raise MediaRefused(f"not a file: {path}")
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise MediaRefused(f"too large: {size} bytes > cap {max_bytes}")
        with path.open("rb") as f:
            kind, mime = sniff_bytes(f.read(HEAD_BYTES))
        digest = sha256_file(path)
    # A name too long, a permission denied, a read error: this file's refusal, not the batch's end.
    except OSError as e:
        raise MediaRefused(f"unreadable file: {e.strerror or type(e).__name__}") from e
    media = MediaFile(path=path, kind=kind, mime=mime, sha256=digest, size=size, source=source or str(path))
    return settle_kind(media)
