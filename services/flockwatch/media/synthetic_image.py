"""Synthetic-image detector: is this picture GAN/up-sampler made? A weak, learned prior.

Forensic features of 64-pixel tiles (:mod:`flockwatch.media.image_features`: spectra after Durall et al. 2020,
up-sampling peaks after Zhang et al. 2019, SRM residuals after Fridrich & Kodovsky 2012, block DCT after
Frank et al. 2020) feed a torch logistic layer; the image's logit is the mean of its tiles' logits. Trained on
the CNNDetection ranking images (Wang et al. 2020, "CNN-generated images are surprisingly easy to spot... for
now") by :mod:`flockwatch.training.image`; ``models/synthetic_image/MODEL_CARD.md`` gives the data, the
leak check, the leave-one-generator-out figures and the limits. It has never seen a diffusion model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from flockwatch.config import REPO_ROOT
from flockwatch.media import image_features
from flockwatch.media.decode import open_image
from flockwatch.media.errors import MediaRefused
from flockwatch.media.signal import Finding, MediaFile, Tier
from flockwatch.model_id import files_model_id

DEFAULT_MODEL_DIR: Final = REPO_ROOT / "models" / "synthetic_image"
MODEL_JSON: Final = "model.json"
WEIGHTS: Final = "weights.pt"

# What a feature group's push towards "synthetic" means, in words an analyst can quote.
GROUP_WORDS: Final = {
    "spectrum": "a power-spectrum fall-off unlike camera images",
    "periodic": "periodic high-frequency peaks typical of up-sampling",
    "residual": "noise-residual statistics unlike camera sensor noise",
    "dct": "block-DCT coefficient statistics typical of generated texture",
    "npr": "neighbouring pixels related as up-sampling layers leave them",
}


class TileLogistic(nn.Module):
    """Logistic regression on standardised tile features (the layer whose state_dict is committed)."""

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_features, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.linear(z).squeeze(-1)
        return out


@dataclass(frozen=True)
class SyntheticImageModel:
    """A loaded detector: the feature groups it reads, standardisation stats and the layer."""

    name: str
    groups: tuple[str, ...]
    mean: npt.NDArray[np.float64]
    scale: npt.NDArray[np.float64]
    net: TileLogistic

    def tile_logits(self, feats: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        z = torch.from_numpy(((feats - self.mean) / self.scale).astype(np.float32))
        with torch.no_grad():
            out: npt.NDArray[np.float64] = self.net(z).double().numpy()
        return out

    def contributions(self, feats: npt.NDArray[np.float64]) -> dict[str, float]:
        """Each group's share of the image logit (mean over tiles of w·z on its columns); exact for a linear model."""
        z = ((feats - self.mean) / self.scale).mean(axis=0)
        w = self.net.linear.weight.detach().double().numpy()[0]
        return {g: float(z[s] @ w[s]) for g, s in image_features.group_slices(self.groups).items()}


@dataclass(frozen=True)
class Explained:
    score: float  # P(synthetic), 0..1
    logit: float
    contributions: dict[str, float]
    tiles: int


def build_model(config: dict[str, object], state: dict[str, torch.Tensor]) -> SyntheticImageModel:
    """A model from its ``model.json`` dict and ``weights.pt`` state_dict; checks the feature version."""
    version = config.get("feature_version")
    if version != image_features.FEATURE_VERSION:
        raise ValueError(f"model built for features v{version}, code has v{image_features.FEATURE_VERSION}")
    groups = tuple(str(g) for g in config["groups"])  # type: ignore[attr-defined]
    mean = np.asarray(config["mean"], dtype=np.float64)
    scale = np.asarray(config["scale"], dtype=np.float64)
    net = TileLogistic(mean.size)
    net.load_state_dict(state)
    net.eval()
    return SyntheticImageModel(str(config.get("name", "synthetic_image")), groups, mean, scale, net)


@lru_cache(maxsize=4)
def load_model(model_dir: Path = DEFAULT_MODEL_DIR) -> SyntheticImageModel:
    """Load (once per directory) from ``model.json`` and a ``weights.pt`` state_dict; no pickle is executed."""
    config = json.loads((model_dir / MODEL_JSON).read_text())
    state = torch.load(model_dir / WEIGHTS, map_location="cpu", weights_only=True)
    model = build_model(config, state)
    return replace(model, name=files_model_id(model.name, model_dir, [MODEL_JSON, WEIGHTS]))


def explain_rgb(rgb: npt.ArrayLike, model: SyntheticImageModel) -> Explained:
    """Score an RGB/RGBA/grayscale array and say which feature group moved the logit."""
    feats = image_features.tile_features(rgb, model.groups)
    logit = float(model.tile_logits(feats).mean())
    score = float(1.0 / (1.0 + np.exp(-np.clip(logit, -50.0, 50.0))))
    return Explained(score, logit, model.contributions(feats), feats.shape[0])


def score_rgb(rgb: npt.ArrayLike, model_dir: Path = DEFAULT_MODEL_DIR) -> float:
    """P(synthetic) of one RGB array (H×W×3 uint8, or grayscale/RGBA); also for video frames."""
    return explain_rgb(rgb, load_model(model_dir)).score


def describe(e: Explained, model_name: str) -> str:
    """The quotable detail: model, probability and the feature group that pushed hardest that way."""
    toward = {g: c for g, c in e.contributions.items() if (c > 0) == (e.logit > 0)}
    if not toward:
        return f"{model_name}: P(synthetic) {e.score:.2f}"
    top = max(toward, key=lambda g: abs(toward[g]))
    if e.logit > 0:
        return f"{model_name}: P(synthetic) {e.score:.2f}, pushed up by {GROUP_WORDS[top]}"
    return f"{model_name}: P(synthetic) {e.score:.2f}, camera-like mainly in {top} features"


class SyntheticImageSignal:
    """MediaSignal for still images (tier ``learned``): a prior that ranks, never a verdict."""

    name = "synthetic_image"
    tier = Tier.learned

    def __init__(self, model_dir: Path = DEFAULT_MODEL_DIR) -> None:
        self.model_dir = model_dir

    def applies_to(self, media: MediaFile) -> bool:
        return media.kind == "image"

    def compute(self, media: MediaFile) -> Finding | None:
        """None when the image cannot be decoded (other signals report that); otherwise a Finding."""
        try:
            rgb = np.asarray(open_image(media.path))
        except MediaRefused:
            return None
        model = load_model(self.model_dir)
        e = explain_rgb(rgb, model)
        return Finding.scored(
            signal=self.name,
            score=e.score,
            detail=describe(e, model.name),
            tier=self.tier,
            data={
                "model": model.name,
                "logit": round(e.logit, 4),
                "tiles": e.tiles,
                "contributions": {g: round(c, 4) for g, c in e.contributions.items()},
            },
        )
