"""The embedder: cache by normalised text, order kept through length bucketing, close to the reference."""

from __future__ import annotations

import numpy as np
import pytest

from flockwatch.text.embed import DIM, Embedder, shared_embedder


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return shared_embedder("onnx-int8")


def test_shapes_norms_cache_and_order(embedder: Embedder) -> None:
    texts = ["short one", "a much longer text " * 20, "short one", "third text of medium length here", ""]
    hits, misses = embedder.hits, embedder.misses
    vecs = embedder.embed(texts)
    assert vecs.shape == (5, DIM) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    assert np.array_equal(vecs[0], vecs[2])  # repeats inside a batch are embedded once
    assert embedder.misses - misses <= 4
    again = embedder.embed(["third text of medium length here"])
    assert embedder.hits > hits and np.array_equal(again[0], vecs[3])
    # Bucketing reorders work, never results: alone or in a batch, the same text gets (nearly) the same vector.
    alone = Embedder("onnx-int8", cache_size=0).embed(["a much longer text " * 20])[0]
    assert float(alone @ vecs[1]) > 0.98
    assert embedder.embed([]).shape == (0, DIM)


def test_meaning_survives_quantisation(embedder: Embedder) -> None:
    a, b, c = embedder.embed(
        [
            "The election was stolen through massive voter fraud",
            "Massive voter fraud stole the election",
            "My cat likes to sleep in the sun all afternoon",
        ]
    )
    assert float(a @ b) > 0.7 > float(a @ c)


def test_unknown_backend() -> None:
    with pytest.raises(ValueError, match="unknown backend"):
        Embedder("tpu")  # type: ignore[arg-type]
