"""The canonical form of a post text, used as model input, cache key and copy key.

``canonical_text`` never raises on any ``str`` or ``bytes``: invalid UTF-8 is replaced, lone
surrogates are dropped, control and invisible formatting characters (zero-width, bidi overrides)
removed, Unicode NFKC-folded, URLs and @mentions replaced by placeholders, whitespace collapsed,
and the result capped at :data:`MAX_CHARS`.  ``assess`` says whether the detector should score a
text at all and, if not, why (empty, no words of its own, non-Latin script, non-English). Short texts are
scored: the detector states how uncertain its score is for them (``flockwatch.text.detector``).
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass


def _bag(words: str) -> frozenset[str]:
    """A set of space-separated words (kept as one string so the lists stay readable)."""
    return frozenset(words.split())


# The detector was trained on tweets; longer texts are cut here (the embedding model reads at most
# 256 word pieces anyway). Keeps a 1 MB post from costing more than a tweet-sized one.
MAX_CHARS = 2000
# A text needs this many words (placeholders not counted) to be scored: one word is scored, with the
# uncertainty its length bucket carries (see MODEL_CARD.md); no words at all is unscored.
MIN_WORDS = 1
# Word-count buckets with their own calibration and uncertainty table: 1–3 words, 4–9, 10 and more.
LENGTH_EDGES = (4, 10)

URL_TOKEN = "URL"
MENTION_TOKEN = "@user"

_URL = re.compile(r"(?:https?://|www\.)\S+|\b[a-z0-9.-]+\.(?:com|org|net|ly|co)/\S*", re.IGNORECASE)
# A whole handle: a capped match left its tail behind as a word ("@user" + "aaa"), which a second pass then ate.
_MENTION = re.compile(r"(?<![\w@])@\w+")
_WS = re.compile(r"\s+")
# Zero-width and bidi formatting characters: invisible, used to defeat exact matching.
_INVISIBLE = dict.fromkeys(
    [
        *(0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x200B, 0x200C, 0x200E, 0x200F, 0x2060),
        0xFEFF,
        *range(0x202A, 0x202F),
        *range(0x2061, 0x2070),
        *range(0xFFF9, 0xFFFC),  # interlinear annotation marks
        *range(0x1D173, 0x1D17B),  # musical formatting marks
        *range(0xE0000, 0xE0080),  # tag characters (also hidden inside words to split them)
    ]
)
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def decode_text(raw: str | bytes) -> str:
    """``str`` as is (lone surrogates dropped); ``bytes`` as UTF-8 with invalid bytes replaced by U+FFFD."""
    if isinstance(raw, bytes):
        return raw.decode("utf-8", errors="replace")
    # Lone surrogates (from JSON "\ud800") cannot be encoded; drop them.
    return raw.encode("utf-8", errors="ignore").decode("utf-8")


def canonical_text(raw: str | bytes) -> str:
    """The canonical form of a text: idempotent, never longer than :data:`MAX_CHARS`."""
    text = decode_text(raw)
    if len(text) > 4 * MAX_CHARS:
        text = text[: 4 * MAX_CHARS]
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    # Other control characters become spaces (tabs and newlines included).
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn") else c for c in text)
    text = _URL.sub(URL_TOKEN, text)
    text = _MENTION.sub(MENTION_TOKEN, text)
    text = _WS.sub(" ", text).strip()
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS].rstrip()
    # NFKC is not closed under truncation/substitution in rare cases; one more pass makes this idempotent.
    again = _WS.sub(" ", unicodedata.normalize("NFKC", text)).strip()
    return again if again == text else canonical_text(again)


_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# What phrase rules do not see: canonical text's invisible characters, variation selectors (which canonical text
# keeps: they change how an emoji looks), and apostrophes as phones and word processors type them, read as "'".
_RULE_VIEW: dict[int, str | None] = {
    **_INVISIBLE,
    **dict.fromkeys([*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)]),
    **{ord(c): "'" for c in "\u2018\u2019\u02bc\u2032\uff07"},
}


def visible_text(raw: str | bytes, limit: int = 4 * MAX_CHARS) -> str:
    """What a reader sees of a text, for phrase rules: NFKC (full-width letters as ASCII), no invisible characters
    (canonical text's, any other format character, variation selectors), typographic apostrophes as ``'``, every
    run of whitespace or control characters as one space, links and mentions as posted; the first ``limit``
    characters only (rules run on every post)."""
    text = unicodedata.normalize("NFKC", decode_text(raw)[:limit]).translate(_RULE_VIEW)
    if text.isascii():  # most posts: no format characters, and the only controls are ASCII ones
        return _WS.sub(" ", _ASCII_CONTROL.sub(" ", text)).strip()
    kept = []
    for c in text:
        category = unicodedata.category(c)
        if category != "Cf":
            kept.append(" " if category in ("Cc", "Cs", "Co", "Cn") else c)
    return _WS.sub(" ", "".join(kept)).strip()


def text_key(normalized: str) -> str:
    """Stable 32-hex-digit hash of a normalised text (cache key, narrative seed)."""
    return hashlib.blake2b(normalized.encode("utf-8"), digest_size=16).hexdigest()


def copy_form(normalized: str) -> str:
    """What copypasta shares: lowercase words, no placeholders, retweet prefix or punctuation."""
    text = normalized.lower()
    text = re.sub(r"^rt @user:?\s*", "", text)
    words = [w for w in _WORD.findall(text) if w not in ("url", "user")]
    return " ".join(words)


def words(normalized: str) -> list[str]:
    """Word tokens, without URL and mention placeholders."""
    text = normalized.replace(URL_TOKEN, " ").replace(MENTION_TOKEN, " ")
    return _WORD.findall(text)


# --- language and script ---------------------------------------------------------------------

_EN = _bag(
    "the a an and or but of to in on at for with from by is are was were be been am i you he she it "
    "we they me my your his her our their this that these those not no do does did have has had will "
    "would can could should just so if than then there what who when how why all about up out as more "
    "very too also"
)
_OTHER: dict[str, frozenset[str]] = {
    "es": _bag("el la los las de que y en un una por con para es del se lo su al como pero más mi"),
    "fr": _bag("le la les de des et est un une du en que qui pour dans pas sur au avec ce il je ne"),
    "de": _bag("der die das und ist nicht ein eine zu den mit von auf für sich dem ich auch es im"),
    "it": _bag("il di che è e la un una per non sono con del della gli le si mi ma come"),
    "pt": _bag("o de que e do da em um uma para com não os no na por se mais as dos"),
    "nl": _bag("de het een en van is dat niet op te zijn voor met die ik je ook"),
    "tr": _bag("bir ve bu da de için ile çok ne ama gibi daha var ben sen"),
    "id": _bag("yang dan di ini itu dengan untuk tidak dari ke ada saya akan"),
}


@functools.lru_cache(maxsize=8192)  # per letter of every post: the name lookup cost more than the rest of assess
def script_of(char: str) -> str:
    """Coarse script of a letter: the first word of its Unicode name (LATIN, CYRILLIC, ARABIC, CJK...)."""
    try:
        return unicodedata.name(char).split(" ", 1)[0]
    except ValueError:
        return "UNKNOWN"


def script_shares(text: str) -> Counter[str]:
    """How many letters of each script the text has."""
    return Counter(script_of(c) for c in text if c.isalpha())


def _english_tag(language: object) -> bool:
    """True for no tag, an English tag (en, en-US, English) or an explicit "undetermined".

    A value that is not a string (JSON 5, true, ["en"]) is no tag: input files are not ours to trust.
    """
    tag = (language if isinstance(language, str) else "").strip().lower().replace("_", "-")
    return tag in ("", "en", "english", "und", "unknown", "undetermined") or tag.startswith("en-")


@dataclass(frozen=True)
class Assessment:
    scoreable: bool
    reason: str = ""


def assess(normalized: str, language: str | None = None, min_words: int = MIN_WORDS) -> Assessment:
    """Whether the detector (English tweets) should score this text; if not, the reason, for analysts."""
    if not normalized:
        return Assessment(False, "empty text")
    if not _english_tag(language):
        return Assessment(False, f"language tagged {language!r}: the detector is trained on English only")
    shares = script_shares(normalized.replace(URL_TOKEN, " ").replace(MENTION_TOKEN, " "))
    letters = sum(shares.values())
    if letters == 0:
        if URL_TOKEN in normalized or MENTION_TOKEN in normalized:
            return Assessment(False, "no text of its own (only links, mentions, emoji or symbols)")
        return Assessment(False, "no letters (emoji, symbols or digits only)")
    latin = shares.get("LATIN", 0) / letters
    if latin < 0.7:
        top = ", ".join(f"{k.lower()} {v / letters:.0%}" for k, v in shares.most_common(2))
        return Assessment(False, f"non-Latin script ({top}): the detector is trained on English only")
    tokens = [w.lower() for w in words(normalized)]
    if len(tokens) < min_words:
        return Assessment(False, f"no words to score: {len(tokens)} words < {min_words}")
    en_hits = sum(t in _EN for t in tokens)
    other = {lang: sum(t in vocab for t in tokens) for lang, vocab in _OTHER.items()}
    best_lang, best_hits = max(other.items(), key=lambda kv: kv[1])
    if best_hits >= 2 and best_hits > 2 * en_hits:
        return Assessment(False, f"looks non-English ({best_lang}): the detector is trained on English only")
    return Assessment(True)


def length_bucket(normalized: str, edges: tuple[int, ...] = LENGTH_EDGES) -> int:
    """Index of the word-count bucket a text falls in (0 for the shortest)."""
    n = len(words(normalized))
    return sum(n >= e for e in edges)
