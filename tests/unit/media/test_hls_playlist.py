"""HLS playlist parsing: variants and their choice, segments resolved against the playlist, and refusals."""

from __future__ import annotations

import pytest

from flockwatch.media.errors import MediaRefused
from flockwatch.media.hls_playlist import (
    MasterPlaylist,
    MediaPlaylist,
    attributes,
    parse_playlist,
    pick_variant,
)
from flockwatch.media.sniff import sniff_bytes

BASE = "https://video.bsky.app/watch/did%3Aplc%3Ax/bafkrei/playlist.m3u8"
# The shape video.bsky.app serves: an audio-free 360p and 720p, relative URIs.
MASTER = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-STREAM-INF:BANDWIDTH=2612000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2"
720p/video.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=64000,CODECS="mp4a.40.2"
audio/only.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=688000,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2"
360p/video.m3u8
"""
MEDIA = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:4
#EXT-X-KEY:METHOD=NONE
#EXTINF:4.000,
video0.ts
#EXTINF:3.5,title with, a comma
/abs/video1.ts
#EXTINF:1,
https://cdn.example/video2.ts?token=1
#EXT-X-ENDLIST
"""


def test_attributes_keep_commas_inside_quotes() -> None:
    assert attributes('BANDWIDTH=1,CODECS="avc1.4d,mp4a.40.2",RESOLUTION=2x3') == {
        "BANDWIDTH": "1",
        "CODECS": "avc1.4d,mp4a.40.2",
        "RESOLUTION": "2x3",
    }


def test_master_lowest_bandwidth_video_variant() -> None:
    master = parse_playlist(MASTER, BASE)
    assert isinstance(master, MasterPlaylist) and len(master.variants) == 3
    chosen = pick_variant(master)
    assert chosen.uri == "https://video.bsky.app/watch/did%3Aplc%3Ax/bafkrei/360p/video.m3u8"
    assert chosen.resolution == (640, 360) and chosen.bandwidth == 688000  # the audio-only 64 kb/s is never taken


def test_variants_that_do_not_say_are_a_fallback_and_audio_only_is_refused() -> None:
    unknown = parse_playlist(
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=9\na.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=5\nb.m3u8\n", BASE
    )
    assert isinstance(unknown, MasterPlaylist) and pick_variant(unknown).uri.endswith("/b.m3u8")
    audio = parse_playlist('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=9,CODECS="mp4a.40.2"\na.m3u8\n', BASE)
    assert isinstance(audio, MasterPlaylist)
    with pytest.raises(MediaRefused, match="only audio"):
        pick_variant(audio)


def test_media_playlist_segments_resolved_in_order() -> None:
    media = parse_playlist(MEDIA, BASE)
    assert isinstance(media, MediaPlaylist) and media.complete and media.init is None
    assert media.segments == [
        "https://video.bsky.app/watch/did%3Aplc%3Ax/bafkrei/video0.ts",
        "https://video.bsky.app/abs/video1.ts",
        "https://cdn.example/video2.ts?token=1",
    ]
    assert media.seconds == 8.5


def test_fmp4_init_section_and_a_second_one_ends_the_list() -> None:
    text = (
        '#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:2,\na.m4s\n#EXTINF:2,\nb.m4s\n'
        '#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="other.mp4"\n#EXTINF:2,\nc.m4s\n#EXT-X-ENDLIST\n'
    )
    media = parse_playlist(text, BASE)
    assert isinstance(media, MediaPlaylist)
    assert media.init is not None and media.init.endswith("/bafkrei/init.mp4")
    assert [s.rsplit("/", 1)[1] for s in media.segments] == ["a.m4s", "b.m4s"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("<!doctype html><html><body>Not found</body></html>", "not an HLS playlist: markup"),
        ("#EXTINF:1,\na.ts\n", "no #EXTM3U header"),
        ("", "no #EXTM3U header"),
        ('#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="k.bin"\n#EXTINF:1,\na.ts\n', "encrypted HLS stream (METHOD=AES-128)"),
        (
            '#EXTM3U\n#EXT-X-KEY:METHOD=SAMPLE-AES,URI="k"\n#EXTINF:1,\na.ts\n',
            "encrypted HLS stream (METHOD=SAMPLE-AES)",
        ),
        ('#EXTM3U\n#EXT-X-SESSION-KEY:METHOD=AES-128,URI="k"\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n', "encrypted"),
        ("#EXTM3U\n#EXTINF:1,\n#EXT-X-BYTERANGE:100@0\na.ts\n", "byte-range"),
        ("#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-ENDLIST\n", "lists no segments"),
        ("#EXTM3U\na.ts\n", "without #EXTINF"),
        ("#EXTM3U\n#EXTINF:soon,\na.ts\n", "unreadable duration"),
        ("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=fast\na.m3u8\n", "BANDWIDTH"),
    ],
)
def test_refusals(text: str, reason: str) -> None:
    with pytest.raises(MediaRefused, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_playlist(text, BASE)


def test_mpeg_ts_sniffs_as_video_and_text_starting_with_g_does_not() -> None:
    # A PAT packet header (PID 0, payload only), and FFmpeg's first packet (SDT, PID 0x11).
    assert sniff_bytes(b"\x47\x40\x00\x10" + bytes(60)) == ("video", "video/mp2t")
    assert sniff_bytes(b"\x47\x40\x11\x10" + bytes(60)) == ("video", "video/mp2t")
    # Three packets: every boundary must hold the sync byte, whatever the first PID.
    packets = (b"\x47\x41\x00\x10" + bytes(184)) * 3
    assert sniff_bytes(packets) == ("video", "video/mp2t")
    with pytest.raises(MediaRefused):
        sniff_bytes(packets[:376] + b"x" + packets[377:])
    for text in (b"Go away, nothing here" + bytes(40), b"G\x00\x00\x00" + bytes(60)):
        with pytest.raises(MediaRefused, match="not media"):
            sniff_bytes(text)
