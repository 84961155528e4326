"""Machine text: do thresholds re-picked on a population's own humans keep their rate where the stored ones do not?

The text model's stored thresholds are chosen on its calibration split's humans (TweepFake and AuthorMimic).
``flockwatch calibrate text`` re-picks them on a sample of posts known to be human. This measures, on human
populations the model never trained on (replayed through the same readers the pipeline uses):

* each population is split in two halves by a hash of the post key: thresholds are picked on half A (as
  ``calibrate text`` picks them) and the false-positive rate is measured on half B, beside the rate of the stored
  threshold on B;
* the price: the share of machine text still flagged at each threshold, on AuthorMimic machine tweets the model
  did **not** train on (it trains on a capped sample per generator and prompt; the rest are unseen tweets of
  generators it has seen).

The populations are pre-LLM human text: IRA 2016 troll tweets (English, not retweets), RumourEval 2017 and
Twitter15 source tweets (2014-2016 news events). What it does not show: a population of the user's own (the
point of the command), or machine text written to imitate that population.
Writes the "Text: thresholds re-picked on a population's humans" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from flockwatch.config import Settings
from flockwatch.replay import normalize_record, read_dataset
from flockwatch.text.data import read_authormimic
from flockwatch.text.detector import TextDetector, shared_detector
from flockwatch.text.thresholds import pick_thresholds
from flockwatch.training.text import load_corpora

from .report import write_section

SECTION = "Text: thresholds re-picked on a population's humans"
COMMAND = "python -m bench.text_thresholds"
FPRS = (0.01, 0.05)
POPULATIONS = {
    "ira_2016": "IRA 2016 tweets",
    "rumoureval2017": "RumourEval 2017 posts",
    "twitter15": "Twitter15 sources",
}


def _half(key: str) -> int:
    return hashlib.sha256(key.encode()).digest()[0] & 1


def population_texts(name: str, limit: int, settings: Settings) -> Iterator[tuple[str, str]]:
    """(post key, text) of a replayable dataset's original English (or unmarked) posts, at most ``limit``."""
    n = 0
    for raw in read_dataset(name, None, settings.data_dir):
        try:
            post = normalize_record(raw)
        except ValueError:
            continue
        if post is None or post.reshare_of or not post.text or post.language not in (None, "en"):
            continue
        yield post.key, post.text
        n += 1
        if n >= limit:
            return


def label_scores(detector: TextDetector, texts: list[str]) -> NDArray[np.float64]:
    """The score each scored text's label compares with a threshold (unscored ones dropped)."""
    got = [r.machine_score for r in detector.score(texts, with_evidence=False) if r.probability is not None]
    return np.array([p for p in got if p is not None], dtype=np.float64)


def unseen_machine_texts(settings: Settings, most: int) -> list[str]:
    """At most ``most`` AuthorMimic machine tweets outside the model's training sample (same generators and
    prompts), chosen by hash."""
    train, _, _ = load_corpora(settings.data_dir)
    seen = set(train.raw)
    mimic = read_authormimic(settings.data_dir, "p1")
    read_authormimic(settings.data_dir, "p2", into=mimic, humans=False)
    unseen = {t for t, y in zip(mimic.raw, mimic.labels, strict=True) if y == 1 and t not in seen}
    return sorted(unseen, key=lambda t: hashlib.sha256(t.encode()).digest())[:most]


@dataclass(frozen=True)
class Row:
    population: str
    n_a: int
    n_b: int
    fpr: float
    stored: float
    stored_fpr_b: float
    picked: float
    picked_fpr_b: float
    picked_upper: float
    tpr_stored: float
    tpr_picked: float


def measure(limit: int, most_machine: int) -> tuple[list[Row], int]:
    settings = Settings()
    detector = shared_detector()
    machine = label_scores(detector, unseen_machine_texts(settings, most_machine))
    rows: list[Row] = []
    for name, label in POPULATIONS.items():
        posts = list(population_texts(name, limit, settings))
        halves = [[t for k, t in posts if _half(k) == h] for h in (0, 1)]
        a, b = (label_scores(detector, h) for h in halves)
        picked = pick_thresholds(list(a), FPRS, model=detector.name, source=name)
        for fpr in FPRS:
            stored, got = detector.threshold(fpr), picked.thresholds[f"fpr_{fpr:g}"]
            rows.append(
                Row(
                    label, len(a), len(b), fpr, stored, float((b >= stored).mean()), got.threshold,
                    float((b >= got.threshold).mean()), got.fpr_upper_90,
                    float((machine >= stored).mean()), float((machine >= got.threshold).mean()),
                )
            )  # fmt: skip
        print(f"{label}: {len(a)} + {len(b)} posts", flush=True)
    print(f"{len(machine)} unseen AuthorMimic machine tweets", flush=True)
    return rows, len(machine)


def render(rows: list[Row], n_machine: int, limit: int) -> str:
    lines = [
        f"Model `{shared_detector().name}`. Each population: at most {limit} original posts, halves by a hash of the "
        "post key; thresholds picked on half A, rates measured on half B. TPR: the share of "
        f"{n_machine} AuthorMimic machine tweets the model did not train on that reach the threshold.",
        "",
        "| population | posts A / B | target FPR | stored threshold: FPR on B | picked on A: threshold | FPR on B "
        "| 90% upper bound (A) | TPR at stored | TPR at picked |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.population} | {r.n_a} / {r.n_b} | {r.fpr:.0%} | {r.stored_fpr_b:.3f} (at {r.stored:.3f}) "
            f"| {r.picked:.3f} | {r.picked_fpr_b:.3f} | {r.picked_upper:.3f} | {r.tpr_stored:.3f} "
            f"| {r.tpr_picked:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=4000, help="posts per population")
    parser.add_argument("--machine", type=int, default=3000, help="unseen AuthorMimic machine tweets")
    args = parser.parse_args()
    rows, n_machine = measure(args.limit, args.machine)
    body = render(rows, n_machine, args.limit)
    print(body)
    write_section(SECTION, f"{COMMAND} --limit {args.limit} --machine {args.machine}", body)


if __name__ == "__main__":
    main()
