"""Second-stage picture matching under occlusion: ORB keypoints verified by a RANSAC homography.

PDQ (:mod:`flockwatch.media.hashing`) hashes a whole window of the picture, so a caption bar, a banner
or a sticker over a fifth of it moves too many bits. Local features do not care what covers the rest:
a banked picture keeps up to ``BANK_FEATURES`` ORB keypoints (Rublee et al., 2011; position and 256-bit
binary descriptor) computed on the picture scaled to ``SIDE``² px of area. A query keeps up to
``QUERY_FEATURES`` (overlaid text spends many of them), of itself and of its mirror image.

Matching a query with a banked picture: each query descriptor's two nearest banked descriptors
(Hamming), kept when the nearest is within ``MAX_DESCRIPTOR_BITS`` and clearly nearer than the second
(Lowe's ratio test, ``RATIO``), then a homography fitted with RANSAC (``REPROJECTION_PX``). It is a
match when enough correspondences agree with one sane transform (orientation kept, scale within
``MAX_SCALE``, not much shear or perspective) and the agreeing keypoints spread over at least ``MIN_SPREAD``
of the banked picture. "Enough" is ``MIN_INLIERS`` anywhere, or the fewer ``MIN_COVERED_INLIERS`` when they
fall in at least ``MIN_COVERED_CELLS`` cells of a ``COVER_GRID`` x ``COVER_GRID`` grid over the banked
picture: the closest unrelated pairs are caption text matching the same caption text on another meme, whose
inliers sit in one or two bands of cells, while a real copy under a caption still shows the picture around
it. ``python -m bench.media_occlusion`` chooses both inlier counts on one split of the pictures (twice the
most an unrelated pair reaches under the same conditions) and reports recall and false matches on the other.

Candidates: verifying every banked picture does not scale, so :class:`DescriptorIndex` is an LSH
inverted file over the banked descriptors (``TABLES`` tables keyed by 24 descriptor bits each): a query
descriptor votes for every banked picture sharing a key with it, and only the ``CANDIDATES`` pictures
with the most votes are verified. A lookup reads a few buckets per query descriptor, not the bank.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps

# Pictures are scaled (up or down) to SIDE x SIDE px of area before ORB: one scale for both sides.
SIDE = 400
# Keypoints are spread over a GRID x GRID grid (see _spread_out).
GRID = 8
BANK_FEATURES = 500
QUERY_FEATURES = 1000
# Correspondences: nearest banked descriptor within this many bits of 256 and ratio-test passed.
MAX_DESCRIPTOR_BITS = 50
RATIO = 0.75
REPROJECTION_PX = 5.0
# Chosen by bench.media_occlusion on its choose split: twice the most inliers an unrelated pair reached
# there (a caption-on-caption pair), and the same over pairs whose inliers cover MIN_COVERED_CELLS cells.
MIN_INLIERS = 94
MIN_COVERED_INLIERS = 36
MIN_COVERED_CELLS = 6
MAX_SCALE = 4.0
MAX_ANISOTROPY = 2.0
MAX_PERSPECTIVE = 0.002
MIN_SPREAD = 0.08
COVER_GRID = 4
# Caption bars (see overlay_rows): the edge rows are flat (FLAT_SHARE of their pixels within FLAT_TONE grey
# levels of the row median), and the bar goes on while BAR_SHARE of a row is within BAR_TONE of that tone;
# bars of MIN_BAND..MAX_BAND of the height, widened by BAND_PAD px, are dropped.
FLAT_TONE = 6
FLAT_SHARE = 0.6
BAR_TONE = 12
BAR_SHARE = 0.25
MIN_BAND = 0.04
MAX_BAND = 0.5
MAX_OVERLAY = 0.8
BAND_PAD = 4
# Candidate step.
TABLES = 4
KEY_BYTES = 3
MAX_BUCKET = 256
# A query descriptor votes for the picture of its nearest banked descriptor when within this many bits.
VOTE_BITS = 36
CANDIDATES = 4
MIN_VOTES = 8

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Keypoints:
    """ORB keypoints of one picture scaled to ``size`` (w, h): positions (n, 2) and descriptors (n, 32)."""

    xy: F32
    desc: U8
    size: tuple[int, int]

    def __len__(self) -> int:
        return len(self.desc)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able and bounded: ≤ BANK_FEATURES x (32 + 4) bytes, base64."""
        xy = np.round(self.xy).clip(0, 65535).astype("<u2")
        return {
            "n": len(self),
            "size": list(self.size),
            "xy": base64.b64encode(xy.tobytes()).decode("ascii"),
            "desc": base64.b64encode(np.ascontiguousarray(self.desc, dtype=np.uint8).tobytes()).decode("ascii"),
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Keypoints:
        n = int(d["n"])
        xy = np.frombuffer(base64.b64decode(d["xy"]), dtype="<u2").reshape(n, 2).astype(np.float32)
        desc = np.frombuffer(base64.b64decode(d["desc"]), dtype=np.uint8).reshape(n, 32).copy()
        w, h = d["size"]
        return Keypoints(xy, desc, (int(w), int(h)))


def _scaled_grey(image: Image.Image) -> U8:
    """Greyscale at ``SIDE`` x ``SIDE`` pixels of area: a caption bar that grows the canvas then shrinks the
    picture less than a fixed longer side would."""
    im = image.convert("L")
    scale = SIDE / max(1.0, (im.width * im.height) ** 0.5)
    size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BICUBIC
    return np.asarray(im.resize(size, resample), dtype=np.uint8)


def _bands(g: npt.NDArray[np.int16]) -> npt.NDArray[np.bool_]:
    """Rows of bars and banners found scanning ``g`` downwards, see :func:`overlay_rows`."""
    h = len(g)
    out = np.zeros(h, dtype=bool)
    med = np.median(g, axis=1)
    flat = (np.abs(g - med[:, None]) <= FLAT_TONE).mean(axis=1) >= FLAT_SHARE
    lead = max(2, round(0.01 * h))
    longest = int(MAX_BAND * h)
    y = 0
    while y + lead <= h:
        if not flat[y : y + lead].all():
            y += 1
            continue
        tone = float(np.median(med[y : y + lead]))
        # The bar's own tone fills at least BAR_SHARE of every row of it, text rows included.
        keeps = (np.abs(g[y : y + longest + 1] - tone) <= BAR_TONE).mean(axis=1) >= BAR_SHARE
        n = int(np.argmin(keeps)) if not keeps.all() else len(keeps)
        if MIN_BAND * h <= n <= longest:
            out[max(0, y - BAND_PAD) : min(h, y + n + BAND_PAD)] = True
            y += n
        else:
            # Too short, or too long for a bar (padding, sky): a bar may still start inside it.
            y += lead
    return out


def overlay_rows(grey: U8) -> npt.NDArray[np.bool_]:
    """Rows of caption bars and banners: a band that starts with flat rows (``FLAT_SHARE`` of their pixels
    within ``FLAT_TONE`` of one tone) and keeps that tone over at least ``BAR_SHARE`` of every row (the
    text on it takes the rest), ``MIN_BAND``..``MAX_BAND`` of the height; scanned from the top and from the
    bottom, so text touching either edge of its band is still inside it.

    More than ``MAX_OVERLAY`` of the rows flagged means a flat picture, not bars: nothing is flagged then.

    Text set on a bar is the overlay most memes share (the same caption font on different pictures), so
    keypoints there are dropped on both sides and what matches must come from the picture itself. Flat
    scenery of the same shape (a band of sky or wall) can be dropped too; it has few keypoints to lose.
    """
    g = grey.astype(np.int16)
    if len(g) < 8:
        return np.zeros(len(g), dtype=bool)
    rows = _bands(g) | _bands(g[::-1])[::-1]
    # Dark or smooth pictures pass the flatness test nearly everywhere: with most rows "bars", dropping them
    # would leave nothing to match (a dark photo lost every keypoint), so such a picture keeps all its rows.
    return rows if rows.mean() <= MAX_OVERLAY else np.zeros(len(g), dtype=bool)


def _spread_out(kps: Sequence[Any], size: tuple[int, int], n: int) -> list[Any]:
    """At most ``n`` keypoints, taken round-robin over a GRID x GRID grid, strongest first in each cell:
    text and other high-contrast overlays would otherwise take most of the budget."""
    w, h = size
    ranked = sorted(kps, key=lambda k: -k.response)
    seen: dict[tuple[int, int], int] = {}
    keyed = []
    for order, k in enumerate(ranked):
        cell = (min(GRID - 1, int(k.pt[0] * GRID / w)), min(GRID - 1, int(k.pt[1] * GRID / h)))
        rank = seen.get(cell, 0)
        seen[cell] = rank + 1
        keyed.append((rank, order, k))
    keyed.sort(key=lambda t: (t[0], t[1]))
    return [k for _, _, k in keyed[:n]]


def keypoints(image: Image.Image, features: int = BANK_FEATURES) -> Keypoints:
    """Up to ``features`` ORB keypoints of ``image`` scaled to ``SIDE``² px of area, spread over the picture
    (empty for tiny or flat pictures)."""
    import cv2

    grey = _scaled_grey(image)
    h, w = grey.shape
    empty = Keypoints(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8), (w, h))
    if min(h, w) < 32:
        return empty
    orb = cv2.ORB.create(nfeatures=4 * features, scaleFactor=1.2, nlevels=8, edgeThreshold=19, patchSize=19)
    band = overlay_rows(grey)
    kept = [k for k in orb.detect(grey, None) if not band[min(h - 1, int(k.pt[1]))]]
    found = _spread_out(kept, (w, h), features)
    if not found:
        return empty
    kps, desc = orb.compute(grey, found)
    if desc is None or not kps:
        return empty
    xy = np.array([k.pt for k in kps], dtype=np.float32).reshape(-1, 2)
    return Keypoints(xy, np.asarray(desc, dtype=np.uint8), (w, h))


