"""The zero-shot LM bench: the LM is causal, its signals are Fast-DetectGPT's formulas token by token whatever the
batch, and the section shows the figures the run computed (a tiny run on real rows)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch

import bench.text_lm as text_lm
from bench.text_lm import Options, TinyLM, signals, train

from .sections import written_section


def tiny_lm() -> TinyLM:
    torch.manual_seed(0)
    return TinyLM(vocab=50, width=16, layers=2, heads=2, context=16).eval()


def test_the_lm_is_causal() -> None:
    lm = tiny_lm()
    a = torch.tensor([[1, 5, 7, 9, 11]])
    b = torch.tensor([[1, 5, 7, 30, 40]])
    with torch.no_grad():
        assert torch.allclose(lm(a)[:, :3], lm(b)[:, :3], atol=1e-6)
        assert not torch.allclose(lm(a)[:, 3:], lm(b)[:, 3:])


def test_training_needs_a_batch_of_texts() -> None:
    with pytest.raises(ValueError, match="fewer than one batch"):
        train(tiny_lm(), [[1, 2, 3]] * 10, Options(batch=64, steps=5))


def test_signals_follow_the_formulas_whatever_the_batch() -> None:
    lm = tiny_lm()
    seq = [1, 4, 8, 15, 16, 23, 42]
    with torch.no_grad():
        logp = torch.log_softmax(lm(torch.tensor([seq[:-1]])).double(), -1)[0]
    observed, mu, var, entropy = [], [], [], []
    for t, token in enumerate(seq[1:]):
        lp = logp[t].tolist()
        m = sum(math.exp(x) * x for x in lp)
        observed.append(lp[token])
        mu.append(m)
        var.append(sum(math.exp(x) * x * x for x in lp) - m * m)
        entropy.append(-m)
    n = len(observed)
    d = sum(o - m for o, m in zip(observed, mu, strict=True)) / math.sqrt(sum(var))
    expected = [d, sum(observed) / n, sum(entropy) / n, math.log(n)]
    alone = signals(lm, [seq])[0]
    beside_longer = signals(lm, [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], seq, [1, 3]])[1]  # padded in its batch
    assert alone == pytest.approx(expected, abs=1e-6)
    assert beside_longer == pytest.approx(expected, abs=1e-6)


def test_a_tiny_run_writes_what_it_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    @dataclass
    class Tiny(Options):
        vocab: int = 300
        population_limit: int = 300
        eval_limit: int | None = 200

    monkeypatch.setattr(text_lm, "Options", Tiny)
    # --limit never writes; the tiny run is asked for without it and caught before it reaches the docs.
    name, command, body = written_section(monkeypatch, text_lm, "--steps", "3", "--layers", "1", "--width", "32")
    assert (name, command) == (text_lm.SECTION, text_lm.COMMAND)
    assert "3 steps of 64 texts" in body and "1 layers, width 32" in body
    rows = [line for line in body.splitlines() if line.startswith("| shipped detector alone |")]
    assert len(rows) == 2  # TweepFake validation and AuthorMimic
    auroc = float(rows[0].split("|")[2])
    assert 0.8 < auroc <= 1.0  # the shipped detector's log-odds, the right way round
    assert "dev split; 200 texts," in body and "(300 texts, 200 machine;" in body  # 100 held-out humans
