"""Thresholds re-picked on a user's own human posts: the promise they keep, the file, and the CLI around them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom  # type: ignore[import-untyped, unused-ignore]
from typer.testing import CliRunner

from flockwatch.cli.app import app
from flockwatch.config import Settings
from flockwatch.text.thresholds import (
    PopulationThresholds,
    fpr_upper_bound,
    min_humans,
    pick_thresholds,
    threshold_at_fpr,
)

DATA = Settings().data_dir


def _squash(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


def test_threshold_at_fpr_keeps_its_promise() -> None:
    rng = np.random.default_rng(0)
    humans = rng.random(1000)
    for fpr in (0.0, 0.01, 0.05, 0.5):
        t = threshold_at_fpr(humans, fpr)
        assert (humans >= t).mean() <= fpr
        # ...and is the smallest such threshold: one step lower would break it (ties aside).
        if fpr > 0:
            assert (humans >= np.nextafter(t, -np.inf)).mean() > fpr
    for bad in ([], [0.5, float("nan")], [float("inf")]):
        with pytest.raises(ValueError, match="finite"):
            threshold_at_fpr(bad, 0.01)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=100, max_size=400),
    st.sampled_from([0.01, 0.02, 0.05, 0.1]),
)
def test_picked_thresholds_hold_on_their_sample_and_round_trip(scores: list[float], fpr: float) -> None:
    picked = pick_thresholds(scores, [fpr], model="m@1", source="s.jsonl", unscored=3)
    t = picked.thresholds[f"fpr_{fpr:g}"]
    flagged = sum(s >= t.threshold for s in scores)
    assert t.flagged == flagged <= fpr * len(scores)
    assert flagged / len(scores) <= t.fpr_upper_90 <= 1.0
    assert picked.humans == len(scores) and picked.unscored == 3


def test_the_upper_bound_is_clopper_pearson() -> None:
    # 0 of n: the exact one-sided bound is 1 - 0.1 ** (1 / n).
    assert fpr_upper_bound(0, 100) == pytest.approx(1 - 0.1 ** (1 / 100))
    assert fpr_upper_bound(5, 100) > 0.05 > fpr_upper_bound(0, 100)
    assert fpr_upper_bound(3, 3) == 1.0
    for k, n in ((1, 100), (5, 100), (11, 1136), (56, 1136)):
        # The bound u is where seeing k or fewer becomes a 10% event: P(X <= k | n, u) = 0.1.
        assert binom.cdf(k, n, fpr_upper_bound(k, n)) == pytest.approx(0.1, abs=1e-6)


def test_too_small_a_sample_or_a_rate_out_of_range_is_refused(tmp_path: Path) -> None:
    assert min_humans(0.01) == 100 and min_humans(0.05) == 20
    with pytest.raises(ValueError, match="at least 100"):
        pick_thresholds([0.5] * 99, [0.01], model="m", source="s")
    with pytest.raises(ValueError, match="between 0 and 1"):
        pick_thresholds([0.5] * 99, [1.0], model="m", source="s")
    bad = tmp_path / "t.json"
    good = pick_thresholds([i / 200 for i in range(200)], [0.01], model="m", source="s")
    good.save(bad)
    doc = json.loads(bad.read_text())
    broken = []
    for field, value in (("threshold", "NaN"), ("threshold", 1.5), ("fpr_upper_90", -0.1), ("flagged", "2")):
        entry = {**doc["thresholds"]["fpr_0.01"], field: value}
        # NaN as JSON writes it (json.loads reads the bare word): it would label nothing machine
        broken.append(json.dumps({**doc, "thresholds": {"fpr_0.01": entry}}).replace('"NaN"', "NaN"))
    for text in ("{not json", json.dumps({"format": 99}), json.dumps({"format": 1, "model": "m"}), "[]", *broken):
        bad.write_text(text)
        with pytest.raises(ValueError, match="not a thresholds file"):
            PopulationThresholds.load(bad)


def _humans(path: Path) -> int:
    """TweepFake validation's human tweets as a JSONL sample."""
    n = 0
    with (DATA / "text/tweepfake/validation.csv").open(encoding="utf-8", newline="") as f, path.open("w") as out:
        for i, row in enumerate(csv.DictReader(f, delimiter=";")):
            if row["account.type"] == "human":
                out.write(json.dumps({"id": i, "text": row["text"]}) + "\n")
                n += 1
    return n


