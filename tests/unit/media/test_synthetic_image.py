"""Synthetic-image detector: features, the committed model, and a reproducible small training run.

No test checks that fakes outscore reals on the training images: the committed model was fitted on them,
so such a test would measure memory, not detection (the held-out figures are in the model card).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from flockwatch.config import Settings
from flockwatch.media import image_features as F
from flockwatch.media.signal import MediaFile, MediaSignal, Tier
from flockwatch.media.sniff import open_media
from flockwatch.media.synthetic_image import (
    DEFAULT_MODEL_DIR,
    GROUP_WORDS,
    SyntheticImageSignal,
    load_model,
    score_rgb,
)
from flockwatch.training.image import Config, list_examples, train

DATA = Settings().data_dir / "media" / "images" / "cnndetection"
N_FEATURES = sum(len(v) for v in F.feature_names().values())


def _noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_feature_names_match_vectors() -> None:
    feats = F.extract(_noise(100, 120))
    names = F.feature_names()
    assert set(feats) == set(F.GROUPS)
    for g in F.GROUPS:
        assert feats[g].shape == (len(names[g]),), g
        assert np.all(np.isfinite(feats[g]))


def test_every_feature_group_has_words_for_the_evidence() -> None:
    assert set(GROUP_WORDS) == set(F.GROUPS)


def _npr(image: np.ndarray) -> dict[str, float]:
    return dict(zip(F.feature_names()["npr"], F.npr_features(F.to_rgb_array(image)), strict=True))


def test_npr_group_sees_two_times_nearest_up_sampling_and_not_camera_like_noise() -> None:
    noise = _noise(64, 64)
    up = np.repeat(np.repeat(_noise(32, 32, seed=1), 2, axis=0), 2, axis=1)  # each pixel copied into a 2×2 block
    n, u = _npr(noise), _npr(up)
    # Inside an aligned block every pixel equals its anchor; across blocks (phase 1) they differ as in noise.
    assert u["npr_ph0_01_logstd"] < np.log(1e-3) < n["npr_ph0_01_logstd"]
    assert abs(u["npr_ph1_11_logstd"] - n["npr_ph1_11_logstd"]) < 1.0
    # Differences alternate zero / non-zero with period 2: a large phase spectrum, whichever pixel starts the grid.
    shifted = _npr(np.roll(up, 1, axis=(0, 1)))
    for name in ("phase_d1h_p2_f1", "phase_d1v_p2_f1"):
        assert u[name] > 5.0 > n[name] + 4.0
        assert shifted[name] == pytest.approx(u[name], rel=0.05)


def test_tile_features_shape_and_determinism() -> None:
    img = _noise(356, 356)
    a, b = F.tile_features(img), F.tile_features(img.copy())
    assert a.shape == (25, N_FEATURES)
    np.testing.assert_array_equal(a, b)
    assert F.tile_features(_noise(150, 300)).shape == (2 * 4, N_FEATURES)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((8, 8, 3), dtype=np.uint8),  # tiny
        np.full((40, 40), 128, dtype=np.uint8),  # grayscale 2-D, flat
        _noise(20, 1000),  # extreme aspect ratio
        _noise(70, 70)[:, :, :1],  # one channel
        np.dstack([_noise(64, 64), np.full((64, 64, 1), 255, np.uint8)]),  # RGBA
    ],
)
def test_odd_inputs_give_defined_features_and_scores(image: np.ndarray) -> None:
    t = F.tile_features(image)
    assert t.shape[1] == N_FEATURES and t.shape[0] >= 1
    assert np.all(np.isfinite(t))
    s = score_rgb(image)
    assert 0.0 <= s <= 1.0


@pytest.mark.parametrize("shape", [(0, 10, 3), (10, 10, 2), (4,)])
def test_malformed_arrays_raise_value_error(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        F.tile_features(np.zeros(shape, dtype=np.uint8))


def test_committed_model_loads_offline_and_is_small() -> None:
    m = load_model(DEFAULT_MODEL_DIR)
    cfg = json.loads((DEFAULT_MODEL_DIR / "model.json").read_text())
    assert cfg["feature_version"] == F.FEATURE_VERSION
    assert m.mean.size == len(cfg["feature_names"]) == m.net.linear.in_features
    assert (DEFAULT_MODEL_DIR / "weights.pt").stat().st_size < 1_000_000
    assert (DEFAULT_MODEL_DIR / "MODEL_CARD.md").is_file()
    metrics = json.loads((DEFAULT_MODEL_DIR / "metrics.json").read_text())
    assert set(metrics["nested_logo_auroc"]) == set(cfg["trained_on"])


def test_signal_scores_an_image_file(tmp_path: Path) -> None:
    p = tmp_path / "noise.png"
    Image.fromarray(_noise(200, 260, seed=3)).save(p)
    sig = SyntheticImageSignal()
    assert isinstance(sig, MediaSignal) and sig.tier is Tier.learned
    media = open_media(p)
    assert sig.applies_to(media)
    assert not sig.applies_to(MediaFile(p, "audio", "audio/wav", "0", 1))
    f1, f2 = sig.compute(media), sig.compute(media)
    assert f1 is not None and f2 is not None
    assert f1 == f2  # deterministic
    assert f1.score is not None
    assert 0.0 <= f1.score <= 1.0
    assert f1.tier is Tier.learned
    assert "synthetic_image v2" in f1.detail and f"{f1.score:.2f}" in f1.detail
    assert set(f1.data["contributions"]) == set(load_model().groups)


def test_signal_scores_a_dataset_jpeg() -> None:
    path = sorted(DATA.glob("*_real.jpg"))[0]
    f = SyntheticImageSignal().compute(open_media(path))
    assert f is not None and f.score is not None
    assert 0.0 <= f.score <= 1.0
    assert f.data["tiles"] == 25


def test_undecodable_image_gives_none(tmp_path: Path) -> None:
    p = tmp_path / "broken.jpg"
    p.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 40)
    assert SyntheticImageSignal().compute(open_media(p)) is None


def test_small_training_run_is_reproducible(tmp_path: Path) -> None:
    gens, grid = ["crn", "imle", "stargan"], (Config(("residual", "dct"), 1e-3),)
    assert len(list_examples(DATA, gens, per_class=2)) == 12
    m1 = train(DATA, tmp_path / "a", seed=0, generators=gens, per_class=2, grid=grid, sensitivity_grid=grid)
    train(DATA, tmp_path / "b", seed=0, generators=gens, per_class=2, grid=grid, sensitivity_grid=grid)
    assert set(m1["nested_logo_auroc"]) == {"crn", "imle", "stargan"}
    assert all(0.0 <= v <= 1.0 for v in m1["nested_logo_auroc"].values())
    for name in ("model.json", "metrics.json"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()
    wa = torch.load(tmp_path / "a" / "weights.pt", weights_only=True)
    wb = torch.load(tmp_path / "b" / "weights.pt", weights_only=True)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert 0.0 <= score_rgb(_noise(64, 64), tmp_path / "a") <= 1.0
