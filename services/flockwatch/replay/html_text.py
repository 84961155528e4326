"""HTML as plain text, and the links it carries: feed entries' summaries and content, Mastodon statuses.

Both ship their text as HTML fragments, often broken (unclosed tags, stray ``<``). The stdlib's lenient
``html.parser`` reads them: block elements become line breaks, ``<script>``/``<style>`` contents are dropped,
entities are decoded, runs of blank space are folded. On the few malformed declarations where the parser
itself raises, the tags are stripped instead, so a post is never lost to its markup. Link targets are
``<a href>`` values as written (relative ones are resolved against ``base`` by the caller's choice), with the
anchor's classes, so a caller can leave out the links a platform writes for mentions and hashtags.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin

# Elements whose start or end breaks the line (what a reader sees as separate lines or paragraphs).
_BLOCKS = frozenset(
    {
        "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre",
        "tr", "table", "section", "article", "header", "footer", "figure", "figcaption", "hr", "dd", "dt",
    }
)  # fmt: skip
_SKIPPED = frozenset({"script", "style", "template", "noscript", "head", "title"})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hrefs: list[tuple[str, frozenset[str]]] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skipping += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")
        if tag == "a":
            values = dict(attrs)
            href = values.get("href")
            if href:
                self.hrefs.append((href.strip(), frozenset((values.get("class") or "").split())))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n")
        elif tag == "a":
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


_TAGS = re.compile(r"<[^>]*>")


def _read(html: str) -> _Reader:
    reader = _Reader()
    try:
        reader.feed(html)
        reader.close()
    # Broad on purpose: html.parser raises AssertionError (and has raised others) on some malformed
    # declarations (``<![x[``); the text is then the markup with its tags stripped, and no links.
    except Exception:
        reader = _Reader()
        reader.parts = [_TAGS.sub(" ", html)]
    return reader


def html_to_text(html: str) -> str:
    """The text a reader of ``html`` sees: tags gone, entities decoded, paragraphs on their own lines."""
    if "<" not in html and "&" not in html:
        return _tidy(html)
    return _tidy("".join(_read(html).parts))


def _tidy(text: str) -> str:
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def html_links(html: str, base: str | None = None, skip_classes: frozenset[str] = frozenset()) -> list[str]:
    """``<a href>`` targets in order of appearance, resolved against ``base`` when given; anchors with any of
    ``skip_classes`` are left out."""
    if "<a" not in html.lower():
        return []
    links = []
    for href, classes in _read(html).hrefs:
        if classes & skip_classes:
            continue
        try:
            links.append(urljoin(base, href) if base else href)
        except ValueError:  # "http://[" and other unparseable targets are no links
            continue
    return links
