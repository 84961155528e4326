"""Machine text: a zero-shot language-model signal from a small causal LM trained on human tweets (an exploration)

Issue 16 asks for a zero-shot signal in the spirit of Fast-DetectGPT (Bao et al. 2024, "Fast-DetectGPT: Efficient
Zero-Shot Detection of Machine-Generated Text via Conditional Probability Curvature") from a small causal LM whose
weights come from a registry package or that Flockwatch trains itself on human text. No registry package carries a
causal LM, so this trains one, on the CPU, and measures what its signal adds to the shipped detector:

* **human text only**: IRA 2016 tweets (English, not retweets), RumourEval 2017 posts and Twitter15 source
  tweets, normalised as the detector normalises them, duplicates dropped; a 2% hash share is kept aside to report
  the LM's own perplexity. No machine text and nothing of TweepFake or AuthorMimic: the TweepFake splits share
  their accounts, so training on TweepFake train humans would teach the LM the dev humans' own accounts (and any
  text equal to an evaluation text is dropped as well);
* **tokeniser**: byte-level BPE trained on that text (``tokenizers``; case kept, unlike MiniLM's WordPiece);
* **LM**: a small pre-norm transformer decoder (learned positions, tied input/output embeddings, causal mask),
  AdamW with a one-cycle learning rate, next-token cross-entropy, a fixed number of steps;
* **signal**, per text ``x`` of ``n`` tokens, with ``p_t`` the LM's next-token distribution at position ``t``:
  mean log-likelihood ``L = (1/n) sum_t log p_t(x_t)``, mean entropy ``H = (1/n) sum_t -E_{p_t}[log p_t]``, and the
  analytic conditional-probability curvature with the LM as both sampling and scoring model,
  ``D = sum_t (log p_t(x_t) - mu_t) / sqrt(sum_t sigma_t^2)`` where ``mu_t = E_{p_t}[log p_t]`` and
  ``sigma_t^2 = Var_{p_t}[log p_t]`` (Fast-DetectGPT's analytic criterion). Its premise: machine text sits where
  ``D`` is high, under an LM close to the one that wrote it;
* **reported** (nothing here chooses a shipped setting): AUROC of each signal alone and TPR at 1% FPR (ROC point)
  on TweepFake validation (the detector's dev split) and on AuthorMimic machine tweets the detector did not train
  on against its held-out humans; and the shipped detector's logit fused with ``[D, L, H, log n]`` by a logistic
  regression fitted on one half of each set (by text hash) and scored on the other, both ways round, beside the
  shipped detector alone.

What it does not show: a strong LM, or one that knows machine text (this one is small and trained on about a
million tokens of human tweets), or a threshold chosen on one split and applied to another.
Writes the "Text: zero-shot language-model signal (exploration)" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from flockwatch.config import Settings
from flockwatch.metrics import auroc_pos_neg
from flockwatch.text.canonical import MIN_WORDS, assess, canonical_text
from flockwatch.text.data import read_tweepfake
from flockwatch.training.text import bucket, load_corpora

from .report import write_section
from .text_lora import figures, fused_out_of_fold
from .text_thresholds import population_texts, unseen_machine_texts

SECTION = "Text: zero-shot language-model signal (exploration)"
COMMAND = "python -m bench.text_lm"
BOS = "<|bos|>"
HUMAN_POPULATIONS = ("ira_2016", "rumoureval2017", "twitter15")


@dataclass
class Options:
    vocab: int = 8192
    width: int = 256
    layers: int = 2
    heads: int = 4
    context: int = 64
    steps: int = 2500
    batch: int = 64
    lr: float = 2e-3
    seed: int = 0
    population_limit: int = 300_000
    limit: int | None = None  # human texts (a quick look; never written)
    eval_limit: int | None = None  # dev texts and AuthorMimic machine tweets (a quick look; never written)


class TinyLM(torch.nn.Module):
    """A pre-norm transformer decoder with learned positions and tied embeddings: logits for the next token."""

    def __init__(self, vocab: int, width: int, layers: int, heads: int, context: int) -> None:
        super().__init__()
        self.tokens = torch.nn.Embedding(vocab, width)
        self.positions = torch.nn.Embedding(context, width)
        block = torch.nn.TransformerEncoderLayer(
            width, heads, 4 * width, dropout=0.1, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = torch.nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = torch.nn.LayerNorm(width)
        # Both small (nn.Embedding's default is N(0, 1)): positions that large drown the tokens after the first norm.
        torch.nn.init.normal_(self.tokens.weight, std=0.02)
        torch.nn.init.normal_(self.positions.weight, std=0.02)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        h = self.tokens(ids) + self.positions(torch.arange(t))
        causal = torch.nn.Transformer.generate_square_subsequent_mask(t)
        h = self.blocks(h, mask=causal, is_causal=True)
        out: torch.Tensor = self.norm(h) @ self.tokens.weight.T
        return out


def human_texts(opt: Options, leave_out: set[str]) -> list[str]:
    """The LM's training text: human posts only, none of ``leave_out``, deduplicated, in a fixed order."""
    settings = Settings()
    texts = {
        canonical_text(t)
        for name in HUMAN_POPULATIONS
        for _, t in population_texts(name, opt.population_limit, settings)
    }
    ordered = sorted(
        (t for t in texts if t.strip() and t not in leave_out), key=lambda t: hashlib.sha256(t.encode()).digest()
    )
    return ordered[: opt.limit] if opt.limit else ordered


