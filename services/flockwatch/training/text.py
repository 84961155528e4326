"""Train and evaluate the machine-text detector (``flockwatch train text-detector``).

Deterministic given the data and package versions: fixed seeds, fixed fold assignment by hash.

Training data: TweepFake train + AuthorMimic prompts 1 and 2 (up to MIMIC_PER_GROUP tweets per generator and
prompt, and half of the AuthorMimic human tweets, chosen by hash; the other half is held out to measure false
positives).

Which split does what (each one either chooses something or reports, never both; see MODEL_CARD.md):

* fit: the training rows outside the calibration split; the n-gram model and the MLP ensemble.
* calibration: CALIB_SHARE of the training rows, by hash; chooses the combiners (one per word-count bucket),
  the reliability bins behind each score's interval, and the 1%/5% thresholds.
* dev: TweepFake validation. The model's settings were chosen on it (what was tried and dropped), so its
  figures are reported as dev figures, never as headline figures. It shares every account with training.
* report: data that chose no setting of the model, each scored by a model fitted (and thresholded on its own
  calibration split) without it: a hash share of TweepFake train texts (seen accounts, unseen posts), the
  TweepFake train rows of account-disjoint folds (unseen accounts), the held-out AuthorMimic humans and
  leave-one-generator/prompt-out AuthorMimic tweets. Exception: the held-out humans and the leave-one-prompt-out
  refits chose how many AuthorMimic tweets to train on (MIMIC_PER_GROUP; ``python -m bench.text_mimic_cap``).

``metrics.json`` holds every figure, ``model.json`` only settings (the model id hashes it and the weights);
the figures in MODEL_CARD.md are rendered from ``metrics.json`` by :func:`render_card_figures`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from flockwatch.metrics import auroc, auroc_pos_neg
from flockwatch.model_card import markdown_table, write_block
from flockwatch.text.canonical import LENGTH_EDGES, MIN_WORDS, assess, length_bucket
from flockwatch.text.data import Corpus, read_authormimic, read_rumoureval, read_tweepfake
from flockwatch.text.detector import (
    Combiner,
    LengthBucket,
    Mlp,
    MlpEnsemble,
    NgramModel,
    TextDetector,
    bucket_bounds,
)
from flockwatch.text.embed import (
    LAYERS,
    METHOD,
    Backend,
    Embedder,
    default_cache_dir,
    last_layers,
    layer_count,
    load_cache,
    save_cache,
)
from flockwatch.text.features import style_matrix
from flockwatch.text.thresholds import threshold_at_fpr

log = logging.getLogger(__name__)

SEED = 20240601
NGRAM_ANALYZER = "char"
NGRAM_RANGE = (1, 5)
NGRAM_FEATURES = 2**16  # the softmax has a weight column per source: a quarter of 2**18 cost nothing on dev
NGRAM_ALPHA = 1e-5
MLP_HIDDEN = 256
MLP_ALPHA = 0.1
MLP_MEMBERS = 5
# What the MLPs learn to tell apart: machine from human, or the training sources (source_classes), with the modern
# LLMs pooled or each its own ("sources+generators"); python -m bench.text_sources compares them.
MlpTarget = Literal["machine", "sources", "sources+generators"]
MLP_TARGET: MlpTarget = "sources"
MIN_SOURCE_ROWS = 20  # smaller sources join "other machine" / "other human" (source_classes)
# What the n-gram model learns: the training sources as the MLP does, a softmax (multinomial logistic regression,
# saga) with inverse penalty NGRAM_SOURCE_C and at most NGRAM_SOURCE_ITERS passes, or machine from human (SGD, one
# output, NGRAM_ALPHA); python -m bench.text_ngram_sources compares the two, and the dev split chose these settings.
NGRAM_TARGET: MlpTarget = "sources"
NGRAM_SOURCE_C = 10.0
NGRAM_SOURCE_ITERS = 30
EMBED_LAYERS = LAYERS  # MiniLM hidden states the MLP reads (all; dev and leave-one-out chose it: see the card)
CALIB_SHARE = 0.15
FPRS = (0.01, 0.05)
MIN_ACCOUNT_POSTS = 20
MIMIC_PER_GROUP = 400
CV_FOLDS = 5
REPORT_BUCKETS = 10  # 1 in REPORT_BUCKETS TweepFake train texts is the seen-account report split
# A length bucket gets its own combiner with at least this many calibration rows of each class (else the
# combiner fitted on all lengths); its score bins hold about BIN_ROWS calibration rows each, at most
# RELIABILITY_BINS bins.
MIN_BUCKET_CLASS_ROWS = 30
BIN_ROWS = 40
RELIABILITY_BINS = 10


def bucket(key: str, n: int) -> int:
    """Deterministic fold of a string key (not Python's salted hash)."""
    return int(hashlib.blake2b(key.encode("utf-8"), digest_size=8).hexdigest(), 16) % n


# --- metrics ------------------------------------------------------------------------------------


def tpr_at_fpr(y: NDArray[Any], s: NDArray[Any], fpr: float) -> float:
    """Highest TPR whose FPR does not exceed ``fpr`` on this set (the ROC point, no interpolation)."""
    from sklearn.metrics import roc_curve  # type: ignore[import-untyped, unused-ignore]

    f, t, _ = roc_curve(y, s)
    return float(t[f <= fpr].max()) if np.any(f <= fpr) else 0.0


def rates(y: NDArray[Any], s: NDArray[Any], threshold: float) -> dict[str, float]:
    y = np.asarray(y)
    flagged = np.asarray(s) >= threshold
    out = {}
    if np.any(y == 1):
        out["tpr"] = round(float(flagged[y == 1].mean()), 4)
    if np.any(y == 0):
        out["fpr"] = round(float(flagged[y == 0].mean()), 4)
    return out


def report_figures(
    y: NDArray[Any], p: NDArray[Any], thresholds: dict[float, float], texts: Sequence[str] | None = None
) -> dict[str, Any]:
    """AUROC, TPR at each FPR on the ROC, and TPR/FPR at thresholds chosen elsewhere (keyed by their target).

    With ``texts``, also per word-count bucket (``by_length``): the same figures on each bucket's posts, and
    the mean score beside the machine share (calibration in the large).
    """
    y = np.asarray(y)
    p = np.asarray(p)
    out: dict[str, Any] = {"n": len(y), "machine": int(y.sum()), "auroc": round(auroc(y, p), 4)}
    for fpr in FPRS:
        out[f"tpr_at_{fpr:g}_fpr_roc"] = round(tpr_at_fpr(y, p, fpr), 4)
        if fpr in thresholds:
            out[f"at_stored_threshold_{fpr:g}"] = rates(y, p, thresholds[fpr])
    if texts is not None:
        which = np.array([length_bucket(t) for t in texts], dtype=np.int64)
        out["by_length"] = {}
        for b, (lo, hi) in enumerate(bucket_bounds()):
            rows = which == b
            yb, pb = y[rows], p[rows]
            fig: dict[str, Any] = {
                "n": int(rows.sum()),
                "machine": int(yb.sum()),
                "mean_score": round(float(pb.mean()), 4) if rows.any() else None,
            }
            if 0 < yb.sum() < len(yb):
                fig["auroc"] = round(auroc(yb, pb), 4)
            if 0.01 in thresholds and rows.any():
                fig["at_stored_threshold_0.01"] = rates(yb, pb, thresholds[0.01])
            out["by_length"][f"{lo}-{hi if hi is not None else ''}"] = fig
    return out


# --- splits -------------------------------------------------------------------------------------


def calibration_rows(corpus: Corpus, share: float = CALIB_SHARE) -> list[int]:
    """The rows of a training corpus that choose the combiner and thresholds (the rest fit the models)."""
    return [i for i in range(len(corpus)) if bucket(f"calib:{corpus.raw[i]}:{i}", 1000) < share * 1000]


def seen_report_rows(corpus: Corpus) -> list[int]:
    """TweepFake train rows held out for the seen-account report: by normalised text, so a repeated text
    cannot sit on both sides."""
    return [
        i for i in corpus.where(source="tweepfake-train") if bucket(f"report:{corpus.texts[i]}", REPORT_BUCKETS) == 0
    ]


def account_folds(accounts: Sequence[str], folds: int = CV_FOLDS) -> NDArray[np.int64]:
    """Fold of each row, by account: every row of an account lands in the same fold."""
    fold_of = {a: bucket(f"acct:{a}", folds) for a in sorted(set(accounts))}
    return np.array([fold_of[a] for a in accounts], dtype=np.int64)


def split_summary(train: Corpus, dev: Corpus, held: Corpus) -> dict[str, Any]:
    """Sizes and overlaps of the splits, computed from the split functions (the card quotes these)."""
    calib = set(calibration_rows(train))
    report = set(seen_report_rows(train))
    report_texts = {train.texts[i] for i in report}
    rest = [i for i in range(len(train)) if i not in report]
    tf_train = set(train.where(source="tweepfake-train"))
    train_accounts = {train.accounts[i] for i in tf_train}
    return {
        "training_rows": len(train),
        "calibration_rows": len(calib),
        "fit_rows": len(train) - len(calib),
        "dev_rows": len(dev),
        "dev_accounts": len(set(dev.accounts)),
        "dev_accounts_also_in_training": len(set(dev.accounts) & train_accounts),
        "dev_texts_also_in_training": len(set(dev.texts) & set(train.texts)),
        "tweepfake_train_accounts": len(train_accounts),
        "seen_report_rows": len(report),
        "seen_report_texts_also_in_its_training": len(report_texts & {train.texts[i] for i in rest}),
        "held_out_humans": len(held),
        "held_out_human_texts_also_in_training": len(set(held.texts) & set(train.texts)),
        "cv_folds": CV_FOLDS,
    }


# --- fitting ------------------------------------------------------------------------------------


def empty_ngram_model(n_features: int = NGRAM_FEATURES) -> NgramModel:
    lo, hi = NGRAM_RANGE
    return NgramModel(NGRAM_ANALYZER, (lo, hi), n_features, np.zeros(n_features, np.float32), 0.0)


def fit_ngram(x: Any, y: NDArray[Any], seed: int = SEED, sources: Sequence[str] | None = None) -> NgramModel:
    """Logistic regression (SGD) on vectorised n-grams (rows of :meth:`NgramModel.vectorize`); with ``sources`` (a
    source name per row, each source all machine or all human rows) a softmax over the sources instead, whose
    logit is log P(machine source) - log P(human source), as :func:`fit_mlp`'s."""
    from sklearn.exceptions import ConvergenceWarning  # type: ignore[import-untyped, unused-ignore]
    from sklearn.linear_model import LogisticRegression, SGDClassifier  # type: ignore[import-untyped, unused-ignore]

    model = empty_ngram_model(x.shape[1])  # as many hashed columns as the rows it is fitted on
    names, machine = _source_mask(y, sources)
    if machine is None:
        clf = SGDClassifier(loss="log_loss", alpha=NGRAM_ALPHA, max_iter=30, tol=1e-4, random_state=seed)
        clf.fit(x, y)
        model.weights = clf.coef_.ravel().astype(np.float32)
        model.bias = float(clf.intercept_[0])
        return model
    with warnings.catch_warnings():  # a capped number of passes is the setting, not a failure
        warnings.simplefilter("ignore", ConvergenceWarning)
        soft = LogisticRegression(
            C=NGRAM_SOURCE_C, solver="saga", max_iter=NGRAM_SOURCE_ITERS, tol=1e-4, random_state=seed
        )
        soft.fit(x, np.asarray(sources))
    if tuple(str(c) for c in soft.classes_) != names:
        raise RuntimeError("the n-gram model's classes are not in the order of the source names")
    model.weights = np.ascontiguousarray(soft.coef_.T, dtype=np.float32)
    model.bias = soft.intercept_.astype(np.float32)
    model.machine, model.sources = machine, names
    return model


def _source_mask(y: NDArray[Any], sources: Sequence[str] | None) -> tuple[tuple[str, ...], NDArray[np.bool_] | None]:
    """The sources' names in sklearn's class order and which are machine (None: machine-or-human, one output)."""
    if sources is None or len(set(sources)) <= 2:  # two sources are machine and human: one logistic output
        return (), None
    target = np.asarray(sources)
    names = tuple(sorted(set(sources)))
    label_of = {n: {int(v) for v in np.asarray(y)[target == n]} for n in names}
    if any(len(v) != 1 for v in label_of.values()):
        raise ValueError("a source mixes machine and human rows")
    return names, np.array([label_of[n] == {1} for n in names])


def source_classes(corpus: Corpus, target: MlpTarget = "sources", min_rows: int = MIN_SOURCE_ROWS) -> list[str]:
    """Who wrote each row, as the MLP learns to tell them apart (``target`` "sources"): each TweepFake account,
    AuthorMimic's modern-LLM tweets together, AuthorMimic's humans together ("sources+generators": each
    AuthorMimic generator its own source); RumourEval posts (:func:`extra_human_corpora`, when a bench adds them) are
    one more human source. Accounts are named by kind and number, never by handle; a source with
    fewer than ``min_rows`` rows joins its label's catch-all (``other-machine`` / ``other-human``).

    Telling 20 bot accounts from the 20 humans they imitate is a sharper task than "machine or not": what
    separates each bot from its human differs per pair, which one logistic output has to average. The modern
    LLMs are pooled because the detector must catch LLMs it never saw: a source per generator learns what sets
    each apart, which does not carry to the next one (``python -m bench.text_sources`` measures all three
    targets, leave-one-generator-out included)."""
    keys = []
    for account, source, generator, label in zip(
        corpus.accounts, corpus.sources, corpus.generators, corpus.labels, strict=True
    ):
        if source.startswith("tweepfake"):
            keys.append((f"tweepfake-{'bot-' + generator if label else 'human'}", account))
        elif label:
            keys.append((f"authormimic-{generator}" if target == "sources+generators" else "authormimic-llm", ""))
        elif source == "rumoureval2017":
            keys.append(("rumoureval-human", ""))
        else:
            keys.append(("authormimic-human", ""))
    per_kind: Counter[str] = Counter()
    number: dict[tuple[str, str], int] = {}
    for kind, account in sorted(set(keys)):
        per_kind[kind] += 1
        number[(kind, account)] = per_kind[kind]
    named = [f"{kind}-{number[(kind, account)]:02d}" if account else kind for kind, account in keys]
    counts = Counter(named)
    return [
        name if counts[name] >= min_rows else ("other-machine" if label else "other-human")
        for name, label in zip(named, corpus.labels, strict=True)
    ]


def fit_mlp(
    x: NDArray[np.float32], y: NDArray[Any], seed: int = SEED, sources: Sequence[str] | None = None
) -> MlpEnsemble:
    """MLP_MEMBERS one-hidden-layer MLPs on standardised inputs, seeds ``seed``, ``seed + 1``, ...

    With ``sources`` (a source name per row, each source all machine or all human rows) the members learn a
    softmax over the sources, and their logit is log P(machine source) - log P(human source)."""
    from sklearn.neural_network import MLPClassifier  # type: ignore[import-untyped, unused-ignore]

    names, machine = _source_mask(y, sources)  # names in MLPClassifier's classes_ order
    target: NDArray[Any] = np.asarray(y) if machine is None else np.asarray(sources)
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    z = (x - mean) / scale
    members = []
    for k in range(MLP_MEMBERS):
        clf = MLPClassifier((MLP_HIDDEN,), alpha=MLP_ALPHA, early_stopping=True, random_state=seed + k, max_iter=200)
        clf.fit(z, target)
        if names and tuple(str(c) for c in clf.classes_) != names:  # the machine mask is in this order
            raise RuntimeError("the MLP's classes are not in the order of the source names")
        layers = [
            (w.astype(np.float32), b.astype(np.float32)) for w, b in zip(clf.coefs_, clf.intercepts_, strict=True)
        ]
        members.append(Mlp(mean.astype(np.float32), scale.astype(np.float32), layers, machine))
    return MlpEnsemble(members, names)


def fit_combiner(mlp_logit: NDArray[Any], ngram_logit: NDArray[Any], y: NDArray[Any]) -> Combiner:
    """Logistic regression on the two logits (barely regularised): stacking weights and calibration."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped, unused-ignore]

    clf = LogisticRegression(C=1e4, max_iter=1000).fit(np.column_stack([mlp_logit, ngram_logit]), y)
    return Combiner(float(clf.coef_[0, 0]), float(clf.coef_[0, 1]), float(clf.intercept_[0]))


@dataclass
class Features:
    """Everything a fit needs, row-aligned with a corpus (embeddings computed once)."""

    corpus: Corpus
    emb: NDArray[np.float32]
    style: NDArray[np.float32]
    ngram_x: Any  # CSR rows of the hashed n-grams
    y: NDArray[np.int64]

    def rows(self, idx: Sequence[int]) -> Features:
        ii = np.asarray(idx, dtype=np.int64)
        return Features(
            self.corpus.subset([int(i) for i in ii]), self.emb[ii], self.style[ii], self.ngram_x[ii], self.y[ii]
        )


def fit_detector(
    f: Features,
    backend: str,
    seed: int = SEED,
    calib_share: float = CALIB_SHARE,
    target: MlpTarget = MLP_TARGET,
    ngram_target: MlpTarget = NGRAM_TARGET,
) -> TextDetector:
    """Fit n-gram model and MLPs on most rows; the combiner and thresholds on the held-back calibration rows.

    ``target`` / ``ngram_target``: what the MLPs / the n-gram model learn to tell apart: the training sources
    (:func:`source_classes`) or, with "machine", machine from human."""
    n = len(f.y)
    calib = calibration_rows(f.corpus, calib_share)
    fit = f.rows(sorted(set(range(n)) - set(calib)))
    ngram_sources = None if ngram_target == "machine" else source_classes(fit.corpus, ngram_target)
    ngram = fit_ngram(fit.ngram_x, fit.y, seed, ngram_sources)
    sources = None if target == "machine" else source_classes(fit.corpus, target)
    mlp = fit_mlp(np.hstack([fit.emb, fit.style]).astype(np.float32), fit.y, seed, sources)
    cr = f.rows(calib)
    detector = TextDetector(ngram, mlp, Combiner(1.0, 1.0, 0.0), {}, backend, layers=layer_count(f.emb.shape[1]))
    x, ngram_logit = detector.features(cr.corpus.texts, cr.emb, cr.ngram_x)
    mlp_logit = mlp.logits(x)
    detector.combiner = fit_combiner(mlp_logit, ngram_logit, cr.y)
    detector.buckets = fit_length_buckets(cr.corpus.texts, mlp_logit, ngram_logit, cr.y, detector.combiner)
    probs = detector.combine(cr.corpus.texts, mlp_logit, ngram_logit)
    detector.thresholds = {f"fpr_{fpr:g}": threshold_at_fpr(probs[cr.y == 0], fpr) for fpr in FPRS}
    return detector


def reliability_bins(p: NDArray[Any], y: NDArray[Any]) -> tuple[tuple[float, ...], tuple[int, ...], tuple[int, ...]]:
    """Quantile bins of calibration scores: (inner edges, posts per bin, machine posts per bin)."""
    bins = int(np.clip(len(p) // BIN_ROWS, 1, RELIABILITY_BINS))
    edges = np.unique(np.quantile(p, np.arange(1, bins) / bins)) if bins > 1 else np.zeros(0)
    which = np.searchsorted(edges, p, side="right")  # as LengthBucket.interval finds a score's bin
    n = np.bincount(which, minlength=len(edges) + 1)
    k = np.bincount(which, weights=np.asarray(y, dtype=np.float64), minlength=len(edges) + 1)
    return tuple(float(e) for e in edges), tuple(int(v) for v in n), tuple(int(v) for v in k)


def fit_length_buckets(
    texts: Sequence[str], mlp_logit: NDArray[Any], ngram_logit: NDArray[Any], y: NDArray[Any], overall: Combiner
) -> list[LengthBucket]:
    """Per word-count bucket of the calibration rows: its own combiner (or ``overall`` when it has too few
    rows of a class) and the reliability bins that each score's interval is read from."""
    which = np.array([length_bucket(t) for t in texts], dtype=np.int64)
    out = []
    for b, (lo, hi) in enumerate(bucket_bounds(LENGTH_EDGES)):
        rows = which == b
        yb = y[rows]
        enough = min(int(yb.sum()), int((yb == 0).sum())) >= MIN_BUCKET_CLASS_ROWS
        combiner = fit_combiner(mlp_logit[rows], ngram_logit[rows], yb) if enough else overall
        pb = combiner(mlp_logit[rows], ngram_logit[rows])
        out.append(LengthBucket(lo, hi, combiner, *reliability_bins(pb, yb)))
    return out


# --- data and embeddings ------------------------------------------------------------------------


def load_corpora(data_dir: Path, mimic_per_group: int = MIMIC_PER_GROUP) -> tuple[Corpus, Corpus, Corpus]:
    """(train, TweepFake validation, held-out AuthorMimic humans), scoreable texts only."""
    train = read_tweepfake(data_dir, "train")
    mimic = read_authormimic(data_dir, "p1")
    read_authormimic(data_dir, "p2", into=mimic, humans=False)
    # At most mimic_per_group tweets per (generator, prompt): AuthorMimic would otherwise outnumber
    # TweepFake's bots and pull the model towards its AI-themed topics. More of it helps on unseen prompt
    # variants (python -m bench.text_mimic_cap, which chose MIMIC_PER_GROUP).
    seen: dict[tuple[str, str], int] = defaultdict(int)
    sampled = []
    for i in sorted(range(len(mimic)), key=lambda i: bucket(f"mimic:{mimic.raw[i]}:{i}", 2**31)):
        group = (mimic.generators[i], mimic.sources[i])
        if mimic.labels[i] == 0 or seen[group] < mimic_per_group:
            seen[group] += 1
            sampled.append(i)
    mimic = mimic.subset(sorted(sampled))
    held_humans = [i for i in mimic.where(generator="human") if bucket(mimic.accounts[i], 2) == 1]
    held = mimic.subset(held_humans)
    keep = sorted(set(range(len(mimic))) - set(held_humans))
    train = _concat(train, mimic.subset(keep))
    valid = read_tweepfake(data_dir, "validation")
    return _scoreable(train), _scoreable(valid), _scoreable(held)


def extra_human_corpora(data_dir: Path) -> tuple[Corpus, Corpus]:
    """RumourEval 2017's posts, scoreable ones, split in two by normalised text (a repeated text stays on one side):
    human rows to train on and human rows held out to measure false positives on (``python -m
    bench.text_extra_humans``; the shipped detector trains on neither)."""
    c = _scoreable(read_rumoureval(data_dir))
    side = [bucket(f"extra-human:{t}", 2) for t in c.texts]
    return c.subset([i for i, b in enumerate(side) if b == 0]), c.subset([i for i, b in enumerate(side) if b == 1])


def unscoreable_rows(data_dir: Path) -> dict[str, dict[str, int]]:
    """TweepFake rows the detector leaves unscored (no text of its own, another language), by split and label."""
    out: dict[str, dict[str, int]] = {}
    for split in ("train", "validation"):
        c = read_tweepfake(data_dir, split)
        dropped = [i for i, t in enumerate(c.texts) if not assess(t, min_words=MIN_WORDS).scoreable]
        out[split] = {
            "rows": len(c),
            "unscored": len(dropped),
            "unscored_machine": sum(c.labels[i] for i in dropped),
        }
    return out


def _concat(a: Corpus, b: Corpus) -> Corpus:
    out = Corpus()
    for name in ("raw", "texts", "labels", "accounts", "sources", "generators"):
        setattr(out, name, getattr(a, name) + getattr(b, name))
    return out


def _scoreable(c: Corpus) -> Corpus:
    return c.subset([i for i, t in enumerate(c.texts) if assess(t, min_words=MIN_WORDS).scoreable])


def embedded_corpora(
    data_dir: Path, backend: Backend, cache_dir: Path | None = None, mimic_per_group: int = MIMIC_PER_GROUP
) -> tuple[Features, Features, Features]:
    """:func:`load_corpora`'s three corpora, featurised (:func:`embedded`)."""
    train, valid, held = embedded(load_corpora(data_dir, mimic_per_group), backend, cache_dir)
    return train, valid, held


def embedded(corpora: Sequence[Corpus], backend: Backend, cache_dir: Path | None = None) -> list[Features]:
    """Corpora featurised with one embedder; vectors are cached on disk between runs."""
    embedder = Embedder(backend, cache_dir=cache_dir, cache_size=10**6)
    emb_cache = (cache_dir or default_cache_dir()) / f"train-embeddings-{backend}-{METHOD}.npz"
    load_cache(embedder, emb_cache)
    out = [featurize(c, embedder) for c in corpora]
    save_cache(embedder, emb_cache)
    return out


def featurize(corpus: Corpus, embedder: Embedder) -> Features:
    emb = last_layers(embedder.embed_layers(corpus.texts), EMBED_LAYERS)
    x = empty_ngram_model().vectorize(corpus.texts)
    return Features(corpus, emb, style_matrix(corpus.texts), x, np.asarray(corpus.labels, dtype=np.int64))


# --- evaluation ---------------------------------------------------------------------------------


def evaluate_split(detector: TextDetector, f: Features) -> dict[str, Any]:
    p = detector.probabilities(f.corpus.texts, f.emb, f.ngram_x)
    out = report_figures(f.y, p, {fpr: detector.threshold(fpr) for fpr in FPRS}, f.corpus.texts)
    gens = sorted(set(f.corpus.generators) - {"human"})
    humans = np.array([g == "human" for g in f.corpus.generators])
    out["auroc_by_generator"] = {
        g: round(
            auroc(f.y[humans | (np.array(f.corpus.generators) == g)], p[humans | (np.array(f.corpus.generators) == g)]),
            4,
        )
        for g in gens
    }
    return out


def seen_accounts_report(
    train: Features, backend: str, target: MlpTarget = MLP_TARGET, ngram_target: MlpTarget = NGRAM_TARGET
) -> dict[str, Any]:
    """Refit without the seen-account report rows (same procedure, its own calibration split); score them."""
    report = seen_report_rows(train.corpus)
    held = set(report)
    kept = train.rows([i for i in range(len(train.y)) if i not in held])
    detector = fit_detector(kept, backend, target=target, ngram_target=ngram_target)
    test = train.rows(report)
    p = detector.probabilities(test.corpus.texts, test.emb, test.ngram_x)
    return report_figures(test.y, p, {fpr: detector.threshold(fpr) for fpr in FPRS}, test.corpus.texts)


def account_disjoint_cv(f: Features, backend: str, folds: int = CV_FOLDS) -> dict[str, Any]:
    """TweepFake rows only, folds by account; each fold model is fitted and thresholded on the other accounts.

    Reported on the held-out accounts' TweepFake *train* rows: their validation rows chose settings (dev).
    """
    assign = account_folds(f.corpus.accounts, folds)
    p = np.zeros(len(f.y))
    flagged = {fpr: np.zeros(len(f.y), dtype=bool) for fpr in FPRS}
    for k in range(folds):
        detector = fit_detector(f.rows(list(np.where(assign != k)[0])), backend)
        test = f.rows(list(np.where(assign == k)[0]))
        p[assign == k] = detector.probabilities(test.corpus.texts, test.emb, test.ngram_x)
        for fpr in FPRS:
            flagged[fpr][assign == k] = p[assign == k] >= detector.threshold(fpr)
        log.info("account CV fold %d/%d done", k + 1, folds)
    rows = np.array(f.corpus.where(source="tweepfake-train"), dtype=np.int64)
    y, s = f.y[rows], p[rows]
    per_post = report_figures(y, s, {}, [f.corpus.texts[i] for i in rows])
    for fpr in FPRS:
        hit = flagged[fpr][rows]
        per_post[f"at_fold_threshold_{fpr:g}"] = {
            "tpr": round(float(hit[y == 1].mean()), 4),
            "fpr": round(float(hit[y == 0].mean()), 4),
        }
    by_acct: dict[str, list[int]] = defaultdict(list)
    for i in rows:
        by_acct[f.corpus.accounts[i]].append(int(i))
    accts = sorted(a for a, r in by_acct.items() if len(r) >= MIN_ACCOUNT_POSTS)
    acct_y = np.array([f.y[by_acct[a][0]] for a in accts])
    acct_s = np.array([p[by_acct[a]].mean() for a in accts])
    return {
        "folds": folds,
        "accounts": len(set(f.corpus.accounts)),
        "per_post": per_post,
        "per_account": {
            "n_accounts": len(accts),
            "machine_accounts": int(acct_y.sum()),
            "auroc": round(auroc(acct_y, acct_s), 4),
            "min_posts": MIN_ACCOUNT_POSTS,
        },
    }


def leave_one_out(
    base: Features,
    mimic: Features,
    held_humans: Features,
    backend: str,
    generators: bool | Collection[str] = True,
    prompts: bool = True,
    target: MlpTarget = MLP_TARGET,
    ngram_target: MlpTarget = NGRAM_TARGET,
) -> dict[str, Any]:
    """AuthorMimic: drop one generator (or one prompt variant) from training; TPR on it at the stored thresholds,
    and how well it ranks the left-out tweets above the held-out humans. ``generators``: every one, none, or
    those named; ``prompts``: each prompt variant too."""
    every = sorted(set(mimic.corpus.generators) - {"human"})
    named = set() if isinstance(generators, bool) else set(generators)
    if named - set(every):
        raise ValueError(f"no AuthorMimic generator {sorted(named - set(every))}; there are {every}")
    gens = every if generators is True else sorted(named)
    out: dict[str, Any] = {"by_generator": {}, "by_prompt": {}}
    groups: list[tuple[str, str, set[int]]] = [
        ("by_generator", g, {i for i, gen in enumerate(mimic.corpus.generators) if gen == g}) for g in gens
    ]
    for prompt in ("p1", "p2") if prompts else ():
        src = f"authormimic-{prompt}"
        rows = {i for i, s in enumerate(mimic.corpus.sources) if s == src and mimic.corpus.labels[i] == 1}
        groups.append(("by_prompt", prompt, rows))
    for kind, name, held in groups:
        out_rows = sorted(held)
        in_rows = [i for i in range(len(mimic.y)) if i not in held]
        train = concat_features(base, mimic.rows(in_rows))
        detector = fit_detector(train, backend, target=target, ngram_target=ngram_target)
        test = mimic.rows(out_rows)
        p = detector.probabilities(test.corpus.texts, test.emb, test.ngram_x)
        ph = detector.probabilities(held_humans.corpus.texts, held_humans.emb, held_humans.ngram_x)
        out[kind][name] = {
            "n": len(out_rows),
            "tpr_at_stored_0.05": round(float((p >= detector.threshold(0.05)).mean()), 4),
            "tpr_at_stored_0.01": round(float((p >= detector.threshold(0.01)).mean()), 4),
            "held_out_human_fpr_at_stored_0.05": round(float((ph >= detector.threshold(0.05)).mean()), 4),
            "held_out_human_fpr_at_stored_0.01": round(float((ph >= detector.threshold(0.01)).mean()), 4),
            "auroc_vs_held_out_humans": round(auroc_pos_neg(p, ph), 4),
        }
        log.info("leave-one-out %s %s: %s", kind, name, out[kind][name])
    return out


def concat_features(a: Features, b: Features) -> Features:
    from scipy import sparse  # type: ignore[import-untyped, unused-ignore]

    return Features(
        _concat(a.corpus, b.corpus),
        np.vstack([a.emb, b.emb]),
        np.vstack([a.style, b.style]),
        sparse.vstack([a.ngram_x, b.ngram_x]).tocsr(),
        np.concatenate([a.y, b.y]),
    )


def train_text_detector(
    data_dir: Path,
    out_dir: Path,
    backend: Backend = "onnx-int8",
    cache_dir: Path | None = None,
    evaluate: bool = True,
    on_progress: Callable[[str], None] = lambda _msg: None,
) -> dict[str, Any]:
    started = time.perf_counter()
    on_progress(f"embedding the training, dev and held-out texts ({backend})")
    train, valid, held = embedded_corpora(data_dir, backend, cache_dir)
    train_c, valid_c, held_c = train.corpus, valid.corpus, held.corpus
    on_progress("fitting the detector")
    detector = fit_detector(train, backend)
    calib = train.rows(calibration_rows(train.corpus))
    p_held = detector.probabilities(held_c.texts, held.emb, held.ngram_x)
    metrics: dict[str, Any] = {
        "settings": SETTINGS,
        "splits": split_summary(train_c, valid_c, held_c),
        "training_rows": {"total": len(train.y), "machine": int(train.y.sum())},
        "mlp_sources": {
            "n": len(detector.mlp.sources),
            "machine": len(detector.meta_sources().get("machine_sources", [])),
        },
        "calibration": {
            "n": len(calib.y),
            "humans": int((calib.y == 0).sum()),
            "combiner": {
                "w_mlp": round(detector.combiner.w_mlp, 4),
                "w_ngram": round(detector.combiner.w_ngram, 4),
                "bias": round(detector.combiner.bias, 4),
            },
            "thresholds": {k: round(v, 4) for k, v in detector.thresholds.items()},
            "length_buckets": bucket_summary(detector, calib),
        },
        "unscoreable_tweepfake": unscoreable_rows(data_dir),
        "dev_tweepfake_validation": evaluate_split(detector, valid),
        "report_authormimic_held_out_humans": {
            "n": len(held.y),
            **{f"fpr_at_stored_{fpr:g}": rates(held.y, p_held, detector.threshold(fpr))["fpr"] for fpr in FPRS},
        },
    }
    if evaluate:
        on_progress("seen-account report split (refit without it)")
        metrics["report_tweepfake_seen_accounts"] = seen_accounts_report(train, backend)
        on_progress("account-disjoint cross-validation on TweepFake")
        tweepfake = concat_features(train.rows(train.corpus.where_prefix("tweepfake")), valid)
        metrics["report_tweepfake_account_disjoint_cv"] = account_disjoint_cv(tweepfake, backend)
        on_progress("AuthorMimic leave-one-generator/prompt-out")
        mimic_rows = train.corpus.where_prefix("authormimic")
        base_rows = train.corpus.where_prefix("tweepfake")
        metrics["report_authormimic_leave_one_out"] = leave_one_out(
            train.rows(base_rows), train.rows(mimic_rows), held, backend
        )
    metrics["model_id"] = detector.save(out_dir, {"settings": SETTINGS, "training_data": TRAINING_DATA})
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    write_card(out_dir / "MODEL_CARD.md", metrics)
    # The run time is printed, never stored: stored files depend on the data and code only.
    return {**metrics, "seconds": round(time.perf_counter() - started, 1)}


def bucket_summary(detector: TextDetector, calib: Features) -> list[dict[str, Any]]:
    """Per length bucket of the calibration split: rows, humans, its combiner, and its bins' interval widths."""
    which = detector.bucket_of(calib.corpus.texts)
    out = []
    for b, bucket in enumerate(detector.buckets):
        rows = which == b
        widths = [hi - lo for (lo, hi), *_ in (bucket.interval(e) for e in (0.0, *bucket.bin_edges))]
        own = bucket.combiner != detector.combiner
        out.append(
            {
                "words": bucket.words_label(),
                "rows": int(rows.sum()),
                "humans": int((calib.y[rows] == 0).sum()),
                "own_combiner": own,
                "bins": len(bucket.bin_n),
                "interval_width_min": round(min(widths), 4),
                "interval_width_max": round(max(widths), 4),
            }
        )
    return out


def write_card(card: Path, metrics: dict[str, Any]) -> None:
    for name, body in render_card_figures(metrics).items():
        write_block(card, name, body)


# --- the card's figures -------------------------------------------------------------------------


def _f(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}f}"


