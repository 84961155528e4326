"""Train and evaluate the cloned-voice detector (``flockwatch train voice-clone``).

An LFCC front end (Sahidullah et al., Interspeech 2015; :mod:`flockwatch.media.audio_features`) and a
logistic regression on 3 s windows, the classic ASVspoof countermeasure baseline shape (Todisco et al.,
"ASVspoof 2019: Future Horizons in Spoofed and Fake Audio Detection", Interspeech 2019) made small enough
for the data we have: 12 real and 6 cloned clips of one speaker (Donald Trump; the clones made with
Resemble.ai) and 100 LibriSpeech test-other clips of 10 other speakers as extra real negatives.

Every clip is featurised whole, by the function the production signal scores with
(:func:`flockwatch.media.voice_clone.clip_windows`: decode to 16 kHz mono, one MP3 round trip, 3 s windows,
at most ``MAX_WINDOWS`` spread over the file), because the real and cloned clips came with different codecs.

Splits (:func:`speaker_split`, drawn by ``--seed``): the LibriSpeech speakers, by speaker id and stratified by
sex, go to *train*, *calibration* or *report*.

- The shipped model is fitted on every Trump clip and the train speakers. Its threshold is the
  ``TARGET_FPR`` point on the calibration speakers' clips, scored by the shipped weights as stored; its
  false-positive rates are reported on the report speakers, which chose nothing.
- The shipped model saw every clone, so clone detection is measured on the recipe: leave one Trump clip
  out, fit on the other Trump clips and the train speakers, pick that fold model's threshold on the
  calibration speakers the same way, and score the held-out clip and the report speakers.

Deterministic for a given seed: full-batch L-BFGS from zeros, single-threaded torch.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import torch

from flockwatch.media import audio_features as af
from flockwatch.media import voice_clone as vc
from flockwatch.media.decode import audio_samples
from flockwatch.media.logistic import fit_logistic
from flockwatch.metrics import auroc_pos_neg
from flockwatch.model_card import markdown_table, write_block

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

DATA_SUBDIR = Path("media/audio/voice_clone")
LIBRI_SUBDIR = "librispeech_test-other"
REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_OUT = REPO_ROOT / "models" / "voice_clone"
COMMAND = ".venv/bin/flockwatch train voice-clone"
NEUTRAL_KBPS = 32
L2 = 1e-2
# Class weights: clones = 1; the negatives split their weight between the same speaker's real clips and
# LibriSpeech, so the model cannot win by learning "Trump vs anyone else".
W_TRUMP_REAL = 0.5
W_LIBRI = 0.5
TARGET_FPR = 0.05
# Shares of LibriSpeech speakers that set the threshold and that report; the rest train.
CALIBRATION_SHARE = 0.3
REPORT_SHARE = 0.3
SPLITS = ("train", "calibration", "report")


@dataclass(frozen=True)
class Source:
    path: Path
    name: str  # path relative to the data folder
    label: int  # 1 = cloned
    group: str  # "trump" or "librispeech"
    speaker: str


@dataclass(frozen=True)
class Clip:
    name: str
    label: int
    group: str
    speaker: str
    windows: F64  # (n, af.WINDOW_FEATURES): what production scores; empty when it scores nothing
    seconds: float


def list_clips(data_dir: Path) -> list[Source]:
    """Every clip under ``data_dir``/media/audio/voice_clone: Trump real, Trump cloned, LibriSpeech; sorted."""
    root = data_dir / DATA_SUBDIR
    out: list[Source] = []
    for label, sub in ((0, "real"), (1, "fake")):
        for p in sorted((root / "donald_trump" / sub).glob("*.mp3")):
            out.append(Source(p, str(p.relative_to(root)), label, "trump", "donald_trump"))
    for p in sorted((root / LIBRI_SUBDIR).glob("*/*.flac")):
        out.append(Source(p, str(p.relative_to(root)), 0, "librispeech", p.parent.name))
    return out


def speaker_sex(data_dir: Path, speakers: Iterable[str]) -> dict[str, str]:
    """LibriSpeech speaker id → sex ("F"/"M", from SPEAKERS.TXT; "?" where the file does not say)."""
    path = data_dir / DATA_SUBDIR / LIBRI_SUBDIR / "SPEAKERS.TXT"
    known: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            parts = [p.strip() for p in line.split("|")]
            if len(parts) >= 2 and not line.startswith(";"):
                known[parts[0]] = parts[1]
    return {s: known.get(s, "?") for s in speakers}


def by_speaker_id(speakers: Iterable[str]) -> list[str]:
    return sorted(speakers, key=lambda s: (int(s) if s.isdigit() else -1, s))


def speaker_split(sex: Mapping[str, str], seed: int) -> dict[str, list[str]]:
    """LibriSpeech speakers (id → sex) drawn by ``seed`` into disjoint train / calibration / report lists.

    Each sex is shuffled on its own and the lists interleaved before cutting, so the splits mix sexes.
    """
    if len(sex) < len(SPLITS):
        raise ValueError(f"need at least {len(SPLITS)} LibriSpeech speakers (one per split), got {len(sex)}")
    rng = np.random.default_rng(seed)
    strata = [by_speaker_id(s for s, x in sex.items() if x == g) for g in sorted(set(sex.values()))]
    shuffled = [[group[i] for i in rng.permutation(len(group))] for group in strata]
    order = [s for row in itertools.zip_longest(*shuffled) for s in row if s is not None]
    n = len(order)
    n_cal, n_rep = max(1, round(CALIBRATION_SHARE * n)), max(1, round(REPORT_SHARE * n))
    n_train = n - n_cal - n_rep
    parts = (order[:n_train], order[n_train : n_train + n_cal], order[n_train + n_cal :])
    return {name: by_speaker_id(part) for name, part in zip(SPLITS, parts, strict=True)}


def load_clips(data_dir: Path, transform: Callable[[F32], F32] | None = None, limit: int | None = None) -> list[Clip]:
    """Decode each whole clip, (optionally transform it: a re-encoding to test) and featurise it as production does."""
    clips: list[Clip] = []
    for src in list_clips(data_dir)[:limit]:
        x = audio_samples(src.path, af.RATE)
        if transform is not None:
            x = transform(x)
        found = vc.clip_windows(x, NEUTRAL_KBPS)
        windows = found[0] if found is not None else np.zeros((0, af.WINDOW_FEATURES))
        clips.append(Clip(src.name, src.label, src.group, src.speaker, windows, x.size / af.RATE))
    return clips


def in_split(clips: Sequence[Clip], split: Mapping[str, Sequence[str]], name: str) -> list[Clip]:
    """The LibriSpeech clips of split ``name`` (Trump clips belong to no speaker split)."""
    speakers = set(split[name])
    return [c for c in clips if c.group == "librispeech" and c.speaker in speakers]


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


class Scorer(Protocol):
    def window_scores(self, windows: F64) -> F64: ...


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


def fit(clips: Sequence[Clip], l2: float = L2) -> Params:
    """Per-clip-weighted L2 logistic regression on standardised window features (full-batch L-BFGS)."""
    x, y, w = _design(clips)
    mean = np.average(x, axis=0, weights=w)
    scale = np.sqrt(np.average((x - mean) ** 2, axis=0, weights=w)) + 1e-6
    torch.set_num_threads(1)
    # This model's penalty is ½·l2·‖w‖² (the shared fit's is l2·‖w‖²).
    weight, bias = fit_logistic((x - mean) / scale, y, w, 0.5 * l2)
    return Params(mean, scale, weight, bias)


def clip_score(model: Scorer, windows: F64) -> float:
    """A clip's raw score, as the signal's ``raw_score``: the mean window probability (NaN with no window)."""
    return float(np.mean(model.window_scores(windows))) if len(windows) else float("nan")


def threshold_at_fpr(neg: Iterable[float], fpr: float = TARGET_FPR) -> float:
    """The lowest threshold (score ≥ t flags) whose false-positive rate on ``neg`` is at most ``fpr``."""
    s = np.sort(np.asarray([v for v in neg if np.isfinite(v)]))[::-1]
    allowed = int(np.floor(fpr * s.size))  # this many negatives may sit at or above t
    return float(s[allowed] + 1e-9) if allowed < s.size else 0.0


def rate_at(scores: Iterable[float], t: float) -> float:
    """Share of (finite) scores at or above ``t``."""
    s = np.asarray([v for v in scores if np.isfinite(v)])
    return float(np.mean(s >= t)) if s.size else float("nan")


def held_out(
    clips: Sequence[Clip],
    split: Mapping[str, Sequence[str]],
    variants: Mapping[str, Sequence[Clip]] | None = None,
    with_librispeech: bool = True,
) -> dict[str, dict[str, Any]]:
    """Leave-one-Trump-clip-out: {held clip: {label, threshold, fpr_report, scores, auroc_vs_report}}.

    Each fold model is fitted on the other Trump clips (and, ``with_librispeech``, the train speakers), takes
    its threshold on the calibration speakers and scores the held-out clip and the report speakers.
    ``variants`` are re-encoded copies of (some of) the Trump clips, scored by the same fold models.
    """
    train_libri = in_split(clips, split, "train") if with_librispeech else []
    cal, rep = in_split(clips, split, "calibration"), in_split(clips, split, "report")
    trump = [c for c in clips if c.group == "trump"]
    by_variant = {
        "clean": {c.name: c for c in trump},
        **{v: {c.name: c for c in cs} for v, cs in (variants or {}).items()},
    }
    folds: dict[str, dict[str, Any]] = {}
    for held in trump:
        params = fit([c for c in trump if c is not held] + train_libri)
        t = threshold_at_fpr(clip_score(params, c.windows) for c in cal)
        rep_scores = [s for c in rep if np.isfinite(s := clip_score(params, c.windows))]
        scores = {v: clip_score(params, d[held.name].windows) for v, d in by_variant.items() if held.name in d}
        folds[held.name] = {
            "label": held.label,
            "threshold": t,
            "fpr_report": rate_at(rep_scores, t),
            "scores": scores,
            # The held-out clip against the report speakers under the same model: its share of a pooled AUROC.
            "auroc_vs_report": {v: auroc_pos_neg([s], rep_scores) for v, s in scores.items()},
        }
    return folds


def summarise_held_out(folds: Mapping[str, Mapping[str, Any]], variant: str = "clean") -> dict[str, float]:
    """Clip-level figures of the leave-one-out folds, each clip judged at its own fold model's threshold."""
    done = [f for f in folds.values() if variant in f["scores"] and np.isfinite(f["scores"][variant])]
    fake = [f for f in done if f["label"] == 1]
    real = [f for f in done if f["label"] == 0]

    def flagged(fs: Sequence[Mapping[str, Any]]) -> float:
        return float(np.mean([f["scores"][variant] >= f["threshold"] for f in fs])) if fs else float("nan")

    return {
        "auroc_clone_vs_trump_real": auroc_pos_neg(
            [f["scores"][variant] for f in fake], [f["scores"][variant] for f in real]
        ),
        "auroc_clone_vs_report_librispeech": float(np.mean([f["auroc_vs_report"][variant] for f in fake])),
        "tpr_clone": flagged(fake),
        "fpr_trump_real": flagged(real),
        "fpr_report_librispeech": float(np.mean([f["fpr_report"] for f in done])),
        "threshold_min": float(min(f["threshold"] for f in done)),
        "threshold_max": float(max(f["threshold"] for f in done)),
        "n_clone": float(len(fake)),
        "n_trump_real": float(len(real)),
        "n_folds": float(len(done)),
    }


