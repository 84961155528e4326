"""The MLP that tells training sources apart: how sources are named and pooled, and a fitted model's round trip.

Synthetic features (no embedder), so these run in seconds.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from flockwatch.metrics import auroc
from flockwatch.text.data import Corpus
from flockwatch.text.detector import TextDetector
from flockwatch.text.features import style_matrix
from flockwatch.training.text import (
    Features,
    empty_ngram_model,
    fit_detector,
    fit_mlp,
    leave_one_out,
    source_classes,
)


def _corpus(rows: list[tuple[str, str, str, int]]) -> Corpus:
    c = Corpus()
    for account, source, generator, label in rows:
        c.add("some words here", label, account, source, generator)
    return c


def test_sources_are_accounts_and_generators_named_by_kind_never_by_handle() -> None:
    rows = (
        [("elonmusk", "tweepfake-train", "human", 0)] * 3
        + [("DeepElonMusk", "tweepfake-train", "gpt2", 1)] * 3
        + [("AINarendraModi", "tweepfake-train", "gpt2", 1)] * 3
        + [("narendramodi", "tweepfake-validation", "human", 0)] * 3
        + [("authormimic-GPT-4o", "authormimic-p1", "GPT-4o", 1)] * 3
        + [("authormimic-human-7", "authormimic-p1", "human", 0), ("authormimic-human-9", "authormimic-p2", "human", 0)]
        + [("authormimic-human-8", "authormimic-p1", "human", 0)]
        + [("tinybot", "tweepfake-train", "rnn", 1)]
    )
    names = source_classes(_corpus(rows), min_rows=3)
    each = source_classes(_corpus(rows), "sources+generators", min_rows=3)
    # Numbered within their kind in the handles' sorted order (AINarendraModi < DeepElonMusk).
    assert names[:12] == (
        ["tweepfake-human-01"] * 3
        + ["tweepfake-bot-gpt2-02"] * 3
        + ["tweepfake-bot-gpt2-01"] * 3
        + ["tweepfake-human-02"] * 3
    )
    assert names[12:18] == ["authormimic-llm"] * 3 + ["authormimic-human"] * 3  # modern LLMs pooled
    assert each[12:15] == ["authormimic-GPT-4o"] * 3 and each[:12] == names[:12]
    assert names[18] == "other-machine"  # one row: pooled with its label's catch-all
    assert not any(handle.lower() in " ".join(names).lower() for handle in ("elon", "modi", "tinybot"))


def test_rumoureval_posts_are_one_human_source_apart_from_authormimics_humans() -> None:
    rows = [("rumoureval-1", "rumoureval2017", "human", 0), ("rumoureval-2", "rumoureval2017", "human", 0)] + [
        ("authormimic-human-7", "authormimic-p1", "human", 0)
    ] * 2
    assert source_classes(_corpus(rows), min_rows=2) == ["rumoureval-human"] * 2 + ["authormimic-human"] * 2


def test_a_source_must_be_all_machine_or_all_human() -> None:
    x = np.random.default_rng(0).normal(size=(9, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="mixes machine and human"):
        fit_mlp(x, np.array([0, 1, 0, 0, 1, 1, 0, 1, 0]), sources=["a", "a", "b", "b", "c", "c", "d", "d", "e"])


def _features(n: int, accounts: int) -> Features:
    """Synthetic texts and embeddings: each account's rows share a direction, bots shifted from humans."""
    rng = np.random.default_rng(5)
    corpus = Corpus()
    centre = rng.normal(0, 1, (accounts, 384))
    for i in range(n):
        a = i % accounts
        words = ["indeed", "furthermore", "crucial"] if a % 2 else ["lol", "omg", "tonight"]
        corpus.add(f"post {i} " + " ".join(rng.choice(words, 6)), a % 2, f"acct{a}", "tweepfake-train", "x")
    y = np.asarray(corpus.labels, dtype=np.int64)
    which = np.arange(n) % accounts
    emb = (centre[which] + rng.normal(0, 1, (n, 384)) + 0.3 * y[:, None]).astype(np.float32)
    return Features(corpus, emb, style_matrix(corpus.texts), empty_ngram_model().vectorize(corpus.texts), y)


def _assert_scores_survive_saving(loaded: TextDetector, fitted: TextDetector, f: Features) -> None:
    texts = f.corpus.texts[:12]
    np.testing.assert_allclose(
        loaded.probabilities(texts, f.emb[:12], f.ngram_x[:12]),
        fitted.probabilities(texts, f.emb[:12], f.ngram_x[:12]),
        rtol=1e-3,  # weights are stored as float16
        atol=1e-3,
    )


def test_a_source_model_scores_the_same_after_saving_and_names_its_sources_in_evidence(tmp_path: Path) -> None:
    f = _features(480, 6)
    detector = fit_detector(f, "onnx-int8")
    assert len(detector.mlp.sources) == 6
    assert fit_detector(f, "onnx-int8", target="machine").mlp.sources == ()
    detector.save(tmp_path, {})
    stored = json.loads((tmp_path / "model.json").read_text(encoding="utf-8"))
    assert stored["mlp"]["sources"] == [
        f"tweepfake-{k}" for k in ("bot-x-01", "bot-x-02", "bot-x-03", "human-01", "human-02", "human-03")
    ]
    assert stored["mlp"]["machine_sources"] == stored["mlp"]["sources"][:3]
    loaded = TextDetector.load(tmp_path)
    _assert_scores_survive_saving(loaded, detector, f)
    # The source softmax's machine side ranks the machine rows first (a wrong machine mask would invert it).
    assert auroc(f.y, detector.mlp.logits(detector.features(f.corpus.texts, f.emb, f.ngram_x)[0])) > 0.9
    for result in loaded.score(f.corpus.raw[:12], embeddings=f.emb[:12]):
        ev = {e.signal: e for e in result.evidence}["model.sources"]
        named = re.findall(r"(tweepfake-[\w-]+) ([\d.]+)", ev.detail)
        machine = re.search(r"machine sources together ([\d.]+)", ev.detail)
        assert len(named) == 3 and machine is not None
        assert ev.score == pytest.approx(float(machine.group(1)), abs=0.006)  # machine-likeness, as its siblings


