"""Hashtags, URLs and mentions pulled out of post text, for datasets that ship text without entities.

Extraction is regex-based and deliberately conservative: every value returned is a substring of
the input (hashtags without ``#``, mentions without ``@``), so downstream stages can always find
it again in the text. Values are de-duplicated in order of first appearance and keep their case;
platforms match hashtags case-insensitively, so consumers that count them should casefold.

Styles differ by platform:

- ``twitter``: ``#tag`` needs a letter and may not follow a word character or ``&`` (so the
  HTML entity ``&#8217;`` is not a tag); ``@handle`` is 1-15 ASCII word characters.
- ``weibo``: topics are delimited on both sides, ``#话题#``; nicknames are up to 30 word
  characters or ``-`` and may directly follow Chinese text (``转发@用户``).
- ``bluesky``: hashtags as on Twitter; handles are domain names (``@alice.bsky.social``).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Literal

EntityStyle = Literal["twitter", "weibo", "bluesky"]

# Only ASCII URL characters: Chinese text often runs straight on after a link (http://t.cn/x转发).
_URL_RE = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?'\"*"

_TWITTER_HASHTAG_RE = re.compile(r"(?<![\w&#＃])[#＃](\w*[^\W\d_]\w*)")
_TWITTER_MENTION_RE = re.compile(r"(?<![A-Za-z0-9_!#$%&*@＠])[@＠]([A-Za-z0-9_]{1,15})(?![A-Za-z0-9_@＠])")

_WEIBO_HASHTAG_RE = re.compile(r"[#＃]([^#＃\r\n]{1,64}?)[#＃]")
_WEIBO_MENTION_RE = re.compile(r"(?<![A-Za-z0-9_.@])[@＠]([\w\-]{1,30})")

_BLUESKY_MENTION_RE = re.compile(
    r"(?<![A-Za-z0-9_.@])@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9])"
)


# Only complete, semicolon-terminated references: html.unescape alone would also turn the
# legacy semicolon-less forms into symbols ("&notice" -> "¬ice").
_HTML_ENTITY_RE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def unescape_html(text: str) -> str:
    """Undo the HTML escaping some Twitter exports leave in text (``&amp;``, ``&#8217;``)."""
    if "&" not in text:
        return text
    return _HTML_ENTITY_RE.sub(lambda m: html.unescape(m.group(0)), text)


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _trim_url(url: str) -> str:
    """Drop punctuation that ends the sentence rather than the link, and unbalanced brackets."""
    while url:
        last = url[-1]
        if (
            last in _URL_TRAILING
            or (last == ")" and url.count("(") < url.count(")"))
            or (last == "]" and url.count("[") < url.count("]"))
        ):
            url = url[:-1]
        else:
            break
    return url


def extract_urls(text: str) -> list[str]:
    """``http(s)://`` links in order of appearance; schemes without a host are dropped."""
    if "://" not in text:
        return []
    found = []
    for match in _URL_RE.finditer(text):
        url = _trim_url(match.group(0))
        scheme_end = url.index("://") + 3
        if len(url) > scheme_end:
            found.append(url)
    return _unique(found)


def extract_hashtags(text: str, style: EntityStyle = "twitter") -> list[str]:
    """Hashtags without their ``#`` markers."""
    if "#" not in text and "＃" not in text:
        return []
    if style == "weibo":
        tags = [m.strip() for m in _WEIBO_HASHTAG_RE.findall(text)]
        return _unique([t for t in tags if t])
    return _unique(_TWITTER_HASHTAG_RE.findall(text))


def extract_mentions(text: str, style: EntityStyle = "twitter") -> list[str]:
    """Mentioned handles without their ``@``."""
    if "@" not in text and "＠" not in text:
        return []
    if style == "weibo":
        return _unique(_WEIBO_MENTION_RE.findall(text))
    if style == "bluesky":
        return _unique(_BLUESKY_MENTION_RE.findall(text))
    return _unique(_TWITTER_MENTION_RE.findall(text))


@dataclass(frozen=True)
class Entities:
    urls: list[str] = field(default_factory=list)
    hashtags: list[str] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)


def extract_entities(text: str, style: EntityStyle = "twitter") -> Entities:
    """All three kinds at once, which is what every text-only format needs."""
    return Entities(
        urls=extract_urls(text),
        hashtags=extract_hashtags(text, style),
        mentions=extract_mentions(text, style),
    )
