"""Video matching by keyframe PDQ: the share of one video's keyframes that have a close frame in the other.

After the PDQF half of Facebook's "The TMK+PDQF Video-Hashing and PDQ Image Similarity Algorithms"
(2019): PDQ of frames sampled at a fixed rate, compared frame set to frame set, so it survives
re-encoding, trimming, resizing, colour changes (grey, sepia) and overlays. Each keyframe is hashed like a
picture (:mod:`flockwatch.media.hashing`): black bars (letterbox, pillarbox, padding) trimmed first, so an
SD version with bars hashes like the HD one without; windows for crops and corner logos (81 upright
windows per banked frame, 5 per query frame; no dihedral variants); flat frames (PDQ quality < 50: black,
fades) dropped, since they match every other flat frame. Banked videos are sampled every 0.5 s and
queries every 1 s, so a query frame is never more than 0.25 s from a banked one.

``video_distance`` is 1 - max(share of A's keyframes with a frame of B within ``FRAME_BITS``, the same for
B in A): the max so that a short excerpt of a banked video, or a long video containing a banked clip,
still matches; at least ``MIN_FRAMES`` frames must match. Thresholds from tmk_variants
(``python -m bench.media_matching``, docs/benchmarks.md "Media matching"): unrelated videos (chair,
pattern, doorknob, the padded test card) share no keyframe at all (distance 1.0); every re-encode
matches its original at ≤ 0.57 (chair-19 is a different cut: 0.42; the large-logo versions 0.48/0.57),
and the hardest pair, chair-19 against the large-logo version (two edits stacked), is at 0.78-0.79.
``MATCH_DISTANCE`` = 0.8 (a fifth of the keyframes, at least ``MIN_FRAMES``) keeps those; still missed:
pattern large-logo against pattern-longer/small-logo (no keyframe within 52 bits: the logo covers the
middle of a repetitive texture). ``FRAME_BITS`` is the image threshold: none of ~60k unrelated picture
pairs comes that close.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from flockwatch.media import decode, hashing

QUERY_EVERY_S = 1.0
BANK_EVERY_S = 0.5
MAX_FRAMES = 240
FRAME_BITS = hashing.MATCH_BITS
MATCH_DISTANCE = 0.8
MIN_FRAMES = 2


@dataclass(frozen=True)
class VideoHashes:
    """PDQ hex hashes of the kept keyframes: ``frame[i]`` says which keyframe ``hashes[i]`` belongs to."""

    hashes: tuple[str, ...]
    frame: tuple[int, ...]
    # Time (seconds) of each kept keyframe.
    times: tuple[float, ...]
    # Frames sampled in all (before dropping the flat ones).
    sampled: int
    role: str = "query"

    def to_dict(self) -> dict[str, Any]:
        return {
            "hashes": list(self.hashes),
            "frame": list(self.frame),
            "times": list(self.times),
            "sampled": self.sampled,
            "role": self.role,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> VideoHashes:
        return VideoHashes(
            tuple(d["hashes"]),
            tuple(int(i) for i in d["frame"]),
            tuple(float(t) for t in d["times"]),
            int(d["sampled"]),
            str(d.get("role", "query")),
        )


def frames_hashes(frames: Iterable[decode.Frame], role: str = "query") -> VideoHashes:
    """Hashes of ``frames``, consumed one at a time: a decoder's iterator is never held in memory."""
    hashes: list[str] = []
    index: list[int] = []
    times: list[float] = []
    sampled = 0
    for f in frames:
        sampled += 1
        h = hashing.image_hashes(Image.fromarray(f.rgb), role, dihedral=False)
        if h.hashes:
            hashes.extend(h.hashes)
            index.extend([len(times)] * len(h.hashes))
            times.append(round(f.t, 3))
    return VideoHashes(tuple(hashes), tuple(index), tuple(times), sampled, role)


def video_hashes(path: Path, role: str = "query", max_frames: int = MAX_FRAMES) -> VideoHashes:
    every = BANK_EVERY_S if role == "bank" else QUERY_EVERY_S
    return frames_hashes(decode.iter_video_frames(path, every_s=every, max_frames=max_frames), role)


def _frame_matrix(a: VideoHashes, b: VideoHashes) -> npt.NDArray[np.uint16]:
    """Best distance between every keyframe of ``a`` and every keyframe of ``b`` (over their windows)."""
    d = hashing.hamming_matrix(hashing.to_words(a.hashes), hashing.to_words(b.hashes))
    starts_a = np.flatnonzero(np.diff(np.asarray(a.frame), prepend=-1))
    starts_b = np.flatnonzero(np.diff(np.asarray(b.frame), prepend=-1))
    return np.minimum.reduceat(np.minimum.reduceat(d, starts_a, axis=0), starts_b, axis=1)


def video_distance(a: VideoHashes, b: VideoHashes, frame_bits: int = FRAME_BITS) -> tuple[float, str]:
    """(1 - best share of matched keyframes, evidence). 1.0 when either side has no usable frame."""
    if not a.hashes or not b.hashes:
        return 1.0, "no usable keyframe (all flat)"
    m = _frame_matrix(a, b)
    a_hits = m.min(axis=1) <= frame_bits
    b_hits = m.min(axis=0) <= frame_bits
    if max(int(a_hits.sum()), int(b_hits.sum())) < MIN_FRAMES:
        return 1.0, f"fewer than {MIN_FRAMES} keyframes within {frame_bits} bits"
    share = max(float(a_hits.mean()), float(b_hits.mean()))
    median = float(np.median(m.min(axis=1)[a_hits])) if a_hits.any() else float(frame_bits)
    how = (
        f"{int(a_hits.sum())}/{len(a.times)} query keyframes and {int(b_hits.sum())}/{len(b.times)} "
        f"banked keyframes within {frame_bits} bits (median {median:.0f})"
    )
    return round(1.0 - share, 4), how


def is_match(distance: float, threshold: float = MATCH_DISTANCE) -> bool:
    return distance <= threshold
