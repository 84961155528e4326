"""Hand-made stylometric features and hashed character n-grams, both stateless (nothing to fit or store)."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from flockwatch.text.canonical import MENTION_TOKEN, URL_TOKEN, words


def _bag(words: str) -> frozenset[str]:
    """A set of space-separated words (kept as one string so the lists stay readable)."""
    return frozenset(words.split())


_EN_FUNCTION = _bag(
    "the a an and or but of to in on at for with from by is are was were be been i you he she it we "
    "they me my your his her our their this that not no do have has will would can could should"
)
_SENTENCE_END = re.compile(r"[.!?]+(?:\s|$)")
_REPEAT = re.compile(r"(.)\1{2,}")
_HASHTAG = re.compile(r"#\w+")

STYLE_FEATURES: tuple[str, ...] = (
    "log_chars",
    "log_words",
    "mean_word_len",
    "upper_share",
    "allcaps_word_share",
    "title_word_share",
    "punct_share",
    "digit_share",
    "urls",
    "mentions",
    "hashtags",
    "symbol_share",
    "type_token_ratio",
    "ends_with_punct",
    "starts_upper",
    "ends_truncated",
    "char_repeats",
    "log_sentences",
    "function_word_share",
    "quote_chars",
    "exclamations",
    "questions",
    "non_ascii_share",
    "html_entity",
    "starts_with_mention",
    "hashtag_at_end",
)


def style_vector(normalized: str) -> NDArray[np.float32]:
    """The :data:`STYLE_FEATURES` of one normalised text (all finite, roughly unit scale)."""
    text = normalized
    bare = text.replace(URL_TOKEN, " ").replace(MENTION_TOKEN, " ")
    toks = words(text)
    n_chars = max(len(text), 1)
    letters = [c for c in bare if c.isalpha()]
    n_letters = max(len(letters), 1)
    n_words = max(len(toks), 1)
    lower = [t.lower() for t in toks]
    stripped = text.rstrip()
    values = [
        math.log1p(len(text)),
        math.log1p(len(toks)),
        sum(len(t) for t in toks) / n_words,
        sum(c.isupper() for c in letters) / n_letters,
        sum(len(t) > 1 and t.isupper() for t in toks) / n_words,
        sum(t[:1].isupper() and t[1:].islower() for t in toks) / n_words,
        sum(unicodedata.category(c).startswith("P") for c in bare) / n_chars,
        sum(c.isdigit() for c in bare) / n_chars,
        float(text.count(URL_TOKEN)),
        float(text.count(MENTION_TOKEN)),
        float(len(_HASHTAG.findall(text))),
        sum(unicodedata.category(c) in ("So", "Sk", "Sm") for c in bare) / n_chars,
        len(set(lower)) / n_words,
        float(stripped[-1:] in (".", "!", "?")),
        float(text[:1].isupper()),
        float(
            stripped.endswith(("…", "...")) and not stripped.endswith("...."),
        ),
        float(len(_REPEAT.findall(text))),
        math.log1p(len(_SENTENCE_END.findall(text + " "))),
        sum(t in _EN_FUNCTION for t in lower) / n_words,
        float(sum(text.count(q) for q in '"“”')),
        float(text.count("!")),
        float(text.count("?")),
        sum(ord(c) > 127 for c in text) / n_chars,
        float("&amp;" in text or "&gt;" in text or "&lt;" in text),
        float(text.startswith(MENTION_TOKEN)),
        float(bool(re.search(r"#\w+\s*$", text))),
    ]
    return np.array(values, dtype=np.float32)


def style_matrix(texts: Sequence[str]) -> NDArray[np.float32]:
    if not texts:
        return np.zeros((0, len(STYLE_FEATURES)), dtype=np.float32)
    return np.stack([style_vector(t) for t in texts])


# Hashed character n-grams: a fixed feature space, so the committed model needs no vocabulary.
NGRAM_RANGE = (2, 4)
NGRAM_FEATURES = 2**18


def char_ngram_vectorizer() -> Any:
    """sklearn's HashingVectorizer (MurmurHash3, stable across versions): counts → sublinear → L2."""
    from sklearn.feature_extraction.text import HashingVectorizer  # type: ignore[import-untyped, unused-ignore]

    return HashingVectorizer(
        analyzer="char_wb",
        ngram_range=NGRAM_RANGE,
        n_features=NGRAM_FEATURES,
        alternate_sign=False,
        lowercase=False,
        norm=None,
        dtype=np.float32,
    )


def char_ngrams(texts: Sequence[str]) -> Any:
    """Sparse CSR matrix: log(1 + count) of each hashed char n-gram, rows L2-normalised."""
    from sklearn.preprocessing import normalize  # type: ignore[import-untyped, unused-ignore]

    counts = char_ngram_vectorizer().transform(list(texts))
    counts.data = np.log1p(counts.data)
    return normalize(counts, norm="l2", copy=False)
