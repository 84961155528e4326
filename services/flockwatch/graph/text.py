"""Text keys for coordination: the exact-copy key (co_tweet), token sets (co_similar_tweet), hashtags.

Both keys follow coordination-network-toolkit 1.5.2 (Graham et al., QUT Digital Media Research Centre,
``coordination_network_toolkit/similarity.py``) so that its users get the same networks:

* :func:`normalize_message` is its ``message_preprocessor``: lowercase, delete every ``@`` up to the next
  whitespace character (mentions, but also the tail of e-mail addresses), collapse whitespace.  The toolkit
  runs this with the third-party ``regex`` module, whose ``\\s`` excludes U+001C..U+001F; we spell that out
  so the standard ``re`` module gives byte-identical keys.
* :func:`token_set` approximates its ``tokenize``: the toolkit splits on Unicode (UAX #29) word boundaries
  with the ``regex`` module and keeps every non-empty piece (words, and each punctuation character on its
  own).  The standard library has no UAX #29 segmenter, so we rebuild the same pieces with ``re``: runs of
  word characters joined by ``. ' ’ : ·`` between letters and ``. , ;`` between digits; Han/Hiragana
  characters one by one; any other non-space character (with its combining marks, variation selectors and
  skin-tone modifiers) on its own; a lone ``'`` is dropped as the toolkit's split pattern swallows it.
  ``bench/coordination_vs_toolkit.py`` measures how often the sets differ on real data.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from flockwatch.graph._arrays import unique_sorted

# The toolkit's `social_media_cleaner` (`@.*?(?=(?:\s|$))`), with `regex`'s definition of \s.
_MENTION = re.compile(r"@.*?(?=(?:[^\S\x1c-\x1f]|$))")

_EXTEND = (
    "\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06e4\u06e7-\u06ed"
    "\u0900-\u0903\u093a-\u093c\u093e-\u094f\u0951-\u0957\u0962\u0963\u0e31\u0e34-\u0e3a\u0e47-\u0e4e"
    "\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe00-\ufe0f\ufe20-\ufe2f\u200c\u200d\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f"
)
_IDEO = "\u3040-\u309f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_LETTER = rf"[^\W\d_{_IDEO}]"
_WORDRUN = rf"[^\W{_IDEO}]+"
_TOKEN = re.compile(
    # words: runs of letters/digits/underscore (and their combining marks), joined by MidLetter/MidNumLet
    # between letters and MidNum between digits
    rf"{_WORDRUN}(?:{_WORDRUN}|[{_EXTEND}]+|(?<={_LETTER})[.'’:·](?={_LETTER})|(?<=\d)[.,;'’](?=\d))*"
    # everything else that is not whitespace: one character with its extenders (marks, ZWJ, modifiers)
    rf"|[^\s{_EXTEND}][{_EXTEND}]*"
    rf"|[{_EXTEND}]+"
)
# The same grammar for ASCII-only texts, where no extender, ideograph, ``’`` or ``·`` can occur, written as
# word runs joined by one joiner each (a joiner needs a letter or digit on both sides, so two never touch)
# with possessive quantifiers: the regex engine matches it about twice as fast as :data:`_TOKEN`.  The
# separator is one ``\S`` token as in :data:`_TOKEN`.
_TOKEN_ASCII = re.compile(
    r"[A-Za-z0-9_]++(?:(?:(?<=[A-Za-z])[.':](?=[A-Za-z])|(?<=[0-9])[.,;'](?=[0-9]))[A-Za-z0-9_]++)*+|\S"
)
_HASHTAG = re.compile(r"(?<![\w&])[#＃](\w+)")
# Separators between joined texts (checked absent; each one token on its own).  Narrow ones keep the joined
# string in CPython's 1-byte (ASCII texts) or 2-byte form, which the regex engine scans faster.
_SEP_ASCII = "\x00"
_SEP = "\uffff"  # a noncharacter


def normalize_message(text: str) -> str:
    """The co_tweet key: ``" ".join(strip_mentions(text.lower()).split())`` (toolkit ``message_preprocessor``)."""
    return " ".join(_MENTION.sub("", text.lower()).split())


def tokens(text: str) -> list[str]:
    """The pieces of ``text`` (lowercased, mentions removed) in order; see the module docstring."""
    return [t for t in _TOKEN.findall(_MENTION.sub("", text.lower())) if t != "'"]


def token_set(text: str) -> frozenset[str]:
    """Distinct tokens: the set the toolkit's Jaccard similarity compares."""
    return frozenset(tokens(text))


