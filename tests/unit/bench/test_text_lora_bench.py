"""The LoRA exploration bench: adapters start as the frozen model, only adapters and head train, and the section
shows the figures the run computed (a tiny run on real TweepFake rows)."""

from __future__ import annotations

import numpy as np
import torch

from bench.text_lora import Options, TunedEncoder, run, section, train

TEXTS = ["the quick brown fox jumps", "vote early, vote often #election", "I never said that!!", "ok"]


def test_adapters_start_as_the_frozen_model_and_only_they_and_the_head_train() -> None:
    from transformers import AutoModel, AutoTokenizer

    from flockwatch.text.embed import model_dir

    torch.manual_seed(0)
    tuned = TunedEncoder(rank=4)
    frozen = AutoModel.from_pretrained(str(model_dir()), local_files_only=True).eval()
    batch = dict(AutoTokenizer.from_pretrained(str(model_dir()))(TEXTS, padding=True, return_tensors="pt"))
    tuned.eval()
    with torch.no_grad():
        assert torch.allclose(tuned.encoder(**batch).last_hidden_state, frozen(**batch).last_hidden_state, atol=1e-5)
    before = {n: p.detach().clone() for n, p in tuned.named_parameters()}
    losses = train(tuned, TEXTS * 4, np.array([0, 1, 1, 0] * 4), Options(epochs=2, batch=4, lr=1e-2))
    assert len(losses) == 8
    changed = {n for n, p in tuned.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all(n.startswith("head.") or n.endswith((".a", ".b")) for n in changed)
    assert any(n.endswith(".b") for n in changed)  # the adapters moved off zero


def test_a_tiny_run_reports_what_it_measured() -> None:
    r = run(Options(epochs=1, limit=64, dev_limit=300))
    assert (r["train_rows"], r["dev_rows"], r["steps"]) == (64, 300, 2)
    for name in ("tuned", "shipped", "fused"):
        assert 0.0 <= r[name]["auroc"] <= 1.0 and 0.0 <= r[name]["tpr_at_1pct_fpr"] <= 1.0
    body = section(r)
    assert f"| LoRA-tuned encoder alone | {r['tuned']['auroc']:.3f} | {r['tuned']['tpr_at_1pct_fpr']:.3f} |" in body
    assert f"{r['dev_rows']} texts, {r['dev_machine']} machine" in body
    assert r["shipped"]["auroc"] > 0.8  # the shipped detector's log-odds, the right way round
