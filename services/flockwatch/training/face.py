"""Train the face-video CNN (``flockwatch.media.face_video``) on real faces only, with Self-Blended Images.

Self-Blended Images (Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended Images", CVPR 2022): a real face
is blended into a colour-, frequency- and scale-jittered copy of itself inside a soft, deformed face-shaped mask.
The result carries the blending boundary and the colour/texture mismatch that face swaps leave, without any one
generator's fingerprint, so a classifier trained on (real, self-blended) pairs needs no fake videos. The mask here
is an ellipse fitted to MTCNN's five landmarks (the paper uses 81 dlib landmarks, which are not available offline).

Data (``Settings().data_dir / media/video/ffpp_dfdc_samples``, read-only) is a smoke set of 10 clips: 3 FF++
originals, 4 FF++ manipulations, 3 DFDC fakes. Only the 3 originals are trained on (plus 20 CelebA faces from
``media/images/cnndetection/*stargan_real*`` for more identities); manipulated clips never are. Leave-one-identity-
out folds give each original and its manipulation a score from a model that saw neither.

    flockwatch train face-video [--out models/face_video] [--seed 0] [--steps 360] [--no-folds] [--card-only]

Deterministic for a seed (one CPU thread, deterministic algorithms, seeded NumPy generator); the seed draws the
training batches and every self-blend (mask shape, colour, frequency and geometry jitter), so it changes the
weights. The folds (:func:`identity_folds`) draw nothing. The command renders its figures into
``MODEL_CARD.md`` (:func:`write_card`); ``--card-only`` re-renders them from the committed ``metrics.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from flockwatch.media import faces
from flockwatch.media.decode import Frame, open_image, video_frames
from flockwatch.media.face_video import (
    MODEL_DIR,
    WIDTHS,
    FaceArtefactNet,
    FaceModel,
    load_model,
    save_model,
    to_tensor,
    top_fraction_mean,
)
from flockwatch.media.faces import CROP_SIZE, MARGIN, FaceCropper
from flockwatch.media.signal import sha256_file
from flockwatch.metrics import auroc_pos_neg
from flockwatch.model_card import markdown_table, write_block

RGB = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]

SAMPLES = Path("media/video/ffpp_dfdc_samples")
CELEBA_GLOB = "media/images/cnndetection/*stargan_real*"
TRAIN_EVERY_S = 0.2  # training frames: 5 a second (neighbours are near-duplicates; SBI makes the variety)
TRAIN_MAX_FRAMES = 150
EVAL_EVERY_S, EVAL_MAX_FRAMES = 1.0, 30  # FaceVideoSignal's defaults: evaluation sees what the signal sees
STEPS = 360  # training steps of each CNN (fold models and the shipped one)
BATCH, LR = 32, 3e-3  # half real, half self-blended crops per step; AdamW's one-cycle peak learning rate
CARD = "MODEL_CARD.md"


@dataclass(frozen=True)
class Clip:
    name: str
    path: Path
    label: int  # 1 = manipulated
    group: str  # identity / scene: an original and its manipulation share it
    method: str


def clips(data_dir: Path) -> list[Clip]:
    """The 10 labelled clips. FF++ ``519_515`` is video 519 with a face taken from 515, so it shares group 519."""
    root = data_dir / SAMPLES
    out = [
        Clip(p.stem, p, 0, p.stem, "original") for p in sorted(root.glob("ffpp/original_sequences/*/c23/videos/*.mp4"))
    ]
    for p in sorted(root.glob("ffpp/manipulated_sequences/*/c23/videos/*.mp4")):
        out.append(Clip(p.stem, p, 1, p.stem.split("_")[0], p.parents[2].name))
    for meta in sorted(root.glob("dfdc/*/metadata.json")):
        for name, info in sorted(json.loads(meta.read_text()).items()):
            if (meta.parent / name).exists():
                label = int(info["label"] == "FAKE")
                out.append(Clip(Path(name).stem, meta.parent / name, label, Path(name).stem, "DFDC"))
    return out


@dataclass(frozen=True)
class IdentityFold:
    """One leave-one-identity-out fold: trains on ``train_groups`` (+ CelebA), reports on ``held_out`` (a real
    original) against ``fakes``, every clip whose identity group no training clip of this fold shares."""

    held_out: str
    train_groups: tuple[str, ...]
    fakes: tuple[str, ...]


def identity_folds(all_clips: Sequence[Clip]) -> list[IdentityFold]:
    """A fold per FF++ original (sorted): the other originals train; the held-out original and each fake whose
    group is not trained on (its own manipulation, and identities no fold trains on) report."""
    originals = sorted({c.group for c in all_clips if c.label == 0 and c.method == "original"})
    out = []
    for held in originals:
        train_groups = tuple(g for g in originals if g != held)
        fakes = tuple(c.name for c in all_clips if c.label == 1 and c.group not in train_groups)
        out.append(IdentityFold(held, train_groups, fakes))
    return out


def cache_dir() -> Path:
    return Path(os.environ.get("FLOCKWATCH_MODEL_CACHE", Path.home() / ".cache" / "flockwatch")) / "face_video"


def _crops_cached(
    path: Path, key: str, make: Callable[[], tuple[RGB, F32, F32]], cache: Path | None
) -> tuple[RGB, F32, F32]:
    """(crops, landmarks, times) from the cache, or made and stored; keyed by file hash and settings."""
    if cache is None:
        return make()
    f = cache / f"{sha256_file(path)[:16]}-{hashlib.blake2b(key.encode(), digest_size=6).hexdigest()}.npz"
    if f.exists():
        with np.load(f, allow_pickle=False) as z:
            return z["crops"], z["points"], z["t"]
    crops, points, t = make()
    cache.mkdir(parents=True, exist_ok=True)
    tmp = f.with_suffix(".tmp.npz")
    np.savez(tmp, crops=crops, points=points, t=t)
    tmp.replace(f)
    return crops, points, t


def face_arrays(
    path: Path, *, image: bool, every_s: float, max_frames: int, max_faces: int, cache: Path | None
) -> tuple[RGB, F32, F32]:
    """Face crops (N x S x S x 3), their landmarks (N x 5 x 2) and times (N) of a video or an image."""
    cropper = FaceCropper(max_faces=max_faces)

    def make() -> tuple[RGB, F32, F32]:
        frames = [Frame(0.0, np.asarray(open_image(path)))] if image else video_frames(path, every_s, max_frames)
        cs = cropper.crops(frames, CROP_SIZE)
        if not cs:
            return (
                np.zeros((0, CROP_SIZE, CROP_SIZE, 3), np.uint8),
                np.zeros((0, 5, 2), np.float32),
                np.zeros(0, np.float32),
            )
        return (
            np.stack([c.rgb for c in cs]),
            np.array([c.points for c in cs], np.float32),
            np.array([c.t for c in cs], np.float32),
        )

    key = f"{image}-{every_s}-{max_frames}-{max_faces}-{CROP_SIZE}-{MARGIN}-{cropper.threshold}-{cropper.min_face}"
    return _crops_cached(path, key, make, cache)


# --- Self-Blended Images -------------------------------------------------------------------------------------


def face_mask(rng: np.random.Generator, pts: F32, size: int) -> F32:
    """A soft, deformed face-shaped mask from MTCNN's 5 landmarks (eyes, nose, mouth corners), 0..1."""
    import cv2

    le, re, ml, mr = pts[0], pts[1], pts[3], pts[4]
    eyes, mouth = (le + re) / 2, (ml + mr) / 2
    d = float(np.linalg.norm(re - le)) + 1e-3
    em = mouth - eyes
    em_len = float(np.linalg.norm(em)) + 1e-3
    down = em / em_len
    right = np.array([down[1], -down[0]], np.float32) * (1 if (re - le) @ np.array([down[1], -down[0]]) > 0 else -1)
    # Brows sit ~0.4 eye-mouth distances above the eyes and the chin ~0.8 below the mouth: the region a swap replaces.
    centre = eyes + down * em_len * rng.uniform(0.55, 0.85)
    a = d * rng.uniform(0.85, 1.25)  # half width
    b = em_len * rng.uniform(1.0, 1.45)  # half height
    n = 24
    theta = np.linspace(0, 2 * np.pi, n, endpoint=False)
    # Smooth radial wobble (a few low harmonics) so the boundary is not a perfect ellipse.
    wobble = 1 + sum(rng.normal(0, 0.04) * np.cos(k * theta + rng.uniform(0, 2 * np.pi)) for k in (2, 3, 4))
    poly = centre + (np.cos(theta) * a * wobble)[:, None] * right + (np.sin(theta) * b * wobble)[:, None] * down
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 255)
    k = int(rng.integers(2, 8)) * 2 + 1
    if rng.random() < 0.5:
        mask = np.asarray(cv2.erode(mask, np.ones((k, k), np.uint8)), np.uint8)
    blur = int(rng.integers(2, 12)) * 2 + 1
    out: F32 = np.asarray(cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (blur, blur), 0), np.float32)
    return out