def _not_measured(name: str) -> str:
    return f"_{name}: not measured (the last run had `--no-evaluate`)._"


def render_card_figures(metrics: dict[str, Any]) -> dict[str, str]:
    """Block name -> Markdown, from ``metrics.json`` alone (a unit test re-renders and compares with the card)."""
    st, sp, cal = metrics["settings"], metrics["splits"], metrics["calibration"]
    blocks: dict[str, str] = {}
    blocks["model"] = "\n".join(
        [
            f"- Model id: `text_detector@{metrics['model_id'][:10]}` (hash of `model.json` and the weights' values).",
            f"- Seed {st['seed']}; character {st['ngram_range'][0]}–{st['ngram_range'][1]}-grams hashed into "
            f"{st['ngram_features']} features, "
            + (
                f"a softmax over the training sources (logistic regression, saga, C = {st['ngram_source_c']:g}, "
                f"at most {st['ngram_source_iters']} passes); "
                if st["ngram_target"] != "machine"
                else f"SGD logistic regression α = {st['ngram_alpha']:g}; "
            )
            + f"{st['mlp_members']} MLPs of {st['mlp_hidden']} ReLU units, L2 α = {st['mlp_alpha']:g}, on MiniLM's "
            f"last {st['embed_layers']} pooled hidden states, "
            + (
                f"each a softmax over {metrics['mlp_sources']['n']} training sources "
                f"({metrics['mlp_sources']['machine']} machine; sources under {st['min_source_rows']} rows pooled)."
                if metrics["mlp_sources"]["n"]
                else "each with one logistic output (machine or human)."
            ),
            f"- Calibration split: {st['calib_share']:.0%} of the training rows; thresholds at "
            + " and ".join(f"{x:.0%}" for x in st["fprs"])
            + f" FPR; texts need ≥ {st['min_words']} word; length buckets start at "
            + ", ".join(str(e) for e in [st["min_words"], *st["length_edges"]])
            + f" words; at most {st['mimic_per_group']} AuthorMimic tweets per generator and prompt.",
            f"- Combiner (fitted on the calibration split, {cal['n']} rows, {cal['humans']} human): "
            f"w_mlp = {_f(cal['combiner']['w_mlp'])}, w_ngram = {_f(cal['combiner']['w_ngram'])}, "
            f"bias = {_f(cal['combiner']['bias'])}; thresholds (calibrated probability): "
            + ", ".join(f"`{k}` = {v:.4f}" for k, v in sorted(cal["thresholds"].items()))
            + ".",
        ]
    )
    blocks["length"] = _length_block(metrics)
    blocks["splits"] = markdown_table(
        ["split", "rows", "chooses", "reported as"],
        [
            ["fit (training minus calibration)", sp["fit_rows"], "n-gram and MLP weights", "-"],
            ["calibration (hash share of training)", sp["calibration_rows"], "combiner, thresholds", "-"],
            [
                f"dev: TweepFake validation ({sp['dev_accounts']} accounts, {sp['dev_accounts_also_in_training']} "
                f"of them also in training; {sp['dev_texts_also_in_training']} of its texts also in training)",
                sp["dev_rows"],
                "settings (what was tried)",
                "dev figures, not headline",
            ],
            [
                "report: seen accounts (hash share of TweepFake train texts; "
                f"{sp['seen_report_texts_also_in_its_training']} of its texts also in its training)",
                sp["seen_report_rows"],
                "nothing",
                "headline",
            ],
            [
                f"report: unseen accounts ({sp['cv_folds']} folds by account over "
                f"{sp['tweepfake_train_accounts']} TweepFake accounts; their train rows)",
                "see below",
                "nothing",
                "headline",
            ],
            [
                "report: held-out AuthorMimic humans "
                f"({sp['held_out_human_texts_also_in_training']} of their texts also in training)",
                sp["held_out_humans"],
                "with leave-one-prompt-out: the AuthorMimic cap (`python -m bench.text_mimic_cap`)",
                "false-positive rate (not untouched)",
            ],
        ],
    )
    head_rows: list[list[object]] = []
    seen = metrics.get("report_tweepfake_seen_accounts")
    if seen is not None:
        head_rows.append(
            [
                f"TweepFake, seen accounts, unseen posts ({seen['n']} posts, {seen['machine']} machine)",
                f"**{_f(seen['auroc'])}**",
                f"**{_f(seen['tpr_at_0.01_fpr_roc'])}**",
                "{tpr:.3f} / {fpr:.3f}".format(**seen["at_stored_threshold_0.01"]),
                "{tpr:.3f} / {fpr:.3f}".format(**seen["at_stored_threshold_0.05"]),
            ]
        )
    cv = metrics.get("report_tweepfake_account_disjoint_cv")
    if cv is not None:
        pp = cv["per_post"]
        head_rows.append(
            [
                f"TweepFake, unseen accounts ({pp['n']} posts, {pp['machine']} machine)",
                f"**{_f(pp['auroc'])}**",
                f"**{_f(pp['tpr_at_0.01_fpr_roc'])}**",
                "{tpr:.3f} / {fpr:.3f}".format(**pp["at_fold_threshold_0.01"]),
                "{tpr:.3f} / {fpr:.3f}".format(**pp["at_fold_threshold_0.05"]),
            ]
        )
        pa = cv["per_account"]
        head_rows.append(
            [
                f"TweepFake, unseen accounts, per account (mean score; {pa['n_accounts']} accounts with "
                f"≥ {pa['min_posts']} posts, {pa['machine_accounts']} bots)",
                f"**{_f(pa['auroc'])}**",
                "",
                "",
                "",
            ]
        )
    held = metrics["report_authormimic_held_out_humans"]
    head_rows.append(
        [
            f"AuthorMimic held-out humans, shipped model ({held['n']} posts, no machine)",
            "",
            "",
            f"- / {_f(held['fpr_at_stored_0.01'])}",
            f"- / {_f(held['fpr_at_stored_0.05'])}",
        ]
    )
    blocks["headline"] = markdown_table(
        [
            "report split",
            "AUROC",
            "TPR at 1% FPR (ROC)",
            "TPR / FPR at the 1% threshold",
            "TPR / FPR at the 5% threshold",
        ],
        head_rows,
    ) + ("" if seen is not None and cv is not None else "\n\n" + _not_measured("seen/unseen-account reports"))
    dev = metrics["dev_tweepfake_validation"]
    blocks["dev"] = (
        markdown_table(
            ["TweepFake validation (dev: chose settings; shares its accounts with training)", "value"],
            [
                ["posts scored (machine)", f"{dev['n']} ({dev['machine']})"],
                ["AUROC", _f(dev["auroc"])],
                ["TPR at 1% FPR (ROC)", _f(dev["tpr_at_0.01_fpr_roc"])],
                ["TPR / FPR at the 1% threshold", "{tpr:.3f} / {fpr:.3f}".format(**dev["at_stored_threshold_0.01"])],
                ["TPR at 5% FPR (ROC)", _f(dev["tpr_at_0.05_fpr_roc"])],
                ["TPR / FPR at the 5% threshold", "{tpr:.3f} / {fpr:.3f}".format(**dev["at_stored_threshold_0.05"])],
            ],
        )
        + "\n\nAUROC per generator (vs all dev humans): "
        + ", ".join(f"{g} {_f(v)}" for g, v in sorted(dev["auroc_by_generator"].items()))
        + "."
    )
    loo = metrics.get("report_authormimic_leave_one_out")
    if loo is None:
        blocks["leave-one-out"] = _not_measured("AuthorMimic leave-one-out")
    else:
        gen_rows = [
            [g, r["n"], _f(r["tpr_at_stored_0.05"]), _f(r["tpr_at_stored_0.01"])]
            for g, r in sorted(loo["by_generator"].items())
        ]
        prompt_rows = [
            [
                p,
                r["n"],
                _f(r["tpr_at_stored_0.05"]),
                _f(r["tpr_at_stored_0.01"]),
                _f(r["held_out_human_fpr_at_stored_0.05"]),
            ]
            for p, r in sorted(loo["by_prompt"].items())
        ]
        blocks["leave-one-out"] = (
            markdown_table(["left out generator", "tweets", "TPR at 5% threshold", "TPR at 1% threshold"], gen_rows)
            + "\n\n"
            + markdown_table(
                [
                    "left out prompt",
                    "tweets",
                    "TPR at 5% threshold",
                    "TPR at 1% threshold",
                    "FPR on held-out AuthorMimic humans at 5% threshold",
                ],
                prompt_rows,
            )
        )
    return blocks


