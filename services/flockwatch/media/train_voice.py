"""Train and evaluate the cloned-voice detector (``python -m flockwatch.media.train_voice``).

An LFCC front end (Sahidullah et al., Interspeech 2015; :mod:`flockwatch.media.audio_features`) and a
logistic regression on 3 s windows, the classic ASVspoof countermeasure baseline shape (Todisco et al.,
"ASVspoof 2019: Future Horizons in Spoofed and Fake Audio Detection", Interspeech 2019) made small enough
for the data we have: 12 real and 6 cloned clips of one speaker (Donald Trump; the clones made with
Resemble.ai) and 100 LibriSpeech test-other clips of 10 other speakers as extra real negatives.

Against the obvious shortcuts:

- every clip is decoded to 16 kHz mono, put through one MP3 round trip (32 kbit/s) and band-limited to
  7 kHz, because the real and cloned clips came with different bit rates (three clones at ~55 kbit/s,
  every real clip at ≥ 83 kbit/s);
- weights are per clip (a 5-minute clip counts as much as a 20 s one) and the evaluation holds out whole
  clips: leave-one-clip-out over the Trump clips, crossed with two folds of LibriSpeech *speakers*, so
  every reported score comes from a model that never saw that clip (nor, for LibriSpeech, that speaker).

Deterministic: fixed seed, full-batch L-BFGS, single-threaded torch.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from flockwatch.config import Settings
from flockwatch.media import audio_features as af
from flockwatch.media.decode import audio_samples
from flockwatch.media.logistic import fit_logistic
from flockwatch.metrics import auroc_pos_neg

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

DATA_SUBDIR = Path("media/audio/voice_clone")
REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_OUT = REPO_ROOT / "models" / "voice_clone"
NEUTRAL_KBPS = 32
L2 = 1e-2
# Class weights: clones = 1; the negatives split their weight between the same speaker's real clips and
# LibriSpeech, so the model cannot win by learning "Trump vs anyone else".
W_TRUMP_REAL = 0.5
W_LIBRI = 0.5
TARGET_FPR = 0.05
# Only the first minute of each clip: per-clip weights make later windows worth little, and it keeps a full
# training run (decode + MP3 round trip + features) to a few minutes on 2 cores.
MAX_CLIP_S = 60.0


@dataclass(frozen=True)
class Clip:
    name: str  # path relative to the data folder
    label: int  # 1 = cloned
    group: str  # "trump" or "librispeech"
    speaker: str
    windows: F64  # (n, af.WINDOW_FEATURES)
    seconds: float


def list_clips(data_dir: Path) -> list[tuple[Path, int, str, str]]:
    """(path, label, group, speaker) of every clip under ``data_dir``/media/audio/voice_clone, sorted."""
    root = data_dir / DATA_SUBDIR
    out: list[tuple[Path, int, str, str]] = []
    for label, sub in ((0, "real"), (1, "fake")):
        out += [(p, label, "trump", "donald_trump") for p in sorted((root / "donald_trump" / sub).glob("*.mp3"))]
    out += [(p, 0, "librispeech", p.parent.name) for p in sorted((root / "librispeech_test-other").glob("*/*.flac"))]
    return out


def prepare(x: F32, kbps: int = NEUTRAL_KBPS) -> F32:
    """The codec-neutralising step applied to every input before features: one MP3 round trip at 16 kHz."""
    return af.mp3_roundtrip(x, af.RATE, kbps)


def load_clips(data_dir: Path, transform: Callable[[F32], F32] | None = None, limit: int | None = None) -> list[Clip]:
    """Decode, (optionally transform: a re-encoding to test), neutralise and featurise every clip."""
    clips: list[Clip] = []
    for path, label, group, speaker in list_clips(data_dir)[:limit]:
        x = audio_samples(path, af.RATE, max_seconds=MAX_CLIP_S)
        if transform is not None:
            x = transform(x)
        windows, _ = af.window_features(prepare(x))
        name = str(path.relative_to(data_dir / DATA_SUBDIR))
        clips.append(Clip(name, label, group, speaker, windows, x.size / af.RATE))
    return clips


def _design(clips: Sequence[Clip]) -> tuple[F64, F64, F64]:
    """Stacked windows, labels, and weights (each clip's windows share its class-and-group weight)."""
    totals = {
        "fake": sum(1 for c in clips if c.label == 1 and len(c.windows)),
        "trump": sum(1 for c in clips if c.label == 0 and c.group == "trump" and len(c.windows)),
        "librispeech": sum(1 for c in clips if c.group == "librispeech" and len(c.windows)),
    }
    share = {"fake": 1.0, "trump": W_TRUMP_REAL, "librispeech": W_LIBRI}
    if totals["librispeech"] == 0:
        share["trump"] = 1.0
    xs, ys, ws = [], [], []
    for c in clips:
        if not len(c.windows):
            continue
        key = "fake" if c.label == 1 else c.group
        xs.append(c.windows)
        ys.append(np.full(len(c.windows), float(c.label)))
        ws.append(np.full(len(c.windows), share[key] / totals[key] / len(c.windows)))
    w = np.concatenate(ws)
    return np.vstack(xs), np.concatenate(ys), w / w.sum()


@dataclass(frozen=True)
class Params:
    """A standardiser and a logistic regression on its output: p = σ(((x − mean) / scale) · w + b)."""

    mean: F64
    scale: F64
    w: F64
    b: float

    def window_scores(self, windows: F64) -> F64:
        z = ((windows - self.mean) / self.scale) @ self.w + self.b
        return np.asarray(1.0 / (1.0 + np.exp(-z)))


def fit(clips: Sequence[Clip], seed: int = 0, l2: float = L2) -> Params:
    """Per-clip-weighted L2 logistic regression on standardised window features (full-batch L-BFGS)."""
    x, y, w = _design(clips)
    mean = np.average(x, axis=0, weights=w)
    scale = np.sqrt(np.average((x - mean) ** 2, axis=0, weights=w)) + 1e-6
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    # This model's penalty is ½·l2·‖w‖² (the shared fit's is l2·‖w‖²).
    weight, bias = fit_logistic((x - mean) / scale, y, w, 0.5 * l2)
    return Params(mean, scale, weight, bias)


def clip_score(params: Params, windows: F64) -> float:
    """A clip's score: the mean of its window probabilities (NaN when no window has enough speech)."""
    return float(np.mean(params.window_scores(windows))) if len(windows) else float("nan")


def _speaker_folds(clips: Sequence[Clip]) -> list[set[str]]:
    speakers = sorted(
        {c.speaker for c in clips if c.group == "librispeech"}, key=lambda s: int(s) if s.isdigit() else 0
    )
    return [set(speakers[0::2]), set(speakers[1::2])]


def held_out_scores(
    clips: Sequence[Clip], seed: int = 0, variants: Mapping[str, Sequence[Clip]] | None = None
) -> dict[str, dict[str, float]]:
    """Every clip's score from models that never saw it: {variant: {clip name: score}} ("clean" = as given).

    Trump clips: leave-one-clip-out, each crossed with the two LibriSpeech speaker folds (trained on the
    other fold), scores averaged over the two. LibriSpeech clips: the mean over all models whose training
    left out their speaker's fold. ``variants`` are the same clips re-encoded, scored by the same models.
    """
    variants = {"clean": clips, **(variants or {})}
    by_name = {v: {c.name: c for c in cs} for v, cs in variants.items()}
    sums: dict[str, dict[str, list[float]]] = {v: {} for v in variants}
    trump = [c for c in clips if c.group == "trump"]
    for fold in _speaker_folds(clips):
        for held in trump:
            train_set = [c for c in clips if c is not held and c.speaker not in fold]
            params = fit(train_set, seed)
            targets = [held] + [c for c in clips if c.speaker in fold]
            for v in variants:
                # A variant may hold only some clips (e.g. only the Trump clips re-encoded).
                for c in (t for t in targets if t.name in by_name[v]):
                    s = clip_score(params, by_name[v][c.name].windows)
                    sums[v].setdefault(c.name, []).append(s)
    return {v: {k: float(np.mean(s)) for k, s in d.items()} for v, d in sums.items()}


def threshold_at_fpr(neg: Sequence[float], fpr: float = TARGET_FPR) -> float:
    """The lowest threshold (score ≥ t flags) whose false-positive rate on ``neg`` is at most ``fpr``."""
    s = np.sort(np.asarray([v for v in neg if np.isfinite(v)]))[::-1]
    allowed = int(np.floor(fpr * s.size))  # this many negatives may sit at or above t
    return float(s[allowed] + 1e-9) if allowed < s.size else 0.0


def summarise(clips: Sequence[Clip], scores: dict[str, float]) -> dict[str, float]:
    """Clip-level AUROC (fake vs Trump real; fake vs LibriSpeech) and rates at the ≤5%-FPR threshold."""
    fake = [scores[c.name] for c in clips if c.label == 1 and np.isfinite(scores[c.name])]
    real = [scores[c.name] for c in clips if c.label == 0 and c.group == "trump" and np.isfinite(scores[c.name])]
    libri = [scores[c.name] for c in clips if c.group == "librispeech" and np.isfinite(scores[c.name])]
    t = threshold_at_fpr(libri)
    return {
        "auroc_fake_vs_trump_real": auroc_pos_neg(fake, real),
        "auroc_fake_vs_librispeech": auroc_pos_neg(fake, libri) if libri else float("nan"),
        "threshold_fpr_0.05_librispeech": t,
        "tpr_at_threshold": float(np.mean(np.asarray(fake) >= t)),
        "fpr_trump_real_at_threshold": float(np.mean(np.asarray(real) >= t)),
        "fpr_librispeech_at_threshold": float(np.mean(np.asarray(libri) >= t)) if libri else float("nan"),
        "n_fake": float(len(fake)),
        "n_trump_real": float(len(real)),
        "n_librispeech": float(len(libri)),
    }


def save(params: Params, out_dir: Path, meta: dict[str, object]) -> None:
    """weights.npz (float32 arrays, no pickle) and model.json (config, threshold, provenance)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez(
        out_dir / "weights.npz",
        mean=params.mean.astype(np.float32),
        scale=params.scale.astype(np.float32),
        w=params.w.astype(np.float32),
        b=np.asarray([params.b], dtype=np.float32),
    )
    (out_dir / "model.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def train(
    data_dir: Path, out_dir: Path = DEFAULT_OUT, seed: int = 0, evaluate: bool = True, limit: int | None = None
) -> dict[str, object]:
    """Fit on every clip, write weights.npz + model.json + metrics.json to ``out_dir``; returns the metrics.

    The stored threshold is the ≤5%-FPR point on held-out LibriSpeech scores (from the evaluation), so
    ``evaluate=False`` stores none. ``limit`` keeps the first clips only (tests).
    """
    t0 = time.perf_counter()
    clips = load_clips(data_dir, limit=limit)
    params = fit(clips, seed)
    metrics: dict[str, object] = {
        "clips": {
            "fake": sum(c.label for c in clips),
            "trump_real": sum(1 for c in clips if c.group == "trump" and c.label == 0),
            "librispeech": sum(1 for c in clips if c.group == "librispeech"),
        },
        "windows": int(sum(len(c.windows) for c in clips)),
        "seed": seed,
    }
    threshold: float | None = None
    if evaluate:
        scores = held_out_scores(clips, seed)["clean"]
        summary = summarise(clips, scores)
        threshold = summary["threshold_fpr_0.05_librispeech"]
        metrics["held_out"] = summary
        metrics["held_out_scores"] = {k: round(v, 4) for k, v in sorted(scores.items())}
    metrics["train_seconds"] = round(time.perf_counter() - t0, 1)
    meta: dict[str, object] = {
        "kind": "logistic regression on standardised LFCC window statistics",
        "features": list(af.FEATURE_NAMES),
        "rate": af.RATE,
        "window_s": af.WINDOW_S,
        "window_hop_s": af.WINDOW_HOP_S,
        "neutral_mp3_kbps": NEUTRAL_KBPS,
        "f_max_hz": af.F_MAX,
        "l2": L2,
        "seed": seed,
        "threshold_fpr_0.05": threshold,
        "speakers_seen": ["donald_trump", "10 LibriSpeech test-other speakers (real only)"],
    }
    save(params, out_dir, meta)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return metrics


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--data-dir", type=Path, default=Settings().data_dir)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-evaluate", action="store_true")
    args = ap.parse_args(argv)
    metrics = train(args.data_dir, args.out, args.seed, evaluate=not args.no_evaluate)
    print(json.dumps({k: v for k, v in metrics.items() if k != "held_out_scores"}, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
