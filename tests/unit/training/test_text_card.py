"""The text detector's card, metrics and splits: no drift, known figures on known input, disjoint splits.

* the card's figure blocks are exactly what :func:`render_card_figures` makes of the committed metrics.json,
  and those metrics belong to the committed weights (same model id);
* the evaluation code gives hand-computed figures on a small known input;
* the model id hashes weights and settings only: two fits of a tiny fixture agree, another seed does not;
* the splits are as disjoint (or as shared) as the card says, recomputed from the real split functions.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from flockwatch.model_card import read_block
from flockwatch.text.data import Corpus
from flockwatch.text.detector import TextDetector
from flockwatch.text.features import style_matrix
from flockwatch.text.thresholds import threshold_at_fpr
from flockwatch.training.text import (
    CV_FOLDS,
    SETTINGS,
    TRAINING_DATA,
    Features,
    _concat,
    account_folds,
    calibration_rows,
    empty_ngram_model,
    extra_human_corpora,
    fit_detector,
    load_corpora,
    render_card_figures,
    report_figures,
    seen_report_rows,
    split_summary,
)

MODEL_DIR = Path(__file__).resolve().parents[3] / "models" / "text_detector"
CARD = MODEL_DIR / "MODEL_CARD.md"


@pytest.fixture(scope="module")
def metrics() -> dict[str, object]:
    out: dict[str, object] = json.loads((MODEL_DIR / "metrics.json").read_text(encoding="utf-8"))
    return out


# --- (a) the card cannot drift from the metrics, nor the metrics from the weights ----------------


def test_card_blocks_are_rendered_from_committed_metrics(metrics: dict[str, object]) -> None:
    blocks = render_card_figures(metrics)
    assert {"model", "splits", "headline", "dev", "leave-one-out"} <= set(blocks)
    for name, body in blocks.items():
        assert read_block(CARD, name) == body.strip(), f"card block {name!r} drifted from metrics.json"


def test_metrics_belong_to_the_committed_weights(metrics: dict[str, object]) -> None:
    detector = TextDetector.load(MODEL_DIR)
    assert detector.name == f"text_detector@{str(metrics['model_id'])[:10]}"
    assert detector.meta["settings"] == metrics["settings"] == SETTINGS
    model_json = (MODEL_DIR / "model.json").read_text(encoding="utf-8")
    # No run time or figures in what the id hashes.
    assert "seconds" not in model_json and "figures" not in model_json


# --- (b) the evaluation code on a known input ----------------------------------------------------


def test_report_figures_on_a_known_input() -> None:
    humans = np.arange(100) / 100  # 0.00 .. 0.99
    machines = np.array([0.995, 0.996, 0.997, 0.998, 0.999, 0.505, 0.515, 0.525, 0.535, 0.545])
    y = np.r_[np.zeros(100, dtype=np.int64), np.ones(10, dtype=np.int64)]
    s = np.r_[humans, machines]
    t01 = threshold_at_fpr(humans, 0.01)  # just above 0.98: only the 0.99 human is at or above it
    out = report_figures(y, s, {0.01: t01, 0.05: 0.5})
    # 5 machines beat all 100 humans; the others beat 51..55 humans each: (500 + 265) / 1000.
    assert out["auroc"] == 0.765
    assert out["n"] == 110 and out["machine"] == 10
    assert out["tpr_at_0.01_fpr_roc"] == 0.5 and out["tpr_at_0.05_fpr_roc"] == 0.5
    assert out["at_stored_threshold_0.01"] == {"tpr": 0.5, "fpr": 0.01}
    assert out["at_stored_threshold_0.05"] == {"tpr": 1.0, "fpr": 0.5}  # humans 0.50 .. 0.99


# --- the model id: weights and settings, not the run ---------------------------------------------


def _tiny_features(n: int = 240) -> Features:
    """Synthetic texts and embeddings with a learnable signal (machine rows shifted), no embedder needed."""
    rng = np.random.default_rng(3)
    corpus = Corpus()
    for i in range(n):
        label = i % 2
        words = ["indeed", "furthermore", "crucial"] if label else ["lol", "omg", "tonight"]
        corpus.add(f"post {i} " + " ".join(rng.choice(words, 6)), label, f"acct{i % 12}", "tweepfake-train", "x")
    y = np.asarray(corpus.labels, dtype=np.int64)
    emb = (rng.normal(0, 1, (n, 384)) + 0.5 * y[:, None]).astype(np.float32)
    x = empty_ngram_model().vectorize(corpus.texts)
    return Features(corpus, emb, style_matrix(corpus.texts), x, y)


def test_model_id_depends_on_weights_and_settings_only(tmp_path: Path) -> None:
    f = _tiny_features()
    extra = {"settings": SETTINGS, "training_data": TRAINING_DATA}
    first, again = fit_detector(f, "onnx-int8"), fit_detector(f, "onnx-int8")
    assert first.model_id(extra) == again.model_id(extra)  # two fits, same id: nothing of the run in it
    assert fit_detector(f, "onnx-int8", seed=1).model_id(extra) != first.model_id(extra)
    saved = first.save(tmp_path, extra)
    assert saved == first.model_id(extra)
    assert TextDetector.load(tmp_path).name == f"text_detector@{saved[:10]}"
    assert TextDetector.load(tmp_path).layers == 1  # 384 columns: the sentence embedding alone


# --- (c) the splits, from the real split definitions ---------------------------------------------


@pytest.fixture(scope="module")
def corpora() -> tuple[Corpus, Corpus, Corpus]:
    from flockwatch.config import Settings

    return load_corpora(Settings().data_dir)


def test_split_summary_matches_committed_metrics(
    corpora: tuple[Corpus, Corpus, Corpus], metrics: dict[str, object]
) -> None:
    assert split_summary(*corpora) == metrics["splits"]


def test_splits_are_disjoint_where_the_card_says(corpora: tuple[Corpus, Corpus, Corpus]) -> None:
    train, dev, held = corpora
    # Seen-account report: none of its texts in the training rows of the model that scores it, and none in
    # that model's calibration split (which chooses its thresholds).
    report = set(seen_report_rows(train))
    assert report and all(train.sources[i] == "tweepfake-train" for i in report)
    rest = train.subset([i for i in range(len(train)) if i not in report])
    report_texts = {train.texts[i] for i in report}
    assert not report_texts & set(rest.texts)
    assert not report_texts & {rest.texts[i] for i in calibration_rows(rest)}
    # Calibration and fitting rows of the shipped model split the training rows.
    calib = set(calibration_rows(train))
    assert 0 < len(calib) < len(train)
    # Dev (TweepFake validation) shares every account with training: the card says so, hence not a headline.
    assert set(dev.accounts) <= set(train.accounts)
    # Held-out AuthorMimic humans: no account (tweet ID) or text in training.
    assert not set(held.accounts) & set(train.accounts)
    assert not set(held.texts) & set(train.texts)


def test_account_folds_are_account_disjoint(corpora: tuple[Corpus, Corpus, Corpus]) -> None:
    train, dev, _ = corpora
    tweepfake = _concat(train.subset(train.where_prefix("tweepfake")), dev)  # as account_disjoint_cv gets it
    folds = account_folds(tweepfake.accounts)
    accounts = np.asarray(tweepfake.accounts)
    assert set(folds.tolist()) == set(range(CV_FOLDS))
    for k in range(CV_FOLDS):
        assert not set(accounts[folds == k]) & set(accounts[folds != k])


def test_extra_human_rows_split_by_text_and_stay_out_of_the_shipped_training(
    corpora: tuple[Corpus, Corpus, Corpus],
) -> None:
    from flockwatch.config import Settings

    trains_on, held_out = extra_human_corpora(Settings().data_dir)
    assert len(trains_on) > 1000 and len(held_out) > 1000  # RumourEval 2017: 4,519 posts, about half each
    assert not set(trains_on.texts) & set(held_out.texts)  # a repeated text stays on one side
    for c in (trains_on, held_out):
        assert set(c.labels) == {0} and set(c.sources) == {"rumoureval2017"}
    assert not set(corpora[0].sources) & {"rumoureval2017"}  # the bench adds them; the shipped detector does not
