"""Machine text: what the detector's MLP learns to tell apart, the training sources or machine from human.

The MLP can learn one of three targets on the same inputs (``flockwatch.training.text.MlpTarget``):

* ``machine``: machine or human, one logistic output;
* ``sources`` (shipped): which source wrote the text, a softmax over every TweepFake account, AuthorMimic's
  modern-LLM tweets together and AuthorMimic's humans (``source_classes``), read as
  log P(machine source) - log P(human source);
* ``sources+generators``: the same with each AuthorMimic generator its own source.

This refits the whole detector (``fit_detector``: n-gram model, combiners and thresholds included) for each
target on the same rows and reports side by side:

* TweepFake validation (the dev split, which chose the target): AUROC, TPR at 1% and 5% FPR on the ROC, TPR / FPR
  at the 1% threshold chosen on each model's own calibration split, AUROC per generator;
* the held-out AuthorMimic humans' false-positive rate at the 1% and 5% thresholds;
* the seen-account report split (TweepFake train texts held out by hash), each refitted without it as
  ``flockwatch train text-detector`` does: it chose nothing;
* with ``--generator G`` (repeatable), AuthorMimic leave-one-generator-out as the card does it: TPR on G's tweets
  at the refit's own 1% threshold, and the held-out AuthorMimic humans' false-positive rate there.

Writes the "Text: MLP target, sources vs machine-or-human" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, get_args

from flockwatch.config import Settings
from flockwatch.text.detector import TextDetector
from flockwatch.text.embed import Backend
from flockwatch.training.text import (
    FPRS,
    MLP_TARGET,
    Features,
    MlpTarget,
    embedded_corpora,
    evaluate_split,
    fit_detector,
    leave_one_out,
    seen_accounts_report,
)

from .report import write_section

SECTION = "Text: MLP target, sources vs machine-or-human"
COMMAND = "python -m bench.text_sources"
BACKEND: Backend = "onnx-int8"
TARGETS: tuple[MlpTarget, ...] = get_args(MlpTarget)


@dataclass(frozen=True)
class Result:
    target: str
    outputs: int  # the MLP's output units (1: machine or human)
    dev: dict[str, Any]
    held_fpr: dict[float, float]  # held-out AuthorMimic humans, at each stored threshold
    seen: dict[str, Any]
    loo: dict[str, Any]  # leave_one_out's "by_generator"
    seconds: float


def measure(generators: tuple[str, ...] = ()) -> list[Result]:
    train, valid, held = embedded_corpora(Settings().data_dir, BACKEND)
    base = train.rows(train.corpus.where_prefix("tweepfake"))
    mimic = train.rows(train.corpus.where_prefix("authormimic"))
    out = []
    for target in TARGETS:
        started = time.perf_counter()
        detector = fit_detector(train, BACKEND, target=target)
        held_fpr = stored_threshold_fprs(detector, held)
        seen = seen_accounts_report(train, BACKEND, target=target)
        loo = leave_one_out(base, mimic, held, BACKEND, generators=generators, prompts=False, target=target)
        dev = evaluate_split(detector, valid)
        outputs = len(detector.mlp.sources) or 1
        out.append(Result(target, outputs, dev, held_fpr, seen, loo["by_generator"], time.perf_counter() - started))
        print(f"{target}: dev AUROC {dev['auroc']:.3f} ({out[-1].seconds:.0f} s)", flush=True)
    return out


def render(results: list[Result]) -> str:
    lines = [
        "Each row is a whole detector fitted on the same rows, its MLP trained to one target. Dev: TweepFake "
        "validation (it chose the target, so these are dev figures). Seen accounts: TweepFake train texts held out "
        "by hash, scored by a refit without them (the card's headline procedure; it chose nothing).",
        "",
        "| MLP target | outputs | dev AUROC | dev TPR at 1% FPR (ROC) | dev TPR at 5% FPR (ROC) "
        "| dev TPR / FPR at the 1% threshold | dev AUROC per generator | held-out AuthorMimic humans: FPR at the "
        "1% / 5% threshold | seen accounts AUROC | seen accounts TPR at 1% FPR (ROC) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        at = r.dev["at_stored_threshold_0.01"]
        per_gen = ", ".join(f"{g} {v:.3f}" for g, v in sorted(r.dev["auroc_by_generator"].items()))
        lines.append(
            f"| {r.target} | {r.outputs} | {r.dev['auroc']:.3f} | {r.dev['tpr_at_0.01_fpr_roc']:.3f} "
            f"| {r.dev['tpr_at_0.05_fpr_roc']:.3f} | {at['tpr']:.3f} / {at['fpr']:.3f} | {per_gen} "
            f"| {r.held_fpr[0.01]:.2f} / {r.held_fpr[0.05]:.2f} | {r.seen['auroc']:.3f} "
            f"| {r.seen['tpr_at_0.01_fpr_roc']:.3f} |"
        )
    lines += leave_one_out_lines([(r.target, r.loo) for r in results])
    lines += [
        "",
        f"Shipped target: {MLP_TARGET}. The held-out AuthorMimic humans are 100 tweets: their rates move in steps of "
        "0.01. Fit and evaluation time per target (seconds, 2 cores): "
        + ", ".join(f"{r.target}: {r.seconds:.0f}" for r in results)
        + ".",
    ]
    return "\n".join(lines)


def leave_one_out_lines(columns: Sequence[tuple[str, Mapping[str, Any]]], auroc: bool = False) -> list[str]:
    """The leave-one-generator-out table, one column per detector (name, leave_one_out's "by_generator"); none
    when no generator was left out. ``auroc``: also how well the left-out tweets rank above the held-out humans."""
    left_out = sorted(columns[0][1]) if columns else []
    if not left_out:
        return []
    what = "TPR / humans' FPR" + (" / AUROC" if auroc else "")
    lines = [
        "",
        "AuthorMimic leave-one-generator-out (the whole detector refitted without that generator's tweets): TPR "
        "on them at the refit's own 1% threshold, "
        + (
            "the held-out AuthorMimic humans' FPR there, and AUROC of the left-out tweets against those humans."
            if auroc
            else "and the held-out AuthorMimic humans' FPR there."
        ),
        "",
        "| left out | tweets | " + " | ".join(f"{name}: {what}" for name, _ in columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for g in left_out:
        cells = []
        for _, loo in columns:
            cell = f"{loo[g]['tpr_at_stored_0.01']:.3f} / {loo[g]['held_out_human_fpr_at_stored_0.01']:.2f}"
            cells.append(cell + (f" / {loo[g]['auroc_vs_held_out_humans']:.4f}" if auroc else ""))
        lines.append(f"| {g} | {columns[0][1][g]['n']} | " + " | ".join(cells) + " |")
    return lines


def dev_cells(dev: Mapping[str, Any]) -> str:
    """A refit's dev AUROC | TPR at 1% FPR (ROC) | TPR / FPR at its stored 1% threshold, as table cells."""
    at = dev["at_stored_threshold_0.01"]
    return f"{dev['auroc']:.3f} | {dev['tpr_at_0.01_fpr_roc']:.3f} | {at['tpr']:.3f} / {at['fpr']:.3f}"


def seen_cells(seen: Mapping[str, Any]) -> str:
    """A refit's seen-accounts AUROC | TPR at 1% FPR (ROC), as table cells."""
    return f"{seen['auroc']:.3f} | {seen['tpr_at_0.01_fpr_roc']:.3f}"


def stored_threshold_fprs(detector: TextDetector, humans: Features) -> dict[float, float]:
    """The share of ``humans`` at or above each of the detector's stored thresholds."""
    p = detector.probabilities(humans.corpus.texts, humans.emb, humans.ngram_x)
    return {fpr: float((p >= detector.threshold(fpr)).mean()) for fpr in FPRS}


def closing_lines(seconds: Sequence[tuple[str, float]]) -> list[str]:
    """The note under a refit bench's tables: the held-out humans' resolution, and each detector's run time."""
    return [
        "",
        "The held-out AuthorMimic humans are 100 tweets: their rates move in steps of 0.01. Fit and evaluation time "
        "(seconds, 2 cores): " + ", ".join(f"{name}: {s:.0f}" for name, s in seconds) + ".",
    ]


def run_refit_bench(doc: str, section: str, command: str, body: Callable[[tuple[str, ...]], str]) -> None:
    """A refit bench's command line: ``--generator G`` (repeatable) → ``body`` → printed and written to the section."""
    args = generator_args(doc.splitlines()[0])
    text = body(tuple(args.generator))
    print(text)
    write_section(section, command + "".join(f" --generator {g}" for g in args.generator), text)


def generator_args(description: str) -> argparse.Namespace:
    """The command line of a refitting bench: ``--generator G``, repeatable."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--generator", action="append", default=[], help="also leave out this AuthorMimic generator (repeatable)"
    )
    return parser.parse_args()


def main() -> None:
    run_refit_bench(__doc__, SECTION, COMMAND, lambda generators: render(measure(generators)))


if __name__ == "__main__":
    main()
