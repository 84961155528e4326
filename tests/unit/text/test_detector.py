"""The committed detector end to end: calibration, thresholds, evidence, the CLI contract, bad input.

The real model (MiniLM int8 + the committed head) is loaded once for the module.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from flockwatch.cli.app import app
from flockwatch.config import Settings
from flockwatch.metrics import auroc
from flockwatch.text.canonical import canonical_text, words
from flockwatch.text.data import read_tweepfake
from flockwatch.text.detector import (
    Combiner,
    LengthBucket,
    TextDetector,
    TextResult,
    bucket_bounds,
    shared_detector,
    wilson,
)
from flockwatch.text.embed import DIM, LAYERS
from flockwatch.text.features import STYLE_FEATURES, style_matrix
from flockwatch.training.text import fit_combiner, reliability_bins

DATA = Settings().data_dir


@pytest.fixture(scope="module")
def detector() -> TextDetector:
    return shared_detector()


def test_combiner_is_calibrated_and_weighs_informative_logits() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 4000)
    informative = 3.0 * (y - 0.5) + rng.normal(0, 1.5, 4000)  # true P(y | z) = sigmoid(4/3 z)
    noise = rng.normal(0, 1.0, 4000)
    comb = fit_combiner(informative, noise, y)
    assert abs(comb.w_mlp - 4 / 3) < 0.2 and abs(comb.w_ngram) < 0.15 and abs(comb.bias) < 0.15
    p = comb(informative, noise)
    # Calibrated: among texts scored ~0.8, about 80% are machine.
    band = (p > 0.7) & (p < 0.9)
    assert abs(y[band].mean() - p[band].mean()) < 0.05


def test_model_files_are_small_and_thresholds_ordered(detector: TextDetector) -> None:
    folder = Path(__file__).resolve().parents[3] / "models" / "text_detector"
    # Mostly the MLPs' first layers, 5 members x (7 x 384 embedding + style inputs) x 256 units, and the n-gram
    # softmax, 65,536 columns x 40 sources, all in float16.
    assert sum(p.stat().st_size for p in folder.iterdir()) < 12 * 2**20
    assert (folder / "MODEL_CARD.md").exists()
    assert 0.0 < detector.threshold(0.05) <= detector.threshold(0.01) < 1.0
    with pytest.raises(ValueError, match="no threshold"):
        detector.threshold(0.2)
    assert detector.name.startswith("text_detector@")


class _CountingLayers:
    """An embedder whose layer vectors are their own column numbers."""

    def embed_layers(self, texts: list[str]) -> np.ndarray:
        return np.tile(np.arange(LAYERS * DIM, dtype=np.float32), (len(texts), 1))


def test_the_mlp_reads_the_last_layers_of_the_embedding(detector: TextDetector) -> None:
    assert detector.layers == LAYERS  # the committed model reads every layer
    assert len(detector.input_names()) == detector.mlp.members[0].layers[0][0].shape[0]
    two = TextDetector(detector.ngram, detector.mlp, detector.combiner, {}, detector.backend, layers=2)
    two._embedder = _CountingLayers()
    cols = two.embed(["a", "b"])
    assert cols.shape == (2, 2 * DIM) and cols[0, 0] == (LAYERS - 2) * DIM and cols[1, -1] == LAYERS * DIM - 1


def test_a_stored_layer_count_that_does_not_fit_the_mlp_is_refused(tmp_path: Path, detector: TextDetector) -> None:
    detector.save(tmp_path, {})
    meta = json.loads((tmp_path / "model.json").read_text())
    meta["embedding"]["layers"] = 1
    (tmp_path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="do not match the MLP"):
        TextDetector.load(tmp_path)


def test_style_evidence_names_the_posts_own_style_values(detector: TextDetector) -> None:
    """The style features sit after every embedding column: the evidence must quote their values, not an
    embedding coordinate's."""
    texts = [
        canonical_text(t)
        for t in (
            "WOW!!! Can't believe it... #election #vote #now",
            "Just finished my morning run, feeling great today and ready for the week ahead",
            "Furthermore, it is crucial to note that the committee's findings underscore the importance of trust.",
        )
    ]
    style = style_matrix(texts)
    named = 0
    for i, (text, result) in enumerate(zip(texts, detector.score(texts), strict=True)):
        ev = {e.signal: e for e in result.evidence}["model.style"]
        for name, value in re.findall(r"(\w+)=(-?[\d.]+)", ev.detail):
            assert float(value) == pytest.approx(style[i, STYLE_FEATURES.index(name)], abs=0.006), (text, name)
            named += 1
    assert named > 0


