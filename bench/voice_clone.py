"""Cloned-voice detector figures: held-out scores, false positives on other speakers, re-encoding, speed.

    .venv/bin/python -m bench.voice_clone

Every score comes from a model that never saw the clip (leave-one-Trump-clip-out crossed with two folds of
LibriSpeech speakers, :func:`flockwatch.media.train_voice.held_out_scores`). The threshold is the ≤5%-FPR
point on held-out LibriSpeech clip scores. Robustness: the Trump clips re-encoded, then scored by the same
held-out models (with the detector's own MP3 round trip on top, as in production):

* ``mp3_56k_44k``: upsampled to 44.1 kHz and MP3-encoded at 56 kbit/s, the bit rate of three of the six
  clones (if real clips now look cloned, the model learned the codec);
* ``resample_8k``: down to 8 kHz and back (telephone band).

Speed: decode + score of the production path (:class:`VoiceCloneSignal`), seconds of compute per minute of
audio, median of 3 runs on 3 clips. Writes the ``Voice-clone detector`` section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import torch
from scipy.signal import resample_poly  # type: ignore[import-untyped, unused-ignore]

from bench.report import write_section
from flockwatch.config import Settings
from flockwatch.media import audio_features as af
from flockwatch.media import train_voice as tv
from flockwatch.media.sniff import open_media
from flockwatch.media.voice_clone import VoiceCloneSignal
from flockwatch.metrics import auroc_pos_neg

F32 = npt.NDArray[np.float32]
COMMAND = ".venv/bin/python -m bench.voice_clone"


def mp3_56k_44k(x: F32) -> F32:
    up = resample_poly(x, 441, 160).astype(np.float32)
    return np.asarray(resample_poly(af.mp3_roundtrip(up, 44_100, 56), 160, 441), dtype=np.float32)


def resample_8k(x: F32) -> F32:
    return np.asarray(resample_poly(resample_poly(x, 1, 2), 2, 1), dtype=np.float32)


VARIANTS: dict[str, Callable[[F32], F32]] = {"mp3_56k_44k": mp3_56k_44k, "resample_8k": resample_8k}


def source_bitrate(path: Path) -> str:
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        return f"{s.codec_context.name} {s.rate} Hz {s.channels} ch {(s.bit_rate or 0) / 1000:.0f} kbit/s"


def seconds_per_minute(paths: Sequence[Path], runs: int = 3) -> float:
    signal = VoiceCloneSignal()
    media = [open_media(p) for p in paths]
    minutes = sum(float(f.data["audio_seconds"]) for m in media if (f := signal.compute(m))) / 60
    times: list[float] = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for m in media:
            signal.compute(m)
        times.append(time.perf_counter() - t0)
    return float(statistics.median(times)) / minutes


def fmt(v: float) -> str:
    return f"{v:.3f}"


def main() -> None:
    torch.set_num_threads(1)
    data_dir = Settings().data_dir
    root = data_dir / tv.DATA_SUBDIR
    t0 = time.perf_counter()
    clips = tv.load_clips(data_dir)
    trump_paths = [p for p, _, g, _ in tv.list_clips(data_dir) if g == "trump"]
    n_trump = len(trump_paths)
    variants = {name: tv.load_clips(data_dir, f, limit=n_trump) for name, f in VARIANTS.items()}
    scores = tv.held_out_scores(clips, variants=variants)
    clean = tv.summarise(clips, scores["clean"])
    t = clean["threshold_fpr_0.05_librispeech"]

    # Ablation: the same speaker's clips only, no LibriSpeech in training.
    trump = [c for c in clips if c.group == "trump"]
    only: dict[str, float] = {}
    for held in trump:
        only[held.name] = tv.clip_score(tv.fit([c for c in trump if c is not held]), held.windows)
    full_trump = tv.fit(trump)
    only |= {c.name: tv.clip_score(full_trump, c.windows) for c in clips if c.group == "librispeech"}
    trump_only = tv.summarise(clips, only)

    # A codec-only baseline: how well does "lower source bit rate = cloned" alone separate the clips?
    def kbps(p: Path) -> float:
        with av.open(str(p)) as c:
            return float(c.streams.audio[0].bit_rate or 0) / 1000

    rates = {str(p.relative_to(root)): kbps(p) for p in trump_paths}
    fake_r = [-rates[c.name] for c in trump if c.label == 1]
    real_r = [-rates[c.name] for c in trump if c.label == 0]
    eval_s = time.perf_counter() - t0

    speed = seconds_per_minute(
        [trump_paths[0], trump_paths[-1], *sorted(root.glob("librispeech_test-other/*/*.flac"))[:1]]
    )

    lines = [
        "Smoke test, not a benchmark: 6 clones from one vendor (Resemble.ai) of one speaker (Donald Trump), "
        "12 real clips of him, 100 LibriSpeech test-other clips (10 speakers) as real negatives. First 60 s of "
        "each clip; 3 s windows, clip score = mean window probability. Each score below is held out (the clip, "
        "and for LibriSpeech the speaker, was not in training).",
        "",
        "| metric (clip level, held out) | LFCC model (shipped recipe) | trained on Trump clips only |",
        "|---|---:|---:|",
        f"| AUROC clone vs real Trump (6 vs 12) | **{fmt(clean['auroc_fake_vs_trump_real'])}** "
        f"| {fmt(trump_only['auroc_fake_vs_trump_real'])} |",
        f"| AUROC clone vs LibriSpeech (6 vs 100) | {fmt(clean['auroc_fake_vs_librispeech'])} "
        f"| {fmt(trump_only['auroc_fake_vs_librispeech'])} |",
        f"| threshold at ≤5% FPR on LibriSpeech | {fmt(t)} | {fmt(trump_only['threshold_fpr_0.05_librispeech'])} |",
        f"| TPR on clones at that threshold | **{fmt(clean['tpr_at_threshold'])}** "
        f"| {fmt(trump_only['tpr_at_threshold'])} |",
        f"| FPR on real Trump at that threshold | {fmt(clean['fpr_trump_real_at_threshold'])} "
        f"| {fmt(trump_only['fpr_trump_real_at_threshold'])} |",
        "",
        f"Codec-only baseline (score = lower source bit rate): AUROC clone vs real Trump = "
        f"{fmt(auroc_pos_neg(fake_r, real_r))}. Three clones came at ~55 kbit/s; every real clip at ≥ 83 kbit/s.",
        "",
        "| Trump clip | label | source | held-out score | " + " | ".join(f"{v} score" for v in VARIANTS) + " |",
        "|---|---|---|---:|" + "---:|" * len(VARIANTS),
    ]
    for p in trump_paths:
        name = str(p.relative_to(root))
        label = "clone" if "/fake/" in name else "real"
        row = [name.split("/")[-1], label, source_bitrate(p), fmt(scores["clean"][name])]
        row += [fmt(scores[v][name]) for v in VARIANTS]
        lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        "| re-encoding of the Trump clips | AUROC clone vs real | TPR at clean threshold | FPR (real Trump) |",
    ]
    lines.append("|---|---:|---:|---:|")
    for v in ("clean", *VARIANTS):
        f = [scores[v][c.name] for c in trump if c.label == 1]
        r = [scores[v][c.name] for c in trump if c.label == 0]
        tpr = float(np.mean(np.asarray(f) >= t))
        fpr = float(np.mean(np.asarray(r) >= t))
        lines.append(f"| {v} | {fmt(auroc_pos_neg(f, r))} | {fmt(tpr)} | {fmt(fpr)} |")
    lines += [
        "",
        f"Speed (decode + MP3 round trip + features + scoring, one thread): **{speed:.2f} s of compute per minute "
        f"of audio** (median of 3 runs). Whole evaluation: {eval_s:.0f} s.",
    ]
    body = "\n".join(lines)
    print(body)
    write_section("Voice-clone detector", COMMAND, body)


if __name__ == "__main__":
    main()
