"""Face crops from frames: MTCNN (Zhang et al., "Joint Face Detection and Alignment using Multitask Cascaded
Convolutional Networks", IEEE SPL 2016) as packaged by facenet-pytorch, whose P/R/O-net weights ship inside the
wheel (no download). Runs on CPU.

Frames are downscaled before detection (MTCNN's image pyramid costs grow with the pixel count, and faces worth
scoring are large); boxes come back in frame pixels and crops are cut from the decoded frame (up to 1080p, see
``decode.MAX_FRAME_SIDE``), so the detector's downscale never blurs what the artefact model looks at.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from flockwatch.media.decode import RGB, Frame

Box = tuple[float, float, float, float]  # x0, y0, x1, y1
Points = tuple[tuple[float, float], ...]  # MTCNN's 5 landmarks: eyes, nose tip, mouth corners

CROP_SIZE = 128
# Context around the MTCNN box (a fraction of its longer side, on each side): the blending boundary of a face swap
# lies at the edge of the box or just outside it, so a tight crop would cut it away.
MARGIN = 0.25
DETECT_SIDE = 640
MIN_FACE = 48
THRESHOLD = 0.95
MAX_FACES = 2


@dataclass(frozen=True)
class FaceCrop:
    t: float  # seconds from the start of the video (0 for an image)
    box: Box  # MTCNN box in full-frame pixels
    prob: float  # MTCNN face probability
    points: Points  # landmarks in crop pixels
    rgb: RGB  # size x size x 3 crop, box plus margin, squared, edge-padded past the frame


_LOCK = threading.Lock()
_MTCNN: dict[tuple[int, float], Any] = {}


def _mtcnn(min_face: int, threshold: float) -> Any:
    """One MTCNN per setting, loaded on first use (~0.5 s) and shared: its weights are read-only."""
    key = (min_face, threshold)
    with _LOCK:
        if key not in _MTCNN:
            from facenet_pytorch import MTCNN  # heavy import kept local: only face paths need it

            _MTCNN[key] = MTCNN(
                keep_all=True, min_face_size=min_face, thresholds=[0.6, 0.7, threshold], device="cpu"
            ).eval()
        return _MTCNN[key]


class FaceCropper:
    """Finds faces with MTCNN and cuts square crops around them."""

    def __init__(
        self,
        *,
        min_face: int = MIN_FACE,
        threshold: float = THRESHOLD,
        max_faces: int = MAX_FACES,
        detect_side: int = DETECT_SIDE,
        margin: float = MARGIN,
    ) -> None:
        self.min_face = min_face  # in full-frame pixels
        self.threshold = threshold
        self.max_faces = max_faces
        self.detect_side = detect_side
        self.margin = margin

    def detect(self, rgb: RGB) -> list[tuple[Box, float, Points]]:
        """(box, prob, landmarks) in full-frame pixels, largest face first, at most ``max_faces``."""
        import cv2

        h, w = rgb.shape[:2]
        if min(h, w) == 0:
            return []
        scale = min(1.0, self.detect_side / max(h, w))
        # MTCNN's smallest pyramid level is 12 px; asking for faces below that would only add noise.
        min_size = max(12, round(self.min_face * scale))
        # A frame narrower than the smallest face leaves MTCNN no pyramid level (it raises on the empty pyramid)
        # and cannot hold a face we would keep anyway.
        if min(h, w) * scale < min_size:
            return []
        small = (
            rgb if scale == 1.0 else cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        )
        mtcnn = _mtcnn(min_size, self.threshold)
        boxes, probs, points = mtcnn.detect(np.ascontiguousarray(small), landmarks=True)
        if boxes is None:
            return []
        found: list[tuple[Box, float, Points]] = []
        for b, p, pts in zip(boxes, probs, points, strict=True):
            if p is None or float(p) < self.threshold:
                continue
            x0, y0, x1, y1 = (float(v) / scale for v in b)
            if min(x1 - x0, y1 - y0) < self.min_face:
                continue
            found.append(((x0, y0, x1, y1), float(p), tuple((float(x) / scale, float(y) / scale) for x, y in pts)))
        found.sort(key=lambda f: -(f[0][2] - f[0][0]) * (f[0][3] - f[0][1]))
        return found[: self.max_faces]

    def crop(self, rgb: RGB, box: Box, points: Points, size: int = CROP_SIZE) -> tuple[RGB, Points]:
        return crop_face(rgb, box, points, size=size, margin=self.margin)

    def crops(self, frames: Sequence[Frame], size: int = CROP_SIZE) -> list[FaceCrop]:
        out: list[FaceCrop] = []
        for f in frames:
            for box, prob, pts in self.detect(f.rgb):
                rgb, local = self.crop(f.rgb, box, pts, size)
                out.append(FaceCrop(f.t, box, prob, local, rgb))
        return out


def crop_face(
    rgb: RGB, box: Box, points: Points, *, size: int = CROP_SIZE, margin: float = MARGIN
) -> tuple[RGB, Points]:
    """A square ``size`` crop of the box plus ``margin`` around its centre, and the landmarks in crop pixels."""
    import cv2

    x0, y0, x1, y1 = box
    h, w = rgb.shape[:2]
    side = max(2, round(max(x1 - x0, y1 - y0) * (1 + 2 * margin)))
    ox, oy = round((x0 + x1 - side) / 2), round((y0 + y1 - side) / 2)
    # Cut the window that lies inside the frame, then pad to the square by edge replication (no full-frame copy).
    cx0, cy0, cx1, cy1 = max(ox, 0), max(oy, 0), min(ox + side, w), min(oy + side, h)
    if cx1 <= cx0 or cy1 <= cy0:
        window: RGB = np.zeros((side, side, 3), np.uint8)
    else:
        window = np.asarray(
            cv2.copyMakeBorder(
                rgb[cy0:cy1, cx0:cx1], cy0 - oy, oy + side - cy1, cx0 - ox, ox + side - cx1, cv2.BORDER_REPLICATE
            ),
            np.uint8,
        )
    # INTER_AREA when shrinking: linear sampling would alias away the fine texture the model looks for.
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    out: npt.NDArray[np.uint8] = np.ascontiguousarray(cv2.resize(window, (size, size), interpolation=interp))
    s = size / side
    local = tuple((s * (x - ox), s * (y - oy)) for x, y in points)
    return out, local


def face_crops(frames: Sequence[Frame], size: int = CROP_SIZE, cropper: FaceCropper | None = None) -> list[FaceCrop]:
    """Face crops of every frame, in frame order (at most ``cropper.max_faces`` a frame)."""
    return (cropper or FaceCropper()).crops(frames, size)