def test_separates_tweepfake_validation_sample(detector: TextDetector) -> None:
    valid = read_tweepfake(DATA, "validation")
    rows = list(range(0, len(valid), 8))  # ~290 posts, both classes
    texts = [valid.raw[i] for i in rows]
    y = np.array([valid.labels[i] for i in rows])
    results = detector.score(texts, with_evidence=False)
    scored = [i for i, r in enumerate(results) if r.machine_score is not None]
    s = np.array([results[i].machine_score for i in scored])
    assert auroc(y[scored], s) > 0.85
    # The 5% threshold holds roughly on these humans too (small sample: generous bound).
    humans = s[y[scored] == 0]
    assert (humans >= detector.threshold(0.05)).mean() < 0.12


def test_evidence_on_every_result(detector: TextDetector) -> None:
    texts: list[str | bytes] = [
        "As an AI language model, I cannot share opinions about candidates.",
        "Can't believe the game last night, what a comeback by the Cubs!!",
        "",
        "🔥🔥🔥",
        "ok",
        "Это просто ужасно, не могу поверить",
        b"caf\xe9 is where we meet every single morning before work",
        "word " * 200_000,
    ]
    results = detector.score(texts)
    assert [results[i].label for i in (2, 3, 5)] == ["unscored"] * 3
    assert results[4].label in ("machine", "human")  # one word: scored, with a stated (wide) interval
    assert results[0].label == "machine" and results[0].machine_score is not None
    assert {e.signal for e in results[0].evidence} >= {"rule.llm_artefact", "model.machine_probability"}
    for r in results:
        assert r.evidence
        if r.label == "unscored":
            assert r.machine_score is None and r.evidence[-1].signal == "unscored" and r.interval is None
        else:
            assert r.machine_score is not None and 0.0 <= r.machine_score <= 1.0
            signals = [e.signal for e in r.evidence]
            assert {"model.machine_probability", "model.uncertainty", "model.ngrams"} <= set(signals)
            assert r.interval is not None and 0.0 <= r.interval[0] < r.interval[1] <= 1.0
    # A decisive rule labels even text the model does not score (here: tagged non-English).
    short = detector.score(["I'm sorry, but I can't help with that."], languages=["fr"])[0]
    assert short.label == "machine" and any(e.signal == "unscored" for e in short.evidence)


def test_short_posts_are_scored_with_a_wider_interval(detector: TextDetector) -> None:
    valid = read_tweepfake(DATA, "validation")
    short = [t for t, n in zip(valid.raw, valid.texts, strict=True) if 1 <= len(words(n)) <= 2][:40]
    long = [t for t, n in zip(valid.raw, valid.texts, strict=True) if len(words(n)) >= 15][:40]
    got_short, got_long = detector.score(short, with_evidence=False), detector.score(long, with_evidence=False)
    assert len(short) == 40 and all(r.label in ("machine", "human") for r in got_short)
    note = next(e for e in got_short[0].evidence if e.signal == "model.uncertainty")
    assert "short text" in note.detail and "calibration posts of 1–3 words" in note.detail

    def width(rs: list[TextResult]) -> float:
        return float(np.mean([r.interval[1] - r.interval[0] for r in rs if r.interval is not None]))

    assert width(got_short) > width(got_long)


def test_interval_holds_the_score_it_qualifies(detector: TextDetector) -> None:
    # A score bin spans a range of scores, so a post's own probability can fall outside its bin's Wilson
    # interval, and a decisive rule's score usually does: the stated interval is widened to reach the reported
    # score, and the evidence keeps the bin's own interval.
    rule = "lol this tweet was generated by ChatGPT"  # the self-disclosure rule decides; the model says less
    texts = [*read_tweepfake(DATA, "validation").raw[:300], rule]
    results = [r for r in detector.score(texts, with_evidence=False) if r.interval is not None]
    assert len(results) > 250
    for r in results:
        assert r.machine_score is not None and r.probability is not None and r.interval is not None
        assert r.interval[0] <= min(r.probability, r.machine_score) <= max(r.probability, r.machine_score)
        assert max(r.probability, r.machine_score) <= r.interval[1]
        low, high = r.as_dict()["interval"]
        assert low <= r.as_dict()["machine_score"] <= high  # still true after the output's rounding
    notes = [next(e.detail for e in r.evidence if e.signal == "model.uncertainty") for r in results]
    widened = [d for d in notes if "widened to reach the model's" in d]
    assert widened and len(widened) < len(notes)  # some probabilities lie outside their bin's interval, not all
    assert all("90% interval" in d for d in notes)
    ruled = results[-1]
    assert ruled.machine_score is not None and ruled.probability is not None and ruled.interval is not None
    assert ruled.machine_score > ruled.probability
    assert "the decisive rule's" in notes[-1] and ruled.interval[1] == ruled.machine_score


