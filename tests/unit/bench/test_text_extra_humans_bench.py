"""The extra-humans bench: each detector's dev, held-out-human, seen-account and leave-one-out figures side by side."""

from __future__ import annotations

from bench.text_extra_humans import Result, render


def _result(humans: str, rows: int, auroc: float, loo_tpr: float) -> Result:
    dev = {"auroc": auroc, "tpr_at_0.01_fpr_roc": 0.45, "at_stored_threshold_0.01": {"tpr": 0.48, "fpr": 0.012}}
    held = {"AuthorMimic": {0.01: 0.03, 0.05: 0.21}, "RumourEval": {0.01: 0.002, 0.05: 0.033}}
    seen = {"auroc": auroc + 0.01, "tpr_at_0.01_fpr_roc": 0.44}
    loo = {
        "GPT-4": {
            "n": 800,
            "tpr_at_stored_0.01": loo_tpr,
            "held_out_human_fpr_at_stored_0.01": 0.02,
            "auroc_vs_held_out_humans": 0.9832,
        }
    }
    return Result(humans, rows, dev, held, seen, loo, 300.0)


def test_the_section_shows_both_detectors_side_by_side() -> None:
    body = render(
        [_result("none (shipped)", 0, 0.949, 0.91), _result("RumourEval 2017, half", 2223, 0.95, 0.916)], 2184
    )
    tail = "| 0.450 | 0.480 / 0.012 | 0.03 / 0.21 | 0.002 / 0.033 |"
    assert f"| none (shipped) | 0 | 0.949 {tail} 0.959 | 0.440 |" in body
    assert f"| RumourEval 2017, half | 2223 | 0.950 {tail} 0.960 | 0.440 |" in body
    assert "| GPT-4 | 800 | 0.910 / 0.02 / 0.9832 | 0.916 / 0.02 / 0.9832 |" in body
    assert "2184 posts, never trained on" in body
    assert "none (shipped): 300, RumourEval 2017, half: 300" in body


def test_without_leave_one_out_there_is_no_such_table() -> None:
    body = render([Result(**{**_result("none (shipped)", 0, 0.9, 0.9).__dict__, "loo": {}})], 10)
    assert "leave-one-generator-out" not in body