def test_corrupt_sources_are_refused(tmp_path: Path) -> None:
    fit_detector(_features(480, 6), "onnx-int8").save(tmp_path, {})
    good = json.loads((tmp_path / "model.json").read_text(encoding="utf-8"))
    for field, value, complaint in (
        ("machine_sources", [], "machine_sources"),
        ("machine_sources", good["mlp"]["sources"], "machine_sources"),
        ("machine_sources", ["tweepfake-bot-x-09"], "machine_sources"),
        ("sources", good["mlp"]["sources"][:5], "5 sources for 6 output units"),
        ("sources", [], "0 sources for 6 output units"),
    ):
        meta = json.loads(json.dumps(good))
        meta["mlp"][field] = value
        (tmp_path / "model.json").write_text(json.dumps(meta), encoding="utf-8")
        with pytest.raises(ValueError, match=complaint):
            TextDetector.load(tmp_path)


def test_leaving_out_a_generator_that_is_not_there_is_an_error() -> None:
    f = _features(60, 6)
    with pytest.raises(ValueError, match="no AuthorMimic generator"):
        leave_one_out(f, f, f, "onnx-int8", generators=["GPT-5"], prompts=False)


def test_an_ngram_source_model_round_trips_ranks_machine_first_and_explains_by_its_gradient(tmp_path: Path) -> None:
    f = _features(480, 6)
    detector = fit_detector(f, "onnx-int8", ngram_target="sources")
    ngram = detector.ngram
    assert ngram.machine is not None and ngram.weights.shape == (ngram.n_features, 6)
    assert list(ngram.sources) == list(detector.mlp.sources) and ngram.machine.tolist() == [True] * 3 + [False] * 3
    assert fit_detector(f, "onnx-int8", ngram_target="machine").ngram.machine is None  # one logistic output
    logit = ngram.logits_of(f.ngram_x)
    assert auroc(f.y, logit) > 0.9  # a wrong machine mask would invert it
    # A row's logit does not depend on the rows beside it.
    assert np.array_equal(ngram.logits_of(f.ngram_x[5:6]), logit[5:6])
    detector.save(tmp_path, {})
    stored = json.loads((tmp_path / "model.json").read_text(encoding="utf-8"))["ngram"]
    assert "bias" not in stored and stored["machine_sources"] == stored["sources"][:3]
    loaded = TextDetector.load(tmp_path)
    _assert_scores_survive_saving(loaded, detector, f)
    # The top n-gram's weight is the logit's gradient along it: nudging that n-gram's feature value moves the
    # logit by weight × nudge.
    text = next(t for t, y in zip(f.corpus.texts, f.y, strict=True) if y == 1)
    grams = ngram.analyze([text])
    ((top, score),) = ngram.top_ngrams(grams, k=1)[0]
    assert score > 0
    x = ngram.vectorize([text], grams).tocsr()
    column = int(ngram._hasher().transform([[top]]).indices[0])
    value = float(x[0, column])
    eps = 1e-4
    nudged = x.copy()
    nudged[0, column] = value + eps
    slope = (ngram.logits_of(nudged)[0] - ngram.logits_of(x)[0]) / eps
    assert slope * value == pytest.approx(score, rel=1e-2)
    machine_row = int(np.flatnonzero(f.y == 1)[0])
    (result,) = loaded.score([f.corpus.raw[machine_row]], embeddings=f.emb[machine_row : machine_row + 1])
    named = re.findall(r"'([^']+)'", {e.signal: e for e in result.evidence}["model.ngrams"].detail)
    assert len(named) == 3 and all(any(g in w for w in ("indeed", "furthermore", "crucial")) for g in named), named


def test_a_one_output_ngram_model_still_round_trips_and_a_corrupt_one_is_refused(tmp_path: Path) -> None:
    f = _features(480, 6)
    detector = fit_detector(f, "onnx-int8", ngram_target="machine")  # the n-gram model up to format 3
    detector.save(tmp_path, {})
    stored = json.loads((tmp_path / "model.json").read_text(encoding="utf-8"))
    assert isinstance(stored["ngram"]["bias"], float) and "sources" not in stored["ngram"]
    with np.load(tmp_path / "weights.npz") as w:
        assert "ngram_b" not in w.files and w["ngram_w"].shape == (detector.ngram.n_features,)
    loaded = TextDetector.load(tmp_path)
    assert loaded.ngram.machine is None
    np.testing.assert_allclose(
        loaded.ngram.logits_of(f.ngram_x[:12]), detector.ngram.logits_of(f.ngram_x[:12]), rtol=1e-2, atol=1e-2
    )
    fit_detector(f, "onnx-int8", ngram_target="sources").save(tmp_path, {})
    good = json.loads((tmp_path / "model.json").read_text(encoding="utf-8"))
    for field, value, complaint in (
        ("machine_sources", good["ngram"]["sources"], "machine_sources"),
        ("sources", good["ngram"]["sources"][:5], "5 sources for 6 output units"),
        ("n_features", 2**10, "do not fit its n_features"),
    ):
        meta = json.loads(json.dumps(good))
        meta["ngram"][field] = value
        (tmp_path / "model.json").write_text(json.dumps(meta), encoding="utf-8")
        with pytest.raises(ValueError, match=complaint):
            TextDetector.load(tmp_path)
