"""Machine text: does training on more, everyday human tweets help? RumourEval 2017's posts as extra human rows.

The shipped detector learns "human" from TweepFake's 20 human accounts and 100 AuthorMimic tweets of imitated
authors. RumourEval 2017 (``spread/rumoureval2017``) holds 4,519 tweets and replies about news events of 2014-16,
written before text generators wrote tweets. :func:`flockwatch.training.text.extra_human_corpora` splits them in two
by text: one half joins the training rows as one more human source, the other half is held out.

Two detectors, each refitted whole (``fit_detector``: n-gram model, MLPs, combiners and thresholds) on the same rows
but for the extra humans, reported side by side:

* TweepFake validation (the dev split): AUROC and TPR at 1% FPR on the ROC, TPR / FPR at each model's own 1%
  threshold;
* false-positive rates at the 1% / 5% thresholds on the held-out AuthorMimic humans (imitated authors' own tweets)
  and on the held-out RumourEval half;
* the seen-account report split (TweepFake train texts held out by hash), each refitted without it as
  ``flockwatch train text-detector`` does;
* with ``--generator G`` (repeatable), AuthorMimic leave-one-generator-out: TPR on G's tweets at the refit's own
  1% threshold, the held-out AuthorMimic humans' FPR there, and how well G's tweets rank above those humans (AUROC).

Writes the "Text: extra human rows (RumourEval 2017)" section of docs/benchmarks.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flockwatch.config import Settings
from flockwatch.text.embed import Backend
from flockwatch.training.text import (
    concat_features,
    embedded,
    evaluate_split,
    extra_human_corpora,
    fit_detector,
    leave_one_out,
    load_corpora,
    seen_accounts_report,
)

from .text_sources import (
    closing_lines,
    dev_cells,
    leave_one_out_lines,
    run_refit_bench,
    seen_cells,
    stored_threshold_fprs,
)

SECTION = "Text: extra human rows (RumourEval 2017)"
COMMAND = "python -m bench.text_extra_humans"
BACKEND: Backend = "onnx-int8"


@dataclass(frozen=True)
class Result:
    humans: str  # the extra human rows trained on
    extra_rows: int
    dev: dict[str, Any]
    held_fpr: dict[str, dict[float, float]]  # held-out human set -> FPR at each stored threshold
    seen: dict[str, Any]
    loo: dict[str, Any]  # leave_one_out's "by_generator"
    seconds: float


def measure(generators: tuple[str, ...] = ()) -> list[Result]:
    data_dir = Settings().data_dir
    train, valid, held, extra, extra_held = embedded([*load_corpora(data_dir), *extra_human_corpora(data_dir)], BACKEND)
    tweepfake = train.rows(train.corpus.where_prefix("tweepfake"))
    mimic = train.rows(train.corpus.where_prefix("authormimic"))
    out = []
    for name, rows in (("none (shipped)", None), ("RumourEval 2017, half", extra)):
        started = time.perf_counter()
        fit_rows = train if rows is None else concat_features(train, rows)
        base = tweepfake if rows is None else concat_features(tweepfake, rows)
        detector = fit_detector(fit_rows, BACKEND)
        held_fpr = {
            "AuthorMimic": stored_threshold_fprs(detector, held),
            "RumourEval": stored_threshold_fprs(detector, extra_held),
        }
        seen = seen_accounts_report(fit_rows, BACKEND)
        loo = leave_one_out(base, mimic, held, BACKEND, generators=generators, prompts=False)
        dev = evaluate_split(detector, valid)
        n = 0 if rows is None else len(rows.y)
        out.append(Result(name, n, dev, held_fpr, seen, loo["by_generator"], time.perf_counter() - started))
        print(f"{name}: dev AUROC {dev['auroc']:.3f} ({out[-1].seconds:.0f} s)", flush=True)
    return out


def render(results: list[Result], held_out_extra: int) -> str:
    lines = [
        "Each row is a whole detector fitted on the same rows but for the extra humans. Dev: TweepFake validation. "
        "Seen accounts: TweepFake train texts held out by hash, scored by a refit without them (the card's headline "
        f"procedure). Held-out RumourEval: the other half, {held_out_extra} posts, never trained on.",
        "",
        "| extra human rows | rows | dev AUROC | dev TPR at 1% FPR (ROC) | dev TPR / FPR at the 1% threshold "
        "| held-out AuthorMimic humans: FPR at the 1% / 5% threshold | held-out RumourEval: FPR at the 1% / 5% "
        "threshold | seen accounts AUROC | seen accounts TPR at 1% FPR (ROC) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        am, re = r.held_fpr["AuthorMimic"], r.held_fpr["RumourEval"]
        lines.append(
            f"| {r.humans} | {r.extra_rows} | {dev_cells(r.dev)} | {am[0.01]:.2f} / {am[0.05]:.2f} "
            f"| {re[0.01]:.3f} / {re[0.05]:.3f} | {seen_cells(r.seen)} |"
        )
    lines += leave_one_out_lines([(r.humans, r.loo) for r in results], auroc=True)
    lines += closing_lines([(r.humans, r.seconds) for r in results])
    return "\n".join(lines)


def main() -> None:
    _, held_out = extra_human_corpora(Settings().data_dir)
    run_refit_bench(__doc__, SECTION, COMMAND, lambda generators: render(measure(generators), len(held_out)))


if __name__ == "__main__":
    main()
