"""The detector's evidence computed at batch cost equals the per-post definitions it replaced.

Small random models: no MiniLM, so these run in milliseconds.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest
from sklearn.feature_extraction.text import HashingVectorizer  # type: ignore[import-untyped, unused-ignore]
from sklearn.preprocessing import normalize  # type: ignore[import-untyped, unused-ignore]
from sklearn.utils import murmurhash3_32  # type: ignore[import-untyped, unused-ignore]

from flockwatch.text.detector import Mlp, MlpEnsemble, NgramModel, source_logit

TEXTS = [
    "Furthermore, it is crucial to note that the committee's findings underscore the importance of trust.",
    "lol ok",
    "",
    "aaaa aaaa aaaa aaaa",
    "Can't believe the game last night, what a comeback by the Cubs!! #gocubs",
    "Это просто ужасно, не могу поверить 🔥🔥",
]


def _mlp(rng: np.random.Generator, sizes: list[int]) -> Mlp:
    """Random weights; several outputs are a softmax over sources, the first ``outputs // 2`` of them machine."""
    # Scaled by fan-in, as trained weights are: unscaled, the outputs are so large that a softmax over them is
    # one-hot and its sums exact, which would hide any dependence of a row's bits on its batch.
    layers = [
        ((rng.normal(size=(a, b)) / np.sqrt(a)).astype(np.float32), rng.normal(size=b).astype(np.float32))
        for a, b in itertools.pairwise(sizes)
    ]
    machine = np.arange(sizes[-1]) < sizes[-1] // 2 if sizes[-1] > 1 else None
    return Mlp(
        rng.normal(size=sizes[0]).astype(np.float32),
        rng.uniform(0.5, 2, sizes[0]).astype(np.float32),
        layers,
        machine,
    )


def _logit_by_definition(mlp: Mlp, z: np.ndarray) -> float:
    """The logit of standardised input ``z`` in float64: the output, or log P(machine) - log P(human)."""
    h = z.astype(np.float64)
    for i, (w, b) in enumerate(mlp.layers):
        h = h @ w.astype(np.float64) + b
        if i < len(mlp.layers) - 1:
            h = np.maximum(h, 0)
    if mlp.machine is None:
        return float(h[0])
    p = np.exp(h - h.max())
    p /= p.sum()
    return float(np.log(p[mlp.machine].sum()) - np.log(p[~mlp.machine].sum()))


def _gradient_times_input(mlp: Mlp, row: np.ndarray) -> np.ndarray:
    """The definition: d logit / d raw input (explicit backward pass) × (input − training mean)."""
    h = ((row - mlp.mean) / mlp.scale).astype(np.float64)
    masks = []
    for w, b in mlp.layers[:-1]:
        pre = h @ w.astype(np.float64) + b
        masks.append(pre > 0)
        h = np.maximum(pre, 0)
    grad = mlp.layers[-1][0].astype(np.float64).ravel()
    for (w, _), mask in zip(reversed(mlp.layers[:-1]), reversed(masks), strict=True):
        grad = (grad * mask) @ w.astype(np.float64).T
    return np.asarray(grad / mlp.scale * (row - mlp.mean))


@pytest.mark.parametrize("sizes", [[12, 1], [12, 7, 1], [12, 9, 5, 1], [30, 16, 1]])
def test_attributions_equal_gradient_times_input(sizes: list[int]) -> None:
    rng = np.random.default_rng(len(sizes) * 100 + sizes[0])
    members = [_mlp(rng, sizes) for _ in range(3)]
    for m in members[1:]:
        m.mean, m.scale = members[0].mean, members[0].scale  # an ensemble shares its standardisation
    ensemble = MlpEnsemble(members)
    x = rng.normal(size=(8, sizes[0])).astype(np.float32)
    split = sizes[0] - 4
    logits, attribution = ensemble.run(x, split)
    assert attribution is not None
    np.testing.assert_array_equal(logits, ensemble.logits(x))
    for r in range(len(x)):
        want = np.mean([_gradient_times_input(m, x[r]) for m in members], axis=0)
        assert attribution.embedding[r] == pytest.approx(want[:split].sum(), rel=1e-4, abs=1e-4)
        np.testing.assert_allclose(attribution.style[r], want[split:], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("sizes", [[12, 6], [12, 7, 5], [10, 9, 4, 3]])
def test_source_softmax_logit_and_attributions_match_their_definitions(sizes: list[int]) -> None:
    """Several outputs: the logit is log P(machine sources) - log P(human sources) of the softmax, and the
    attributions are its gradient (central differences in float64) × the standardised input."""
    rng = np.random.default_rng(sizes[-1] * 10 + len(sizes))
    mlp = _mlp(rng, sizes)
    x = rng.normal(size=(6, sizes[0])).astype(np.float32)
    split = sizes[0] - 3
    logits, attribution = mlp.run(x, split)
    assert attribution is not None and attribution.sources is not None
    np.testing.assert_allclose(attribution.sources.sum(axis=1), 1.0, rtol=1e-9)
    for r in range(len(x)):
        z = (x[r] - mlp.mean) / mlp.scale
        assert logits[r] == pytest.approx(_logit_by_definition(mlp, z), rel=1e-4, abs=1e-4)
        eps = 1e-4
        grad = np.array(
            [
                (_logit_by_definition(mlp, z + eps * e) - _logit_by_definition(mlp, z - eps * e)) / (2 * eps)
                for e in np.eye(len(z))
            ]
        )
        want = grad * z
        assert attribution.embedding[r] == pytest.approx(want[:split].sum(), rel=1e-3, abs=1e-3)
        np.testing.assert_allclose(attribution.style[r], want[split:], rtol=1e-3, atol=1e-3)


def test_source_logit_is_stable_where_a_naive_softmax_overflows() -> None:
    out = np.array([[1000.0, 999.0, -1000.0], [-1000.0, -1001.0, 1000.0]])
    logits, grad = source_logit(out, np.array([True, True, False]))
    assert np.all(np.isfinite(logits)) and logits[0] > 1000 and logits[1] < -1000
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-12)  # +1 over machine, -1 over human


