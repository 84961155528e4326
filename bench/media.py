"""The full media path: images/s, and seconds of compute per minute of video and of audio.

``python -m bench.media`` scores real files from ``../shared/data/media`` with the scorer the CLI and the
worker use (sniff, C2PA, generator metadata, a bank match, the learned detectors, fusion), against a bank
holding 20 images, 2 videos and 2 audio clips. Each file set is scored ``--runs`` times after one warm-up
pass (models loaded, caches warm); the figure is the median over runs. Timings per signal show where the
time goes.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from bench.report import write_section
from flockwatch.adapters.media_scorer import build_signals
from flockwatch.config import Settings
from flockwatch.media.bank import Bank
from flockwatch.media.decode import audio_samples, video_frames
from flockwatch.media.score import MediaScorer
from flockwatch.media.signal import Finding, MediaFile, MediaSignal
from flockwatch.media.sniff import open_media


class Timed:
    """Wraps a signal and accumulates its wall time, so the report can say where the time goes."""

    def __init__(self, inner: MediaSignal, totals: dict[str, float]) -> None:
        self.inner, self.totals = inner, totals
        self.name, self.tier = inner.name, inner.tier

    def applies_to(self, media: MediaFile) -> bool:
        return self.inner.applies_to(media)

    def compute(self, media: MediaFile) -> Finding | None:
        t0 = time.perf_counter()
        try:
            return self.inner.compute(media)
        finally:
            self.totals[self.name] += time.perf_counter() - t0


def media_sets(data: Path) -> dict[str, list[Path]]:
    images = data / "images"
    videos = sorted((data / "video" / "tmk_variants").glob("*.mp4"))[:6]
    videos += sorted((data / "video" / "ffpp_dfdc_samples").rglob("*.mp4"))[:4]
    return {
        "image": sorted((images / "cnndetection").glob("*.jpg"))[:60]
        + sorted(p for p in (images / "c2pa_examples").iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")),
        "video": videos,
        "audio": sorted((data / "audio" / "voice_clone" / "donald_trump").rglob("*.mp3"))[:6],
    }


def duration_s(media: MediaFile) -> float:
    if media.kind == "audio":
        return audio_samples(media.path).size / 16_000
    return video_frames(media.path, every_s=1.0, max_frames=100_000)[-1].t + 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    settings = Settings()
    data = settings.data_dir / "media"
    sets = media_sets(data)
    with tempfile.TemporaryDirectory() as tmp:
        bank = Bank(Path(tmp) / "bank")
        bank.add(sets["image"][:20] + sets["video"][:2] + sets["audio"][:2])
        banked = Counter(item.kind for item in bank.items())
        totals: dict[str, float] = defaultdict(float)
        signals = [Timed(s, totals) for s in build_signals(settings, bank)]
        scorer = MediaScorer(signals)
        rows, per_signal = [], []
        for kind, paths in sets.items():
            files = [open_media(p) for p in paths]
            minutes = sum(duration_s(m) for m in files) / 60 if kind != "image" else 0.0
            for m in files:  # warm-up: models loaded, decoders initialised
                scorer.score_file(m)
            times = []
            totals.clear()
            for _ in range(args.runs):
                t0 = time.perf_counter()
                for m in files:
                    scorer.score_file(m)
                times.append(time.perf_counter() - t0)
            med = statistics.median(times)
            if kind == "image":
                rows.append(f"| images | {len(files)} files | **{len(files) / med:.1f} images/s** | {med:.1f} s |")
            else:
                rows.append(
                    f"| {kind} | {len(files)} files, {minutes:.1f} min | "
                    f"**{med / minutes:.1f} s per minute of {kind}** | {med:.1f} s |"
                )
            spent = sorted(totals.items(), key=lambda kv: -kv[1])
            per_signal.append(
                f"| {kind} | " + ", ".join(f"{n} {t / args.runs / len(files):.2f} s" for n, t in spent if t > 0) + " |"
            )
    body = "\n".join(
        [
            "Full media path per file: sniff and hash, C2PA, generator metadata, bank match (bank of "
            + ", ".join(f"{count} {kind}" for kind, count in sorted(banked.items()))
            + "),",
            "synthetic-image, face-video and voice-clone detectors, fusion. Local files (fetching excluded);",
            f"median of {args.runs} runs after a warm-up pass, single process.",
            "",
            "| media | set | throughput | median wall time |",
            "|---|---|---:|---:|",
            *rows,
            "",
            "Mean seconds per file in each signal:",
            "",
            "| media | per signal |",
            "|---|---|",
            *per_signal,
        ]
    )
    print(body)
    if not args.no_write:
        write_section("Media path throughput", f"python -m bench.media --runs {args.runs}", body)


if __name__ == "__main__":
    main()
