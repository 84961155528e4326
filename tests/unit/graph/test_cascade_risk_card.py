"""Cascade risk card and model: the card's figures are the committed model's, the committed model is what the
code trains from Twitter15, and the train/validation/test trees are disjoint by tree id."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from flockwatch.config import REPO_ROOT, Settings
from flockwatch.graph.cascade_risk import (
    SPLITS,
    Tree,
    render_card_blocks,
    split_digest,
    train_twitter15,
    twitter15_split,
    twitter15_trees,
    write_card,
)
from flockwatch.model_card import read_block

FOLDER = REPO_ROOT / "models" / "cascade_risk"
DATA = Settings().data_dir


def committed_meta() -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((FOLDER / "model.json").read_text())["meta"]
    return meta


def test_card_blocks_match_the_committed_model() -> None:
    blocks = render_card_blocks(committed_meta())
    assert set(blocks) == {"data", "baselines", "evaluation"}
    for name, body in blocks.items():
        assert read_block(FOLDER / "README.md", name) == body, f"block {name!r} drifted; rerun the training command"


def test_rendering_follows_the_metrics(tmp_path: Path) -> None:
    meta = committed_meta()
    meta["test_auroc"] = 0.123
    meta["single_value_auroc"]["size"]["validation"] = 0.9876
    card = tmp_path / "README.md"
    card.write_text("# prose kept\n")
    write_card(meta, card)
    assert card.read_text().startswith("# prose kept\n")
    assert "**0.123**" in read_block(card, "evaluation")
    assert "| size (left out) |" in read_block(card, "baselines") and "0.988" in read_block(card, "baselines")


@pytest.fixture(scope="module")
def trees() -> list[Tree]:
    return twitter15_trees(DATA)  # the real data: a missing file fails the test rather than skipping it


def test_splits_are_disjoint_by_tree_id_and_match_the_committed_ones(trees: list[Tree]) -> None:
    ids = {s: [t.tree_id for t in trees if t.split == s] for s in SPLITS}
    for s in SPLITS:
        assert len(set(ids[s])) == len(ids[s])
    assert not set(ids["train"]) & set(ids["validation"])
    assert not set(ids["train"]) & set(ids["test"])
    assert not set(ids["validation"]) & set(ids["test"])
    meta = committed_meta()
    assert {s: len(ids[s]) for s in SPLITS} == meta["n"]
    assert {s: split_digest(ids[s]) for s in SPLITS} == meta["split_ids_sha256"]


def test_a_tree_id_listed_twice_is_refused(tmp_path: Path) -> None:
    csv = tmp_path / "tvt.csv"
    header = "id,text,label,tvt,cv_fold,tt,tvt2,tvt2_1,tvt2_2,tvt2_3\n"
    row = "1234567,some, text,{label},{tvt},1,x,training,training,training,training\n"
    csv.write_text(header + row.format(label="false", tvt="training") + row.format(label="false", tvt="test"))
    with pytest.raises(ValueError, match="more than once"):
        twitter15_split(csv)
    csv.write_text(header + row.format(label="false", tvt="test"))
    assert twitter15_split(csv) == {"1234567": ("false", "test")}


def same_numbers(a: object, b: object, rel: float = 1e-9) -> bool:
    """Equal structures whose floats agree to ``rel``: BLAS kernels differ by CPU in the last bits of a sum."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_numbers(a[k], b[k], rel) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_numbers(x, y, rel) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return (
            isinstance(a, int | float) and isinstance(b, int | float) and math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)
        )
    return a == b


def test_retraining_rebuilds_the_committed_model(tmp_path: Path) -> None:
    """No drift between code and committed model: weights and figures, to 1e-9 (about 3 s)."""
    train_twitter15(DATA, tmp_path)
    rebuilt = json.loads((tmp_path / "model.json").read_text())
    committed = json.loads((FOLDER / "model.json").read_text())
    assert same_numbers(rebuilt, committed), (rebuilt, committed)
    rebuilt["weights"][0] *= 1 + 1e-6  # a real change is still caught
    assert not same_numbers(rebuilt, committed)
