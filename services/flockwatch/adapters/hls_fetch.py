"""HLS streams (``.m3u8``, as Bluesky serves every video) fetched as one video file for scoring.

The playlist is read (:mod:`flockwatch.media.hls_playlist`), the lowest-bandwidth video variant chosen, and its
segments downloaded in order and appended into one file: MPEG-TS segments concatenate into a valid transport
stream, and fragmented-MP4 segments appended to their initialisation section (``#EXT-X-MAP``) make a valid
fragmented MP4, so the decoders read either as any video. The result is stored content-addressed, like any
fetched media, with a sidecar naming the playlist, the variant and the segment count.

Every playlist and segment request goes through :func:`flockwatch.adapters.media_fetch.open_checked`: the same
address checks, redirect rules and pinning as any media URL, all under one deadline (``policy.deadline_s`` for
the whole stream). Caps: a playlist is at most ``PLAYLIST_MAX_BYTES``; a stream at most ``policy.hls_max_segments``
segments and ``policy.video_max_bytes`` bytes in all. Encrypted streams are refused by the parser; a segment
whose first bytes are not MPEG-TS (or an fMP4 fragment, after an init section) is refused as not media.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from flockwatch.adapters.media_fetch import (
    DEFAULT_POLICY,
    MB,
    Deadline,
    FetchPolicy,
    Opened,
    body_chunks,
    open_checked,
    read_capped,
    store_fetched,
)
from flockwatch.media.errors import MediaRefused
from flockwatch.media.hls_playlist import MasterPlaylist, MediaPlaylist, parse_playlist, pick_variant
from flockwatch.media.signal import Kind, MediaFile
from flockwatch.media.sniff import HEAD_BYTES, sniff_bytes

# Real playlists are a few KB (a 20-minute stream of 4 s segments is ~30 KB).
PLAYLIST_MAX_BYTES = 2 * MB
# Boxes an fMP4 media segment may start with (ISO/IEC 14496-12, 23001-7 and RFC 8216 §3.3).
_FRAGMENT_BOXES = {b"moof", b"styp", b"sidx", b"prft", b"emsg", b"free"}


def _playlist(
    url: str, policy: FetchPolicy, deadline: Deadline, extra_headers: Mapping[str, str] | None
) -> tuple[str, bytes]:
    """(final URL, body) of a playlist."""
    with open_checked(url, policy, deadline, extra_headers) as opened:
        return opened.target.url, read_capped(opened, policy, deadline, PLAYLIST_MAX_BYTES, "playlist")


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise MediaRefused("not an HLS playlist: not UTF-8 text") from None


def _media_playlist(
    url: str,
    policy: FetchPolicy,
    deadline: Deadline,
    extra_headers: Mapping[str, str] | None,
    first: tuple[str, bytes] | None,
) -> tuple[MediaPlaylist, dict[str, object]]:
    """The media playlist ``url`` leads to (through its master playlist, if it is one), and what was chosen."""
    final_url, body = first or _playlist(url, policy, deadline, extra_headers)
    playlist = parse_playlist(_text(body), final_url)
    chosen: dict[str, object] = {"playlist": final_url}
    if isinstance(playlist, MasterPlaylist):
        master = playlist
        variant = pick_variant(master)
        media_url, body = _playlist(variant.uri, policy, deadline, extra_headers)
        playlist = parse_playlist(_text(body), media_url)
        if isinstance(playlist, MasterPlaylist):
            raise MediaRefused("HLS variant is another master playlist")
        chosen |= {
            "variant": media_url,
            "variants": len(master.variants),
            "bandwidth": variant.bandwidth,
            "resolution": "x".join(map(str, variant.resolution)) if variant.resolution else None,
        }
    return playlist, chosen


def _check_head(head: bytes, index: int, is_init: bool, fragmented: bool) -> None:
    """Refuse a part whose first bytes are not what the playlist says it is (an error page, a wrong file)."""
    if is_init:
        if head[4:8] != b"ftyp":
            raise MediaRefused(f"HLS initialisation section is not MP4 (starts {head[:8]!r})")
        return
    if fragmented:
        if head[4:8] not in _FRAGMENT_BOXES:
            raise MediaRefused(f"HLS segment {index} is not an fMP4 fragment (starts {head[:8]!r})")
    elif not head.startswith(b"\x47"):
        what = "markup" if head.lstrip()[:1] == b"<" else f"starts {head[:8]!r}"
        raise MediaRefused(f"HLS segment {index} is not MPEG-TS ({what})")


def _append(
    opened: Opened,
    out: IO[bytes],
    digest: hashlib._Hash,
    size: int,
    policy: FetchPolicy,
    deadline: Deadline,
) -> tuple[int, bytes]:
    """Stream one part's body onto ``out``; (total size so far, the part's first bytes)."""
    cap = policy.video_max_bytes
    declared = opened.response.getheader("Content-Length")
    if declared and declared.strip().isdigit() and size + int(declared) > cap:
        raise MediaRefused(f"too large: HLS stream over {cap} bytes (video cap)")
    head = b""
    for chunk in body_chunks(opened, policy, deadline):
        size += len(chunk)
        if size > cap:
            raise MediaRefused(f"too large: HLS stream over {cap} bytes (video cap)")
        if len(head) < HEAD_BYTES:
            head += chunk[: HEAD_BYTES - len(head)]
        digest.update(chunk)
        out.write(chunk)
    return size, head


def fetch_hls(
    url: str,
    cache_dir: Path,
    policy: FetchPolicy = DEFAULT_POLICY,
    *,
    kinds: frozenset[Kind] | None = None,
    extra_headers: Mapping[str, str] | None = None,
    first: tuple[str, bytes] | None = None,
    deadline: Deadline | None = None,
) -> MediaFile:
    """The HLS stream at ``url`` as one cached video file; raises :class:`MediaRefused` with the reason.

    ``first``: the playlist already read (final URL, body), when a fetch found it by its Content-Type;
    ``deadline``: that fetch's, so the whole stream stays within one.
    """
    if kinds is not None and "video" not in kinds:
        raise MediaRefused(f"unexpected media kind: HLS stream (video), wanted {'/'.join(sorted(kinds))}")
    deadline = deadline or Deadline(policy.deadline_s)
    playlist, chosen = _media_playlist(url, policy, deadline, extra_headers, first)
    if len(playlist.segments) > policy.hls_max_segments:
        raise MediaRefused(f"HLS stream of {len(playlist.segments)} segments > cap {policy.hls_max_segments}")
    parts = ([playlist.init] if playlist.init else []) + playlist.segments
    partial_dir = cache_dir / ".partial"
    partial_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    file_head = b""
    with tempfile.NamedTemporaryFile(dir=partial_dir, delete=False) as tmp:
        tmp_path = Path(tmp.name)
        try:
            for index, part in enumerate(parts):
                with open_checked(part, policy, deadline, extra_headers) as opened:
                    size, head = _append(opened, tmp, digest, size, policy, deadline)
                is_init = playlist.init is not None and index == 0
                _check_head(head, index - (playlist.init is not None), is_init, playlist.init is not None)
                file_head = file_head or head
            kind, mime = sniff_bytes(file_head[:HEAD_BYTES])
            if kind != "video":
                raise MediaRefused(f"HLS stream is not video: {kind} ({mime})")
        except BaseException:
            tmp.close()
            tmp_path.unlink(missing_ok=True)
            raise
    meta = {
        **chosen,
        "segments": len(playlist.segments),
        "init": playlist.init,
        "seconds": round(playlist.seconds, 3),
        "complete": playlist.complete,
    }
    return store_fetched(tmp_path, cache_dir, policy, (kind, mime, digest.hexdigest(), size), url, meta)
