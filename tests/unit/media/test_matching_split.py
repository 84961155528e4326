"""The held-out split of ``bench/media_matching.py`` and its threshold chooser.

The split is by item name (sha256), so it must not depend on order or on anything measured, must put every
item on exactly one side, and must keep the two files of one photograph together. The chooser is checked on
small hand-made distance sets whose answer is known.
"""

from __future__ import annotations

import random

import pytest

from bench.media_matching import (
    CHOOSE,
    REPORT,
    SAME_PICTURE,
    _verdict,
    audio_paths,
    choose_threshold,
    image_key,
    media_dir,
    recall_at,
    split_of,
    unrelated_images,
    within,
)


def _sides(keys: list[str]) -> tuple[set[str], set[str]]:
    return {k for k in keys if split_of(k) == CHOOSE}, {k for k in keys if split_of(k) == REPORT}


def test_split_is_deterministic_and_order_free() -> None:
    names = [f"picture_{i}.jpg" for i in range(200)]
    first = {n: split_of(n) for n in names}
    shuffled = names[:]
    random.Random(0).shuffle(shuffled)
    assert {n: split_of(n) for n in shuffled} == first
    # Both sides get a real share (200 names: a fair coin gives 70-130 with overwhelming probability).
    assert 70 <= sum(side == CHOOSE for side in first.values()) <= 130
    assert set(first.values()) == {CHOOSE, REPORT}


def test_image_split_is_disjoint_and_keeps_one_photograph_together() -> None:
    names = [p.name for p in unrelated_images()]
    assert names, "media test set missing"
    choose, report = _sides([image_key(n) for n in names])
    assert choose and report and not choose & report
    by_name = {n: split_of(image_key(n)) for n in names}
    for pair in SAME_PICTURE:
        a, b = sorted(pair)
        assert by_name[a] == by_name[b], pair
    # No file is on both sides, and every file is on one.
    assert {n for n in names if by_name[n] == CHOOSE}.isdisjoint({n for n in names if by_name[n] == REPORT})
    assert len(by_name) == len(names)


@pytest.mark.parametrize("kind", ["audio", "video"])
def test_clip_splits_are_disjoint(kind: str) -> None:
    paths = audio_paths() if kind == "audio" else sorted((media_dir() / "video" / "tmk_variants").glob("*.mp4"))
    names = [p.name for p in paths]
    assert len(set(names)) == len(names), "clip names must be unique to split by name"
    choose, report = _sides(names)
    assert choose | report == set(names) and not choose & report


def test_choose_threshold_bits() -> None:
    unrelated = [90, 64, 70, 128, 63]
    t = choose_threshold(unrelated, margin=10)
    assert t == 53
    assert all(u >= t + 10 for u in unrelated)
    # One bit higher would put the closest unrelated pair inside the margin.
    assert not all(u >= t + 1 + 10 for u in unrelated)


def test_choose_threshold_ber_grid() -> None:
    # 0.42 - 0.12 is 0.2999... in floating point: the grid must still give 0.30.
    assert choose_threshold([0.42, 0.8], margin=0.12, step=0.01) == 0.30
    assert choose_threshold([0.426, 1.0], margin=0.12, step=0.01) == 0.30
    assert choose_threshold([1.0, 1.0], margin=0.2, step=0.01) == 0.8


def test_recall_and_false_matches_at_threshold() -> None:
    own = [0, 10, 53, 54]
    assert recall_at(own, 53) == 0.75
    assert recall_at(own, 52) == 0.5
    assert within([53, 70, 100], 53) == 1
    assert within([54, 70], 53) == 0


def test_verdict_changes_only_when_better_on_report() -> None:
    assert "stays" in _verdict(52, 53, (0.98, 0.98), (0, 0))
    assert "stays" in _verdict(52, 55, (0.98, 0.99), (0, 2))
    assert "should change" in _verdict(52, 53, (0.98, 0.99), (0, 0))
    assert "gives the shipped threshold" in _verdict(52, 52, (0.98, 0.98), (0, 0))