def colour(rng: np.random.Generator, x: F32, p: float = 0.9) -> F32:
    """RGB shift, contrast, brightness, hue and saturation changes of a whole (float RGB) image."""
    import cv2

    if rng.random() < p:
        x = x + rng.uniform(-20, 20, size=3).astype(np.float32)  # RGB shift
        x = (x - 128) * rng.uniform(0.85, 1.15) + 128 + rng.uniform(-20, 20)  # contrast, brightness
    if rng.random() < p / 2:
        hsv = cv2.cvtColor(np.clip(x, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-6, 6)) % 180
        hsv[..., 1] *= rng.uniform(0.8, 1.2)
        x = np.asarray(cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB), np.float32)
    return np.asarray(x, np.float32)


def jitter(rng: np.random.Generator, img: RGB) -> RGB:
    """SBI's source-target generator: colour, frequency and small scale/translation changes of the same face."""
    import cv2

    size = img.shape[0]
    x = colour(rng, img.astype(np.float32))
    r = rng.random()
    if r < 0.35:  # low-pass: a face rendered at lower resolution than the frame around it
        s = rng.uniform(0.35, 0.8)
        small = cv2.resize(x, (max(4, round(size * s)),) * 2, interpolation=cv2.INTER_AREA)
        x = np.asarray(cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR), np.float32)
    elif r < 0.55:  # sharpen
        x = x + rng.uniform(0.3, 1.0) * (x - cv2.GaussianBlur(x, (0, 0), 1.5))
    s = rng.uniform(0.94, 1.06)
    tx, ty = rng.uniform(-0.03, 0.03, size=2) * size
    m = np.array([[s, 0, (1 - s) * size / 2 + tx], [0, s, (1 - s) * size / 2 + ty]], np.float32)
    x = np.asarray(
        cv2.warpAffine(x, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT), np.float32
    )
    return np.clip(x, 0, 255).astype(np.uint8)


