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

from flockwatch.graph._arrays import unique_inverse, unique_sorted

# The toolkit's `social_media_cleaner` (`@.*?(?=(?:\s|$))`), with `regex`'s definition of \s.
_MENTION = re.compile(r"@.*?(?=(?:[^\S\x1c-\x1f]|$))")

_EXTEND = (
    "\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06e4\u06e7-\u06ed"
    "\u0900-\u0903\u093a-\u093c\u093e-\u094f\u0951-\u0957\u0962\u0963\u0e31\u0e34-\u0e3a\u0e47-\u0e4e"
    "\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe00-\ufe0f\ufe20-\ufe2f\u200c\u200d\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f"
)
_IDEO = "\u3040-\u309f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_LETTER = rf"[^\W\d_{_IDEO}]"
_WORDCH = rf"[^\W{_IDEO}]"
_WORDRUN = rf"[^\W{_IDEO}]+"
_TOKEN = re.compile(
    # words: runs of letters/digits/underscore (and their combining marks), joined by MidLetter/MidNumLet
    # between letters and MidNum between digits
    rf"{_WORDRUN}(?:{_WORDRUN}|[{_EXTEND}]+|(?<={_LETTER})[.'’:·](?={_LETTER})|(?<=\d)[.,;'’](?=\d))*"
    # everything else that is not whitespace: one character with its extenders (marks, ZWJ, modifiers)
    rf"|[^\s{_EXTEND}][{_EXTEND}]*"
    rf"|[{_EXTEND}]+"
)
_HASHTAG = re.compile(r"(?<![\w&])[#＃](\w+)")


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


_SEP = "\U0010fffd"  # a noncharacter: never in real text (checked), one token on its own


def _tokenize_joined(texts: Sequence[str]) -> tuple[NDArray[np.int64], NDArray[np.int64]] | None:
    """(token ids, text index of each) for texts joined by a separator; None if a text holds it."""
    joined = f" {_SEP} ".join(texts)
    if joined.count(_SEP) != max(len(texts) - 1, 0):
        return None
    found = _TOKEN.findall(_MENTION.sub("", joined.lower()))
    del joined
    vocab: dict[str, int] = {}
    ids = np.fromiter(map(vocab.setdefault, found, itertools.count()), dtype=np.int64, count=len(found))
    del found
    sep = vocab.get(_SEP, -1)
    doc = np.cumsum(ids == sep, dtype=np.int64)
    keep = (ids != sep) & (ids != vocab.get("'", -1))
    return ids[keep], doc[keep]


# Classes of code points for the vectorised tokeniser (disjoint: word / extender / space / other).
_W, _E, _S, _O = 1, 2, 4, 8
_L, _D, _J1, _J2 = 16, 32, 64, 128
_RE_W = re.compile(rf"[^\W{_IDEO}]")
_RE_E = re.compile(rf"[{_EXTEND}]")
_RE_L = re.compile(_LETTER)
_RE_D = re.compile(r"\d")
_CLASS_CACHE: dict[int, int] = {}
_B1, _B2 = 0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F  # odd bases of the two polynomial hashes (mod 2^64)


def _class_of(cp: int) -> int:
    got = _CLASS_CACHE.get(cp)
    if got is None:
        ch = chr(cp)
        got = _W if _RE_W.match(ch) else _E if _RE_E.match(ch) else _S if ch.isspace() else _O
        got |= (_L if _RE_L.match(ch) else 0) | (_D if _RE_D.match(ch) else 0)
        got |= (_J1 if ch in ".'’:·" else 0) | (_J2 if ch in ".,;'’" else 0)
        _CLASS_CACHE[cp] = got
    return got


def _token_hashes(cp: NDArray[np.uint32], starts: NDArray[np.int64], lengths: NDArray[np.int64], base: int) -> NDArray[np.uint64]:
    """Polynomial hash ``sum cp[start + j] * base^(len - 1 - j)`` mod 2^64 of each token, one offset at a time
    (tokens are short, so the set of tokens still growing shrinks fast)."""
    h = np.zeros(len(starts), dtype=np.uint64)
    active = np.arange(len(starts), dtype=np.int64)
    b = np.uint64(base)
    offset = 0
    while len(active):
        h[active] = h[active] * b + cp[starts[active] + offset].astype(np.uint64)
        offset += 1
        active = active[lengths[active] > offset]
    return h