def train_tokenizer(texts: list[str], vocab: int) -> Any:
    from tokenizers import ByteLevelBPETokenizer

    tokenizer = ByteLevelBPETokenizer()
    tokenizer.train_from_iterator(texts, vocab_size=vocab, min_frequency=2, special_tokens=[BOS], show_progress=False)
    return tokenizer


def encode(tokenizer: Any, texts: list[str], context: int) -> list[list[int]]:
    bos = tokenizer.token_to_id(BOS)
    return [[bos, *e.ids[: context - 1]] for e in tokenizer.encode_batch(texts)]


def padded(seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, mask of real tokens), right-padded with 0: the causal mask keeps padding out of every real position."""
    width = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), width, dtype=torch.long)
    mask = torch.zeros(len(seqs), width, dtype=torch.bool)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = True
    return ids, mask


def train(model: TinyLM, seqs: list[list[int]], opt: Options) -> list[float]:
    optimiser = torch.optim.AdamW(model.parameters(), lr=opt.lr, weight_decay=0.01)
    # 5% warm-up; OneCycleLR divides by zero when the warm-up is exactly one step.
    warmup = min(0.3, max(0.05, 3 / opt.steps))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=opt.lr, total_steps=opt.steps, pct_start=warmup)
    rng = np.random.default_rng(opt.seed)
    usable = [s for s in seqs if len(s) > 1]
    if len(usable) < opt.batch:
        raise ValueError(f"{len(usable)} texts to train on, fewer than one batch of {opt.batch}")
    losses: list[float] = []
    model.train()
    while len(losses) < opt.steps:
        order = rng.permutation(len(usable))
        for start in range(0, len(order) - opt.batch + 1, opt.batch):
            if len(losses) == opt.steps:
                break
            ids, mask = padded([usable[i] for i in order[start : start + opt.batch]])
            logits = model(ids[:, :-1])
            loss = torch.nn.functional.cross_entropy(logits[mask[:, 1:]], ids[:, 1:][mask[:, 1:]])
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            losses.append(loss.item())
            if len(losses) % 250 == 0:
                print(f"step {len(losses)}: loss {np.mean(losses[-250:]):.3f}", flush=True)
    return losses


@torch.no_grad()
def signals(model: TinyLM, seqs: list[list[int]]) -> NDArray[np.float64]:
    """Per text: [D (curvature), L (mean log-likelihood), H (mean entropy), log n]; see the module docstring."""
    model.eval()
    out = np.zeros((len(seqs), 4))
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))  # similar lengths share a batch
    for start in range(0, len(order), 256):
        idx = order[start : start + 256]
        ids, mask = padded([seqs[i] if len(seqs[i]) > 1 else [*seqs[i], seqs[i][0]] for i in idx])
        logp = torch.log_softmax(model(ids[:, :-1]).double(), dim=-1)
        real = mask[:, 1:].double()
        observed = logp.gather(-1, ids[:, 1:, None]).squeeze(-1)
        p = logp.exp()
        mu = (p * logp).sum(-1)
        var = (p * logp**2).sum(-1) - mu**2
        n = real.sum(1)
        d = ((observed - mu) * real).sum(1) / (var * real).sum(1).clamp(min=1e-9).sqrt()
        out[idx, 0] = d.numpy()
        out[idx, 1] = ((observed * real).sum(1) / n).numpy()
        out[idx, 2] = ((-mu * real).sum(1) / n).numpy()
        out[idx, 3] = torch.log(n).numpy()
    return out


def shipped_logits(texts: list[str]) -> NDArray[np.float64]:
    from flockwatch.text.detector import shared_detector

    p = np.clip(shared_detector().probabilities(texts), 1e-6, 1 - 1e-6)
    return np.asarray(np.log(p / (1 - p)), dtype=np.float64)


def evaluate(lm: NDArray[np.float64], texts: list[str], y: NDArray[Any]) -> dict[str, Any]:
    """Figures of the LM's signals (rows of :func:`signals`), of the shipped detector, and of both fused."""
    shipped = shipped_logits(texts)
    return {
        "rows": len(texts),
        "machine": int(y.sum()),
        "D": figures(y, lm[:, 0]),
        "L": figures(y, lm[:, 1]),
        "-H": figures(y, -lm[:, 2]),
        "shipped": figures(y, shipped),
        "fused": figures(y, fused_out_of_fold(np.c_[shipped, lm], y, texts)),
        "shipped_oof": figures(y, fused_out_of_fold(shipped[:, None], y, texts)),
    }


