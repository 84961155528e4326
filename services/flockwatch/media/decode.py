"""Decoding under caps: images (pixel-count bomb guard), sampled video frames, mono audio.

Every decoder raises :class:`MediaRefused` with a reason instead of letting a hostile or broken file
crash a worker or exhaust memory. Pixel caps are checked from the header, before any pixel is decoded.

Video frames are downscaled as they are decoded (longer side at most ``MAX_FRAME_SIDE``): a 4K frame is
24 MB as RGB, and the signals keep up to 30 (faces) or stream up to 240 (bank hashes) of them. Decoders
check the item deadline (:func:`item_deadline`) on every frame, so a long or slow file costs bounded time.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import functools
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from flockwatch.media.errors import MediaRefused

# 50 MP: above any phone camera; a PNG bomb claims far more (and decodes to GBs).
MAX_IMAGE_PIXELS = 50_000_000
# Scans of one JPEG (a progressive one has about ten): each rereads the whole picture, so a small file of
# thousands of tiny scans decodes for minutes in one uninterruptible call (libjpeg-turbo's tools cap them too).
MAX_JPEG_SCANS = 256
MAX_VIDEO_PIXELS = 3840 * 2160
MAX_VIDEO_SECONDS = 20 * 60
MAX_AUDIO_SECONDS = 20 * 60
AUDIO_RATE = 16_000
# 1080p: every video the detectors were trained and benchmarked on fits, so they see those unchanged; PDQ
# hashes at <= 512 px and MTCNN detects at 640 px anyway. A 4K frame comes out at a quarter of its 24 MB.
MAX_FRAME_SIDE = 1920

RGB = npt.NDArray[np.uint8]


def open_image(path: Path, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """The first frame as RGB; refuses bombs, truncated and undecodable files.

    The scorer's preflight and several signals open the same file one after the other: the last two
    decodes are kept (keyed by path, mtime and size), so a file is decoded once. Callers must not
    modify the image in place.
    """
    try:
        stat = path.stat()
    except OSError as e:
        raise MediaRefused(f"undecodable image: {e}") from e
    return _decode_image(str(path.resolve()), stat.st_mtime_ns, stat.st_size, max_pixels)


@functools.lru_cache(maxsize=2)
def _decode_image(path_str: str, mtime_ns: int, size: int, max_pixels: int) -> Image.Image:
    path = Path(path_str)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
            w, h = im.size
            if w * h > max_pixels:
                raise MediaRefused(f"decompression bomb: {w}x{h} = {w * h} pixels > cap {max_pixels}")
            if im.format in ("JPEG", "MPO") and (scans := jpeg_scans(path)) > MAX_JPEG_SCANS:
                raise MediaRefused(f"decompression bomb: {scans} JPEG scans > cap {MAX_JPEG_SCANS}")
            im.load()
    except MediaRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise MediaRefused(f"decompression bomb: {e}") from e
    # Broad on purpose: a decoder fed hostile bytes raises what it likes (a TypeError from a malformed TIFF tag).
    except Exception as e:
        raise MediaRefused(f"undecodable image: {type(e).__name__}: {e}") from e
    return im.convert("RGB")


def jpeg_scans(path: Path) -> int:
    """Start-of-scan markers in a JPEG file, an upper bound of its scans: entropy-coded data stuffs every 0xFF
    byte, so the marker appears only as a marker (or in an embedded thumbnail, which has a scan or a few)."""
    return path.read_bytes().count(b"\xff\xda")


# Monotonic time by which the item being scored must be done (None: no deadline). A context variable, so
# the signals need no extra parameter and threads scoring other items keep their own.
_DEADLINE: contextvars.ContextVar[tuple[float, float] | None] = contextvars.ContextVar("deadline", default=None)


@contextlib.contextmanager
def item_deadline(seconds: float | None) -> Iterator[None]:
    """Decoders inside this block refuse (``MediaRefused``) once ``seconds`` have passed; None: no deadline."""
    token = _DEADLINE.set(None if seconds is None else (time.monotonic() + seconds, seconds))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def time_left() -> float | None:
    """Seconds left of the current item's deadline (at least 0); None: no deadline."""
    deadline = _DEADLINE.get()
    return None if deadline is None else max(0.0, deadline[0] - time.monotonic())


def check_deadline(doing: str) -> None:
    """Raise ``MediaRefused`` if the current item's deadline has passed."""
    deadline = _DEADLINE.get()
    if deadline is not None and time.monotonic() > deadline[0]:
        raise MediaRefused(f"item deadline of {deadline[1]:g} s passed while {doing}")


def _fit(w: int, h: int, max_side: int) -> tuple[int, int] | None:
    """The (width, height) to downscale to so the longer side is at most ``max_side``; None: keep the size."""
    scale = max_side / max(w, h)
    return None if scale >= 1.0 else (max(1, round(w * scale)), max(1, round(h * scale)))