@pytest.mark.parametrize("outputs", [1, 40])
def test_a_rows_logit_and_attributions_do_not_depend_on_the_rows_beside_it(outputs: int) -> None:
    """In any order, alone or in company: bit for bit."""
    rng = np.random.default_rng(7)
    ensemble = MlpEnsemble([_mlp(rng, [700, 64, outputs])])
    x = rng.normal(size=(71, 700)).astype(np.float32)  # more rows than a BLAS kernel's row tile
    logits, together = ensemble.run(x, 690)
    shuffled = rng.permutation(len(x))
    logits_shuffled, _ = ensemble.run(x[shuffled], 690)
    np.testing.assert_array_equal(logits_shuffled, logits[shuffled])
    for r in range(0, len(x), 5):
        logit, alone = ensemble.run(x[r : r + 1], 690)
        assert together is not None and alone is not None
        assert logit[0] == logits[r] and together.embedding[r] == alone.embedding[0]
        np.testing.assert_array_equal(together.style[r], alone.style[0])
        if outputs > 1:
            assert together.sources is not None and alone.sources is not None
            np.testing.assert_array_equal(together.sources[r], alone.sources[0])


def _ngram_model() -> NgramModel:
    n = 2**12  # small, so collisions happen and must be handled the same way
    return NgramModel("char_wb", (1, 5), n, np.random.default_rng(3).normal(size=n).astype(np.float32), 0.1)


def test_vectorize_equals_the_hashing_vectorizer() -> None:
    model = _ngram_model()
    reference = HashingVectorizer(
        analyzer=model.analyzer,
        ngram_range=model.ngram_range,
        n_features=model.n_features,
        alternate_sign=False,
        lowercase=False,
        norm=None,
        dtype=np.float32,
    ).transform(TEXTS)
    reference.data = np.log1p(reference.data)
    reference = normalize(reference, norm="l2")
    got = model.vectorize(TEXTS, model.analyze(TEXTS))
    assert (got != reference).nnz == 0
    assert (model.vectorize(TEXTS) != reference).nnz == 0


def _top_ngrams_one_by_one(model: NgramModel, grams: list[str], k: int = 3) -> list[tuple[str, float]]:
    """The definition: each distinct n-gram of 3+ characters, weight of its hashed column × log(1 + count) / norm."""
    counts = Counter(grams)
    norm = math.sqrt(sum(math.log1p(c) ** 2 for c in counts.values())) or 1.0
    scored = [
        (g, float(model.weights[abs(murmurhash3_32(g, seed=0)) % model.n_features]) * math.log1p(c) / norm)
        for g, c in counts.items()
        if len(g.strip()) >= 3
    ]
    scored.sort(key=lambda gs: -gs[1])
    return [gs for gs in scored[:k] if gs[1] > 0]


def test_top_ngrams_in_one_batch_equal_each_texts_own() -> None:
    model = _ngram_model()
    grams = model.analyze(TEXTS)
    got = model.top_ngrams(grams)
    assert len(got) == len(TEXTS) and got[2] == []
    for text_grams, top in zip(grams, got, strict=True):
        want = _top_ngrams_one_by_one(model, text_grams)
        assert [g for g, _ in top] == [g for g, _ in want]
        assert [s for _, s in top] == pytest.approx([s for _, s in want], rel=1e-9)
    assert any(top for top in got)
    assert model.top_ngrams([]) == [] and model.top_ngrams([[]]) == [[]]


def test_a_source_softmax_s_top_ngrams_in_one_batch_equal_each_texts_own() -> None:
    """A softmax's n-gram weights are the logit's gradient in each text, which depends on the text's whole row:
    batched, each text must still get its own."""
    one = _ngram_model()
    rng = np.random.default_rng(4)
    weights = rng.normal(size=(one.n_features, 5)).astype(np.float32)
    bias = rng.normal(size=5).astype(np.float32)
    model = NgramModel(one.analyzer, one.ngram_range, one.n_features, weights, bias, np.array([1, 1, 0, 0, 0], bool))
    grams = model.analyze(TEXTS)
    batched = model.top_ngrams(grams, k=5)
    assert any(batched)
    for r, text_grams in enumerate(grams):
        assert model.top_ngrams([text_grams], k=5) == [batched[r]]
        assert model.top_ngrams([text_grams], k=5, x=model.vectorize([TEXTS[r]])) == [batched[r]]
        np.testing.assert_array_equal(model.logits_of(model.vectorize([TEXTS[r]])), model.logits(TEXTS)[r : r + 1])
