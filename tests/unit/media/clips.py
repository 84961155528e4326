"""Tiny media files the media tests write for themselves."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt


def silent_video(path: Path, frames: int = 10, side: int = 64, rate: int = 10) -> Path:
    """An MPEG-4 video of ``frames`` grey frames brightening step by step, with no audio stream."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=rate)
        stream.width, stream.height, stream.pix_fmt = side, side, "yuv420p"
        for i in range(frames):
            grey = np.full((side, side, 3), i * 20 % 256, dtype=np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(grey, format="rgb24")))
        out.mux(stream.encode(None))
    return path


def _aac(out: av.container.OutputContainer, rate: int) -> Callable[[npt.NDArray[np.float32]], None]:
    """Add a mono AAC stream to ``out`` (before anything is muxed); returns what encodes samples into it."""
    stream = out.add_stream("aac", rate=rate, layout="mono")

    def write(samples: npt.NDArray[np.float32]) -> None:
        for i in range(0, samples.size, 1024):
            frame = av.AudioFrame.from_ndarray(samples[None, i : i + 1024], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))

    return write


def audio_only_mp4(path: Path, seconds: float = 2.0, rate: int = 16_000, hz: float = 220.0) -> Path:
    """An MP4 of ffmpeg's default brand (isom, as yt-dlp's DASH audio), holding one AAC tone and no video."""
    t = np.arange(int(seconds * rate)) / rate
    with av.open(str(path), "w", format="mp4") as out:
        _aac(out, rate)((0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32))
    return path


def video_with_silence(path: Path, frames: int = 10, side: int = 64, rate: int = 10) -> Path:
    """An MP4 of ``frames`` grey frames with an AAC track of silence as long as the video."""
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=rate)
        stream.width, stream.height, stream.pix_fmt = side, side, "yuv420p"
        audio = _aac(out, 16_000)
        for i in range(frames):
            grey = np.full((side, side, 3), i * 20 % 256, dtype=np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(grey, format="rgb24")))
        out.mux(stream.encode(None))
        audio(np.zeros(16_000 * frames // rate, np.float32))
    return path
