"""Machine text: how many AuthorMimic tweets per generator and prompt the detector should train on.

The detector trains on TweepFake and a capped, hash-chosen sample of AuthorMimic's modern-LLM tweets (at most
``MIMIC_PER_GROUP`` per generator and prompt variant). This refits the whole detector
(``flockwatch.training.text.fit_detector``) at each cap, on the same TweepFake rows, and reports side by side:

* TweepFake validation (the dev split, which chose the detector's settings): AUROC, TPR at 1% FPR on the ROC,
  and TPR / FPR at the 1% threshold chosen on the model's own calibration split;
* AuthorMimic leave-one-prompt-out (the card's procedure, ``flockwatch.training.text.leave_one_out``): each
  refit never saw the left-out prompt variant's machine tweets; TPR on them at the refit's own 1% threshold,
  the held-out AuthorMimic humans' false-positive rate at that threshold, and the AUROC of the left-out tweets
  against those humans (the imitated authors' own tweets). ``--generators`` adds leave-one-generator-out.

The left-out tweets are the cap's own sample, so a higher cap is measured on more of them. The held-out humans
are 100 tweets: their rates move in steps of 0.01. Writes the "Text: AuthorMimic tweets per generator and prompt"
section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

from flockwatch.config import Settings
from flockwatch.text.embed import Backend
from flockwatch.training.text import MIMIC_PER_GROUP, embedded_corpora, evaluate_split, fit_detector, leave_one_out

from .report import write_section
from .text_sources import dev_cells

SECTION = "Text: AuthorMimic tweets per generator and prompt"
COMMAND = "python -m bench.text_mimic_cap"
BACKEND: Backend = "onnx-int8"
CAPS = (150, 400)


@dataclass(frozen=True)
class Result:
    cap: int
    rows: int
    dev: dict[str, Any]
    held_fpr: float  # held-out AuthorMimic humans at the 1% threshold, model fitted on every row
    loo: dict[str, Any]
    seconds: float


def measure(caps: tuple[int, ...] = CAPS, generators: bool = False) -> list[Result]:
    out = []
    for cap in caps:
        started = time.perf_counter()
        train, valid, held = embedded_corpora(Settings().data_dir, BACKEND, mimic_per_group=cap)
        detector = fit_detector(train, BACKEND)
        dev = evaluate_split(detector, valid)
        ph = detector.probabilities(held.corpus.texts, held.emb, held.ngram_x)
        base = train.rows(train.corpus.where_prefix("tweepfake"))
        mimic = train.rows(train.corpus.where_prefix("authormimic"))
        loo = leave_one_out(base, mimic, held, BACKEND, generators=generators)
        held_fpr = float((ph >= detector.threshold(0.01)).mean())
        out.append(Result(cap, len(train.y), dev, held_fpr, loo, time.perf_counter() - started))
        print(f"cap {cap}: dev AUROC {dev['auroc']:.3f} ({out[-1].seconds:.0f} s)", flush=True)
    return out


def render(results: list[Result]) -> str:
    lines = [
        "Each row is a whole detector fitted at that cap (AuthorMimic tweets per generator and prompt, chosen by "
        "hash) on the same TweepFake rows. Dev: TweepFake validation (it chose the detector's settings, so these "
        "are dev figures).",
        "",
        "| cap | training rows | dev AUROC | dev TPR at 1% FPR (ROC) | dev TPR / FPR at the 1% threshold "
        "| held-out AuthorMimic humans: FPR at the 1% threshold |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(f"| {r.cap} | {r.rows} | {dev_cells(r.dev)} | {r.held_fpr:.2f} |")
    lines += [
        "",
        "AuthorMimic leave-one-out: the left-out machine tweets (the cap's own sample) against the 100 held-out "
        "AuthorMimic humans.",
        "",
        "| left out | cap | tweets | TPR at the refit's 1% threshold | held-out humans' FPR there "
        "| AUROC against held-out humans |",
        "|---|---|---|---|---|---|",
    ]
    for kind in ("by_prompt", "by_generator"):
        for key in sorted(results[0].loo[kind]):
            label = key if kind == "by_generator" else f"prompt {key}"
            for r in results:
                v = r.loo[kind][key]
                lines.append(
                    f"| {label} | {r.cap} | {v['n']} | {v['tpr_at_stored_0.01']:.3f} "
                    f"| {v['held_out_human_fpr_at_stored_0.01']:.2f} | {v['auroc_vs_held_out_humans']:.4f} |"
                )
    lines += [
        "",
        f"Shipped cap: {MIMIC_PER_GROUP}. Fit and evaluation time per cap (seconds, 2 cores): "
        + ", ".join(f"{r.cap}: {r.seconds:.0f}" for r in results)
        + ".",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cap", type=int, action="append", help=f"caps to compare (repeatable; default {CAPS})")
    parser.add_argument("--generators", action="store_true", help="also leave out each generator (10 more refits)")
    args = parser.parse_args()
    caps = tuple(args.cap) if args.cap else CAPS
    body = render(measure(caps, args.generators))
    print(body)
    suffix = "".join(f" --cap {c}" for c in args.cap or []) + (" --generators" if args.generators else "")
    write_section(SECTION, COMMAND + suffix, body)


if __name__ == "__main__":
    main()