def query_keypoints(image: Image.Image) -> tuple[Keypoints, Keypoints]:
    """The query side: keypoints of the picture and of its mirror image (ORB is not mirror-invariant)."""
    return keypoints(image, QUERY_FEATURES), keypoints(ImageOps.mirror(image.convert("RGB")), QUERY_FEATURES)


@dataclass(frozen=True)
class Verdict:
    inliers: int
    correspondences: int
    spread: float
    sane: bool
    # Cells of a COVER_GRID x COVER_GRID grid over the banked picture holding at least one inlier.
    cells: int = 0

    @property
    def matched(self) -> bool:
        if not (self.sane and self.spread >= MIN_SPREAD):
            return False
        return self.inliers >= MIN_INLIERS or (self.cells >= MIN_COVERED_CELLS and self.inliers >= MIN_COVERED_INLIERS)

    def how(self) -> str:
        return (
            f"{self.inliers} keypoint inliers of {self.correspondences} (RANSAC homography, spread {self.spread:.2f}, "
            f"{self.cells} of {COVER_GRID * COVER_GRID} cells)"
        )


NO_MATCH = Verdict(0, 0, 0.0, False)


def sane(h: npt.NDArray[np.float64]) -> bool:
    """A homography a re-upload could make: orientation kept, bounded scale, little shear/perspective."""
    if not np.all(np.isfinite(h)) or abs(h[2, 2]) < 1e-9:
        return False
    h = h / h[2, 2]
    if abs(h[2, 0]) > MAX_PERSPECTIVE or abs(h[2, 1]) > MAX_PERSPECTIVE:
        return False
    a = h[:2, :2]
    if np.linalg.det(a) <= 0:
        return False
    s = np.linalg.svd(a, compute_uv=False)
    return bool(s[1] >= 1 / MAX_SCALE and s[0] <= MAX_SCALE and s[0] / s[1] <= MAX_ANISOTROPY)