def _tokenize_vectorized(text: str) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]] | None:
    """The tokens of ``_TOKEN.findall(text)`` as ``(start, end, id)`` arrays, without the regex engine.

    Each code point gets a class (word, extender, space, other; letter, digit, joiner flags) and the
    regex's rules become array tests: a token starts at a non-space character unless the previous
    character is not a space and this one is an extender, a joiner between two letters (or two digits)
    inside a word, or a word character whose token (found through the extenders before it) is a word.
    Tokens are identified by two polynomial hashes mod 2^64 plus their length; if two different tokens
    ever shared the first hash, the second or the length would differ and ``None`` asks the caller to
    use the regex instead (tokens are far below the ~2,000 characters that defeat such hashes).
    """
    cp = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    n = len(cp)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    present = np.flatnonzero(np.bincount(cp))
    table = np.zeros(int(present[-1]) + 1, dtype=np.uint8)
    table[present] = [_class_of(int(c)) for c in present]
    cls = table[cp]
    space = (cls & _S) != 0
    ext = (cls & _E) != 0
    word = (cls & _W) != 0
    prev = np.empty(n, dtype=np.uint8)
    prev[0] = _S
    prev[1:] = cls[:-1]
    nxt = np.empty(n, dtype=np.uint8)
    nxt[-1] = _S
    nxt[:-1] = cls[1:]
    joinable = (((cls & _J1) != 0) & ((prev & _L) != 0) & ((nxt & _L) != 0)) | (
        ((cls & _J2) != 0) & ((prev & _D) != 0) & ((nxt & _D) != 0)
    )
    # the last non-extender before each position (-1: none), and whether it belongs to a word
    idx = np.arange(n, dtype=np.int32)
    last_non_ext = np.maximum.accumulate(np.where(ext, np.int32(-1), idx))
    wordish = word | joinable
    word_before = np.zeros(n, dtype=bool)
    before = last_non_ext[:-1]
    word_before[1:] = (before >= 0) & wordish[np.maximum(before, 0)]
    prev_space = (prev & _S) != 0
    continues = ~prev_space & (ext | joinable | (word & word_before))
    start = ~space & ~continues
    starts = np.flatnonzero(start).astype(np.int64)
    # a token ends where the next token starts or at the next space
    bounds = np.append(np.flatnonzero(start | space), n).astype(np.int64)
    ends = bounds[np.searchsorted(bounds, starts, side="right")]
    lengths = ends - starts
    h1 = _token_hashes(cp, starts, lengths, _B1).view(np.int64)
    h2 = _token_hashes(cp, starts, lengths, _B2)
    uniq, inverse = unique_inverse(h1)
    first = np.empty(len(uniq), dtype=np.int64)
    first[inverse[::-1]] = np.arange(len(inverse) - 1, -1, -1)
    if not (np.array_equal(h2, h2[first][inverse]) and np.array_equal(lengths, lengths[first][inverse])):
        return None
    return starts, ends, inverse


def _tokenize_fast(texts: Sequence[str]) -> tuple[NDArray[np.int64], NDArray[np.int64]] | None:
    """(token ids, text index of each) via :func:`_tokenize_vectorized`; None if it cannot vouch."""
    joined = f" {_SEP} ".join(texts)
    if joined.count(_SEP) != max(len(texts) - 1, 0):
        return None
    lowered = _MENTION.sub("", joined.lower())
    got = _tokenize_vectorized(lowered)
    if got is None:
        return None
    starts, ends, ids = got
    single = (ends - starts) == 1
    first_cp = np.frombuffer(lowered.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)[starts]
    is_sep = single & (first_cp == ord(_SEP))
    is_quote = single & (first_cp == ord("'"))
    doc = np.cumsum(is_sep, dtype=np.int64)
    keep = ~is_sep & ~is_quote
    return ids[keep], doc[keep]


def token_table(texts: Sequence[str]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Token sets of many texts at once, in CSR form: ``(indptr, token_ids)``.

    The distinct token ids of text ``i`` are ``token_ids[indptr[i]:indptr[i+1]]``, sorted; equal tokens
    get equal ids (ids are not dense).  Same sets as :func:`token_set`: all the texts are joined by a
    separator token and cut into tokens by array operations (:func:`_tokenize_vectorized`), falling back
    to one regex ``findall`` over the joined texts, then to one text at a time.
    """
    out = _tokenize_fast(texts) or _tokenize_joined(texts)
    if out is None:  # a text carries the separator: do it one by one
        return _token_table_slow(texts)
    return _csr(len(texts), out[1], out[0])


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
