"""Readers for the text corpora under the data dir: TweepFake, AuthorMimic and RumourEval 2017, as one labelled
table."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from flockwatch.text.canonical import canonical_text, decode_text

TWEEPFAKE = Path("text/tweepfake")
AUTHORMIMIC = Path("text/authormimic")
AUTHORMIMIC_FILES = {"p1": "Prompt-01-Extraction.csv", "p2": "Prompt-02-Extraction.csv"}
RUMOUREVAL = Path("spread/rumoureval2017/traindev/posts.json")


@dataclass
class Corpus:
    """Parallel lists, one entry per post."""

    raw: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # normalised
    labels: list[int] = field(default_factory=list)  # 1 = machine
    accounts: list[str] = field(default_factory=list)  # who posted it (TweepFake) or wrote it (AuthorMimic)
    sources: list[str] = field(default_factory=list)  # tweepfake-train, authormimic-p1, rumoureval2017...
    generators: list[str] = field(default_factory=list)  # human, gpt2, rnn, others, GPT-4o, ...

    def add(self, raw: str, label: int, account: str, source: str, generator: str) -> None:
        text = decode_text(raw)
        self.raw.append(text)
        self.texts.append(canonical_text(text))
        self.labels.append(label)
        self.accounts.append(account)
        self.sources.append(source)
        self.generators.append(generator)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, keep: list[int]) -> Corpus:
        out = Corpus()
        for name in ("raw", "texts", "labels", "accounts", "sources", "generators"):
            values = getattr(self, name)
            setattr(out, name, [values[i] for i in keep])
        return out

    def where_prefix(self, source_prefix: str) -> list[int]:
        return [i for i, s in enumerate(self.sources) if s.startswith(source_prefix)]

    def where(self, **equals: str) -> list[int]:
        """Indices whose fields (source=, generator=, account=) equal the given values."""
        cols = {k: getattr(self, k + "s") for k in equals}
        return [i for i in range(len(self)) if all(cols[k][i] == v for k, v in equals.items())]


def read_tweepfake(data_dir: Path, split: str, into: Corpus | None = None) -> Corpus:
    """``split`` is train or validation; ``;``-separated with screen_name, text, account.type, class_type."""
    corpus = into or Corpus()
    with (data_dir / TWEEPFAKE / f"{split}.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter=";"):
            label = 1 if row["account.type"] == "bot" else 0
            corpus.add(row["text"], label, row["screen_name"], f"tweepfake-{split}", row["class_type"])
    return corpus


def read_authormimic(data_dir: Path, prompt: str, into: Corpus | None = None, humans: bool = True) -> Corpus:
    """``prompt`` is p1 or p2. The same 200 human tweets repeat in both files: pass humans=False to skip them."""
    corpus = into or Corpus()
    with (data_dir / AUTHORMIMIC / AUTHORMIMIC_FILES[prompt]).open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            generator = row["Author"].strip()
            label = 0 if generator == "Human" else 1
            if label == 0 and not humans:
                continue
            # Generator names differ in case between the files (GPT-4 / Gpt-4).
            generator = "human" if label == 0 else generator.replace("Gpt", "GPT")
            account = f"authormimic-human-{row['ID']}" if label == 0 else f"authormimic-{generator}"
            corpus.add(row["Tweet"], label, account, f"authormimic-{prompt}", generator)
    return corpus


def read_rumoureval(data_dir: Path, into: Corpus | None = None) -> Corpus:
    """RumourEval 2017's posts (tweets and replies in rumour threads about news events of 2014-16, before text
    generators wrote tweets), all taken as human. The file names no authors: each post is its own account."""
    corpus = into or Corpus()
    posts = json.loads((data_dir / RUMOUREVAL).read_text(encoding="utf-8"))
    for post_id in sorted(posts):
        corpus.add(posts[post_id]["text"], 0, f"rumoureval-{post_id}", "rumoureval2017", "human")
    return corpus