def _release_freed_memory() -> None:
    """Hand the decoder's freed buffers back to the OS (glibc keeps them otherwise, and the next signal's
    decoder or model stacks its own on top): a 4K decode leaves ~100 MB behind."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@dataclass(frozen=True)
class Frame:
    t: float  # seconds from the start
    rgb: RGB


def video_frames(
    path: Path,
    every_s: float = 1.0,
    max_frames: int = 120,
    max_pixels: int = MAX_VIDEO_PIXELS,
    max_seconds: float = MAX_VIDEO_SECONDS,
    max_side: int = MAX_FRAME_SIDE,
) -> list[Frame]:
    """Frames sampled every ``every_s`` seconds (the first frame always; ``every_s=0``: every frame), as RGB arrays
    at most ``max_side``."""
    return list(iter_video_frames(path, every_s, max_frames, max_pixels, max_seconds, max_side))


def iter_video_frames(
    path: Path,
    every_s: float = 1.0,
    max_frames: int = 120,
    max_pixels: int = MAX_VIDEO_PIXELS,
    max_seconds: float = MAX_VIDEO_SECONDS,
    max_side: int = MAX_FRAME_SIDE,
) -> Iterator[Frame]:
    """:func:`video_frames` one frame at a time, for callers that need not hold them all.

    PyAV, so a sampled frame is scaled and converted in one step from the decoder's YUV (never a full-size RGB
    copy), and unsampled frames are decoded but never converted. Slice threads: frame threads would keep a
    4K picture per thread."""
    import av  # heavy import kept local: only video paths need it

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise MediaRefused(f"undecodable video: {e}") from e
    yielded = 0
    try:
        if not container.streams.video:
            raise MediaRefused("undecodable video: no video stream")
        stream = container.streams.video[0]
        if stream.codec_context is None:
            raise MediaRefused("undecodable video: no decoder for its codec")
        w, h = stream.codec_context.width, stream.codec_context.height
        if w * h > max_pixels:
            raise MediaRefused(f"video too large: {w}x{h} > cap {max_pixels} pixels")
        # The header's size binds no frame: the decoder refuses larger ones itself (ffmpeg's max_pixels), and the
        # loop checks each frame it gets.
        stream.codec_context.options = {**stream.codec_context.options, "max_pixels": str(max_pixels)}
        length = _seconds(stream.duration, stream.time_base) or (container.duration or 0) / 1_000_000
        if length > max_seconds:
            raise MediaRefused(f"video too long: {length:.0f} s > cap {max_seconds:.0f} s")
        rate = float(stream.average_rate or 0) or 25.0
        stream.thread_type = "SLICE"
        start: float | None = None
        next_t = 0.0
        for index, frame in enumerate(container.decode(stream)):
            check_deadline("decoding video")
            if frame.width * frame.height > max_pixels:
                raise MediaRefused(f"video too large: a {frame.width}x{frame.height} frame > cap {max_pixels} pixels")
            at = _seconds(frame.pts, frame.time_base)
            at = index / rate if at is None else at
            start = at if start is None else start
            t = max(0.0, at - start)  # seconds from the first frame, whatever the container's start time
            if t > max_seconds:
                break
            if t + 1e-9 < next_t:
                continue
            size = _fit(frame.width, frame.height, max_side) or (frame.width, frame.height)
            # AREA: averaging, not sampling, so a downscaled frame does not alias.
            rgb = frame.to_ndarray(format="rgb24", width=size[0], height=size[1], interpolation="AREA")
            yielded += 1
            yield Frame(t, np.ascontiguousarray(rgb))
            if yielded >= max_frames:
                break
            while every_s > 0 and next_t <= t + 1e-9:
                next_t += every_s
    except av.error.FFmpegError as e:
        # A damaged tail still leaves the frames before it; a file with none is refused.
        if not yielded:
            raise MediaRefused(f"undecodable video: {e}") from e
    finally:
        container.close()
        _release_freed_memory()
    if not yielded:
        raise MediaRefused("undecodable video: no frames")


def _seconds(value: int | None, time_base: Any) -> float | None:
    return None if value is None or time_base is None else float(value * time_base)


def audio_samples(
    path: Path, rate: int = AUDIO_RATE, max_seconds: float = MAX_AUDIO_SECONDS
) -> npt.NDArray[np.float32]:
    """The first audio stream as mono float32 at ``rate`` Hz, cut at ``max_seconds``."""
    import av  # heavy import kept local

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise MediaRefused("no audio stream")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            chunks: list[npt.NDArray[np.float32]] = []
            total, cap = 0, int(max_seconds * rate)
            for frame in container.decode(audio=0):
                check_deadline("decoding audio")
                for out in resampler.resample(frame):
                    arr = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                    chunks.append(arr)
                    total += arr.size
                if total >= cap:
                    break
    except MediaRefused:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise MediaRefused(f"undecodable audio: {e}") from e
    if not chunks:
        raise MediaRefused("undecodable audio: no samples")
    return np.concatenate(chunks)[:cap]