def scoreable(texts: list[str], labels: list[int]) -> tuple[list[str], NDArray[Any]]:
    keep = [i for i, t in enumerate(texts) if assess(t, min_words=MIN_WORDS).scoreable]
    return [texts[i] for i in keep], np.array([labels[i] for i in keep])


def run(opt: Options) -> dict[str, Any]:
    torch.manual_seed(opt.seed)
    settings = Settings()
    dev = read_tweepfake(settings.data_dir, "validation")
    dev = dev.subset([i for i, t in enumerate(dev.texts) if assess(t, min_words=MIN_WORDS).scoreable][: opt.eval_limit])
    dev_texts, dev_y = dev.texts, np.array(dev.labels)
    _, _, held_humans = load_corpora(settings.data_dir)
    machine = [canonical_text(t) for t in unseen_machine_texts(settings, opt.eval_limit or 2000)]
    mimic_texts, mimic_y = scoreable(machine + held_humans.texts, [1] * len(machine) + [0] * len(held_humans))

    texts = human_texts(opt, leave_out=set(dev_texts) | set(mimic_texts))
    held = [t for t in texts if bucket(f"lm:{t}", 50) == 0]
    fit = [t for t in texts if bucket(f"lm:{t}", 50) != 0]
    tokenizer = train_tokenizer(fit, opt.vocab)
    seqs = encode(tokenizer, fit, opt.context)
    model = TinyLM(tokenizer.get_vocab_size(), opt.width, opt.layers, opt.heads, opt.context)
    started = time.perf_counter()
    losses = train(model, seqs, opt)
    seconds = time.perf_counter() - started
    held_seqs = encode(tokenizer, held, opt.context)
    held_ll = signals(model, held_seqs)
    n_held = np.array([len(s) - 1 for s in held_seqs])
    perplexity = math.exp(-float((held_ll[:, 1] * n_held).sum() / n_held.sum()))

    dev_lm = signals(model, encode(tokenizer, dev_texts, opt.context))
    generator = np.array(dev.generators)
    per_generator = {
        g: auroc_pos_neg(dev_lm[generator == g, 0], dev_lm[generator == "human", 0])
        for g in sorted(set(dev.generators) - {"human"})
    }
    return {
        "options": opt,
        "human_texts": len(fit),
        "tokens": int(sum(len(s) - 1 for s in seqs)),
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_seconds": seconds,
        "first_loss": float(np.mean(losses[:50])),
        "last_loss": float(np.mean(losses[-50:])),
        "held_texts": len(held),
        "perplexity": perplexity,
        "dev": evaluate(dev_lm, dev_texts, dev_y),
        "dev_D_per_generator": per_generator,
        "mimic": evaluate(signals(model, encode(tokenizer, mimic_texts, opt.context)), mimic_texts, mimic_y),
    }


