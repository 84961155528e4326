"""Synthetic-image card: figures re-rendered from the committed JSON match the card; the splits are disjoint;
the leak check and the bootstrap compute what they should on tiny fixtures; ``--seed`` changes only the intervals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flockwatch.config import Settings
from flockwatch.media.synthetic_image import DEFAULT_MODEL_DIR
from flockwatch.metrics import auroc
from flockwatch.model_card import read_block
from flockwatch.training.image import (
    CARD,
    UPSCALE_FACTORS,
    Config,
    augment,
    bootstrap_intervals,
    card_figures,
    featurize,
    generator_folds,
    jpeg_facts,
    leak_check,
    list_examples,
    resized,
    train,
)

DATA = Settings().data_dir / "media" / "images" / "cnndetection"
METRICS = json.loads((DEFAULT_MODEL_DIR / "metrics.json").read_text())


@pytest.mark.parametrize("name", ["data", "leak-check", "model", "evaluation", "robustness"])
def test_card_blocks_match_the_committed_json(name: str) -> None:
    blocks = card_figures(DEFAULT_MODEL_DIR)
    assert name in blocks, "robustness.json missing: run python -m bench.synthetic_image"
    assert read_block(DEFAULT_MODEL_DIR / CARD, name) == blocks[name]


def test_bench_robustness_uses_the_same_folds_as_training() -> None:
    rob = json.loads((DEFAULT_MODEL_DIR / "robustness.json").read_text())
    assert rob["per_generator"]["clean"] == METRICS["nested_logo_auroc"]
    assert rob["chosen_config"] == METRICS["nested_chosen_config"]


def test_card_states_no_drifting_cli_or_figures() -> None:
    text = (DEFAULT_MODEL_DIR / CARD).read_text()
    assert "once the CLI wires it" not in text
    assert "flockwatch train synthetic-image" in text


def test_training_copies_are_enlarged_images_of_the_same_class_and_never_scored() -> None:
    examples = list_examples(DATA, ["crn"], per_class=1)
    tiles = featurize(examples)
    fitted = augment(examples, tiles, (1.3, 2.0))
    for e, t, f in zip(examples, tiles, fitted, strict=True):
        big = featurize([e], resized(2.0))[0]
        assert f.shape[0] == t.shape[0] + featurize([e], resized(1.3))[0].shape[0] + big.shape[0]
        np.testing.assert_array_equal(f[: t.shape[0]], t)  # the image itself first, then its copies
        np.testing.assert_array_equal(f[-big.shape[0] :], big)
        assert not np.allclose(big, t)  # enlarging changes the features: the copies teach something
    assert METRICS["augmentation_upscale_factors"] == list(UPSCALE_FACTORS)
    assert 1.5 not in UPSCALE_FACTORS  # the robustness bench enlarges 1.5×: a factor no fit saw


def test_generator_folds_on_the_real_data_are_disjoint_and_match_the_metrics() -> None:
    examples = list_examples(DATA)
    gens = [e.generator for e in examples]
    folds = generator_folds(gens)
    assert [f.held_out for f in folds] == sorted(set(gens)) == METRICS["generators"]
    for f in folds:
        test_gens = {gens[i] for i in f.test_idx}
        train_gens = {gens[i] for i in f.train_idx}
        assert test_gens == {f.held_out}
        assert f.held_out not in train_gens and train_gens == set(f.train)
        assert sorted(f.train_idx + f.test_idx) == list(range(len(examples)))
        # The inner folds that choose the settings only ever hold out training generators.
        inner = generator_folds([gens[i] for i in f.train_idx])
        assert {i.held_out for i in inner} == train_gens
        recorded = METRICS["nested_splits"][f.held_out]
        assert recorded["chooses_and_fits_on"] == list(f.train)
        assert recorded["inner_folds_held_out"] == [i.held_out for i in inner]
        assert (recorded["test_images"], recorded["train_images"]) == (len(f.test_idx), len(f.train_idx))


def _jpeg(path: Path, size: int, quality: int, seed: int) -> None:
    rgb = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path, "JPEG", quality=quality)


def test_leak_check_finds_a_planted_leak(tmp_path: Path) -> None:
    # Generated images saved smaller and at another quality than the reals: both must show.
    for i in range(3):
        _jpeg(tmp_path / f"{i}_gena_real.jpg", 64, 75, i)
        _jpeg(tmp_path / f"{10 + i}_gena_fake.jpg", 48, 90, 10 + i)
        _jpeg(tmp_path / f"{20 + i}_genb_real.jpg", 64, 75, 20 + i)
        _jpeg(tmp_path / f"{30 + i}_genb_fake.jpg", 64, 75, 30 + i)
    examples = list_examples(tmp_path)
    leak = leak_check(examples)
    assert leak["pixel_sizes"] == ["48x48", "64x64"]
    assert leak["jpeg_quality"] == [75, 90] and len(leak["quant_tables"]) == 2
    rows = {(r["generator"], r["class"]): r for r in leak["by_generator_class"]}
    assert rows[("gena", "generated")]["jpeg_quality"] == [90] and rows[("gena", "real")]["jpeg_quality"] == [75]
    assert rows[("genb", "generated")]["pixel_sizes"] == ["64x64"]
    sizes = {e.path.name: e.path.stat().st_size for e in examples}
    expect = auroc(
        [e.label for e in examples if e.generator == "gena"],
        [-sizes[e.path.name] for e in examples if e.generator == "gena"],
    )
    assert leak["file_size_auroc"]["gena"] == expect == 1.0  # smaller noise JPEGs: a perfect shortcut
    assert jpeg_facts(tmp_path / "0_gena_real.jpg")["subsampling"] == "4:2:0"


def test_bootstrap_intervals() -> None:
    labels = {"a": [1, 1, 1, 0, 0, 0], "b": [1, 1, 1, 0, 0, 0]}
    separated = {"a": [3.0, 2.0, 2.5, 0.0, -1.0, 0.5], "b": [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]}
    ci = bootstrap_intervals(labels, separated, seed=0, resamples=200)
    assert ci["a"] == [1.0, 1.0]  # every resample keeps every fake above every real
    assert ci["b"] == [0.5, 0.5]  # all tied: half
    assert ci["mean"] == [0.75, 0.75]
    rng = np.random.default_rng(0)
    labels = {g: [1] * 20 + [0] * 20 for g in ("a", "b")}
    noisy = {g: (rng.normal(size=40) + 0.5 * np.array(labels[g])).tolist() for g in ("a", "b")}
    a0 = bootstrap_intervals(labels, noisy, seed=0, resamples=200)
    assert a0 == bootstrap_intervals(labels, noisy, seed=0, resamples=200)
    assert a0 != bootstrap_intervals(labels, noisy, seed=1, resamples=200)  # the seed draws the resamples
    assert a0["a"][0] <= auroc(labels["a"], noisy["a"]) <= a0["a"][1]


def test_seed_changes_only_the_bootstrap_intervals(tmp_path: Path) -> None:
    gens, grid = ["crn", "imle", "stargan"], (Config(("residual", "dct"), 1e-3),)
    m0 = train(DATA, tmp_path / "s0", seed=0, generators=gens, per_class=1, grid=grid, sensitivity_grid=grid)
    m1 = train(DATA, tmp_path / "s1", seed=1, generators=gens, per_class=1, grid=grid, sensitivity_grid=grid)
    assert (tmp_path / "s0" / "weights.pt").read_bytes() == (tmp_path / "s1" / "weights.pt").read_bytes()
    assert (tmp_path / "s0" / "model.json").read_text() == (tmp_path / "s1" / "model.json").read_text()
    differ = {k for k in m0 if m0[k] != m1[k]} - {"seconds"}
    # The intervals may coincide when a fold separates perfectly; the recorded seed always differs.
    assert "bootstrap" in differ and differ <= {"nested_logo_auroc_ci95", "bootstrap"}
