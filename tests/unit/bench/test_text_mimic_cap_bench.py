"""The AuthorMimic cap bench: each cap's dev row and leave-one-out rows side by side, as measured."""

from __future__ import annotations

from bench.text_mimic_cap import Result, render


def _result(cap: int, auroc: float, tpr: float) -> Result:
    dev = {"auroc": auroc, "tpr_at_0.01_fpr_roc": 0.38, "at_stored_threshold_0.01": {"tpr": 0.44, "fpr": 0.018}}
    row = {"tpr_at_stored_0.01": tpr, "held_out_human_fpr_at_stored_0.01": 0.05, "auroc_vs_held_out_humans": 0.98}
    loo = {"by_prompt": {"p1": {"n": cap * 10, **row}}, "by_generator": {}}
    return Result(cap, 20000 + cap, dev, 0.04, loo, 300.0)


def test_the_section_shows_every_cap_side_by_side() -> None:
    body = render([_result(150, 0.939, 0.86), _result(400, 0.935, 0.929)])
    assert "| 150 | 20150 | 0.939 | 0.380 | 0.440 / 0.018 | 0.04 |" in body
    assert "| 400 | 20400 | 0.935 | 0.380 | 0.440 / 0.018 | 0.04 |" in body
    assert "| prompt p1 | 150 | 1500 | 0.860 | 0.05 | 0.9800 |" in body
    assert "| prompt p1 | 400 | 4000 | 0.929 | 0.05 | 0.9800 |" in body
    assert "150: 300, 400: 300" in body