def _length_block(metrics: dict[str, Any]) -> str:
    """Per word-count bucket: calibration (own combiner, interval widths) and each report split's figures."""
    cal = metrics["calibration"]
    lines = [
        markdown_table(
            ["length bucket", "calibration rows (human)", "combiner", "score bins", "90% interval width"],
            [
                [
                    b["words"],
                    f"{b['rows']} ({b['humans']})",
                    "its own" if b["own_combiner"] else "all lengths' (too few rows)",
                    b["bins"],
                    f"{_f(b['interval_width_min'], 2)}–{_f(b['interval_width_max'], 2)}",
                ]
                for b in cal.get("length_buckets", [])
            ],
        )
    ]
    splits = [
        ("dev: TweepFake validation", metrics.get("dev_tweepfake_validation")),
        ("TweepFake, seen accounts", metrics.get("report_tweepfake_seen_accounts")),
        ("TweepFake, unseen accounts", (metrics.get("report_tweepfake_account_disjoint_cv") or {}).get("per_post")),
    ]
    rows: list[list[object]] = []
    for name, fig in splits:
        by_length = (fig or {}).get("by_length", {})
        for words, b in sorted(by_length.items(), key=lambda kv: int(kv[0].split("-")[0])):  # metrics.json sorts
            at = b.get("at_stored_threshold_0.01")
            rows.append(
                [
                    name,
                    words.rstrip("-") + ("+" if words.endswith("-") else ""),
                    f"{b['n']} ({b['machine']})",
                    _f(b["auroc"]) if "auroc" in b else "",
                    "{tpr:.3f} / {fpr:.3f}".format(**at) if at else "",
                    "" if b["mean_score"] is None else f"{b['mean_score']:.3f} / {b['machine'] / max(b['n'], 1):.3f}",
                ]
            )
    lines.append(
        markdown_table(
            [
                "split",
                "words",
                "posts (machine)",
                "AUROC",
                "TPR / FPR at the 1% threshold",
                "mean score / machine share",
            ],
            rows,
        )
    )
    un = metrics.get("unscoreable_tweepfake", {})
    if un:
        lines.append(
            "Unscored TweepFake posts (no text of their own, or another language): "
            + "; ".join(
                f"{split} {u['unscored']} of {u['rows']} ({u['unscored_machine']} machine)" for split, u in un.items()
            )
            + ". They are left out of every figure above; counted as not flagged, a split's TPR falls by at most "
            "that share of its machine posts."
        )
    return "\n\n".join(lines)