def verify(query: Keypoints, bank: Keypoints) -> Verdict:
    """Correspondences query → banked picture and the best RANSAC homography's inliers (see the docstring)."""
    import cv2

    fewest = min(MIN_INLIERS, MIN_COVERED_INLIERS)
    if len(query) < fewest or len(bank) < fewest:
        return NO_MATCH
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    pairs = matcher.knnMatch(query.desc, bank.desc, k=2)
    good = [
        p[0]
        for p in pairs
        if len(p) == 2 and p[0].distance <= MAX_DESCRIPTOR_BITS and p[0].distance < RATIO * p[1].distance
    ]
    if len(good) < fewest:
        return Verdict(0, len(good), 0.0, False)
    src = query.xy[[m.queryIdx for m in good]].reshape(-1, 1, 2)
    dst = bank.xy[[m.trainIdx for m in good]].reshape(-1, 1, 2)
    found: tuple[Any, Any] = cv2.findHomography(src, dst, cv2.RANSAC, REPROJECTION_PX, maxIters=2000, confidence=0.995)
    h, mask = found
    if h is None or mask is None:
        return Verdict(0, len(good), 0.0, False)
    inl = mask.reshape(-1).astype(bool)
    pts = dst.reshape(-1, 2)[inl]
    w, hgt = bank.size
    spread = 0.0
    if len(pts):
        span = pts.max(axis=0) - pts.min(axis=0)
        spread = float(span[0] * span[1] / max(1, w * hgt))
    return Verdict(
        int(inl.sum()), len(good), round(spread, 3), sane(np.asarray(h, dtype=np.float64)), covered_cells(pts, (w, hgt))
    )


