"""The embedder: cache by normalised text, order kept through length bucketing, close to the reference."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from flockwatch.text import embed
from flockwatch.text.embed import (
    DIM,
    LAYERS,
    Embedder,
    last_layers,
    layer_count,
    load_cache,
    save_cache,
    shared_embedder,
)


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


def test_every_layer_pooled_and_the_sentence_embedding_is_the_last(embedder: Embedder) -> None:
    texts = ["Massive voter fraud stole the election", "ok"]
    layers = embedder.embed_layers(texts)
    assert layers.shape == (2, LAYERS * DIM) and layers.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(layers.reshape(2, LAYERS, DIM), axis=2), 1.0, atol=1e-4)
    assert np.array_equal(embedder.embed(texts), layers[:, -DIM:])
    # Layers differ from each other (not one vector repeated).
    per_layer = layers.reshape(2, LAYERS, DIM)[0]
    assert float(per_layer[0] @ per_layer[-1]) < 0.9


def test_int8_layers_stay_close_to_the_sentence_transformers_model() -> None:
    """The reference backend runs sentence-transformers' own model; int8 stays within quantisation error on every
    layer, and its last layer is the model's sentence embedding."""
    from sentence_transformers import SentenceTransformer

    texts = ["The election was stolen through massive voter fraud", "my cat sleeps in the sun all afternoon"]
    ref = Embedder("torch", cache_size=0).embed_layers(texts).reshape(2, LAYERS, DIM)
    int8 = Embedder("onnx-int8", cache_size=0).embed_layers(texts).reshape(2, LAYERS, DIM)
    assert float((ref * int8).sum(axis=2).min()) > 0.95
    st = SentenceTransformer(str(embed.model_dir()), device="cpu").encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(ref[:, -1], st, atol=1e-5)


def test_a_cache_file_of_other_vectors_is_not_loaded(tmp_path: Path, embedder: Embedder) -> None:
    old = tmp_path / "old.npz"
    np.savez(old, keys=np.array(["k"], dtype="U32"), vectors=np.zeros((1, DIM), np.float32))
    fresh = Embedder("onnx-int8", cache_size=10)
    assert load_cache(fresh, old) == 0 and not fresh._cache
    fresh.embed(["one text"])
    assert save_cache(fresh, tmp_path / "new.npz") == 1
    again = Embedder("onnx-int8", cache_size=10)
    assert load_cache(again, tmp_path / "new.npz") == 1
    assert np.array_equal(again.embed(["one text"]), fresh.embed(["one text"])) and again.misses == 0


def test_a_vector_does_not_depend_on_the_texts_embedded_with_it() -> None:
    """The same post in another Kafka batch, another worker or `score text` gets the same vector, bit for bit
    (int8 dynamic quantisation would otherwise scale each text by its batch-mates' activations)."""
    texts = ["a much longer text " * 20, "short one", "ok", "third text of medium length here", "x " * 200]
    together = Embedder("onnx-int8", cache_size=0).embed_layers(texts)
    for i, text in enumerate(texts):
        alone = Embedder("onnx-int8", cache_size=0).embed_layers([text])[0]
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


def test_last_layers_and_layer_count_agree() -> None:
    vecs = np.arange(2 * LAYERS * DIM, dtype=np.float32).reshape(2, LAYERS * DIM)
    assert np.array_equal(last_layers(vecs, 1), vecs[:, -DIM:])
    assert last_layers(vecs, 3).shape == (2, 3 * DIM) and np.array_equal(last_layers(vecs, LAYERS), vecs)
    assert [layer_count(k * DIM) for k in (1, 3, LAYERS)] == [1, 3, LAYERS]
    for width in (0, DIM + 1, (LAYERS + 1) * DIM):
        with pytest.raises(ValueError, match="not whole MiniLM layers"):
            layer_count(width)
    with pytest.raises(ValueError, match="hidden states"):
        last_layers(vecs, LAYERS + 1)
    with pytest.raises(ValueError, match="not every layer"):
        last_layers(vecs[:, DIM:], 1)  # already sliced: refused, not read at the wrong offset


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
    out = tmp_path / "cache" / "hidden-onnx-int8.onnx"
    first = threading.Thread(target=embed.export_onnx, args=(tmp_path, out, True))
    first.start()
    started.wait(5)
    assert embed.export_onnx(tmp_path, out, True) == out
    first.join()
    assert exports == [out] and out.read_bytes() == b"onnx"
