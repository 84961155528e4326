"""Hostile media found by review: each used to run for minutes, or crash the scorer, and is now bounded or refused."""

from __future__ import annotations

import io
import socket
import struct
import threading
import time
from pathlib import Path

from PIL import Image

from flockwatch.adapters.media_scorer import fetcher_for
from flockwatch.config import Settings
from flockwatch.media import decode
from flockwatch.media.metadata import IPTC_DST, xmp_fields
from flockwatch.media.provenance import summarise_store
from flockwatch.media.score import MediaScorer
from tests.unit.media.clips import silent_video


def test_xmp_of_unclosed_tags_is_read_in_linear_time() -> None:
    packet = "<x:xmpmeta>" + "<xmp:CreatorTool>" * 60_000 + "</x:xmpmeta>"  # about 1 MB: minutes before
    started = time.monotonic()
    assert xmp_fields(packet) == {}
    assert time.monotonic() - started < 5
    assert xmp_fields("<xmp:CreatorTool>Midjourney</xmp:CreatorTool>") == {"xmp:CreatorTool": "Midjourney"}
    long = "Made with Midjourney " + "x" * 3000  # a long prompt is read, cut, not skipped
    for packet in (f"<xmp:CreatorTool>{long}</xmp:CreatorTool>", f'<rdf:Description xmp:CreatorTool="{long}"/>'):
        assert xmp_fields(packet)["xmp:CreatorTool"].startswith("Made with Midjourney")


def test_a_c2pa_ingredient_graph_is_walked_once_per_manifest() -> None:
    """Nine manifests, each with eight ingredients naming the one before: 8^8 paths, nine manifests."""
    generated = {"action": "c2pa.created", "digitalSourceType": IPTC_DST + "trainedAlgorithmicMedia"}
    manifests = {"m0": {"assertions": [{"label": "c2pa.actions", "data": {"actions": [generated]}}]}}
    for i in range(1, 9):
        manifests[f"m{i}"] = {"ingredients": [{"active_manifest": f"m{i - 1}", "relationship": "parentOf"}] * 8}
    started = time.monotonic()
    summary = summarise_store({"active_manifest": "m8", "manifests": manifests}, trust_list=False)
    assert time.monotonic() - started < 2
    assert summary["ai_generated"] and summary["characterisation"] == "ai_generated"  # found 8 hops up


def _jpeg_with_scans(path: Path, extra: int) -> None:
    """A small progressive JPEG whose last scan is repeated ``extra`` times (a scan bomb at a larger size)."""
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 130, 140)).save(buf, "JPEG", progressive=True)
    data = buf.getvalue()
    last_scan = data.rindex(b"\xff\xda")
    path.write_bytes(data[:-2] + data[last_scan:-2] * extra + data[-2:])


def test_a_jpeg_of_too_many_scans_is_refused_before_it_is_decoded(tmp_path: Path) -> None:
    ok, bomb = tmp_path / "ok.jpg", tmp_path / "bomb.jpg"
    _jpeg_with_scans(ok, 0)
    _jpeg_with_scans(bomb, decode.MAX_JPEG_SCANS)
    assert decode.jpeg_scans(ok) < 20 and decode.open_image(ok).size == (64, 64)
    result = MediaScorer([], local_files=True).score(str(bomb))
    assert result.error is not None and "JPEG scans > cap" in result.error


def test_a_tiff_with_a_malformed_tag_is_refused_not_raised(tmp_path: Path) -> None:
    # StripOffsets (273) typed RATIONAL: Pillow raises a TypeError deep in its decoder.
    tags = [(256, 3, 4), (257, 3, 4), (258, 3, 8), (259, 3, 1), (262, 3, 2), (273, 5, 0), (277, 3, 3),
            (278, 3, 4), (279, 4, 48), (284, 3, 1)]  # fmt: skip
    ifd_end = 8 + 2 + 12 * len(tags) + 4
    entries = b"".join(
        struct.pack("<HHI", tag, kind, 1) + (struct.pack("<I", ifd_end) if tag == 273 else struct.pack("<HH", v, 0))
        if kind != 4
        else struct.pack("<HHII", tag, kind, 1, v)
        for tag, kind, v in tags
    )
    data = b"II*\x00" + struct.pack("<IH", 8, len(tags)) + entries + struct.pack("<I", 0)
    path = tmp_path / "bad.tif"
    path.write_bytes(data + struct.pack("<II", ifd_end + 8, 1) + bytes(48))
    result = MediaScorer([], local_files=True).score(str(path))
    assert result.error is not None and result.error.startswith("undecodable image: TypeError")


def test_a_video_whose_codec_has_no_decoder_is_refused(tmp_path: Path) -> None:
    path = silent_video(tmp_path / "v.mkv", frames=2)
    bad = tmp_path / "nocodec.mkv"
    bad.write_bytes(path.read_bytes().replace(b"V_MPEG4/ISO/ASP", b"V_ZZZZZ/ZZZ/ZZZ"))
    result = MediaScorer([], local_files=True).score(str(bad))
    assert result.error == "undecodable video: no decoder for its codec"


def test_a_trickling_server_costs_no_more_than_the_item_deadline(tmp_path: Path) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def trickle() -> None:
        conn, _ = server.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n")
        try:
            for _ in range(60):
                conn.sendall(b"\x00" * 64)
                time.sleep(0.5)
        except OSError:
            pass
        conn.close()

    threading.Thread(target=trickle, daemon=True).start()
    settings = Settings(media_allow_networks="127.0.0.1/32", media_cache_dir=tmp_path / "cache")
    scorer = MediaScorer([], fetcher_for(settings), item_deadline_s=2.0)
    started = time.monotonic()
    result = scorer.score(f"http://127.0.0.1:{port}/x.png")
    assert time.monotonic() - started < 6  # the fetch's own deadline is 120 s
    assert result.error is not None and "deadline" in result.error
    server.close()