def self_blend(rng: np.random.Generator, img: RGB, pts: F32) -> RGB:
    """One Self-Blended Image: the jittered face pasted into the original (or the reverse) through a soft mask."""
    src, tgt = jitter(rng, img), img
    if rng.random() < 0.5:
        src, tgt = tgt, src
    m = face_mask(rng, pts, img.shape[0]) * float(rng.choice([0.25, 0.5, 0.75, 1, 1, 1]))
    out = src.astype(np.float32) * m[..., None] + tgt.astype(np.float32) * (1 - m[..., None])
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def augment(rng: np.random.Generator, img: RGB) -> RGB:
    """Shared by real and blended crops (flips, crop jitter, colour, resolution loss, JPEG): none is a label cue.

    Whole-image colour changes matter most: without them, with a handful of training identities, the net learns
    "any colour unlike the training faces = blended" and flags every unseen real face (seen in the folds).
    """
    import cv2

    size = img.shape[0]
    img = np.clip(colour(rng, img.astype(np.float32), p=0.8), 0, 255).astype(np.uint8)
    flipped = img[:, ::-1] if rng.random() < 0.5 else img
    s = rng.uniform(0.92, 1.08)
    tx, ty = rng.uniform(-0.05, 0.05, size=2) * size
    m = np.array([[s, 0, (1 - s) * size / 2 + tx], [0, s, (1 - s) * size / 2 + ty]], np.float32)
    x: Any = cv2.warpAffine(
        np.ascontiguousarray(flipped), m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    if rng.random() < 0.25:
        small = cv2.resize(x, (round(size * rng.uniform(0.5, 0.9)),) * 2, interpolation=cv2.INTER_AREA)
        x = cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.7:  # FF++ c23 / DFDC are H.264-compressed: make compression common to both classes
        _ok, buf = cv2.imencode(".jpg", x, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 96))])
        x = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return np.ascontiguousarray(x, np.uint8)