def section(r: dict[str, Any]) -> str:
    opt: Options = r["options"]

    def rows(e: dict[str, Any]) -> str:
        names = [
            ("curvature `D` alone", "D"),
            ("mean log-likelihood `L` alone", "L"),
            ("mean entropy, negated, alone", "-H"),
            ("shipped detector alone", "shipped"),
            ("shipped detector alone, through the same out-of-fold fit", "shipped_oof"),
            ("shipped + `[D, L, H, log n]`, fused out of fold", "fused"),
        ]
        return "\n".join(f"| {name} | {e[k]['auroc']:.3f} | {e[k]['tpr_at_1pct_fpr']:.3f} |" for name, k in names)

    mimic = r["mimic"]
    head = "| scores | AUROC | TPR at 1% FPR (ROC) |\n|---|---|---|\n"
    per_gen = ", ".join(f"{g} {a:.3f}" for g, a in r["dev_D_per_generator"].items())
    return (
        f"LM: {r['parameters']:,} parameters ({opt.layers} layers, width {opt.width}, {opt.heads} heads, "
        f"{opt.context} tokens, byte-level BPE of {opt.vocab} tokens), trained on {r['human_texts']:,} human texts "
        f"({r['tokens']:,} tokens): {opt.steps} steps of {opt.batch} texts, learning rate {opt.lr:g}, seed "
        f"{opt.seed}, {r['train_seconds'] / 60:.1f} min on the CPU; loss {r['first_loss']:.3f} (first 50 steps) -> "
        f"{r['last_loss']:.3f} (last 50); perplexity {r['perplexity']:.1f} per token on {r['held_texts']:,} "
        "held-aside human texts.\n\n"
        f"TweepFake validation (the detector's dev split; {r['dev']['rows']} texts, {r['dev']['machine']} "
        f"machine):\n\n{head}{rows(r['dev'])}\n\n"
        f"Curvature `D` alone, AUROC per generator against all dev humans: {per_gen}.\n\n"
        f"AuthorMimic machine tweets the detector did not train on against its held-out humans "
        f"({mimic['rows']} texts, {mimic['machine']} machine; with {mimic['rows'] - mimic['machine']} humans, 1% FPR "
        "is one human):\n\n"
        f"{head}{rows(mimic)}\n\n"
        "An exploration, not the shipped detector: nothing here is fused into `models/text_detector`."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--steps", type=int, default=Options.steps)
    parser.add_argument("--width", type=int, default=Options.width)
    parser.add_argument("--layers", type=int, default=Options.layers)
    parser.add_argument("--lr", type=float, default=Options.lr)
    parser.add_argument("--seed", type=int, default=Options.seed)
    parser.add_argument("--limit", type=int, help="train on the first N human texts only (a quick look; never written)")
    parser.add_argument("--no-write", action="store_true", help="print only, leave docs/benchmarks.md alone")
    args = parser.parse_args()
    opt = Options(width=args.width, layers=args.layers, steps=args.steps, lr=args.lr, seed=args.seed, limit=args.limit)
    body = section(run(opt))
    print(body)
    if not args.no_write and args.limit is None:
        write_section(SECTION, COMMAND, body)


if __name__ == "__main__":
    main()
