"""Face-video card: figures re-rendered from the committed JSON match the card; the identity folds are disjoint
as the card says and are the ones the committed metrics came from; the pair counting is right on a fixture."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from flockwatch.config import Settings
from flockwatch.media.face_video import MODEL_DIR
from flockwatch.model_card import read_block
from flockwatch.training.face import CARD, card_figures, clips, ffpp_pairs, identity_folds, render_card_figures

METRICS = json.loads((MODEL_DIR / "metrics.json").read_text())
CONFIG = json.loads((MODEL_DIR / "model.json").read_text())


@pytest.mark.parametrize("name", ["settings", "data", "splits", "evaluation"])
def test_card_blocks_match_the_committed_json(name: str) -> None:
    assert read_block(MODEL_DIR / CARD, name) == card_figures(MODEL_DIR)[name]


def test_card_quotes_no_cost_figure_of_its_own() -> None:
    # Cost is measured by bench.face_video and lives only in docs/benchmarks.md, so the two cannot disagree.
    text = (MODEL_DIR / CARD).read_text()
    assert not re.search(r"s(econds)? (wall clock )?per minute", text.replace("figures:", ""))
    assert "docs/benchmarks.md" in text


def test_identity_folds_on_the_real_clips_are_disjoint_and_match_the_metrics() -> None:
    all_clips = clips(Settings().data_dir)
    assert [{"name": c.name, "label": c.label, "group": c.group, "method": c.method} for c in all_clips] == METRICS[
        "clips"
    ]
    folds = identity_folds(all_clips)
    group = {c.name: c.group for c in all_clips}
    originals = {c.group for c in all_clips if c.method == "original"}
    assert [f.held_out for f in folds] == [f["held_out"] for f in METRICS["folds"]]
    for f, recorded in zip(folds, METRICS["folds"], strict=True):
        assert list(f.fakes) == recorded["held_out_fakes"]
        assert set(f.train_groups) == originals - {f.held_out}
        # Nothing a fold reports on shares an identity group with what it trained on.
        assert not {group[n] for n in [f.held_out, *f.fakes]} & set(f.train_groups)
        # And every fake it leaves out is one whose identity it trained on.
        left_out = {c.name for c in all_clips if c.label == 1} - set(f.fakes)
        assert all(group[n] in f.train_groups for n in left_out)
    # Each real clip reports in exactly one fold; the held-out AUROC counts each (real, fake) pair once.
    assert sorted(f.held_out for f in folds) == sorted(originals)
    assert METRICS["held_out_auroc"]["pairs"] == sum(len(f.fakes) for f in folds)


def test_committed_held_out_auroc_is_the_pairwise_rate_of_the_fold_scores() -> None:
    pairs = [
        (f["clip_scores"][f["held_out"]]["score"], f["clip_scores"][n]["score"])
        for f in METRICS["folds"]
        for n in f["held_out_fakes"]
    ]
    rate = sum((p > r) + 0.5 * (p == r) for r, p in pairs) / len(pairs)
    assert METRICS["held_out_auroc"]["value"] == round(rate, 4)


def _fixture_metrics() -> dict[str, Any]:
    def scores(**kw: float) -> dict[str, dict[str, float]]:
        return {k: {"score": v, "crops": 1, "top_k": 1} for k, v in kw.items()}

    return {
        "seed": 0,
        "steps": 1,
        "clips": [
            {"name": "a", "label": 0, "group": "a", "method": "original"},
            {"name": "b", "label": 0, "group": "b", "method": "original"},
            {"name": "a_x", "label": 1, "group": "a", "method": "Deepfakes"},
            {"name": "d", "label": 1, "group": "d", "method": "DFDC"},
        ],
        "training_crops": {"a": 5, "b": 6, "celeba_images": 2},
        "folds": [
            {
                "held_out": "a",
                "train_seconds": 1.0,
                "sbi_auroc_held_out_identity": 0.5,
                "held_out_fakes": ["a_x", "d"],
                "clip_scores": scores(a=0.4, b=0.1, a_x=0.3, d=0.9),
            },
            {
                "held_out": "b",
                "train_seconds": 2.0,
                "sbi_auroc_held_out_identity": 0.6,
                "held_out_fakes": ["d"],
                "clip_scores": scores(a=0.1, b=0.2, a_x=0.2, d=0.7),
            },
        ],
        "held_out_auroc": {"value": 0.6667, "pairs": 3, "reals": 2, "note": ""},
        "final": {
            "train_seconds": 3.0,
            "trained_on": ["a", "b", "celeba"],
            "clip_scores": scores(a=0.1, b=0.1, a_x=0.5, d=0.8),
        },
    }


def test_pair_counting_and_rendering_on_a_fixture(tmp_path: Path) -> None:
    m = _fixture_metrics()
    assert ffpp_pairs(m) == (0, 1)  # the one FF++ pair (a vs a_x) is ranked wrong
    blocks = render_card_figures(m, CONFIG)
    ev = blocks["evaluation"]
    assert "2 of 3 ranked right" in ev and "Within FF++ only: 0 of 1 pairs" in ev
    assert "| d | DFDC | fake | 0.800 (mean of 2 folds) | 0.800 |" in ev
    assert "| a_x | Deepfakes | fake | 0.300 | 0.500 (its original trained on) |" in ev
    assert "| a | original | real | 0.400 | 0.100 (trained on) |" in ev
    assert "| b | a, CelebA | b | d (DFDC) |" in blocks["splits"]


def test_fixture_clip_tree_gives_disjoint_folds(tmp_path: Path) -> None:
    root = tmp_path / "media/video/ffpp_dfdc_samples"
    for rel in [
        "ffpp/original_sequences/youtube/c23/videos/001.mp4",
        "ffpp/original_sequences/youtube/c23/videos/002.mp4",
        "ffpp/manipulated_sequences/FaceSwap/c23/videos/001_009.mp4",
        "dfdc/part0/zz.mp4",
    ]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")
    (root / "dfdc/part0/metadata.json").write_text(json.dumps({"zz.mp4": {"label": "FAKE"}}))
    folds = identity_folds(clips(tmp_path))
    assert [(f.held_out, f.train_groups, f.fakes) for f in folds] == [
        ("001", ("002",), ("001_009", "zz")),
        ("002", ("001",), ("zz",)),
    ]