def shipped_figures(
    model: Scorer, clips: Sequence[Clip], split: Mapping[str, Sequence[str]]
) -> tuple[dict[str, Any], dict[str, float]]:
    """The shipped model's threshold (calibration speakers) and its false-positive rates (report speakers)."""
    cal, rep = in_split(clips, split, "calibration"), in_split(clips, split, "report")
    scores = {c.name: clip_score(model, c.windows) for c in (*cal, *rep)}
    t = threshold_at_fpr(scores[c.name] for c in cal)
    rep_scores = [scores[c.name] for c in rep]
    per_speaker = {
        s: [int(sum(scores[c.name] >= t for c in rep if c.speaker == s)), sum(1 for c in rep if c.speaker == s)]
        for s in split["report"]
    }
    figures = {
        "threshold": t,
        "fpr_calibration": rate_at((scores[c.name] for c in cal), t),
        "fpr_report_librispeech": rate_at(rep_scores, t),
        "fpr_report_librispeech_raw_0.5": rate_at(rep_scores, 0.5),
        "flagged_report_by_speaker": per_speaker,
        "n_calibration": len(cal),
        "n_report": len(rep),
    }
    return figures, scores


def source_info(path: Path) -> dict[str, Any]:
    """Codec, rate, channels, bit rate and duration of a file's first audio stream (header only)."""
    import av  # heavy import kept local

    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        return {
            "codec": s.codec_context.name,
            "rate": int(s.rate or 0),
            "channels": int(s.channels),
            "kbps": round((s.bit_rate or 0) / 1000),
            "seconds": round((c.duration or 0) / 1e6, 1),
        }