# --- training ------------------------------------------------------------------------------------------------


def _fp16_roundtrip(net: FaceArtefactNet) -> FaceArtefactNet:
    """Evaluate what is shipped: weights are stored as float16."""
    with torch.no_grad():
        for t in net.state_dict().values():
            if t.is_floating_point():
                t.copy_(t.half().float())
    return net.eval()


def fit(crops: RGB, points: F32, *, seed: int, steps: int, batch: int = BATCH, lr: float = LR) -> FaceArtefactNet:
    """Train on (real, self-blended) pairs of the given real crops; one thread, so runs repeat bit for bit."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = FaceArtefactNet(WIDTHS)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    half = batch // 2
    y = torch.cat([torch.zeros(half), torch.ones(half)])
    net.train()
    for _ in range(steps):
        idx = rng.integers(0, len(crops), size=half)
        real = [augment(rng, crops[i]) for i in idx]
        fake = [augment(rng, self_blend(rng, crops[i], points[i])) for i in idx]
        loss = loss_fn(net(to_tensor(np.stack(real + fake))), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return _fp16_roundtrip(net)


def sbi_auroc(model: FaceModel, crops: RGB, points: F32, seed: int) -> float:
    """Pretext-task check on crops: real vs their own self-blends (held-out identities when the crops are)."""
    rng = np.random.default_rng(seed + 1)
    real = np.stack([augment(rng, c) for c in crops])
    fake = np.stack([augment(rng, self_blend(rng, c, p)) for c, p in zip(crops, points, strict=True)])
    return auroc_pos_neg(model.score(fake), model.score(real))


def _config(steps: int, seed: int) -> dict[str, Any]:
    return {
        "widths": list(WIDTHS),
        "input_size": CROP_SIZE,
        "margin": MARGIN,
        "aggregate": "mean of the top third of crop scores",
        "seed": seed,
        "steps": steps,
        "method": "Self-Blended Images (Shiohara & Yamasaki, CVPR 2022), 5-landmark ellipse masks, real faces only",
    }


def train(
    data_dir: Path, out_dir: Path = MODEL_DIR, seed: int = 0, steps: int = STEPS, folds: bool = True
) -> dict[str, Any]:
    """Leave-one-identity-out folds over the FF++ originals, then the shipped model on all real faces.

    Writes ``weights.npz``, ``model.json`` and ``metrics.json`` to ``out_dir`` and returns the metrics.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        return _train(data_dir, out_dir, seed, steps, folds)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(False)


