"""Face-video detector: a small CNN scores MTCNN face crops for face-swap blending artefacts; frame scores make a
video score.

The CNN is trained only on real faces, self-supervised with Self-Blended Images (Shiohara & Yamasaki, "Detecting
Deepfakes with Self-Blended Images", CVPR 2022): a face blended into a colour/scale-jittered copy of itself inside
a face-shaped mask carries the blending boundary and statistical mismatch of a face swap without any
generator's fingerprint (``flockwatch.training.face``; its limits are in ``models/face_video/MODEL_CARD.md``).
It looks for blending; it does not check lip-sync against the audio, and it is a weak prior (``Tier.learned``).

Video score: the mean of the top third of the crop scores, so a manipulation in part of a video still shows while a
single spurious crop does not decide it. No face in any sampled frame gives an observation saying so (no score):
the analyst learns why the file has no face-swap score.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from flockwatch.config import REPO_ROOT
from flockwatch.media.decode import Frame, iter_video_frames, open_image, video_frames
from flockwatch.media.faces import FaceCrop, FaceCropper
from flockwatch.media.signal import Finding, MediaFile, Tier

MODEL_DIR = REPO_ROOT / "models" / "face_video"
WIDTHS = (8, 16, 32, 64, 128)
# Plain fixed normalisation: the model is trained from scratch, so no ImageNet statistics are implied.
MEAN, STD = 0.5, 0.25
CROP_THRESHOLD = 0.5  # a crop "shows artefacts" at or above this (reported count only; the score is continuous)


class FaceArtefactNet(nn.Module):
    """Five 3x3 conv/BN/ReLU stages (max-pooled between), global average pool, one logit (~99k weights)."""

    def __init__(self, widths: Sequence[int] = WIDTHS) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for i, w in enumerate(widths):
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            c = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(self.features(x).mean(dim=(2, 3))).squeeze(1)
        return logits


def to_tensor(crops: npt.NDArray[np.uint8]) -> torch.Tensor:
    """N x S x S x 3 uint8 RGB -> normalised N x 3 x S x S float32."""
    x = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float()
    return (x / 255.0 - MEAN) / STD


@dataclass(frozen=True)
class FaceModel:
    net: FaceArtefactNet
    config: dict[str, Any]

    @property
    def size(self) -> int:
        return int(self.config["input_size"])

    def cropper(self) -> FaceCropper:
        return FaceCropper(margin=float(self.config["margin"]))

    def score(self, crops: npt.NDArray[np.uint8], batch: int = 64) -> npt.NDArray[np.float32]:
        """Probability of blending artefacts for each crop (N x S x S x 3 uint8)."""
        out: list[npt.NDArray[np.float32]] = []
        with torch.inference_mode():
            for i in range(0, len(crops), batch):
                out.append(torch.sigmoid(self.net(to_tensor(crops[i : i + batch]))).numpy().astype(np.float32))
        return np.concatenate(out) if out else np.zeros(0, np.float32)


def save_model(net: FaceArtefactNet, config: dict[str, Any], out_dir: Path) -> None:
    """``weights.npz`` (float16, no pickle) and ``model.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    np.savez_compressed(out_dir / "weights.npz", **{k: v.astype(np.float16) for k, v in state.items()})
    (out_dir / "model.json").write_text(json.dumps(config, indent=2) + "\n")


def load_model(model_dir: Path = MODEL_DIR) -> FaceModel:
    config = json.loads((model_dir / "model.json").read_text())
    net = FaceArtefactNet(tuple(config["widths"]))
    with np.load(model_dir / "weights.npz", allow_pickle=False) as z:
        state = {k: torch.from_numpy(z[k].astype(np.float32)) for k in z.files}
    missing, unexpected = net.load_state_dict(state, strict=False)
    if unexpected or any(not k.endswith("num_batches_tracked") for k in missing):
        raise ValueError(f"weights do not fit the model: missing {missing}, unexpected {unexpected}")
    return FaceModel(net.eval(), config)


@lru_cache(maxsize=4)
def _cached_model(model_dir: Path) -> FaceModel:
    return load_model(model_dir)


def top_fraction_mean(scores: Sequence[float], fraction: float = 1 / 3) -> tuple[float, int]:
    """(mean of the top ``fraction`` of ``scores``, how many that is); at least one."""
    k = max(1, math.ceil(len(scores) * fraction))
    return float(np.mean(sorted(scores, reverse=True)[:k])), k


def video_finding(
    name: str, crops: Sequence[FaceCrop], scores: Sequence[float], n_frames: int, kind: str = "video"
) -> Finding:
    """The Finding for crop scores (an observation without faces); pure, so the aggregation is testable alone."""
    sampled = "sampled frames" if kind == "video" else "image"
    if not crops:
        where = f"{n_frames} sampled frame{'' if n_frames == 1 else 's'}" if kind == "video" else "the image"
        none = {"frames_sampled": n_frames, "frames_with_face": 0, "crops": 0}
        return Finding.observation(name, f"not scored: no face found by MTCNN in {where}", Tier.learned, none)
    score, k = top_fraction_mean(scores)
    hits = sum(s >= CROP_THRESHOLD for s in scores)
    frames_with_face = len({c.t for c in crops})
    detail = (
        f"face-swap blending artefacts in {hits} of {len(crops)} face crops (top-{k} mean {score:.2f}), "
        f"MTCNN faces in {frames_with_face} of {n_frames} {sampled}"
    )
    data = {
        "frames_sampled": n_frames,
        "frames_with_face": frames_with_face,
        "crops": len(crops),
        "crops_flagged": hits,
        "top_k": k,
        "per_crop": [
            {
                "t": round(c.t, 3),
                "box": [round(v, 1) for v in c.box],
                "face_prob": round(c.prob, 4),
                "score": round(s, 4),
            }
            for c, s in zip(crops, scores, strict=True)
        ],
    }
    return Finding.scored(name, score, detail, Tier.learned, data)


class FaceVideoSignal:
    """Face-swap artefacts in the faces of a video (or a still image) as a ``MediaSignal``."""

    name = "face_video"
    tier = Tier.learned

    def __init__(self, model_dir: Path = MODEL_DIR, every_s: float = 1.0, max_frames: int = 30) -> None:
        self.model_dir = model_dir
        self.every_s = every_s
        self.max_frames = max_frames

    def applies_to(self, media: MediaFile) -> bool:
        return media.kind in ("video", "image")

    def frames(self, media: MediaFile) -> list[Frame]:
        if media.kind == "image":
            return [Frame(0.0, np.asarray(open_image(media.path)))]
        return video_frames(media.path, every_s=self.every_s, max_frames=self.max_frames)

    def score_frames(self, frames: Iterable[Frame], kind: str = "video") -> Finding:
        """Crops are cut frame by frame as ``frames`` yields them, so only the small crops are kept."""
        model = _cached_model(self.model_dir)
        cropper = model.cropper()
        crops: list[FaceCrop] = []
        n_frames = 0
        for frame in frames:
            n_frames += 1
            crops.extend(cropper.crops([frame], model.size))
        scores = [float(s) for s in model.score(np.stack([c.rgb for c in crops]))] if crops else []
        return video_finding(self.name, crops, scores, n_frames, kind)

    def compute(self, media: MediaFile) -> Finding | None:
        if not self.applies_to(media):
            return None
        # Undecodable or oversize input raises MediaRefused with its reason, like every other signal.
        if media.kind == "video":
            return self.score_frames(iter_video_frames(media.path, self.every_s, self.max_frames), media.kind)
        return self.score_frames(self.frames(media), media.kind)