def codec_baseline_auroc(sources: Mapping[str, Mapping[str, Any]]) -> float:
    """AUROC clone vs real Trump of the shortcut "lower source bit rate = cloned"."""
    fake = [-s["kbps"] for n, s in sources.items() if "/fake/" in n]
    real = [-s["kbps"] for n, s in sources.items() if "/real/" in n]
    return auroc_pos_neg(fake, real)


def settings() -> dict[str, Any]:
    """Every setting the card states, as the code has it."""
    return {
        "frame_ms": 1000 * af.FRAME / af.RATE,
        "hop_ms": 1000 * af.HOP / af.RATE,
        "n_fft": af.N_FFT,
        "n_filters": af.N_FILTERS,
        "n_lfcc": af.N_LFCC,
        "f_max_hz": af.F_MAX,
        "speech_dynamic_db": af.DYNAMIC_DB,
        "speech_floor_db": af.FLOOR_DB,
        "speech_max_flatness": af.MAX_FLATNESS,
        "window_s": af.WINDOW_S,
        "window_hop_s": af.WINDOW_HOP_S,
        "window_min_speech_frames": af.MIN_SPEECH_FRAMES,
        "window_features": af.WINDOW_FEATURES,
        "max_windows": vc.MAX_WINDOWS,
        "min_speech_s": vc.MIN_SPEECH_S,
        "neutral_mp3_kbps": NEUTRAL_KBPS,
        "rate": af.RATE,
        "l2": L2,
        "weight_trump_real": W_TRUMP_REAL,
        "weight_librispeech": W_LIBRI,
        "target_fpr": TARGET_FPR,
        "calibration_share": CALIBRATION_SHARE,
        "report_share": REPORT_SHARE,
    }


