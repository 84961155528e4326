"""Generated blocks in model cards: the figures a training or evaluation command prints, written between markers.

A card keeps its prose by hand, but every number in a block like::

    <!-- figures:evaluation -->
    ...
    <!-- /figures:evaluation -->

is rendered from the model's committed ``metrics.json`` by the command named beside it, so a unit test can
re-render the block from the JSON and compare (a card cannot drift from its metrics).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- figures:{name} -->", f"<!-- /figures:{name} -->"


def read_block(card: Path, name: str) -> str:
    """The text between the markers of block `name` in `card`, stripped; KeyError if the card lacks it."""
    begin, end = _markers(name)
    text = card.read_text()
    if begin not in text or end not in text:
        raise KeyError(f"{card} has no figures block {name!r}")
    return text.split(begin, 1)[1].split(end, 1)[0].strip()


def write_block(card: Path, name: str, body: str) -> None:
    """Replace block `name` in `card` with `body` (appended at the end when the card has no such block yet)."""
    begin, end = _markers(name)
    block = f"{begin}\n{body.strip()}\n{end}"
    text = card.read_text() if card.exists() else ""
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    card.write_text(text)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table; floats are written as given (round them before)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join("" if c is None else str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
