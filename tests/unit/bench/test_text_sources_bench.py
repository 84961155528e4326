"""The MLP-target bench: each target's dev, held-out-human, seen-account and leave-one-out figures side by side."""

from __future__ import annotations

from bench.text_sources import Result, render


def _result(target: str, outputs: int, auroc: float, loo_tpr: float) -> Result:
    dev = {
        "auroc": auroc,
        "tpr_at_0.01_fpr_roc": 0.38,
        "tpr_at_0.05_fpr_roc": 0.61,
        "at_stored_threshold_0.01": {"tpr": 0.44, "fpr": 0.018},
        "auroc_by_generator": {"rnn": 0.99, "gpt2": 0.88},
    }
    seen = {"auroc": auroc + 0.01, "tpr_at_0.01_fpr_roc": 0.45}
    loo = {"GPT-4": {"n": 800, "tpr_at_stored_0.01": loo_tpr, "held_out_human_fpr_at_stored_0.01": 0.02}}
    return Result(target, outputs, dev, {0.01: 0.02, 0.05: 0.13}, seen, loo, 250.0)


def test_the_section_shows_every_target_side_by_side() -> None:
    body = render([_result("machine", 1, 0.935, 0.892), _result("sources", 41, 0.952, 0.915)])
    tail = "| 0.440 / 0.018 | gpt2 0.880, rnn 0.990 | 0.02 / 0.13 |"
    assert f"| machine | 1 | 0.935 | 0.380 | 0.610 {tail} 0.945 | 0.450 |" in body
    assert f"| sources | 41 | 0.952 | 0.380 | 0.610 {tail} 0.962 | 0.450 |" in body
    assert "| GPT-4 | 800 | 0.892 / 0.02 | 0.915 / 0.02 |" in body
    assert "machine: 250, sources: 250" in body


def test_without_leave_one_out_there_is_no_such_table() -> None:
    body = render([Result(**{**_result("machine", 1, 0.9, 0.9).__dict__, "loo": {}})])
    assert "leave-one-generator-out" not in body
