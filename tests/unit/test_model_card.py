"""Generated figure blocks in model cards: read back what was written, replace in place, fail on a missing block."""

from __future__ import annotations

from pathlib import Path

import pytest

from flockwatch.model_card import markdown_table, read_block, write_block


def test_write_then_read_replaces_only_the_block(tmp_path: Path) -> None:
    card = tmp_path / "CARD.md"
    card.write_text("# Card\n\nprose before\n")
    write_block(card, "eval", "| a |\n|---|\n| 1 |")
    write_block(card, "eval", markdown_table(["a", "b"], [[0.5, None]]))
    text = card.read_text()
    assert text.startswith("# Card\n\nprose before\n")
    assert text.count("<!-- figures:eval -->") == 1
    assert read_block(card, "eval") == "| a | b |\n|---|---|\n| 0.5 |  |"


def test_missing_block_is_an_error(tmp_path: Path) -> None:
    card = tmp_path / "CARD.md"
    card.write_text("no blocks")
    with pytest.raises(KeyError, match="no figures block 'eval'"):
        read_block(card, "eval")