SETTINGS: dict[str, Any] = {
    "seed": SEED,
    "ngram_range": list(NGRAM_RANGE),
    "ngram_features": NGRAM_FEATURES,
    "ngram_alpha": NGRAM_ALPHA,
    "ngram_target": NGRAM_TARGET,
    "ngram_source_c": NGRAM_SOURCE_C,
    "ngram_source_iters": NGRAM_SOURCE_ITERS,
    "mlp_hidden": MLP_HIDDEN,
    "mlp_alpha": MLP_ALPHA,
    "mlp_members": MLP_MEMBERS,
    "mlp_target": MLP_TARGET,
    "min_source_rows": MIN_SOURCE_ROWS,
    "embed_layers": EMBED_LAYERS,
    "calib_share": CALIB_SHARE,
    "fprs": list(FPRS),
    "min_words": MIN_WORDS,
    "length_edges": list(LENGTH_EDGES),
    "min_bucket_class_rows": MIN_BUCKET_CLASS_ROWS,
    "bin_rows": BIN_ROWS,
    "reliability_bins": RELIABILITY_BINS,
    "mimic_per_group": MIMIC_PER_GROUP,
}


TRAINING_DATA = {
    "tweepfake": "text/tweepfake/train.csv (all rows with a word of their own); validation.csv is the dev split",
    "authormimic": f"text/authormimic Prompt-01 and Prompt-02: up to {MIMIC_PER_GROUP} tweets per generator and prompt "
    "(chosen by hash); human rows whose ID hashes to bucket 0 of 2 (the other half is held out for false-positive "
    "rates)",
}
