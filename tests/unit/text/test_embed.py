"""The embedder: cache by normalised text, order kept through length bucketing, close to the reference."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from flockwatch.text import embed
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
    assert embedder.embed([]).shape == (0, DIM)


def test_a_vector_does_not_depend_on_the_texts_embedded_with_it() -> None:
    """The same post in another Kafka batch, another worker or `score text` gets the same vector, bit for bit
    (int8 dynamic quantisation would otherwise scale each text by its batch-mates' activations)."""
    texts = ["a much longer text " * 20, "short one", "ok", "third text of medium length here", "x " * 200]
    together = Embedder("onnx-int8", cache_size=0).embed(texts)
    for i, text in enumerate(texts):
        alone = Embedder("onnx-int8", cache_size=0).embed([text])[0]
        assert np.array_equal(alone, together[i]), text


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


def test_processes_starting_on_an_empty_cache_export_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers (or test processes) that start together take turns: the first exports, the second finds its file
    (without the lock, one could delete the fp32 intermediate the other was quantising)."""
    exports: list[Path] = []
    started = threading.Event()

    def slow_export(folder: Path, out: Path, quantize: bool) -> Path:
        exports.append(out)
        started.set()
        time.sleep(0.3)  # the second caller arrives while the first is still exporting
        out.write_bytes(b"onnx")
        return out

    monkeypatch.setattr(embed, "_export_onnx", slow_export)
    out = tmp_path / "cache" / "model-onnx-int8.onnx"
    first = threading.Thread(target=embed.export_onnx, args=(tmp_path, out, True))
    first.start()
    started.wait(5)
    assert embed.export_onnx(tmp_path, out, True) == out
    first.join()
    assert exports == [out] and out.read_bytes() == b"onnx"