def hashtags(text: str) -> list[str]:
    """Hashtags in order of appearance, lowercased, without ``#`` (``#BLM #blm`` gives ``["blm", "blm"]``)."""
    return [h.lower() for h in _HASHTAG.findall(text)]


def _tokenize_joined(
    texts: Sequence[str], pattern: re.Pattern[str], sep_token: str, vocab: dict[str, int]
) -> tuple[NDArray[np.int64], NDArray[np.int64]] | None:
    """(token ids, text index of each) for texts joined by ``sep_token``; None if a text holds it."""
    joined = f" {sep_token} ".join(texts)
    if joined.count(sep_token) != max(len(texts) - 1, 0):
        return None
    found = pattern.findall(_MENTION.sub("", joined.lower()))
    del joined
    # setdefault takes a fresh number per call: ids are unique, not dense; a second call starts past them
    first = max(vocab.values(), default=-1) + 1
    ids = np.fromiter(map(vocab.setdefault, found, itertools.count(first)), dtype=np.int64, count=len(found))
    del found
    sep = vocab.get(sep_token, -1)
    doc = np.cumsum(ids == sep, dtype=np.int64)
    keep = (ids != sep) & (ids != vocab.get("'", -1))
    return ids[keep], doc[keep]


def token_table(texts: Sequence[str]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Token sets of many texts at once, in CSR form: ``(indptr, token_ids)``.

    The distinct token ids of text ``i`` are ``token_ids[indptr[i]:indptr[i+1]]``, sorted; equal tokens
    get equal ids (ids are not dense).  Same sets as :func:`token_set`, computed with one ``findall`` over
    the ASCII texts joined by a separator token (with :data:`_TOKEN_ASCII`) and one over the others, so the
    per-text Python overhead disappears.  (Tried and dropped on the 2-core benchmark machine: two forked
    processes, a numpy tokeniser over code-point classes, and ``hash()`` as token id: CPython hashes the
    raw code units, so ``"ir"`` and ``"物"`` collide.)
    """
    ascii_docs = [i for i, t in enumerate(texts) if t.isascii()]
    other_docs = [i for i, t in enumerate(texts) if not t.isascii()]
    vocab: dict[str, int] = {}
    ids_parts: list[NDArray[np.int64]] = []
    doc_parts: list[NDArray[np.int64]] = []
    for group, pattern, sep in ((ascii_docs, _TOKEN_ASCII, _SEP_ASCII), (other_docs, _TOKEN, _SEP)):
        if not group:
            continue
        out = _tokenize_joined([texts[i] for i in group], pattern, sep, vocab)
        if out is None:  # a text carries the separator: do it one by one
            return _token_table_slow(texts)
        ids_parts.append(out[0])
        doc_parts.append(np.asarray(group, dtype=np.int64)[out[1]])
    if not ids_parts:
        return _csr(len(texts), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    return _csr(len(texts), np.concatenate(doc_parts), np.concatenate(ids_parts))


def _csr(n: int, doc: NDArray[np.int64], ids: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    v = np.int64(int(ids.max()) + 1 if len(ids) else 1)
    codes = unique_sorted(doc * v + ids)
    doc, ids = codes // v, codes % v
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(doc, minlength=n), out=indptr[1:])
    return indptr, ids


def _token_table_slow(texts: Sequence[str]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    sets = [sorted(token_set(t)) for t in texts]
    flat = [tok for s in sets for tok in s]
    vocab: dict[str, int] = {}
    ids = np.fromiter(map(vocab.setdefault, flat, itertools.count()), dtype=np.int64, count=len(flat))
    sizes = np.fromiter(map(len, sets), dtype=np.int64, count=len(texts))
    return _csr(len(texts), np.repeat(np.arange(len(texts), dtype=np.int64), sizes), ids)