def save(params: Params, out_dir: Path, meta: Mapping[str, object]) -> None:
    """weights.npz (float32 arrays, no pickle) and model.json (config, threshold, provenance)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez(
        out_dir / "weights.npz",
        mean=params.mean.astype(np.float32),
        scale=params.scale.astype(np.float32),
        w=params.w.astype(np.float32),
        b=np.asarray([params.b], dtype=np.float32),
    )
    write_meta(out_dir, meta)


def write_meta(out_dir: Path, meta: Mapping[str, object]) -> None:
    (out_dir / "model.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    vc.load_model.cache_clear()  # the production loader caches by folder


def check_production_path(out_dir: Path, sources: Sequence[Source], scores: Mapping[str, float]) -> int:
    """Score ``sources`` with :class:`VoiceCloneSignal` from ``out_dir``; raise unless it agrees with ``scores``."""
    from flockwatch.media.sniff import open_media

    signal = vc.VoiceCloneSignal(model_dir=out_dir)
    for src in sources:
        finding = signal.compute(open_media(src.path))
        # a clip too short to score is an observation (score None), as the evaluation leaves it unscored (NaN)
        got = float("nan") if finding is None or finding.score is None else float(finding.data["raw_score"])
        want = scores[src.name]
        # raw_score is rounded to 4 decimals.
        if not (np.isnan(got) and np.isnan(want)) and not abs(got - want) <= 6e-5:
            raise RuntimeError(f"{src.name}: the signal scores {got}, the evaluation {want}")
    return len(sources)


def train(
    data_dir: Path, out_dir: Path = DEFAULT_OUT, seed: int = 0, evaluate: bool = True, limit: int | None = None
) -> dict[str, Any]:
    """Fit the shipped model, calibrate its threshold, evaluate; write the model, metrics.json and card figures.

    ``seed`` draws the LibriSpeech speaker split. ``evaluate=False`` skips the leave-one-clip-out folds (the
    shipped model, its threshold and its report-speaker figures are the same). ``limit`` keeps the first
    clips only (tests).
    """
    t0 = time.perf_counter()
    sources = list_clips(data_dir)[:limit]
    clips = load_clips(data_dir, limit=limit)
    sex = speaker_sex(data_dir, {c.speaker for c in clips if c.group == "librispeech"})
    split = speaker_split(sex, seed)
    train_set = [c for c in clips if c.group == "trump"] + in_split(clips, split, "train")
    params = fit(train_set)
    meta: dict[str, Any] = {
        "kind": "logistic regression on standardised LFCC window statistics",
        "features": list(af.FEATURE_NAMES),
        "rate": af.RATE,
        "window_s": af.WINDOW_S,
        "window_hop_s": af.WINDOW_HOP_S,
        "neutral_mp3_kbps": NEUTRAL_KBPS,
        "f_max_hz": af.F_MAX,
        "l2": L2,
        "seed": seed,
        "threshold_fpr_0.05": None,
        "librispeech_split": split,
        "speakers_seen": ["donald_trump", *split["train"]],
    }
    save(params, out_dir, meta)
    # Calibrate and report with the weights as stored (float32), loaded as the signal loads them.
    shipped, shipped_scores = shipped_figures(vc.load_model(out_dir), clips, split)
    meta["threshold_fpr_0.05"] = shipped["threshold"]
    write_meta(out_dir, meta)
    report_sources = [s for s in sources if s.group == "librispeech" and s.speaker in set(split["report"])]
    shipped["production_path_checked"] = check_production_path(out_dir, report_sources, shipped_scores)
    trump_sources = {s.name: source_info(s.path) for s in sources if s.group == "trump"}
    metrics: dict[str, Any] = {
        "seed": seed,
        "settings": settings(),
        "split": {
            name: {
                "librispeech_speakers": {s: sex[s] for s in split[name]},
                "librispeech_clips": len(in_split(clips, split, name)),
            }
            for name in SPLITS
        },
        "clips": {
            "fake": sum(c.label for c in clips),
            "trump_real": sum(1 for c in clips if c.group == "trump" and c.label == 0),
            "librispeech": sum(1 for c in clips if c.group == "librispeech"),
        },
        "windows_train": int(sum(len(c.windows) for c in train_set)),
        "trump_sources": trump_sources,
        "codec_baseline_auroc": codec_baseline_auroc(trump_sources),
        "shipped": shipped,
        "shipped_scores": {k: round(v, 4) for k, v in sorted(shipped_scores.items())},
    }
    if evaluate:
        folds = held_out(clips, split)
        metrics["held_out"] = summarise_held_out(folds)
        metrics["held_out_folds"] = {
            k: {
                "label": f["label"],
                "score": round(f["scores"]["clean"], 4),
                "threshold": round(f["threshold"], 4),
                "flagged": bool(f["scores"]["clean"] >= f["threshold"]),
                "fpr_report": round(f["fpr_report"], 4),
            }
            for k, f in sorted(folds.items())
        }
    metrics["train_seconds"] = round(time.perf_counter() - t0, 1)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    if evaluate:
        write_card(out_dir, metrics)
    return metrics


def write_card(out_dir: Path, metrics: Mapping[str, Any]) -> None:
    """Write the figure blocks rendered from ``metrics`` into ``out_dir``/MODEL_CARD.md."""
    for name, body in render_card_blocks(metrics).items():
        write_block(out_dir / "MODEL_CARD.md", name, body)


def _f(v: float, digits: int = 3) -> str:
    return f"{v:.{digits}f}"


def _of(rate: float, n: float) -> str:
    """A rate with its count: ``0.500 (3 of 6)``."""
    return f"{_f(rate)} ({round(rate * n)} of {int(n)})"


def render_card_blocks(metrics: Mapping[str, Any]) -> dict[str, str]:
    """The card's figure blocks, from metrics.json alone (a unit test re-renders and compares)."""
    st, split, shipped, ho = metrics["settings"], metrics["split"], metrics["shipped"], metrics["held_out"]
    n_trump = metrics["clips"]["fake"] + metrics["clips"]["trump_real"]

    # metrics.json sorts keys as text; speakers read in id order.
    def speakers(name: str) -> str:
        sex = split[name]["librispeech_speakers"]
        return ", ".join(f"{s} ({sex[s]})" for s in by_speaker_id(sex))

    splits = markdown_table(
        ["split", "LibriSpeech speakers (sex)", "LibriSpeech clips", "Trump clips", "what it does"],
        [
            [
                "train",
                speakers("train"),
                split["train"]["librispeech_clips"],
                f"all {n_trump}",
                "fits the shipped model (each fold model: all Trump clips but the held-out one)",
            ],
            [
                "calibration",
                speakers("calibration"),
                split["calibration"]["librispeech_clips"],
                0,
                f"sets the threshold (≤ {st['target_fpr']:.0%} FPR) of shipped and fold models; reports nothing",
            ],
            [
                "report",
                speakers("report"),
                split["report"]["librispeech_clips"],
                "each, when held out",
                "reports: FPR on these speakers; TPR/FPR on the held-out Trump clip (fold models)",
            ],
        ],
    )
    splits += (
        f"\n\nSeed {metrics['seed']} drew this split. Training windows of the shipped model: "
        f"{metrics['windows_train']}. Clips: {metrics['clips']['fake']} cloned and {metrics['clips']['trump_real']} "
        f"real Trump, {metrics['clips']['librispeech']} LibriSpeech."
    )

    flagged = shipped["flagged_report_by_speaker"]
    report_speakers = "; ".join(f"{s}: {flagged[s][0]} of {flagged[s][1]}" for s in by_speaker_id(flagged))
    evaluation = "Shipped model (the committed weights, scored as the signal scores; threshold from calibration):\n\n"
    evaluation += markdown_table(
        ["figure", "value"],
        [
            [
                f"threshold (`threshold_fpr_0.05`, ≤ {st['target_fpr']:.0%} FPR on calibration)",
                _f(shipped["threshold"], 4),
            ],
            [
                "FPR on calibration speakers (chose the threshold)",
                _of(shipped["fpr_calibration"], shipped["n_calibration"]),
            ],
            [
                "**FPR on report speakers** at the threshold",
                "**" + _of(shipped["fpr_report_librispeech"], shipped["n_report"]) + "**",
            ],
            ["report clips flagged, per speaker", report_speakers],
            [
                "FPR on report speakers at raw score ≥ 0.5",
                _of(shipped["fpr_report_librispeech_raw_0.5"], shipped["n_report"]),
            ],
            [
                "report clips re-scored through `VoiceCloneSignal` (agree to 4 decimals)",
                shipped["production_path_checked"],
            ],
        ],
    )
    evaluation += (
        "\n\nRecipe, held out (leave one Trump clip out; each fold model trained on the other Trump clips and the "
        "train speakers, thresholded on calibration, scored on the held-out clip and the report speakers):\n\n"
    )
    evaluation += markdown_table(
        ["figure", "value"],
        [
            [
                f"AUROC clone vs real Trump ({int(ho['n_clone'])} vs {int(ho['n_trump_real'])})",
                f"**{_f(ho['auroc_clone_vs_trump_real'])}**",
            ],
            ["AUROC clone vs report speakers (same fold model)", _f(ho["auroc_clone_vs_report_librispeech"])],
            ["**TPR on clones** at the fold's threshold", "**" + _of(ho["tpr_clone"], ho["n_clone"]) + "**"],
            ["FPR on real Trump at the fold's threshold", _of(ho["fpr_trump_real"], ho["n_trump_real"])],
            [f"FPR on report speakers (mean of {int(ho['n_folds'])} fold models)", _f(ho["fpr_report_librispeech"])],
            ["fold thresholds (range)", f"{_f(ho['threshold_min'], 4)} – {_f(ho['threshold_max'], 4)}"],
        ],
    )

    rows = []
    for name, src in metrics["trump_sources"].items():
        fold = metrics["held_out_folds"][name]
        rows.append(
            [
                name.split("/")[-1],
                "clone" if fold["label"] == 1 else "real",
                _f(src["seconds"], 1),
                f"{src['codec']} {src['rate']} Hz {src['channels']} ch {src['kbps']} kbit/s",
                _f(fold["score"]),
                _f(fold["threshold"]),
                "yes" if fold["flagged"] else "no",
            ]
        )
    clips = markdown_table(
        ["Trump clip", "label", "seconds", "source", "held-out score", "fold threshold", "flagged"],
        sorted(rows, key=lambda r: (r[1], r[0])),
    )
    clips += (
        f"\n\nCodec-only baseline (score = lower source bit rate): AUROC clone vs real Trump = "
        f"{_f(metrics['codec_baseline_auroc'])}."
    )

    settings_block = markdown_table(
        ["setting", "value"],
        [
            ["frame / hop (ms), FFT points", f"{st['frame_ms']:g} / {st['hop_ms']:g}, {st['n_fft']}"],
            [
                "LFCC: linear filters, coefficients (c0 dropped), band",
                f"{st['n_filters']}, {st['n_lfcc']}, 0–{st['f_max_hz']:g} Hz",
            ],
            [
                "speech frame: within dB of loud frames, floor dBFS, max flatness",
                f"{st['speech_dynamic_db']:g}, {st['speech_floor_db']:g}, {st['speech_max_flatness']:g}",
            ],
            [
                "window / hop (s), min speech frames per window, features",
                f"{st['window_s']:g} / {st['window_hop_s']:g}, {st['window_min_speech_frames']}, "
                f"{st['window_features']}",
            ],
            [
                "windows scored per file at most; min speech (s) for a score",
                f"{st['max_windows']}, {st['min_speech_s']:g}",
            ],
            ["neutralising MP3 round trip (kbit/s) at rate (Hz)", f"{st['neutral_mp3_kbps']}, {st['rate']}"],
            ["L2 (λ, penalty ½λ‖w‖²)", f"{st['l2']:g}"],
            [
                "class weights: clones, real Trump, LibriSpeech",
                f"1, {st['weight_trump_real']:g}, {st['weight_librispeech']:g}",
            ],
            [
                "target FPR; calibration / report share of speakers",
                f"{st['target_fpr']:g}; {st['calibration_share']:g} / {st['report_share']:g}",
            ],
        ],
    )
    return {"splits": splits, "evaluation": evaluation, "clips": clips, "settings": settings_block}


def train_voice_clone(
    *, data_dir: Path, out_dir: Path = DEFAULT_OUT, seed: int = 0, evaluate: bool = True, card_only: bool = False
) -> str:
    """What ``flockwatch train voice-clone`` runs: :func:`train`, or with ``card_only`` only the card's figure
    blocks re-rendered from ``out_dir/metrics.json``. Returns the report the command prints (the metrics as JSON,
    without the per-clip detail; nothing with ``card_only``).

    ``seed`` draws the LibriSpeech speaker split; ``evaluate=False`` skips the leave-one-clip-out folds.
    """
    if card_only:
        write_card(out_dir, json.loads((out_dir / "metrics.json").read_text()))
        return ""
    metrics = train(data_dir, out_dir, seed, evaluate=evaluate)
    skip = ("held_out_folds", "shipped_scores", "trump_sources", "settings")
    return json.dumps({k: v for k, v in metrics.items() if k not in skip}, indent=2, sort_keys=True)
