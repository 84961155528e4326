"""HLS through the guarded fetcher: a real stream encoded here with PyAV, served over HTTP, fetched and scored.

The stream is what FFmpeg's HLS muxer writes (MPEG-TS segments, or fMP4 with an init section): a master playlist
with a 64x48 and a 128x96 rendition and an audio-only one. Frame ``i`` is one flat grey level, so the frames the
decoder reads back from the concatenated file can be checked one by one. The server listens on 127.0.0.1, which
only these tests' policy allows; the "public platform vs private segment" case puts the playlist on 127.0.0.2
(allowed) and its segments on 127.0.0.1 (refused), as the media fetch hardening tests do.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import json
import shutil
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import av
import numpy as np
import pytest

from flockwatch.adapters.hls_fetch import fetch_hls
from flockwatch.adapters.media_fetch import FetchPolicy, cache_path, fetch_media, sidecar_path
from flockwatch.adapters.media_scorer import build_scorer
from flockwatch.config import Settings
from flockwatch.media import decode
from flockwatch.media.errors import MediaRefused
from flockwatch.media.signal import Finding, MediaFile, Tier
from tests.local_http import QuietStaticHandler, serving

FRAMES = 30
RATE = 10
LEVELS = [(8 * i) % 250 for i in range(FRAMES)]
LOCAL = FetchPolicy(
    allow_addresses=frozenset({ipaddress.ip_network("127.0.0.1/32")}),
    connect_timeout_s=2.0,
    read_timeout_s=2.0,
    deadline_s=20.0,
)


def encode_hls(out: Path, size: tuple[int, int], segment_type: str = "mpegts") -> None:
    """``out/video.m3u8`` and its 1 s segments: ``FRAMES`` flat frames at ``RATE`` fps, h264 (mpeg4 without it)."""
    out.mkdir(parents=True)
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    ext = "m4s" if segment_type == "fmp4" else "ts"
    options = {
        "hls_time": "1",
        "hls_list_size": "0",
        "hls_playlist_type": "vod",
        "hls_segment_type": segment_type,
        "hls_segment_filename": str(out / f"seg%d.{ext}"),
    }
    if segment_type == "fmp4":
        options["hls_fmp4_init_filename"] = "init.mp4"
    container = av.open(str(out / "video.m3u8"), "w", format="hls", options=options)
    stream = container.add_stream(codec, rate=RATE, options={"g": str(RATE), "keyint_min": str(RATE)})
    assert isinstance(stream, av.VideoStream)
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    for index, level in enumerate(LEVELS):
        frame = av.VideoFrame.from_ndarray(np.full((size[1], size[0], 3), level, np.uint8), format="rgb24")
        frame.pts = index
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()


MASTER = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=128x96,CODECS="avc1.64000b"
high/video.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=32000,CODECS="mp4a.40.2"
audio/video.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=300000,RESOLUTION=64x48,CODECS="avc1.64000a"
low/video.m3u8
"""


@pytest.fixture(scope="module")
def stream_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hls")
    encode_hls(root / "low", (64, 48))
    encode_hls(root / "high", (128, 96))
    encode_hls(root / "fmp4", (64, 48), "fmp4")
    (root / "playlist.m3u8").write_text(MASTER)
    return root


class HlsHandler(QuietStaticHandler):
    """Static files; ``.hls`` is served with an HLS Content-Type (a playlist URL without ``.m3u8``)."""

    extensions_map = {  # noqa: RUF012 (the base class's attribute, replaced)
        **QuietStaticHandler.extensions_map,
        ".m3u8": "application/vnd.apple.mpegurl",
        ".hls": "application/x-mpegURL",
        ".ts": "video/mp2t",
    }
    seen: list[str]

    def do_GET(self) -> None:
        type(self).seen.append(self.path)
        super().do_GET()


@pytest.fixture
def site(tmp_path: Path, stream_dir: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """(base URL, a writable copy of the stream, the paths requested)."""
    root = tmp_path / "site"
    shutil.copytree(stream_dir, root)
    seen: list[str] = []
    handler = type("Handler", (HlsHandler,), {"seen": seen})
    with serving(partial(handler, directory=str(root))) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}", root, seen


def levels(media: MediaFile) -> list[int]:
    return [round(float(f.rgb.mean())) for f in decode.video_frames(media.path, every_s=1 / RATE, max_frames=100)]


def close_to(got: list[int], want: list[int]) -> bool:
    return len(got) == len(want) and all(abs(a - b) <= 3 for a, b in zip(got, want, strict=True))


