"""Decoding under caps: images (pixel-count bomb guard), sampled video frames, mono audio.

Every decoder raises :class:`MediaRefused` with a reason instead of letting a hostile or broken file
crash a worker or exhaust memory. Pixel caps are checked from the header, before any pixel is decoded.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from flockwatch.media.errors import MediaRefused

# 50 MP: above any phone camera; a PNG bomb claims far more (and decodes to GBs).
MAX_IMAGE_PIXELS = 50_000_000
MAX_VIDEO_PIXELS = 3840 * 2160
MAX_VIDEO_SECONDS = 20 * 60
MAX_AUDIO_SECONDS = 20 * 60
AUDIO_RATE = 16_000

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
            im.load()
    except MediaRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise MediaRefused(f"decompression bomb: {e}") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise MediaRefused(f"undecodable image: {e}") from e
    return im.convert("RGB")


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
) -> list[Frame]:
    """Frames sampled every ``every_s`` seconds (the first frame always), as RGB arrays."""
    import cv2  # heavy import kept local: only video paths need it

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise MediaRefused("undecodable video")
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if w * h > max_pixels:
            raise MediaRefused(f"video too large: {w}x{h} > cap {max_pixels} pixels")
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        if not 1.0 <= fps <= 240.0:
            fps = 25.0
        n = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        if n > 0 and n / fps > max_seconds:
            raise MediaRefused(f"video too long: {n / fps:.0f} s > cap {max_seconds:.0f} s")
        out: list[Frame] = []
        index, next_t = 0, 0.0
        while len(out) < max_frames and index / fps <= max_seconds:
            if not cap.grab():
                break
            t = index / fps
            if t + 1e-9 >= next_t:
                ok, bgr = cap.retrieve()
                if ok:
                    out.append(Frame(t, np.ascontiguousarray(bgr[:, :, ::-1])))
                next_t += every_s
            index += 1
    finally:
        cap.release()
    if not out:
        raise MediaRefused("undecodable video: no frames")
    return out


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
