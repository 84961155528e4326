"""Machine text: how often is a post's stated interval widened beyond its score bin's, and by how much?

Every score of the text detector comes with an ``interval``: the 90% Wilson interval of the machine share among
the calibration posts in the same length bucket and score bin, widened where needed to reach the post's reported
score (``TextDetector._uncertainty``). This counts, with the shipped model, on TweepFake validation (the dev
split: it chose the model's settings but was never fitted on) and the held-out AuthorMimic humans, per length
bucket: how many posts' probabilities lie outside their bin's interval (so their stated interval was widened), and
the median width of the bin's interval and of the stated one. How well the bins' machine shares hold on other
posts is in the text model card's length table (mean score beside machine share, per split and bucket).

Writes the "Text: score intervals" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from flockwatch.config import Settings
from flockwatch.text.data import Corpus
from flockwatch.text.detector import TextDetector, shared_detector
from flockwatch.training.text import load_corpora

from .report import write_section

SECTION = "Text: score intervals"
COMMAND = "python -m bench.text_intervals"


@dataclass(frozen=True)
class BucketRow:
    split: str
    bucket: str
    posts: int
    widened: int  # posts whose model probability lies outside their bin's interval
    bin_width: float  # median width of the bins' own intervals
    stated_width: float  # median width of the stated (widened) intervals


def measure_split(detector: TextDetector, name: str, corpus: Corpus) -> list[BucketRow]:
    results = detector.score(corpus.raw, with_evidence=False)
    which = detector.bucket_of(corpus.texts)
    per_bucket: dict[int, list[tuple[float, tuple[float, float], tuple[float, float]]]] = defaultdict(list)
    for r, b in zip(results, which, strict=True):
        if r.probability is None or r.interval is None:
            continue
        own = detector.buckets[b].interval(r.probability)[0]
        per_bucket[int(b)].append((r.probability, own, r.interval))
    return [
        BucketRow(
            name,
            detector.buckets[b].words_label(),
            len(items),
            sum(not lo <= p <= hi for p, (lo, hi), _ in items),
            float(np.median([hi - lo for _, (lo, hi), _ in items])),
            float(np.median([hi - lo for _, _, (lo, hi) in items])),
        )
        for b, items in sorted(per_bucket.items())
    ]


def measure() -> tuple[str, list[BucketRow]]:
    detector = shared_detector()
    _, dev, held = load_corpora(Settings().data_dir)
    rows = measure_split(detector, "dev: TweepFake validation", dev)
    rows += measure_split(detector, "held-out AuthorMimic humans", held)
    return detector.name, rows


def render(model: str, rows: list[BucketRow]) -> str:
    lines = [
        f"Model `{model}`. A post's stated interval is its length and score bin's 90% interval (the machine share "
        "of the calibration posts in that bin), widened to reach the post's own probability (or a decisive "
        "rule's score) when it lies outside.",
        "",
        "| split | length | posts | probability outside its bin's interval (widened) | median width: bin | "
        "median width: stated |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        share = r.widened / r.posts if r.posts else 0.0
        lines.append(
            f"| {r.split} | {r.bucket} | {r.posts} | {r.widened} ({share:.0%}) | {r.bin_width:.3f} | "
            f"{r.stated_width:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--no-write", action="store_true", help="print only, leave docs/benchmarks.md alone")
    args = parser.parse_args()
    body = render(*measure())
    print(body)
    if not args.no_write:
        write_section(SECTION, COMMAND, body)


if __name__ == "__main__":
    main()
