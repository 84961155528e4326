"""The layers bench: variants read the last columns of the same rows, and the section shows what was measured."""

from __future__ import annotations

import numpy as np

from bench.text_layers import VARIANTS, Result, render, with_layers
from flockwatch.text.data import Corpus
from flockwatch.text.embed import DIM, LAYERS
from flockwatch.training.text import Features


def test_a_variant_reads_the_last_layers_of_the_same_rows() -> None:
    corpus = Corpus()
    corpus.add("one post here", 0, "a", "tweepfake-train", "human")
    emb = np.arange(LAYERS * DIM, dtype=np.float32)[None, :]
    f = Features(corpus, emb, np.zeros((1, 3), np.float32), None, np.array([0]))
    assert VARIANTS[next(iter(VARIANTS))] == 1
    last = with_layers(f, 1)
    assert last.emb.shape == (1, DIM) and last.emb[0, 0] == (LAYERS - 1) * DIM and last.corpus is corpus
    assert np.array_equal(with_layers(f, LAYERS).emb, emb)


def _result(name: str, auroc: float, tprs: dict[str, float]) -> Result:
    dev = {"auroc": auroc, "tpr_at_0.01_fpr_roc": 0.4, "at_stored_threshold_0.01": {"tpr": 0.41, "fpr": 0.012}}
    loo = {
        "by_generator": {g: {"n": 300, "tpr_at_stored_0.01": t, "tpr_at_stored_0.05": 0.9} for g, t in tprs.items()},
        "by_prompt": {"p1": {"n": 1500, "tpr_at_stored_0.01": 0.7, "tpr_at_stored_0.05": 0.9}},
    }
    return Result(name, dev, loo, 12.0)


def test_the_section_shows_both_variants_side_by_side() -> None:
    body = render(
        [
            _result("last", 0.931, {"GPT-4": 0.66, "Gemma-7B": 0.97, "Mixtral": 0.8}),
            _result("all", 0.941, {"GPT-4": 0.83, "Gemma-7B": 0.99, "Mixtral": 0.9}),
        ]
    )
    assert "| last | 0.931 | 0.400 | 0.410 / 0.012 |" in body
    assert "| GPT-4 | 300 | 0.660 (0.900) | 0.830 (0.900) |" in body
    assert "| prompt p1 | 1500 | 0.700 (0.900) | 0.700 (0.900) |" in body
    assert "| median over generators (1%) | | 0.800 | 0.900 |" in body
