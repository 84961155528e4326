"""Machine text: what reading every MiniLM layer buys the detector over the sentence embedding alone.

The detector's MLP used to read MiniLM's sentence embedding (the last layer, mean-pooled): a vector trained to
keep meaning and drop wording. Earlier layers keep more of the surface (word choice, punctuation, spelling), which
is what separates generated from human text. This refits the whole detector (n-grams, MLPs, combiner, thresholds:
``flockwatch.training.text.fit_detector``) twice on the same rows, once per input, and reports side by side:

* TweepFake validation (the dev split, which chose the detector's settings): AUROC, TPR at 1% FPR on the ROC,
  and TPR / FPR at the 1% threshold chosen on the model's own calibration split;
* AuthorMimic leave-one-generator-out and leave-one-prompt-out (the card's procedure,
  ``flockwatch.training.text.leave_one_out``): each refit never saw the left-out tweets' generator (or prompt
  variant); TPR on them at the refit's own 1% and 5% thresholds.

What it does not show: accounts unseen in training, or generators unlike AuthorMimic's ten.
Writes the "Text: every MiniLM layer vs the sentence embedding" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass, replace
from typing import Any

from flockwatch.config import Settings
from flockwatch.text.embed import LAYERS, Backend, last_layers
from flockwatch.training.text import (
    MIMIC_PER_GROUP,
    Features,
    embedded_corpora,
    evaluate_split,
    fit_detector,
    leave_one_out,
)

from .report import write_section
from .text_sources import dev_cells

SECTION = "Text: every MiniLM layer vs the sentence embedding"
COMMAND = "python -m bench.text_layers"
BACKEND: Backend = "onnx-int8"
VARIANTS = {"sentence embedding (last layer)": 1, f"every layer ({LAYERS})": LAYERS}


def with_layers(f: Features, layers: int) -> Features:
    """The same rows, reading only the last ``layers`` pooled hidden states."""
    return replace(f, emb=last_layers(f.emb, layers))


@dataclass(frozen=True)
class Result:
    variant: str
    dev: dict[str, Any]
    loo: dict[str, Any]
    seconds: float


def measure(generators: set[str] | None = None) -> list[Result]:
    """Both variants on the same rows; ``generators`` limits leave-one-out to those (all when None)."""
    train, valid, held = embedded_corpora(Settings().data_dir, BACKEND)
    base = train.rows(train.corpus.where_prefix("tweepfake"))
    mimic = train.rows(train.corpus.where_prefix("authormimic"))
    if generators is not None:
        keep = [i for i, g in enumerate(mimic.corpus.generators) if g in generators | {"human"}]
        mimic = mimic.rows(keep)
    out = []
    for name, layers in VARIANTS.items():
        started = time.perf_counter()
        detector = fit_detector(with_layers(train, layers), BACKEND)
        dev = evaluate_split(detector, with_layers(valid, layers))
        loo = leave_one_out(with_layers(base, layers), with_layers(mimic, layers), with_layers(held, layers), BACKEND)
        out.append(Result(name, dev, loo, time.perf_counter() - started))
        print(f"{name}: dev AUROC {dev['auroc']:.3f} ({out[-1].seconds:.0f} s)", flush=True)
    return out


def render(results: list[Result]) -> str:
    lines = [
        "Dev: TweepFake validation (2287 posts; it chose the detector's settings, so these are dev figures). "
        "Each row is a whole detector fitted on the same training rows (AuthorMimic: at most "
        f"{MIMIC_PER_GROUP} tweets per generator and prompt); only the MLP's embedding input differs.",
        "",
        "| MLP input | dev AUROC | dev TPR at 1% FPR (ROC) | dev TPR / FPR at the 1% threshold |",
        "|---|---|---|---|",
    ]
    for r in results:
        lines.append(f"| {r.variant} | {dev_cells(r.dev)} |")
    names = [r.variant for r in results]
    lines += [
        "",
        "AuthorMimic leave-one-out: TPR on the left-out tweets at the refitted model's own 1% threshold "
        "(5% threshold in brackets).",
        "",
        "| left out | tweets | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for kind in ("by_generator", "by_prompt"):
        for key in sorted(results[0].loo[kind]):
            cells = [
                f"{r.loo[kind][key]['tpr_at_stored_0.01']:.3f} ({r.loo[kind][key]['tpr_at_stored_0.05']:.3f})"
                for r in results
            ]
            label = key if kind == "by_generator" else f"prompt {key}"
            lines.append(f"| {label} | {results[0].loo[kind][key]['n']} | " + " | ".join(cells) + " |")
    medians = [statistics.median(v["tpr_at_stored_0.01"] for v in r.loo["by_generator"].values()) for r in results]
    lines += [
        "| median over generators (1%) | | " + " | ".join(f"{m:.3f}" for m in medians) + " |",
        "",
        "Fit and evaluation time per variant (seconds, 2 cores): "
        + ", ".join(f"{r.variant} {r.seconds:.0f}" for r in results)
        + ".",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", action="append", help="leave out only these generators (repeatable)")
    args = parser.parse_args()
    results = measure(set(args.generator) if args.generator else None)
    body = render(results)
    print(body)
    suffix = "".join(f" --generator {g}" for g in args.generator or [])
    write_section(SECTION, COMMAND + suffix, body)


if __name__ == "__main__":
    main()