def test_cli_calibrate_text_then_score_at_those_thresholds(tmp_path: Path) -> None:
    humans, picked_file, out = tmp_path / "humans.jsonl", tmp_path / "t.json", tmp_path / "out.jsonl"
    n = _humans(humans)
    with humans.open("a") as f:  # humans quoting LLM boilerplate: a rule raises the first, labels the second
        for i, (text, lang) in enumerate([("Je ne peux pas répondre, désolé. As an AI language model, I cannot.", None),
                                          ("As an AI language model", "fr")]):  # fmt: skip
            f.write(json.dumps({"id": f"quote{i}", "text": text, "language": lang}) + "\n")
    n += 2
    result = CliRunner().invoke(
        app, ["calibrate", "text", "--humans", str(humans), "--output", str(picked_file), "--fpr", "0.01"]
    )
    assert result.exit_code == 0, result.output
    assert "fpr_0.01:" in result.output and "90% upper bound" in result.output
    picked = PopulationThresholds.load(picked_file)
    assert set(picked.thresholds) == {"fpr_0.01"} and picked.humans + picked.unscored + picked.rule_labelled == n
    assert picked.rule_labelled == 1 and "1 labelled machine by a rule" in result.output
    assert picked.model.startswith("text_detector@")

    args = ["score", "text", "--input", str(humans), "--output", str(out), "--thresholds", str(picked_file)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    by_model = [line for line in lines if line["evidence"][0]["signal"] == "model.machine_probability"]
    assert len(by_model) == picked.humans
    # The promise on the sample it was picked on: at most 1% of these humans labelled machine by the model.
    flagged = [line for line in by_model if line["label"] == "machine"]
    assert len(flagged) == picked.thresholds["fpr_0.01"].flagged <= 0.01 * picked.humans
    assert f"picked on {picked.humans} human posts of humans.jsonl" in by_model[0]["evidence"][0]["detail"]


def test_cli_refuses_thresholds_of_another_model_or_too_few_humans(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    pick_thresholds([0.1] * 100, [0.01], model="text_detector@0000000000", source="x").save(other)
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": 1, "text": "a plain sentence about the weather today"}\n')
    args = ["score", "text", "--input", str(src), "--output", str(tmp_path / "o.jsonl"), "--thresholds", str(other)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "pick them again" in _squash(result.output)
    result = CliRunner().invoke(app, ["calibrate", "text", "--humans", str(src), "--output", str(tmp_path / "t.json")])
    assert result.exit_code == 2 and "give at least 100" in _squash(result.output)
    result = CliRunner().invoke(
        app, ["calibrate", "text", "--humans", str(src), "--output", str(tmp_path / "t.json"), "--fpr", "5"]
    )
    assert result.exit_code == 2 and "--fpr" in _squash(result.output)
    assert not (tmp_path / "t.json").exists()


def test_the_pipeline_labels_at_the_configured_thresholds(tmp_path: Path) -> None:
    """FLOCKWATCH_TEXT_THRESHOLDS: the text stage's detector and the account rollups' post threshold follow it."""
    from flockwatch.text.detector import shared_detector, stored_threshold
    from flockwatch.workers import post_threshold, text_detector

    shipped = shared_detector()
    assert text_detector(Settings(text_thresholds=None)) is shipped
    assert post_threshold(Settings(text_thresholds=None)) == stored_threshold(0.01)

    scores = list(np.random.default_rng(3).random(500) * 0.5)
    path = tmp_path / "t.json"
    pick_thresholds(scores, [0.01, 0.05], model=shipped.name, source="ours.jsonl").save(path)
    settings = Settings(text_thresholds=path)
    detector = text_detector(settings)
    assert detector.threshold(0.01) == post_threshold(settings) == threshold_at_fpr(scores, 0.01) < 0.5
    assert shipped.threshold(0.01) > 0.5  # the shared, shipped detector is left as it was
    (result,) = detector.score(["The markets rallied today after the jobs report beat expectations"])
    assert "picked on 500 human posts of ours.jsonl" in result.evidence[0].detail
    assert "the 1%-false-positive threshold" in result.evidence[0].detail
    half = shipped.with_thresholds(pick_thresholds(scores, [0.005], model=shipped.name, source="ours.jsonl"))
    (result,) = half.score(["The markets rallied today after the jobs report beat expectations"], fpr=0.005)
    assert "the 0.5%-false-positive threshold" in result.evidence[0].detail  # not "0%", as it once said

    pick_thresholds(scores, [0.01], model="text_detector@0000000000", source="x").save(path)
    with pytest.raises(ValueError, match="pick them again"):
        text_detector(settings)
    # The stage labels at 1%: a file without that threshold stops it at the start, not post by post.
    pick_thresholds(scores, [0.05], model=shipped.name, source="x").save(path)
    with pytest.raises(ValueError, match=r"labels at 0\.01"):
        text_detector(settings)
