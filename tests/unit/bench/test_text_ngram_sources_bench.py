"""The n-gram target bench: each detector's dev, held-out-human, seen-account and leave-one-out figures side by side."""

from __future__ import annotations

import numpy as np

from bench.text_ngram_sources import Result, _hashed, render
from flockwatch.text.data import Corpus
from flockwatch.training.text import Features, empty_ngram_model


def _result(target: str, columns: int, outputs: int, tpr: float) -> Result:
    dev = {"auroc": 0.95, "tpr_at_0.01_fpr_roc": tpr, "at_stored_threshold_0.01": {"tpr": 0.48, "fpr": 0.012}}
    seen = {"auroc": 0.956, "tpr_at_0.01_fpr_roc": tpr - 0.01}
    loo = {
        "GPT-4": {
            "n": 800,
            "tpr_at_stored_0.01": tpr + 0.4,
            "held_out_human_fpr_at_stored_0.01": 0.02,
            "auroc_vs_held_out_humans": 0.9832,
        }
    }
    return Result(target, outputs, dev, {0.01: 0.03, 0.05: 0.21}, seen, loo, 300.0, columns)


def test_the_section_shows_both_detectors_side_by_side() -> None:
    body = render([_result("machine or human", 262144, 1, 0.45), _result("sources", 65536, 40, 0.48)])
    assert "| machine or human | 262144 | 1 | 0.950 | 0.450 | 0.480 / 0.012 | 0.03 / 0.21 | 0.956 | 0.440 |" in body
    assert "| sources | 65536 | 40 | 0.950 | 0.480 | 0.480 / 0.012 | 0.03 / 0.21 | 0.956 | 0.470 |" in body
    assert "| GPT-4 | 800 | 0.850 / 0.02 / 0.9832 | 0.880 / 0.02 / 0.9832 |" in body
    assert "machine or human: 300, sources: 300" in body


def test_a_variant_rehashes_its_ngrams_into_its_own_columns() -> None:
    corpus = Corpus()
    corpus.add("a post of some words", 1, "a", "tweepfake-train", "gpt2")
    f = Features(
        corpus,
        np.zeros((1, 4), np.float32),
        np.zeros((1, 2), np.float32),
        empty_ngram_model().vectorize(corpus.texts),
        np.array([1]),
    )
    small = _hashed(f, 2**10)
    assert small.ngram_x.shape == (1, 2**10) and f.ngram_x.shape[1] == empty_ngram_model().n_features
    assert _hashed(f, f.ngram_x.shape[1]) is f
    assert np.allclose(small.ngram_x.toarray(), empty_ngram_model(2**10).vectorize(corpus.texts).toarray())
