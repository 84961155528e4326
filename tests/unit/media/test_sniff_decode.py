"""Content sniffing and capped decoding: real shared media, hostile files, and sniffing arbitrary bytes."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from flockwatch.config import Settings
from flockwatch.media.decode import audio_samples, open_image, video_frames
from flockwatch.media.errors import MediaRefused
from flockwatch.media.sniff import open_media, sniff_bytes

MEDIA = Settings().data_dir / "media"


def _shared(rel: str) -> Path:
    path = MEDIA / rel
    assert path.is_file(), f"shared media missing (set FLOCKWATCH_DATA_DIR): {path}"
    return path


def _jpeg(size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    # Noise, so the entropy-coded data is long enough to cut in the middle.
    Image.effect_noise(size, 80).convert("RGB").save(buf, "JPEG", quality=90)
    return buf.getvalue()


# --- real files -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rel", "kind", "mime"),
    [
        ("images/pdq_variants/bridge-1-original.jpg", "image", "image/jpeg"),
        ("images/c2pa_examples/ChatGPT_Image.png", "image", "image/png"),
        ("images/c2pa_examples/crater-lake.jpeg", "image", "image/jpeg"),
        ("video/ffpp_dfdc_samples/ffpp/original_sequences/youtube/c23/videos/004.mp4", "video", "video/mp4"),
        ("audio/voice_clone/librispeech_test-other/3005/3005-163389-0000.flac", "audio", "audio/flac"),
    ],
)
def test_real_shared_files_sniff_and_hash(rel: str, kind: str, mime: str) -> None:
    path = _shared(rel)
    media = open_media(path)
    assert (media.kind, media.mime) == (kind, mime)
    assert media.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert media.size == path.stat().st_size and media.source == str(path)


def test_real_jpeg_decodes_to_rgb() -> None:
    im = open_image(_shared("images/pdq_variants/bridge-1-original.jpg"))
    assert im.mode == "RGB" and im.width > 0 and im.height > 0


def test_real_video_and_audio_decode_under_caps() -> None:
    frames = video_frames(
        _shared("video/ffpp_dfdc_samples/ffpp/original_sequences/youtube/c23/videos/004.mp4"), max_frames=2
    )
    assert len(frames) == 2 and frames[0].t == 0.0 and frames[0].rgb.ndim == 3 and frames[0].rgb.shape[2] == 3
    samples = audio_samples(
        _shared("audio/voice_clone/librispeech_test-other/3005/3005-163389-0000.flac"), max_seconds=1.0
    )
    assert samples.dtype.name == "float32" and 0 < samples.size <= 16_000


# --- sniffing -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "kind", "mime"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image", "image/png"),
        (b"GIF89a\x01\x00\x01\x00", "image", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image", "image/webp"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "audio", "audio/wav"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "video", "video/x-msvideo"),
        (b"BM" + bytes(20), "image", "image/bmp"),
        (b"II*\x00\x08\x00\x00\x00", "image", "image/tiff"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "image", "image/heic"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00", "image", "image/avif"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", "audio", "audio/mp4"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", "video", "video/quicktime"),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "video", "video/mp4"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81", "video", "video/webm"),
        (b"FLV\x01\x05", "video", "video/x-flv"),
        (b"fLaC\x00\x00\x00\x22", "audio", "audio/flac"),
        (b"OggS\x00\x02", "audio", "audio/ogg"),
        (b"ID3\x04\x00\x00", "audio", "audio/mpeg"),
        (b"\xff\xfb\x90\x64", "audio", "audio/mpeg"),
    ],
)
def test_sniff_signatures(head: bytes, kind: str, mime: str) -> None:
    assert sniff_bytes(head) == (kind, mime)


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "markup"),
        (b"\xef\xbb\xbf\r\n  <?XML version='1.0'?><svg/>", "markup"),
        (b"<!DOCTYPE HTML><html>", "markup"),
        (b"\t<HtMl><body>", "markup"),
        (b"<script>fetch('//evil')</script>", "markup"),
        (b"<!-- comment --><svg/>", "markup"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3", "not media: PDF document"),
        (b"PK\x03\x04\x14\x00\x00\x00", "not media: archive"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "not media: archive"),
        (b"7z\xbc\xaf\x27\x1c\x00\x04", "not media: archive"),
        (b"Rar!\x1a\x07\x01\x00", "not media: archive"),
        (b"hello, this is a text file", "not media: unrecognised content"),
        (b"\xff", "not media: unrecognised content"),
        (b"", "empty file"),
    ],
)
def test_sniff_refusals(head: bytes, reason: str) -> None:
    with pytest.raises(MediaRefused) as e:
        sniff_bytes(head)
    assert reason in e.value.reason


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=96))
def test_sniff_arbitrary_bytes_returns_media_or_refuses(head: bytes) -> None:
    try:
        kind, mime = sniff_bytes(head)
    except MediaRefused as e:
        assert e.reason
        return
    assert kind in ("image", "video", "audio")
    assert mime.startswith(kind + "/")


# --- hostile and broken files --------------------------------------------------------------------------


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def _png_bomb(path: Path, side: int) -> None:
    """A valid 1-bit ``side``x``side`` PNG of zeros: tiny on disk, ``side**2`` pixels once decoded."""
    row = bytes(1 + (side + 7) // 8)  # filter byte + packed bits
    z = zlib.compressobj(9)
    block = row * 1000
    idat = b"".join(z.compress(block) for _ in range(side // 1000)) + z.flush()  # side % 1000 == 0
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit greyscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))


def test_png_decompression_bomb_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    _png_bomb(bomb, 20_000)
    assert bomb.stat().st_size < 1 << 20
    assert open_media(bomb).mime == "image/png"  # sniffing alone cannot tell: decoding must refuse
    # Far past Pillow's own limit: its guard (warnings made errors) refuses it while reading the header.
    with pytest.raises(MediaRefused, match=r"decompression bomb: Image size \(400000000 pixels\)"):
        open_image(bomb)


def test_png_over_our_pixel_cap_refused_before_decoding(tmp_path: Path) -> None:
    # 64 MP: under Pillow's warning limit (~89 MP), over our 50 MP cap, so our header check is what refuses.
    bomb = tmp_path / "wide.png"
    _png_bomb(bomb, 8_000)
    with pytest.raises(MediaRefused, match=r"decompression bomb: 8000x8000 = 64000000 pixels > cap 50000000"):
        open_image(bomb)
    small = tmp_path / "small.png"
    Image.new("RGB", (40, 40)).save(small)
    with pytest.raises(MediaRefused, match=r"40x40 = 1600 pixels > cap 1000"):
        open_image(small, max_pixels=1000)


def test_truncated_jpeg_refused(tmp_path: Path) -> None:
    data = _jpeg()
    whole, cut = tmp_path / "whole.jpg", tmp_path / "cut.jpg"
    whole.write_bytes(data)
    cut.write_bytes(data[: len(data) // 2])
    assert open_image(whole).size == (64, 48)
    assert open_media(cut).mime == "image/jpeg"
    with pytest.raises(MediaRefused, match="undecodable image"):
        open_image(cut)


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("notes.jpg", b"Dear diary, today I renamed a text file.\n" * 4, "not media: unrecognised content"),
        ("page.png", b"<!doctype html><html><img src=x onerror=alert(1)></html>", "markup"),
        ("logo.gif", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "markup"),
        ("empty.jpg", b"", "empty file"),
    ],
)
def test_mislabeled_non_media_refused(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(MediaRefused, match=reason):
        open_media(path)
    with pytest.raises(MediaRefused, match="undecodable image"):
        open_image(path)


def test_type_comes_from_bytes_not_name(tmp_path: Path) -> None:
    png_as_jpg = tmp_path / "photo.jpg"
    Image.new("RGB", (4, 4)).save(png_as_jpg, "PNG")
    assert open_media(png_as_jpg).mime == "image/png"
    assert open_image(png_as_jpg).size == (4, 4)


def test_open_media_refuses_directories_and_oversize(tmp_path: Path) -> None:
    with pytest.raises(MediaRefused, match="not a file"):
        open_media(tmp_path)
    big = tmp_path / "big.jpg"
    big.write_bytes(_jpeg())
    with pytest.raises(MediaRefused, match=r"too large: \d+ bytes > cap 100"):
        open_media(big, max_bytes=100)


def test_decoders_refuse_non_media(tmp_path: Path) -> None:
    text = tmp_path / "clip.mp4"
    text.write_bytes(b"not a video at all\n" * 10)
    with pytest.raises(MediaRefused, match="undecodable video"):
        video_frames(text)
    with pytest.raises(MediaRefused, match="undecodable audio"):
        audio_samples(text)
