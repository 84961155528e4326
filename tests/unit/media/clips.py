"""Tiny media files the media tests write for themselves."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


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
