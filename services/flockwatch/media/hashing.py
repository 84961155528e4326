"""Perceptual image hashes that survive crops, overlays, flips/rotations, recompression and resizing.

PDQ (Facebook, "The TMK+PDQF Video-Hashing and PDQ Image Similarity Algorithms", 2019) hashes the
whole picture: luma, Jarosz-filtered down to 64x64, 16x16 low-frequency DCT, one bit per coefficient
above the median. Recompression, resizing, greyscale and brightness barely move it, and
``compute_dihedral`` gives the 8 flips/rotations from one DCT. But a crop changes the frame every
coefficient is measured in: cutting 5% from each side moves ~100 of 256 bits (unrelated ≈ 128), so
plain PDQ misses crops entirely.

Crop robustness here is asymmetric, to keep the query cheap:

- bank side: PDQ of 81 sub-windows, every combination of trimming 0, 5 or 10% from each side, each
  with its 8 dihedral variants (648 hashes);
- query side: PDQ of the whole picture plus four windows trimming 10% from one side (5 hashes), so a
  caption bar or corner logo along one edge can be cut away by a query window.

A copy cropped by up to ~10% from any side is then within a couple of percent of one bank window, and
a flipped or rotated crop matches a dihedral variant of that window. Before windowing, pictures are
box-downscaled to ≤ 512 px and uniform bars on both sides (padding, letterbox) are cut off; each window
is box-resized straight to 64x64 and hashed (a few bits from reference full-size PDQ, but the same on
both sides, and 81 windows cost ~50 ms). Hashes with PDQ quality < 50 (flat, featureless windows) are
dropped: their bits are noise, and flat pictures all look alike to them.

Threshold (``MATCH_BITS`` = 52): the rule is "10 bits under the closest pair of unrelated pictures".
``python -m bench.media_matching`` applies it on one half of the pictures (split by file-name hash) and
reports recall per edit and false matches at 52 and at the chosen value on the other half, which chose
nothing (docs/benchmarks.md, "Media matching"); the figures live there only, so they cannot drift from here.
Not handled here: crops beyond ~12% a side, free-angle rotation, and captions, banners or stickers over
more than a thin strip; :mod:`flockwatch.media.keypoints` is the bank's second stage for those.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np
import numpy.typing as npt
import pdqhash
from PIL import Image

RGB = npt.NDArray[np.uint8]

# A row/column is border (padding, letterbox) when its luma spans less than this (0..255).
BAR_SPREAD = 10.0
# Pictures are hashed at ≤ 512 px: PDQ shrinks to 64x64 anyway, and it makes 81 windows cheap.
WORK_SIDE = 512
PDQ_SIDE = 64
# PDQ's own guidance: below quality 50 the hash of a (near-)flat picture is unreliable.
MIN_QUALITY = 50
# See the module docstring for the distributions this comes from.
MATCH_BITS = 52
BITS = 256

DIHEDRAL = ("orig", "rot90", "rot180", "rot270", "flipx", "flipy", "flip+1", "flip-1")
# (left, top, right, bottom) trims as fractions of the width/height.
Trim = tuple[float, float, float, float]
BANK_TRIMS: tuple[Trim, ...] = tuple(product((0.0, 0.05, 0.10), repeat=4))  # type: ignore[arg-type]
QUERY_TRIMS: tuple[Trim, ...] = (
    (0.0, 0.0, 0.0, 0.0),
    (0.10, 0.0, 0.0, 0.0),
    (0.0, 0.10, 0.0, 0.0),
    (0.0, 0.0, 0.10, 0.0),
    (0.0, 0.0, 0.0, 0.10),
)


@dataclass(frozen=True)
class ImageHashes:
    """PDQ hashes (64 hex chars each) with a label per hash saying which window/variant it is."""

    hashes: tuple[str, ...]
    labels: tuple[str, ...]
    # PDQ quality of the whole picture (0..100).
    quality: int
    role: str = "query"

    def to_dict(self) -> dict[str, Any]:
        return {"hashes": list(self.hashes), "labels": list(self.labels), "quality": self.quality, "role": self.role}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> ImageHashes:
        return ImageHashes(tuple(d["hashes"]), tuple(d["labels"]), int(d["quality"]), str(d.get("role", "query")))


def downscale(image: Image.Image, side: int = WORK_SIDE) -> Image.Image:
    """RGB, longer side ≤ ``side`` (box filter, like PDQ's Jarosz filter), uniform borders cut off."""
    im = image.convert("RGB")
    if max(im.size) > side:
        im = im.copy()
        im.thumbnail((side, side), Image.Resampling.BOX)
    trimmed = trim_bars(np.asarray(im, dtype=np.uint8))
    return Image.fromarray(trimmed) if trimmed.shape[:2] != (im.height, im.width) else im


def trim_bars(rgb: RGB) -> RGB:
    """Cut uniform rows/columns off both edges (letterbox, pillarbox, padding); keep ≥ 1/4 of each side."""
    luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    h, w = luma.shape

    def flat(lines: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return np.asarray((lines.max(axis=1) - lines.min(axis=1)) < BAR_SPREAD)

    rows, cols = flat(luma), flat(luma.T)

    def span(mask: np.ndarray[Any, Any], n: int) -> tuple[int, int]:
        # Bars and padding come in pairs (both sides); a flat strip on one side only is usually scene
        # (sky, wall) that a crop could cut differently in the copy and the original.
        if not (mask[0] and mask[-1]):
            return 0, n
        lo, hi = 0, n
        while lo < n and mask[lo]:
            lo += 1
        while hi > lo and mask[hi - 1]:
            hi -= 1
        return (lo, hi) if hi - lo >= n // 4 else (0, n)

    y0, y1 = span(rows, h)
    x0, x1 = span(cols, w)
    return np.ascontiguousarray(rgb[y0:y1, x0:x1])


def trim_label(trim: Trim) -> str:
    if not any(trim):
        return "full"
    return "trim " + ",".join(f"{s}{round(v * 100)}%" for s, v in zip("ltrb", trim, strict=True) if v)


def window(image: Image.Image, trim: Trim) -> RGB:
    """The trimmed window box-resized straight to PDQ's 64x64: one pass, so 81 windows stay cheap."""
    w, h = image.size
    left, top, right, bottom = trim
    box = (w * left, h * top, w * (1 - right), h * (1 - bottom))
    return np.asarray(image.resize((PDQ_SIDE, PDQ_SIDE), Image.Resampling.BOX, box=box), dtype=np.uint8)


def hex_of(bits: npt.NDArray[Any]) -> str:
    # pdqhash gives bits most-significant first, so this is the standard PDQ hex (ThreatExchange's).
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


def pdq(rgb: RGB) -> tuple[str, int]:
    """Plain PDQ of the whole array at its own size: (hex, quality). The baseline."""
    bits, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return hex_of(bits), int(quality)


def pdq_fast(image: Image.Image) -> tuple[str, int]:
    """PDQ of the whole picture through the same 64x64 box path as the windows (video keyframes)."""
    bits, quality = pdqhash.compute(window(downscale(image), (0.0, 0.0, 0.0, 0.0)))
    return hex_of(bits), int(quality)


def image_hashes(image: Image.Image, role: str = "query", dihedral: bool = True) -> ImageHashes:
    """Hashes of a picture: ``role="bank"`` for the 648-hash side, ``"query"`` for the 5-hash side.

    ``dihedral=False`` keeps only the upright bank windows (81): video keyframes, where flips are rare
    and every stored hash is one more chance of a false match.
    """
    small = downscale(image)
    if min(small.size) < 16:
        return ImageHashes((), (), 0, role)
    trims = BANK_TRIMS if role == "bank" else QUERY_TRIMS
    hashes: list[str] = []
    labels: list[str] = []
    quality = 0
    for trim in trims:
        win = window(small, trim)
        if role == "bank" and dihedral:
            vectors, q = pdqhash.compute_dihedral(win)
            named = list(zip(DIHEDRAL, vectors, strict=True))
        else:
            v, q = pdqhash.compute(win)
            named = [("orig", v)]
        if not any(trim):
            quality = int(q)
        if q < MIN_QUALITY:
            continue
        for variant, v in named:
            hashes.append(hex_of(v))
            labels.append(trim_label(trim) if variant == "orig" else f"{trim_label(trim)} {variant}")
    return ImageHashes(tuple(hashes), tuple(labels), quality, role)


def to_words(hashes: tuple[str, ...] | list[str]) -> npt.NDArray[np.uint64]:
    """(n, 4) uint64 words for fast XOR/popcount Hamming distances."""
    if not hashes:
        return np.zeros((0, 4), dtype=np.uint64)
    raw = np.frombuffer(bytes.fromhex("".join(hashes)), dtype=np.uint8).reshape(len(hashes), 32)
    return raw.view(np.uint64).copy()


def hamming_matrix(a: npt.NDArray[np.uint64], b: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint16]:
    """All-pairs Hamming distances between rows of ``a`` and rows of ``b`` (word arrays)."""
    # Word by word into uint16: ~6x faster than one (n, m, 4) XOR summed at the end.
    out: npt.NDArray[np.uint16] = np.bitwise_count(a[:, None, 0] ^ b[None, :, 0]).astype(np.uint16)
    for k in range(1, a.shape[1]):
        out += np.bitwise_count(a[:, None, k] ^ b[None, :, k])
    return out


def image_distance(a: ImageHashes, b: ImageHashes) -> tuple[int, str]:
    """Best Hamming distance (bits) over every hash pair, and which pair gave it ("query ~ bank").

    With no usable hash on either side (flat pictures) the distance is 256: nothing to match on.
    """
    if not a.hashes or not b.hashes:
        return BITS, "no usable hash (PDQ quality < 50)"
    d = hamming_matrix(to_words(a.hashes), to_words(b.hashes))
    i, j = np.unravel_index(int(np.argmin(d)), d.shape)
    return int(d[i, j]), f"{a.labels[i]} ~ {b.labels[j]}"


def is_match(bits: int, threshold: int = MATCH_BITS) -> bool:
    return bits <= threshold