def covered_cells(pts: npt.NDArray[np.float32], size: tuple[int, int]) -> int:
    """How many cells of a ``COVER_GRID`` x ``COVER_GRID`` grid over a picture of ``size`` hold a point."""
    if not len(pts):
        return 0
    w, h = size
    cx = np.clip((pts[:, 0] * COVER_GRID / max(1, w)).astype(int), 0, COVER_GRID - 1)
    cy = np.clip((pts[:, 1] * COVER_GRID / max(1, h)).astype(int), 0, COVER_GRID - 1)
    return len(set(zip(cx.tolist(), cy.tolist(), strict=True)))


def best_verdict(query: tuple[Keypoints, Keypoints], bank: Keypoints) -> Verdict:
    """The picture or its mirror, whichever verifies with more inliers."""
    a = verify(query[0], bank)
    if a.matched:
        return a
    b = verify(query[1], bank)
    return b if (b.matched, b.inliers) > (a.matched, a.inliers) else a


def _keys(desc: U8) -> npt.NDArray[np.int64]:
    """(n, TABLES) int keys: KEY_BYTES bytes of the descriptor at TABLES evenly spaced offsets."""
    d = np.asarray(desc, dtype=np.uint8).reshape(-1, 32).astype(np.int64)
    step = 32 // TABLES
    cols = []
    for t in range(TABLES):
        key = np.zeros(len(d), dtype=np.int64)
        for b in range(KEY_BYTES):
            key = (key << 8) | d[:, (t * step + b) % 32]
        cols.append(key + (t << (8 * KEY_BYTES)))
    return np.stack(cols, axis=1)


def _words(desc: U8) -> npt.NDArray[np.uint64]:
    return np.ascontiguousarray(desc, dtype=np.uint8).reshape(-1, 32).view(np.uint64)


class DescriptorIndex:
    """LSH inverted file over banked descriptors: per table, the keys sorted, each with its descriptor row;
    the descriptors themselves (to check a key collision is a real correspondence) and their picture."""

    def __init__(self, items: list[Keypoints | None]) -> None:
        descs = [kp.desc for kp in items if kp is not None and len(kp)]
        owners = [np.full(len(kp), k, dtype=np.int32) for k, kp in enumerate(items) if kp is not None and len(kp)]
        desc = np.concatenate(descs) if descs else np.zeros((0, 32), dtype=np.uint8)
        self.words: npt.NDArray[np.uint64] = _words(desc).copy()
        self.owners: npt.NDArray[np.int32] = np.concatenate(owners) if owners else np.zeros(0, dtype=np.int32)
        keys = _keys(desc).reshape(-1)
        rows = np.repeat(np.arange(len(desc), dtype=np.int32), TABLES)
        order = np.argsort(keys, kind="stable")
        self.keys: npt.NDArray[np.int32] = keys[order].astype(np.int32)
        self.rows: npt.NDArray[np.int32] = rows[order]
        self.n_items = len(items)

    def nbytes(self) -> int:
        return self.keys.nbytes + self.rows.nbytes + self.words.nbytes + self.owners.nbytes

    def candidates(self, query: Keypoints, limit: int = CANDIDATES) -> list[int]:
        """Banked pictures holding a descriptor within ``MAX_DESCRIPTOR_BITS`` of at least ``MIN_VOTES`` query
        descriptors (found through a shared key), most first."""
        if not len(query) or not len(self.keys):
            return []
        q = _keys(query.desc)
        qid = np.repeat(np.arange(len(q)), TABLES)
        flat = q.reshape(-1)
        lo = np.searchsorted(self.keys, flat, side="left")
        sizes = np.searchsorted(self.keys, flat, side="right") - lo
        # A key shared by very many banked descriptors (flat texture, repeated pattern) says little.
        sizes[sizes > MAX_BUCKET] = 0
        total = int(sizes.sum())
        if not total:
            return []
        pos = np.repeat(lo - (np.cumsum(sizes) - sizes), sizes) + np.arange(total)
        rows = self.rows[pos]
        qrows = np.repeat(qid, sizes)
        qw = _words(query.desc)
        d = np.zeros(total, dtype=np.int16)
        for k in range(4):
            d += np.bitwise_count(self.words[rows, k] ^ qw[qrows, k])
        close = np.flatnonzero(d <= VOTE_BITS)
        if not len(close):
            return []
        # One vote per query descriptor, for the picture of its nearest banked descriptor found: a generic
        # descriptor near many pictures' then votes once, not for all of them.
        order = close[np.lexsort((d[close], qrows[close]))]
        first = np.concatenate(([True], np.diff(qrows[order]) != 0))
        items, votes = np.unique(self.owners[rows[order[first]]], return_counts=True)
        top = np.argsort(-votes, kind="stable")[:limit]
        return [int(items[i]) for i in top if votes[i] >= MIN_VOTES]