def _train(data_dir: Path, out_dir: Path, seed: int, steps: int, folds: bool) -> dict[str, Any]:
    cache = cache_dir()
    all_clips = clips(data_dir)
    originals = [c for c in all_clips if c.label == 0 and c.method == "original"]
    train_faces = {
        c.group: face_arrays(
            c.path, image=False, every_s=TRAIN_EVERY_S, max_frames=TRAIN_MAX_FRAMES, max_faces=1, cache=cache
        )
        for c in originals
    }
    celeba = [
        face_arrays(p, image=True, every_s=0, max_frames=1, max_faces=1, cache=cache)
        for p in sorted(data_dir.glob(CELEBA_GLOB))
    ]
    celeba_crops = (
        np.concatenate([c[0] for c in celeba]) if celeba else np.zeros((0, CROP_SIZE, CROP_SIZE, 3), np.uint8)
    )
    celeba_points = np.concatenate([c[1] for c in celeba]) if celeba else np.zeros((0, 5, 2), np.float32)
    evals = {
        c.name: face_arrays(
            c.path, image=False, every_s=EVAL_EVERY_S, max_frames=EVAL_MAX_FRAMES, max_faces=2, cache=cache
        )
        for c in all_clips
    }

    def clip_scores(model: FaceModel) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for c in all_clips:
            crops = evals[c.name][0]
            s = model.score(crops).tolist() if len(crops) else []
            score, k = top_fraction_mean(s) if s else (float("nan"), 0)
            out[c.name] = {"score": round(score, 4), "crops": len(s), "top_k": k}
        return out

    def fit_on(groups: Sequence[str]) -> tuple[FaceModel, float]:
        t0 = time.perf_counter()
        crops = np.concatenate([train_faces[g][0] for g in groups] + [celeba_crops])
        points = np.concatenate([train_faces[g][1] for g in groups] + [celeba_points])
        net = fit(crops, points, seed=seed, steps=steps)
        return FaceModel(net, _config(steps, seed)), time.perf_counter() - t0

    metrics: dict[str, Any] = {
        "seed": seed,
        "steps": steps,
        "clips": [{"name": c.name, "label": c.label, "group": c.group, "method": c.method} for c in all_clips],
        "training_crops": {g: len(v[0]) for g, v in train_faces.items()} | {"celeba_images": len(celeba_crops)},
    }
    if folds:
        fold_rows, neg, pos = [], [], []
        for fold in identity_folds(all_clips):
            held = fold.held_out
            model, secs = fit_on(list(fold.train_groups))
            scores = clip_scores(model)
            # A pair counts only if the model saw neither clip's identity: the held-out original against its own
            # manipulation and against fakes of identities no fold trains on.
            fakes = list(fold.fakes)
            neg.append(scores[held]["score"])
            pos.append([scores[f]["score"] for f in fakes])
            held_real = train_faces[held]
            fold_rows.append(
                {
                    "held_out": held,
                    "train_seconds": round(secs, 1),
                    "sbi_auroc_held_out_identity": round(sbi_auroc(model, held_real[0], held_real[1], seed), 4),
                    "held_out_fakes": fakes,
                    "clip_scores": scores,
                }
            )
        pairs = [(n, p) for n, ps in zip(neg, pos, strict=True) for p in ps]
        metrics["folds"] = fold_rows
        metrics["held_out_auroc"] = {
            "value": round(float(np.mean([(p > n) + 0.5 * (p == n) for n, p in pairs])), 4),
            "pairs": len(pairs),
            "reals": len(neg),
            "note": "each (real, fake) pair scored by the fold model that trained on neither identity",
        }
    model, secs = fit_on(sorted(train_faces))
    save_model(model.net, model.config, out_dir)
    shipped = load_model(out_dir)
    metrics["final"] = {
        "train_seconds": round(secs, 1),
        "trained_on": [*sorted(train_faces), "celeba"],
        "clip_scores": clip_scores(shipped),
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    write_card(out_dir)
    return metrics


# --- the model card's figures ------------------------------------------------------------------------------


def ffpp_pairs(metrics: Mapping[str, Any]) -> tuple[int, int]:
    """(pairs ranked right, pairs) over held-out (FF++ original, FF++ fake) pairs: no DFDC clip, so no dataset shift."""
    methods = {c["name"]: c["method"] for c in metrics["clips"]}
    right = total = 0
    for fold in metrics["folds"]:
        real = fold["clip_scores"][fold["held_out"]]["score"]
        for name in fold["held_out_fakes"]:
            if methods[name] != "DFDC":
                total += 1
                right += fold["clip_scores"][name]["score"] > real
    return right, total


def held_out_scores(metrics: Mapping[str, Any]) -> dict[str, list[float]]:
    """Each clip's scores from the fold models that trained on neither it nor its identity (one per such fold)."""
    held: dict[str, list[float]] = {}
    for fold in metrics.get("folds", []):
        for name in [fold["held_out"], *fold["held_out_fakes"]]:
            held.setdefault(name, []).append(fold["clip_scores"][name]["score"])
    return held


def _span(xs: Sequence[float]) -> str:
    return f"{min(xs):.2f}–{max(xs):.2f}"


def render_card_figures(metrics: Mapping[str, Any], model_config: Mapping[str, Any]) -> dict[str, str]:
    """The card's figure blocks (name -> Markdown) from the committed metrics.json and model.json, plus the code's
    sampling and face-finding constants (so a changed constant shows up as drift until the card is re-rendered)."""
    blocks: dict[str, str] = {}
    n_weights = sum(p.numel() for p in FaceArtefactNet(tuple(model_config["widths"])).parameters())
    blocks["settings"] = "\n".join(
        [
            f"- Faces: MTCNN on frames downscaled to {faces.DETECT_SIDE} px on the long side; faces ≥ "
            f"{faces.MIN_FACE} px with probability ≥ {faces.THRESHOLD}, at most {faces.MAX_FACES} a frame; crop = "
            f"box + {model_config['margin']:.0%} of its longer side on each side, "
            f"{model_config['input_size']} × {model_config['input_size']} px.",
            f"- Network: conv stages of {', '.join(map(str, model_config['widths']))} channels, {n_weights:,} "
            f"weights (float16 on disk); {model_config['steps']} AdamW steps of {BATCH // 2} real + {BATCH // 2} "
            f"self-blended crops, one-cycle LR peak {LR:g}, seed {model_config['seed']}.",
            f"- Training frames: one every {TRAIN_EVERY_S} s, at most {TRAIN_MAX_FRAMES} a video, largest face. "
            f"Evaluation (and `FaceVideoSignal`'s default): one frame every {EVAL_EVERY_S:g} s, at most "
            f"{EVAL_MAX_FRAMES} frames (the first {EVAL_EVERY_S * EVAL_MAX_FRAMES:g} s of a video).",
            f"- Video score: {model_config['aggregate']}.",
        ]
    )
    tc = metrics["training_crops"]
    blocks["data"] = "\n".join(
        [
            markdown_table(
                ["clip", "method", "label", "identity group"],
                [[c["name"], c["method"], "fake" if c["label"] else "real", c["group"]] for c in metrics["clips"]],
            ),
            "",
            "Training crops per original: "
            + ", ".join(f"{g} {n}" for g, n in tc.items() if g != "celeba_images")
            + f"; CelebA stills: {tc['celeba_images']}.",
        ]
    )
    if "folds" in metrics:
        methods = {c["name"]: c["method"] for c in metrics["clips"]}
        blocks["splits"] = markdown_table(
            ["fold", "trains on (identity groups)", "reports on: real", "reports on: fakes"],
            [
                [
                    f["held_out"],
                    ", ".join([*(g for g in tc if g not in ("celeba_images", f["held_out"])), "CelebA"]),
                    f["held_out"],
                    ", ".join(f"{n} ({methods[n]})" for n in f["held_out_fakes"]),
                ]
                for f in metrics["folds"]
            ],
        )
    held = held_out_scores(metrics)
    shipped = metrics["final"]["clip_scores"]
    trained_on = set(metrics["final"]["trained_on"])
    rows = []
    for c in metrics["clips"]:
        h = held.get(c["name"])
        h_txt = "" if not h else f"{float(np.mean(h)):.3f}" + (f" (mean of {len(h)} folds)" if len(h) > 1 else "")
        # A fake sharing a trained original's group was not trained on, but its identity (or scene) was.
        note = (
            "" if c["group"] not in trained_on else " (trained on)" if c["label"] == 0 else " (its original trained on)"
        )
        s_txt = f"{shipped[c['name']]['score']:.3f}{note}"
        rows.append([c["name"], c["method"], "fake" if c["label"] else "real", h_txt, s_txt])
    lines = [
        markdown_table(["clip", "method", "label", "held-out score (fold model)", "shipped model"], rows),
    ]
    if "held_out_auroc" in metrics:
        h_auc = metrics["held_out_auroc"]
        right, total = ffpp_pairs(metrics)
        right_all, ties = 0, 0
        for f in metrics["folds"]:
            real = f["clip_scores"][f["held_out"]]["score"]
            right_all += sum(f["clip_scores"][n]["score"] > real for n in f["held_out_fakes"])
            ties += sum(f["clip_scores"][n]["score"] == real for n in f["held_out_fakes"])
        ranked = f"{right_all}" + (f" (+{ties} tied)" if ties else "")
        reals = [c["name"] for c in metrics["clips"] if c["label"] == 0]
        held_reals = [float(np.mean(held[r])) for r in reals if r in held]
        shipped_reals = [shipped[r]["score"] for r in reals]
        lines += [
            "",
            f"- Held-out video-level AUROC: **{h_auc['value']:.3f} over {h_auc['pairs']} (real, fake) pairs from "
            f"{h_auc['reals']} real clips** ({ranked} of {h_auc['pairs']} ranked right; one pair moves it by "
            f"{1 / h_auc['pairs']:.3f}). {h_auc['pairs'] - total} of the pairs set an FF++ original against a DFDC "
            f"fake. **Within FF++ only: {right} of {total} pairs** ranked right.",
            "- Pretext check (crop level, no fake clip involved): AUROC of real vs self-blended crops of the "
            "held-out identity: "
            + ", ".join(f"{f['sbi_auroc_held_out_identity']:.3f} ({f['held_out']})" for f in metrics["folds"])
            + ".",
            f"- Real originals: held-out scores {_span(held_reals)}, the same originals once trained on "
            f"{_span(shipped_reals)}.",
            "- Training time per model (this run, seconds): "
            + ", ".join(f"fold {f['held_out']} {f['train_seconds']}" for f in metrics["folds"])
            + f", shipped {metrics['final']['train_seconds']}.",
        ]
    blocks["evaluation"] = "\n".join(lines)
    return blocks


def card_figures(model_dir: Path) -> dict[str, str]:
    """:func:`render_card_figures` from the JSON files in ``model_dir``."""
    metrics = json.loads((model_dir / "metrics.json").read_text())
    config = json.loads((model_dir / "model.json").read_text())
    return render_card_figures(metrics, config)


def write_card(model_dir: Path) -> dict[str, str]:
    """Render every figure block into ``model_dir/MODEL_CARD.md``; returns them (the command prints them)."""
    blocks = card_figures(model_dir)
    for name, body in blocks.items():
        write_block(model_dir / CARD, name, body)
    return blocks


def train_face_video(
    *,
    data_dir: Path,
    out_dir: Path = MODEL_DIR,
    seed: int = 0,
    steps: int = STEPS,
    folds: bool = True,
    card_only: bool = False,
) -> str:
    """What ``flockwatch train face-video`` runs: :func:`train` (unless ``card_only``), then the card's figure
    blocks rendered from the JSON files in ``out_dir``. Returns the report the command prints: the shipped model's
    clip scores, then the blocks.

    ``seed`` draws the training batches and self-blends (it changes the weights); ``folds=False`` trains only the
    shipped model (no cross-validation).
    """
    lines = []
    if not card_only:
        m = train(data_dir, out_dir, seed=seed, steps=steps, folds=folds)
        scores = m["final"]["clip_scores"]
        lines += [f"  {name:>12}: {s['score']:.3f} ({s['crops']} crops)" for name, s in scores.items()]
    lines += [f"\n## {name}\n{body}" for name, body in write_card(out_dir).items()]
    return "\n".join(lines)
