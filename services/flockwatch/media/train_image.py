"""Train and evaluate the synthetic-image detector (``python -m flockwatch.media.train_image``).

Evaluation is leave-one-generator-out (LOGO), as in Wang et al. 2020 ("CNN-generated images are surprisingly
easy to spot... for now"): train on five generators' fakes and their real source images, report AUROC on the
sixth. Hyper-parameters (feature groups, L2 strength) are chosen by an *inner* LOGO over the five training
generators only, so the reported held-out figure never saw its test generator, not even to choose settings
(nested cross-validation, Varma & Simon 2006). The committed model is then fitted on all six generators with
the settings a LOGO over all six prefers.

Deterministic: features are numpy, the fit is full-batch L-BFGS in float64 on one thread, from zeros.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import torch

from flockwatch.media import image_features
from flockwatch.media.decode import open_image
from flockwatch.media.logistic import fit_logistic
from flockwatch.media.synthetic_image import DEFAULT_MODEL_DIR, MODEL_JSON, WEIGHTS, build_model
from flockwatch.metrics import auroc

F64 = npt.NDArray[np.float64]
Transform = Callable[[Path], npt.NDArray[np.uint8]]

MODEL_NAME: Final = "synthetic_image v1"
DATA_SUBDIR: Final = Path("media") / "images" / "cnndetection"
ALL_GROUPS: Final = image_features.GROUPS


@dataclass(frozen=True)
class Config:
    groups: tuple[str, ...]
    l2: float

    def label(self) -> str:
        return f"{'+'.join(self.groups)} l2={self.l2:g}"


# Small on purpose: every extra setting is one more chance to fit the inner folds by luck.
GRID: Final = tuple(Config(groups, l2) for groups in (("residual", "dct"), ALL_GROUPS) for l2 in (1e-4, 1e-3, 1e-2))


@dataclass(frozen=True)
class Example:
    path: Path
    generator: str
    label: int  # 1 = generated


@dataclass(frozen=True)
class Fitted:
    config: Config
    mean: F64
    scale: F64
    weight: F64
    bias: float

    def image_logit(self, tiles: F64) -> float:
        cols = columns(self.config.groups)
        return float((((tiles[:, cols] - self.mean) / self.scale) @ self.weight + self.bias).mean())


def list_examples(
    image_dir: Path, generators: Sequence[str] | None = None, per_class: int | None = None
) -> list[Example]:
    """Images named ``<id>_<generator>_<real|fake>.jpg``, sorted; optionally some generators, first n per class."""
    out: list[Example] = []
    counts: dict[tuple[str, int], int] = {}
    for p in sorted(image_dir.glob("*.jpg"), key=lambda p: (p.stem.split("_")[1:], int(p.stem.split("_")[0]))):
        _, gen, lab = p.stem.split("_")
        label = int(lab == "fake")
        if generators is not None and gen not in generators:
            continue
        key = (gen, label)
        if per_class is not None and counts.get(key, 0) >= per_class:
            continue
        counts[key] = counts.get(key, 0) + 1
        out.append(Example(p, gen, label))
    if not out:
        raise FileNotFoundError(f"no <id>_<generator>_<real|fake>.jpg images in {image_dir}")
    return out


def load_rgb(path: Path) -> npt.NDArray[np.uint8]:
    return np.asarray(open_image(path))


def featurize(examples: Sequence[Example], load: Transform = load_rgb) -> list[F64]:
    """Tile-feature matrices (all groups) per example; ``load`` may re-encode or resize for robustness runs."""
    return [image_features.tile_features(load(e.path), ALL_GROUPS) for e in examples]


def columns(groups: Sequence[str]) -> npt.NDArray[np.int64]:
    """Column indices of ``groups`` in an all-groups tile matrix."""
    sl = image_features.group_slices(ALL_GROUPS)
    return np.concatenate([np.arange(sl[g].start, sl[g].stop) for g in groups])


def fit(tiles: Sequence[F64], labels: Sequence[int], config: Config) -> Fitted:
    """L2 logistic regression on standardised tiles (each tile carries its image's label), L-BFGS from zeros."""
    cols = columns(config.groups)
    x = np.concatenate([t[:, cols] for t in tiles])
    y = np.concatenate([np.full(t.shape[0], lab, dtype=np.float64) for t, lab in zip(tiles, labels, strict=True)])
    # Each image weighs the same whatever its tile count.
    w_rows = np.concatenate([np.full(t.shape[0], 1.0 / t.shape[0]) for t in tiles])
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    weight, bias = fit_logistic((x - mean) / scale, y, w_rows / w_rows.sum(), config.l2)
    return Fitted(config, mean, scale, weight, bias)


def logo(
    tiles: Sequence[F64],
    gens: Sequence[str],
    labels: Sequence[int],
    config: Config,
    test_tiles: Sequence[F64] | None = None,
) -> dict[str, float]:
    """Held-out AUROC per generator for one config; ``test_tiles`` replaces the held-out images' features."""
    g_arr, y = np.asarray(gens), np.asarray(labels)
    test = tiles if test_tiles is None else test_tiles
    out: dict[str, float] = {}
    for g in sorted(set(gens)):
        tr, te = np.flatnonzero(g_arr != g).tolist(), np.flatnonzero(g_arr == g).tolist()
        m = fit([tiles[i] for i in tr], [int(y[i]) for i in tr], config)
        out[g] = auroc(y[te], [m.image_logit(test[i]) for i in te])
    return out


def choose(
    tiles: Sequence[F64], gens: Sequence[str], labels: Sequence[int], grid: Sequence[Config]
) -> tuple[Config, dict[str, float]]:
    """The config with the best mean LOGO AUROC over these generators (first in grid order on ties)."""
    means = {c.label(): float(np.mean(list(logo(tiles, gens, labels, c).values()))) for c in grid}
    best = max(grid, key=lambda c: means[c.label()])
    return best, means


def nested_logo(
    tiles: Sequence[F64],
    gens: Sequence[str],
    labels: Sequence[int],
    grid: Sequence[Config] = GRID,
    test_tiles: Mapping[str, Sequence[F64]] | None = None,
) -> dict[str, Any]:
    """Outer LOGO whose config is chosen by inner LOGO on the training generators only.

    ``test_tiles`` maps a variant name ("jpeg50", ...) to features of the same images altered; each variant's
    held-out AUROC uses the same fitted fold model as the clean one.
    """
    g_arr, y = np.asarray(gens), np.asarray(labels)
    variants: dict[str, Sequence[F64]] = {"clean": tiles, **(test_tiles or {})}
    per: dict[str, dict[str, float]] = {v: {} for v in variants}
    chosen: dict[str, str] = {}
    for g in sorted(set(gens)):
        tr, te = np.flatnonzero(g_arr != g).tolist(), np.flatnonzero(g_arr == g).tolist()
        tr_tiles, tr_gens, tr_y = [tiles[i] for i in tr], [gens[i] for i in tr], [int(y[i]) for i in tr]
        config, _ = choose(tr_tiles, tr_gens, tr_y, grid)
        chosen[g] = config.label()
        m = fit(tr_tiles, tr_y, config)
        for v, feats in variants.items():
            per[v][g] = auroc(y[te], [m.image_logit(feats[i]) for i in te])
    return {
        "per_generator": per,
        "mean": {v: float(np.mean(list(d.values()))) for v, d in per.items()},
        "chosen_config": chosen,
    }


def save(model: Fitted, out_dir: Path, seed: int, extra: dict[str, Any]) -> None:
    """weights.pt (a float32 state_dict, no pickled objects) and model.json (config, standardisation)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    names = image_features.feature_names()
    state = {
        "linear.weight": torch.from_numpy(model.weight[None, :].astype(np.float32)),
        "linear.bias": torch.tensor([model.bias], dtype=torch.float32),
    }
    config = {
        "name": MODEL_NAME,
        "feature_version": image_features.FEATURE_VERSION,
        "groups": list(model.config.groups),
        "l2": model.config.l2,
        "tile": image_features.TILE,
        "tiles_per_side": image_features.TILES_PER_SIDE,
        "feature_names": [n for g in model.config.groups for n in names[g]],
        "mean": model.mean.tolist(),
        "scale": model.scale.tolist(),
        "seed": seed,
        **extra,
    }
    torch.save(state, out_dir / WEIGHTS)
    (out_dir / MODEL_JSON).write_text(json.dumps(config, indent=1) + "\n")
    build_model(config, state)  # fails here, not at serving time, if the files do not load


def train(
    data_dir: Path,
    out_dir: Path = DEFAULT_MODEL_DIR,
    seed: int = 0,
    *,
    generators: Sequence[str] | None = None,
    per_class: int | None = None,
    grid: Sequence[Config] = GRID,
) -> dict[str, Any]:
    """Nested-LOGO evaluation, then the final fit on every image; writes weights, model.json, metrics.json.

    ``data_dir`` is the shared data folder (``Settings().data_dir``) or the cnndetection folder itself.
    """
    image_dir = data_dir / DATA_SUBDIR if (data_dir / DATA_SUBDIR).is_dir() else data_dir
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: same float reductions every run, and polite on shared machines
    torch.manual_seed(seed)
    try:
        t0 = time.perf_counter()
        examples = list_examples(image_dir, generators, per_class)
        tiles = featurize(examples)
        feat_s = time.perf_counter() - t0
        gens, labels = [e.generator for e in examples], [e.label for e in examples]
        nested = nested_logo(tiles, gens, labels, grid)
        final_config, logo_means = choose(tiles, gens, labels, grid)
        model = fit(tiles, labels, final_config)
        train_auc = auroc(labels, [model.image_logit(t) for t in tiles])
        total_s = time.perf_counter() - t0
    finally:
        torch.set_num_threads(threads)
    metrics: dict[str, Any] = {
        "model": MODEL_NAME,
        "data": str(image_dir.name),
        "images": len(examples),
        "fake": int(sum(labels)),
        "generators": sorted(set(gens)),
        "nested_logo_auroc": nested["per_generator"]["clean"],
        "nested_logo_auroc_mean": nested["mean"]["clean"],
        "nested_chosen_config": nested["chosen_config"],
        "logo_auroc_mean_by_config_all_generators": logo_means,
        "final_config": final_config.label(),
        "train_auroc_in_sample": train_auc,
        "seconds": {"features": round(feat_s, 1), "total": round(total_s, 1)},
    }
    save(model, out_dir, seed, {"trained_on": metrics["generators"], "images": len(examples)})
    stable = {k: v for k, v in metrics.items() if k != "seconds"}  # timings vary; keep the file reproducible
    (out_dir / "metrics.json").write_text(json.dumps(stable, indent=1, sort_keys=True) + "\n")
    return metrics


def main(argv: Sequence[str] | None = None) -> None:
    from flockwatch.config import Settings

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--data-dir", type=Path, default=Settings().data_dir, help="shared data folder")
    ap.add_argument("--out-dir", type=Path, default=DEFAULT_MODEL_DIR)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    m = train(args.data_dir, args.out_dir, args.seed)
    print(f"{m['images']} images ({m['fake']} generated), generators: {', '.join(m['generators'])}")
    print("nested leave-one-generator-out AUROC (held-out generator):")
    for g, a in m["nested_logo_auroc"].items():
        print(f"  {g:12s} {a:.3f}  (config chosen on the other five: {m['nested_chosen_config'][g]})")
    print(f"  {'mean':12s} {m['nested_logo_auroc_mean']:.3f}")
    print(f"final config (LOGO over all six): {m['final_config']}; wrote {args.out_dir}")
    print(f"features {m['seconds']['features']} s, total {m['seconds']['total']} s")


if __name__ == "__main__":
    main()