def test_master_playlist_lowest_video_variant_fetched_as_one_file(
    site: tuple[str, Path, list[str]], tmp_path: Path
) -> None:
    base, root, seen = site
    media = fetch_media(base + "/playlist.m3u8", tmp_path / "cache", LOCAL)
    assert (media.kind, media.mime) == ("video", "video/mp2t")
    low = sorted((root / "low").glob("seg*.ts"), key=lambda p: int(p.stem[3:]))
    assert len(low) == 3
    assert media.path.read_bytes() == b"".join(p.read_bytes() for p in low)  # concatenated in playlist order
    assert media.sha256 == hashlib.sha256(media.path.read_bytes()).hexdigest()
    assert media.path == cache_path(tmp_path / "cache", media.sha256)
    sidecar = json.loads(sidecar_path(tmp_path / "cache", media.sha256).read_text())
    assert sidecar["variant"] == base + "/low/video.m3u8" and sidecar["segments"] == 3 and sidecar["complete"]
    assert not any(p.startswith(("/high", "/audio")) for p in seen)  # neither the big nor the audio-only one
    assert close_to(levels(media), LEVELS)  # every frame read back, in order


def test_fmp4_init_and_fragments_concatenate_into_a_readable_mp4(
    site: tuple[str, Path, list[str]], tmp_path: Path
) -> None:
    base, root, _ = site
    assert "#EXT-X-MAP" in (root / "fmp4" / "video.m3u8").read_text()
    media = fetch_media(base + "/fmp4/video.m3u8", tmp_path / "cache", LOCAL)
    assert (media.kind, media.mime) == ("video", "video/mp4")
    assert close_to(levels(media), LEVELS)


def test_playlist_found_by_content_type(site: tuple[str, Path, list[str]], tmp_path: Path) -> None:
    base, root, seen = site
    shutil.copy(root / "low" / "video.m3u8", root / "low" / "watch.hls")
    media = fetch_media(base + "/low/watch.hls", tmp_path / "cache", LOCAL)
    assert media.mime == "video/mp2t" and close_to(levels(media), LEVELS)
    assert seen.count("/low/watch.hls") == 1  # the playlist was read once, by the first request


class FrameCount:
    """A signal that only reads frames back (the real detectors load models; what matters is the file)."""

    name = "frame_count"
    tier = Tier.learned

    def applies_to(self, media: MediaFile) -> bool:
        return media.kind == "video"

    def compute(self, media: MediaFile) -> Finding:
        frames = decode.video_frames(media.path, every_s=1 / RATE, max_frames=100)
        return Finding.observation(self.name, f"{len(frames)} frames", self.tier, {"frames": len(frames)})


def test_scored_through_the_media_scorer_as_the_worker_builds_it(
    site: tuple[str, Path, list[str]], tmp_path: Path
) -> None:
    base, _, _ = site
    settings = Settings(media_allow_networks="127.0.0.1/32", media_cache_dir=tmp_path / "cache")
    scorer = build_scorer(settings, store_bank=False)
    scorer.signals = [FrameCount()]
    result = scorer.score(base + "/playlist.m3u8")
    assert result.error is None and (result.kind, result.mime) == ("video", "video/mp2t"), result
    assert result.findings[0].data["frames"] == FRAMES


# --- refusals ---------------------------------------------------------------------------------------------


def refused(url: str, cache: Path, policy: FetchPolicy = LOCAL) -> str:
    with pytest.raises(MediaRefused) as caught:
        fetch_media(url, cache, policy)
    assert not [p for p in cache.rglob("*") if p.is_file()], "a refused stream left files in the cache"
    return caught.value.reason


def test_segment_on_a_private_address_behind_a_public_playlist(
    site: tuple[str, Path, list[str]], tmp_path: Path
) -> None:
    """The playlist host (127.0.0.2 here) is allowed, its segments point at 127.0.0.1: refused, never requested."""
    base, root, seen = site
    text = (root / "low" / "video.m3u8").read_text().replace("seg", base + "/low/seg")
    platform_root = tmp_path / "platform"
    platform_root.mkdir()
    (platform_root / "video.m3u8").write_text(text)
    public = FetchPolicy(allow_addresses=frozenset({ipaddress.ip_network("127.0.0.2/32")}), deadline_s=10.0)
    platform_seen: list[str] = []
    handler = type("Platform", (HlsHandler,), {"seen": platform_seen})
    with serving(partial(handler, directory=str(platform_root)), host="127.0.0.2") as platform:
        url = f"http://127.0.0.2:{platform.server_address[1]}/video.m3u8"
        assert refused(url, tmp_path / "cache", public) == "refused address 127.0.0.1: loopback"
        # Control: with 127.0.0.1 allowed too, the same playlist is fetched (the test can fail).
        both = dataclasses.replace(public, allow_addresses=public.allow_addresses | LOCAL.allow_addresses)
        assert fetch_media(url, tmp_path / "cache2", both).kind == "video"
    assert platform_seen.count("/video.m3u8") == 2
    assert sum(p.startswith("/low/seg") for p in seen) == 3  # only by the control