def test_interval_reads_the_bin_of_the_score() -> None:
    assert wilson(0, 0) == (0.0, 1.0)
    lo, hi = wilson(8, 10)
    assert 0.5 < lo < 0.8 < hi < 0.97  # Wilson, z = 1.645: 0.541–0.932
    assert abs(lo - 0.5408) < 1e-3 and abs(hi - 0.9315) < 1e-3
    bucket = LengthBucket(1, 3, Combiner(1.0, 1.0, 0.0), (0.2, 0.6), (10, 20, 10), (1, 10, 8))
    assert bucket.interval(0.1)[1:] == (10, 1, (0.0, 0.2))
    assert bucket.interval(0.6)[1:] == (10, 8, (0.6, 1.0))  # an edge belongs to the bin above it
    assert bucket.interval(0.7)[0] == wilson(8, 10)
    assert LengthBucket.from_json(bucket.as_json()) == bucket
    assert bucket_bounds((4, 10)) == [(1, 3), (4, 9), (10, None)]


def test_reliability_bins_count_every_calibration_row() -> None:
    rng = np.random.default_rng(2)
    p = rng.random(400)
    y = (rng.random(400) < p).astype(np.int64)
    edges, n, k = reliability_bins(p, y)
    assert len(edges) == 9 and sum(n) == 400 and sum(k) == int(y.sum())
    assert all(30 <= c <= 50 for c in n)  # quantile bins: about equal counts
    assert k[0] < k[-1]  # higher scores, more machine posts
    assert reliability_bins(np.zeros(0), np.zeros(0, dtype=np.int64)) == ((), (0,), (0,))


def test_cli_score_text_jsonl_and_csv(tmp_path: Path, detector: TextDetector) -> None:
    src = tmp_path / "in.jsonl"
    with src.open("wb") as f:
        for i, text in enumerate(["The markets rallied today after the jobs report beat expectations", "", "🔥"]):
            f.write(json.dumps({"id": i, "text": text}).encode() + b"\n")
        f.write(b'{"id": "bad", "text": "invalid \xff utf-8 inside a perfectly normal sentence here"}\n')
        f.write(b"{not json\n")
        f.write(b'{"id": "none"}\n')
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["score", "text", "--input", str(src), "--output", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["id"] for line in lines] == ["0", "1", "2", "bad", "line:5", "none"]
    for line in lines:
        assert {"id", "machine_score", "label", "evidence"} <= set(line)
        assert line.get("interval") is None or line["label"] != "unscored"
        assert line["label"] in ("machine", "human", "unscored")
    assert lines[0]["label"] in ("machine", "human") and lines[3]["label"] in ("machine", "human")
    assert lines[4]["evidence"][0]["signal"] == "input_error"

    csv_src = tmp_path / "in.csv"
    csv_src.write_text('post_id,body\nx1,"Hello there, this is a plain human sentence, honestly"\nx2,\n')
    out2 = tmp_path / "out2.jsonl"
    args = ["score", "text", "--input", str(csv_src), "--output", str(out2), "--text-column", "body",
            "--id-column", "post_id"]  # fmt: skip
    assert CliRunner().invoke(app, args).exit_code == 0
    got = [json.loads(line) for line in out2.read_text().splitlines()]
    assert [g["id"] for g in got] == ["x1", "x2"] and got[1]["label"] == "unscored"
    bad = CliRunner().invoke(app, ["score", "text", "--input", str(csv_src), "--output", str(out2)])
    assert bad.exit_code != 0  # no "text" column: a usage error, not a traceback
    assert not isinstance(bad.exception, KeyError)


def test_cli_narratives_stable_across_runs(tmp_path: Path) -> None:
    src = tmp_path / "posts.jsonl"
    posts = [
        "Crooked media hides the truth about the debate again #tcot",
        "RT @x: Crooked media hides the truth about the debate again #tcot",
        "Totally unrelated post about my cat sleeping on the keyboard",
        "",
    ]
    src.write_text("".join(json.dumps({"id": f"p{i}", "text": t}) + "\n" for i, t in enumerate(posts)))
    runs = []
    for n in range(2):
        out = tmp_path / f"n{n}.jsonl"
        args = ["narratives", "--input", str(src), "--output", str(out), "--copies-only", "--state",
                str(tmp_path / "state")]  # fmt: skip
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        runs.append([json.loads(line) for line in out.read_text().splitlines()])
    ids = [r["narrative_id"] for r in runs[0]]
    assert ids[0] == ids[1] != ids[2] and ids[3] is None
    assert [r["narrative_id"] for r in runs[1]] == ids  # second run, state reloaded: same ids
    assert [r["how"] for r in runs[1][:3]] == ["exact", "exact", "exact"]


def test_a_score_does_not_depend_on_the_posts_scored_with_it() -> None:
    """Bit for bit: the stream scores a post in whatever batch Kafka hands over, `score text` scores it alone."""
    detector = shared_detector()
    texts = [
        "Just finished my morning run, feeling great!",
        "BREAKING: the committee has released its report on the election",
        "I am an AI language model and I love helping people with their questions today",
        "lol",
        "Vote early, vote often. The polls open at 7am tomorrow in every county.",
    ]
    together = [r.machine_score for r in detector.score(texts)]
    for text, score in zip(texts, together, strict=True):
        assert detector.score([text])[0].machine_score == score, text
