"""Cloned-voice detector figures beyond the card: re-encoding, a Trump-only ablation, a codec baseline, speed.

    .venv/bin/python -m bench.voice_clone

Same splits as the committed model (its seed, :func:`flockwatch.training.voice.speaker_split`) and the same
held-out recipe as its card: leave one Trump clip out, fit on the other Trump clips and the *train*
LibriSpeech speakers, take that fold model's threshold on the *calibration* speakers, score the held-out clip
and the *report* speakers. Whole clips, featurised as the production signal does. Robustness: the Trump
clips re-encoded, then scored by the same fold models (with the detector's own MP3 round trip on top):

* ``mp3_56k_44k``: upsampled to 44.1 kHz and MP3-encoded at 56 kbit/s, the bit rate of three of the six
  clones (if real clips now look cloned, the model learned the codec);
* ``resample_8k``: down to 8 kHz and back (telephone band).

Speed: decode + score of the production path (:class:`VoiceCloneSignal`), seconds of compute per minute of
audio, median of 3 runs on 3 clips. Writes the ``Voice-clone detector`` section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import json
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
from flockwatch.media.sniff import open_media
from flockwatch.media.voice_clone import VoiceCloneSignal
from flockwatch.training import voice as tv

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
    minutes = (
        sum(float(f.data["audio_seconds"]) for m in media if (f := signal.compute(m)) and f.score is not None) / 60
    )
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
    seed = int(json.loads((tv.DEFAULT_OUT / "model.json").read_text())["seed"])
    t0 = time.perf_counter()
    sources = tv.list_clips(data_dir)
    clips = tv.load_clips(data_dir)
    split = tv.speaker_split(tv.speaker_sex(data_dir, {c.speaker for c in clips if c.group == "librispeech"}), seed)
    trump_sources = [s for s in sources if s.group == "trump"]
    variants = {name: tv.load_clips(data_dir, f, limit=len(trump_sources)) for name, f in VARIANTS.items()}
    folds = tv.held_out(clips, split, variants=variants)
    clean = tv.summarise_held_out(folds)
    # Ablation: the same speaker's clips only, no LibriSpeech in training (thresholds still on calibration).
    trump_only = tv.summarise_held_out(tv.held_out(clips, split, with_librispeech=False))
    info = {s.name: tv.source_info(s.path) for s in trump_sources}
    codec_auroc = tv.codec_baseline_auroc(info)
    eval_s = time.perf_counter() - t0

    libri = sorted(s.path for s in sources if s.group == "librispeech")
    speed = seconds_per_minute([trump_sources[0].path, trump_sources[-1].path, libri[0]])

    def rate(v: float, n: float) -> str:
        return f"{fmt(v)} ({round(v * n)} of {int(n)})"

    n_fake, n_real = clean["n_clone"], clean["n_trump_real"]
    lines = [
        f"Smoke test, not a benchmark: {int(n_fake)} clones from one vendor (Resemble.ai) of one speaker (Donald "
        f"Trump), {int(n_real)} real clips of him, LibriSpeech test-other speakers as real negatives, split by "
        f"seed {seed}: train {', '.join(split['train'])}; calibration {', '.join(split['calibration'])}; report "
        f"{', '.join(split['report'])}. Whole clips; clip score = mean window probability. Every score below is "
        "held out: the Trump clip was not in its fold model's training, the report speakers in none.",
        "",
        "| metric (clip level, held out) | LFCC model (shipped recipe) | trained on Trump clips only |",
        "|---|---:|---:|",
        f"| AUROC clone vs real Trump | **{fmt(clean['auroc_clone_vs_trump_real'])}** "
        f"| {fmt(trump_only['auroc_clone_vs_trump_real'])} |",
        f"| AUROC clone vs report speakers | {fmt(clean['auroc_clone_vs_report_librispeech'])} "
        f"| {fmt(trump_only['auroc_clone_vs_report_librispeech'])} |",
        f"| TPR on clones at the fold's calibration threshold | **{rate(clean['tpr_clone'], n_fake)}** "
        f"| {rate(trump_only['tpr_clone'], n_fake)} |",
        f"| FPR on real Trump at that threshold | {rate(clean['fpr_trump_real'], n_real)} "
        f"| {rate(trump_only['fpr_trump_real'], n_real)} |",
        f"| FPR on report speakers (mean over folds) | {fmt(clean['fpr_report_librispeech'])} "
        f"| {fmt(trump_only['fpr_report_librispeech'])} |",
        f"| fold thresholds (range) | {fmt(clean['threshold_min'])}–{fmt(clean['threshold_max'])} "
        f"| {fmt(trump_only['threshold_min'])}–{fmt(trump_only['threshold_max'])} |",
        "",
        f"Codec-only baseline (score = lower source bit rate): AUROC clone vs real Trump = {fmt(codec_auroc)}.",
        "",
        "| Trump clip | label | source | held-out score | fold threshold | "
        + " | ".join(f"{v} score" for v in VARIANTS)
        + " |",
        "|---|---|---|---:|---:|" + "---:|" * len(VARIANTS),
    ]
    for src in trump_sources:
        f = folds[src.name]
        i = info[src.name]
        row = [
            src.name.split("/")[-1],
            "clone" if src.label == 1 else "real",
            f"{i['codec']} {i['rate']} Hz {i['channels']} ch {i['kbps']} kbit/s",
            fmt(f["scores"]["clean"]),
            fmt(f["threshold"]),
        ]
        row += [fmt(f["scores"][v]) for v in VARIANTS]
        lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        "| re-encoding of the Trump clips | AUROC clone vs real | TPR at the fold's threshold | FPR (real Trump) |",
        "|---|---:|---:|---:|",
    ]
    for v in ("clean", *VARIANTS):
        sv = tv.summarise_held_out(folds, v)
        lines.append(
            f"| {v} | {fmt(sv['auroc_clone_vs_trump_real'])} | {rate(sv['tpr_clone'], sv['n_clone'])} "
            f"| {rate(sv['fpr_trump_real'], sv['n_trump_real'])} |"
        )
    lines += [
        "",
        "The shipped model's own threshold and false-positive rates (calibration and report speakers) are in "
        "`models/voice_clone/MODEL_CARD.md`, printed by `.venv/bin/flockwatch train voice-clone`.",
        "",
        f"Speed (decode + MP3 round trip + features + scoring, one thread): **{speed:.2f} s of compute per minute "
        f"of audio** (median of 3 runs). Whole evaluation: {eval_s:.0f} s.",
    ]
    body = "\n".join(lines)
    print(body)
    write_section("Voice-clone detector", COMMAND, body)


if __name__ == "__main__":
    main()