def test_too_many_segments(site: tuple[str, Path, list[str]], tmp_path: Path) -> None:
    base, _, seen = site
    policy = dataclasses.replace(LOCAL, hls_max_segments=2)
    assert refused(base + "/low/video.m3u8", tmp_path / "cache", policy) == "HLS stream of 3 segments > cap 2"
    assert not any(".ts" in p for p in seen)


def test_total_over_the_video_cap(site: tuple[str, Path, list[str]], tmp_path: Path) -> None:
    base, root, _ = site
    total = sum(p.stat().st_size for p in (root / "low").glob("seg*.ts"))
    policy = dataclasses.replace(LOCAL, video_max_bytes=total - 1)
    reason = refused(base + "/low/video.m3u8", tmp_path / "cache", policy)
    assert reason == f"too large: HLS stream over {total - 1} bytes (video cap)"
    assert fetch_media(base + "/low/video.m3u8", tmp_path / "cache", dataclasses.replace(policy, video_max_bytes=total))


def test_encrypted_stream(site: tuple[str, Path, list[str]], tmp_path: Path) -> None:
    base, root, seen = site
    text = (root / "low" / "video.m3u8").read_text()
    (root / "low" / "video.m3u8").write_text(
        text.replace("#EXTINF", '#EXT-X-KEY:METHOD=AES-128,URI="key.bin",IV=0x1\n#EXTINF', 1)
    )
    assert refused(base + "/low/video.m3u8", tmp_path / "cache") == "encrypted HLS stream (METHOD=AES-128): not fetched"
    assert not any("key.bin" in p or ".ts" in p for p in seen)


def test_playlist_that_is_html(site: tuple[str, Path, list[str]], tmp_path: Path) -> None:
    base, root, _ = site
    (root / "login.m3u8").write_text("<!DOCTYPE html><html><body>Please sign in</body></html>")
    (root / "login.hls").write_text("<!DOCTYPE html><html><body>Please sign in</body></html>")
    assert refused(base + "/login.m3u8", tmp_path / "cache") == "not an HLS playlist: markup (HTML/XML)"
    assert refused(base + "/login.hls", tmp_path / "cache") == "not an HLS playlist: markup (HTML/XML)"


def test_segment_that_is_an_error_page(site: tuple[str, Path, list[str]], tmp_path: Path) -> None:
    base, root, _ = site
    (root / "low" / "seg1.ts").write_bytes(b"<html><body>503 Service Unavailable</body></html>")
    assert refused(base + "/low/video.m3u8", tmp_path / "cache") == "HLS segment 1 is not MPEG-TS (markup)"


def test_missing_segment(site: tuple[str, Path, list[str]], tmp_path: Path) -> None:
    base, root, _ = site
    (root / "low" / "seg2.ts").unlink()
    assert refused(base + "/low/video.m3u8", tmp_path / "cache") == "HTTP 404 File not found"


def test_video_kind_required(site: tuple[str, Path, list[str]], tmp_path: Path) -> None:
    base, _, seen = site
    with pytest.raises(MediaRefused, match="unexpected media kind: HLS stream"):
        fetch_hls(base + "/low/video.m3u8", tmp_path, LOCAL, kinds=frozenset({"audio"}))
    assert seen == []


def test_one_deadline_for_the_whole_stream(stream_dir: Path, tmp_path: Path) -> None:
    """Each segment comes in 0.4 s, well within the read timeout; three of them overrun a 1 s deadline."""

    class Slow(HlsHandler):
        seen: list[str] = []  # noqa: RUF012

        def do_GET(self) -> None:
            if self.path.endswith(".ts"):
                time.sleep(0.4)
            super().do_GET()

    policy = dataclasses.replace(LOCAL, deadline_s=1.0)
    with serving(partial(Slow, directory=str(stream_dir))) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}/low/video.m3u8"
        started = time.monotonic()
        assert refused(url, tmp_path / "cache", policy).startswith("deadline exceeded")
        assert time.monotonic() - started < 1.5
        assert fetch_media(url, tmp_path / "cache", dataclasses.replace(policy, deadline_s=5.0)).kind == "video"
