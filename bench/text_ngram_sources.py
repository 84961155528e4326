"""Machine text: what the detector's n-gram model learns, machine from human or the training sources.

In ``text_detector@94c5be5bff`` and the models before it, the n-gram model was one logistic output over 2**18
hashed character 1-5-gram columns (machine or human), while the MLP beside it learned which training source wrote
a text (``source_classes``: each TweepFake account, AuthorMimic's modern LLMs together, its humans together). Since,
it learns the same sources, a softmax (multinomial logistic regression) over 2**16 columns, read as
log P(machine source) - log P(human source).

Two detectors, each refitted whole (``fit_detector``: n-gram model, MLPs, combiners and thresholds) on the same
rows but for the n-gram model's target, reported side by side:

* TweepFake validation (the dev split, which chose the target and the softmax's penalty, passes and columns):
  AUROC and TPR at 1% FPR on the ROC, TPR / FPR at each model's own 1% threshold;
* the held-out AuthorMimic humans' false-positive rates at the 1% / 5% thresholds;
* the seen-account report split (TweepFake train texts held out by hash), each refitted without it as
  ``flockwatch train text-detector`` does: it chose nothing;
* with ``--generator G`` (repeatable), AuthorMimic leave-one-generator-out: TPR on G's tweets at the refit's own
  1% threshold, the held-out AuthorMimic humans' FPR there, and AUROC of G's tweets against those humans.

Writes the "Text: n-gram target, sources vs machine-or-human" section of docs/benchmarks.md.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from flockwatch.config import Settings
from flockwatch.text.embed import Backend
from flockwatch.training.text import (
    Features,
    MlpTarget,
    embedded_corpora,
    empty_ngram_model,
    evaluate_split,
    fit_detector,
    leave_one_out,
    seen_accounts_report,
)

from . import text_sources
from .text_sources import (
    closing_lines,
    dev_cells,
    leave_one_out_lines,
    run_refit_bench,
    seen_cells,
    stored_threshold_fprs,
)

SECTION = "Text: n-gram target, sources vs machine-or-human"
COMMAND = "python -m bench.text_ngram_sources"
BACKEND: Backend = "onnx-int8"
# (target, hashed n-gram columns): the n-gram model up to text_detector@94c5be5bff, and the one shipped since
# (training.text's NGRAM_TARGET and NGRAM_FEATURES). The softmax's weights are a column per source, so it hashes
# into fewer columns, to keep the stored model small (a quarter as many did as well on the dev split in scratch runs
# this bench does not repeat).
VARIANTS: tuple[tuple[MlpTarget, int], ...] = (("machine", 2**18), ("sources", 2**16))


@dataclass(frozen=True)
class Result(text_sources.Result):
    """``outputs``: the n-gram model's output units (1: machine or human)."""

    features: int  # hashed n-gram columns


def measure(generators: tuple[str, ...] = ()) -> list[Result]:
    corpora = embedded_corpora(Settings().data_dir, BACKEND)
    out = []
    for target, columns in VARIANTS:
        started = time.perf_counter()
        train, valid, held = (_hashed(f, columns) for f in corpora)
        tweepfake = train.rows(train.corpus.where_prefix("tweepfake"))
        mimic = train.rows(train.corpus.where_prefix("authormimic"))
        detector = fit_detector(train, BACKEND, ngram_target=target)
        seen = seen_accounts_report(train, BACKEND, ngram_target=target)
        loo = leave_one_out(tweepfake, mimic, held, BACKEND, generators=generators, prompts=False, ngram_target=target)
        dev = evaluate_split(detector, valid)
        outputs = len(detector.ngram.sources) or 1
        name = "sources" if target == "sources" else "machine or human"
        seconds = time.perf_counter() - started
        fprs = stored_threshold_fprs(detector, held)
        out.append(Result(name, outputs, dev, fprs, seen, loo["by_generator"], seconds, columns))
        print(f"{name}: dev AUROC {dev['auroc']:.3f} ({seconds:.0f} s)", flush=True)
    return out


def _hashed(f: Features, columns: int) -> Features:
    """``f`` with its n-grams hashed into ``columns`` columns."""
    if f.ngram_x.shape[1] == columns:
        return f
    return dataclasses.replace(f, ngram_x=empty_ngram_model(columns).vectorize(f.corpus.texts))


def render(results: list[Result]) -> str:
    lines = [
        "Each row is a whole detector fitted on the same rows but for what its n-gram model learns (the MLP learns "
        "the sources in both): machine or human, one logistic output (shipped up to `text_detector@94c5be5bff`), "
        "or the training sources (shipped since). Dev: TweepFake validation, which chose the target and the "
        "softmax's penalty, passes and columns. Seen "
        "accounts: TweepFake train texts held out by hash, scored by a refit without them (the card's headline "
        "procedure).",
        "",
        "| n-gram target | hashed columns | outputs | dev AUROC | dev TPR at 1% FPR (ROC) "
        "| dev TPR / FPR at the 1% threshold "
        "| held-out AuthorMimic humans: FPR at the 1% / 5% threshold | seen accounts AUROC "
        "| seen accounts TPR at 1% FPR (ROC) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.target} | {r.features} | {r.outputs} | {dev_cells(r.dev)} "
            f"| {r.held_fpr[0.01]:.2f} / {r.held_fpr[0.05]:.2f} | {seen_cells(r.seen)} |"
        )
    lines += leave_one_out_lines([(r.target, r.loo) for r in results], auroc=True)
    lines += closing_lines([(r.target, r.seconds) for r in results])
    return "\n".join(lines)


def main() -> None:
    run_refit_bench(__doc__, SECTION, COMMAND, lambda generators: render(measure(generators)))


if __name__ == "__main__":
    main()
