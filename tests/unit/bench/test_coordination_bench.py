"""The token-set comparison in ``bench/coordination_vs_toolkit.py``: the toolkit's tokeniser (rebuilt with
the ``regex`` module as coordination-network-toolkit 1.5.2 has it) against ``flockwatch.graph.text``, on
handcrafted texts whose toolkit tokens are written out by hand (UAX #29 word boundaries)."""

from __future__ import annotations

from bench.coordination_vs_toolkit import token_differences, toolkit_token_set

ASCII = "Hello, world! it's @bob 3.14"
THAI = "สวัสดีครับ"
DEVANAGARI = "नमस्ते दुनिया"
ZWJ_FAMILY = "👩\u200d👩\u200d👧 family"
SKIN_TONE = "👍🏽 ok"


def test_toolkit_tokens_by_hand() -> None:
    # Mentions dropped, punctuation one token each, "it's" and "3.14" kept whole.
    assert toolkit_token_set(ASCII) == {"hello", ",", "world", "!", "it's", "3.14"}
    # Thai letters are not ALetter in UAX #29: each consonant with its marks is a piece.
    assert toolkit_token_set(THAI) == {"ส", "วั", "ดี", "ค", "รั", "บ"}
    # Devanagari words are ALetter + Extend: whole words.
    assert toolkit_token_set(DEVANAGARI) == {"नमस्ते", "दुनिया"}
    # A ZWJ emoji sequence is one piece; so is an emoji with its skin-tone modifier.
    assert toolkit_token_set(ZWJ_FAMILY) == {"👩\u200d👩\u200d👧", "family"}
    assert toolkit_token_set(SKIN_TONE) == {"👍🏽", "ok"}


def test_token_differences_count() -> None:
    total, differ, chars = token_differences([ASCII, THAI, DEVANAGARI, ZWJ_FAMILY, SKIN_TONE, "plain words"])
    # Ours joins a Thai run into one word and splits the ZWJ sequence; the rest agree.
    assert (total, differ) == (6, 2)
    assert chars["THAI"] == 1 and chars["ZERO"] == 1
    assert "DEVANAGARI" not in chars


def test_token_differences_none_on_ascii() -> None:
    assert token_differences(["a b c", "Don't stop: 1,000.5 #tag"])[:2] == (2, 0)
