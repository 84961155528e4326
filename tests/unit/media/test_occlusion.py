"""Matching under occlusion: keypoints + RANSAC on synthetic pictures, and the bank's two stages."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from PIL import Image, ImageDraw

from flockwatch.media import hashing
from flockwatch.media import keypoints as kp
from flockwatch.media.bank import Bank, BankItem, bank_records, distance, picture_hashes


def scene(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A busy synthetic picture: random shapes and lines, distinct for every seed."""
    rng = random.Random(seed)
    noise = np.random.default_rng(seed).integers(0, 256, size=(size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
    im = Image.fromarray(noise).resize(size, Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(im)
    w, h = size
    for _ in range(60):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randrange(8, 60), y0 + rng.randrange(8, 60)
        colour = tuple(rng.randrange(256) for _ in range(3))
        shape = rng.randrange(3)
        if shape == 0:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        elif shape == 1:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.line((x0, y0, x1, y1), fill=colour, width=rng.randrange(1, 4))
    return im


def with_caption_bar(im: Image.Image, frac: float = 0.3, top: bool = True) -> Image.Image:
    out = im.copy()
    draw = ImageDraw.Draw(out)
    bh = round(out.height * frac)
    y0 = 0 if top else out.height - bh
    draw.rectangle((0, y0, out.width, y0 + bh), fill="white")
    draw.text((10, y0 + bh // 3), "SHARE BEFORE THEY DELETE THIS", fill="black")
    return out


def record(name: str, im: Image.Image) -> dict[str, object]:
    return BankItem(
        name, f"{abs(hash(name)):064x}"[:64], "image", "known_fake", "", "", picture_hashes(im, "bank")
    ).record()


@pytest.fixture(scope="module")
def pictures() -> list[Image.Image]:
    return [scene(s) for s in range(6)]


@pytest.fixture(scope="module")
def bank(pictures: list[Image.Image]) -> Bank:
    # Through JSON, as `bank push` stores the records and Bank.from_records reads them back.
    return Bank.from_records(json.loads(json.dumps([record(f"p{k}", im) for k, im in enumerate(pictures)])))


def test_keypoints_round_trip_and_are_bounded(pictures: list[Image.Image]) -> None:
    points = kp.keypoints(pictures[0])
    assert 50 < len(points) <= kp.BANK_FEATURES
    back = kp.Keypoints.from_dict(json.loads(json.dumps(points.to_dict())))
    assert np.array_equal(back.desc, points.desc)
    assert np.allclose(back.xy, points.xy, atol=0.5)
    assert back.size == points.size
    assert len(json.dumps(points.to_dict())) < 40_000


def test_verify_accepts_an_occluded_copy_and_rejects_other_pictures(pictures: list[Image.Image]) -> None:
    banked = [kp.keypoints(p) for p in pictures]
    query = kp.query_keypoints(with_caption_bar(pictures[2], 0.35).resize((240, 180)))
    assert kp.best_verdict(query, banked[2]).matched
    for k in (0, 1, 3, 4, 5):
        assert not kp.best_verdict(query, banked[k]).matched


def test_mirrored_copy_matches_through_the_mirror_side(pictures: list[Image.Image]) -> None:
    query = kp.query_keypoints(with_caption_bar(pictures[1], 0.3, top=False).transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    assert kp.best_verdict(query, kp.keypoints(pictures[1])).matched


def test_descriptor_index_proposes_the_right_picture(pictures: list[Image.Image]) -> None:
    index = kp.DescriptorIndex([kp.keypoints(p) for p in pictures] + [None])
    q = kp.keypoints(with_caption_bar(pictures[4]), kp.QUERY_FEATURES)
    assert index.candidates(q)[0] == 4
    assert kp.DescriptorIndex([]).candidates(q) == []


def test_overlay_rows_flag_a_flat_bar() -> None:
    grey = np.asarray(with_caption_bar(scene(9), 0.25).convert("L"), dtype=np.uint8)
    rows = kp.overlay_rows(grey)
    assert rows[: round(0.2 * len(rows))].all()
    assert not rows[round(0.4 * len(rows)) :].any()
    assert not kp.overlay_rows(np.asarray(scene(9).convert("L"), dtype=np.uint8)).any()


def test_homography_sanity() -> None:
    assert kp.sane(np.eye(3))
    assert not kp.sane(np.diag([-1.0, 1.0, 1.0]))  # mirror
    assert not kp.sane(np.diag([10.0, 10.0, 1.0]))  # scale beyond MAX_SCALE
    assert not kp.sane(np.diag([1.0, 3.0, 1.0]))  # squashed
    assert not kp.sane(np.array([[1, 0, 0], [0, 1, 0], [0.01, 0, 1.0]]))  # perspective


def test_covered_cells_counts_grid_cells_holding_a_point() -> None:
    size = (400, 400)
    band = np.array([[x, 20.0] for x in range(5, 400, 10)], dtype=np.float32)  # one row of text
    assert kp.covered_cells(band, size) == kp.COVER_GRID
    corners = np.array([[1, 1], [399, 1], [1, 399], [399, 399], [200, 200]], dtype=np.float32)
    assert kp.covered_cells(corners, size) == 5
    assert kp.covered_cells(np.zeros((0, 2), np.float32), size) == 0


def test_fewer_inliers_match_only_when_they_cover_the_picture() -> None:
    few = kp.MIN_COVERED_INLIERS
    assert kp.Verdict(few, 200, 0.5, True, kp.MIN_COVERED_CELLS).matched
    # The same inliers in a band of cells (caption text on caption text) are not enough...
    assert not kp.Verdict(few, 200, 0.5, True, kp.MIN_COVERED_CELLS - 1).matched
    # ...unless there are as many as the uncovered rule asks for.
    assert kp.Verdict(kp.MIN_INLIERS, 200, 0.5, True, 1).matched
    assert not kp.Verdict(few - 1, 200, 0.5, True, 16).matched
    assert not kp.Verdict(kp.MIN_INLIERS, 200, 0.5, False, 16).matched  # not a sane transform
    assert not kp.Verdict(kp.MIN_INLIERS, 200, kp.MIN_SPREAD / 2, True, 16).matched


def test_bank_matches_captioned_copies_and_nothing_else(bank: Bank, pictures: list[Image.Image]) -> None:
    for k, im in enumerate(pictures[:3]):
        matches = bank.match_picture(with_caption_bar(im, 0.3, top=k % 2 == 0))
        assert [m.item for m in matches] == [f"p{k}"], matches
    assert bank.match_picture(scene(99)) == []
    assert bank.match_picture(with_caption_bar(scene(98))) == []


def test_keypoint_match_sorts_after_pdq_and_says_how(bank: Bank, pictures: list[Image.Image]) -> None:
    # Without PDQ hashes (as if every window were covered) the keypoint stage matches it.
    rec = record("p5", pictures[5])
    hashes: dict[str, object] = {**rec["hashes"], "hashes": [], "labels": []}  # type: ignore[dict-item]
    (m,) = Bank.from_records([{**rec, "hashes": hashes}]).match_picture(with_caption_bar(pictures[5], 0.3))
    assert m.item == "p5" and "keypoint inliers" in m.how
    assert hashing.MATCH_BITS / hashing.BITS <= m.distance <= 1
    (plain,) = bank.match_picture(pictures[5])
    assert "full ~ full" in plain.how and plain.distance < hashing.MATCH_BITS / hashing.BITS


def test_pdq_stage_equals_a_linear_scan(bank: Bank, pictures: list[Image.Image]) -> None:
    items = bank.items()
    for im in [pictures[0].resize((200, 150)), pictures[3].crop((10, 10, 300, 230)), scene(50)]:
        query = hashing.image_hashes(im, "query").to_dict()
        scan = sorted(
            (i.item, distance("image", query, i.hashes)[0]) for i in items if distance("image", query, i.hashes)[2]
        )
        got = sorted((m.item, m.distance) for m in bank.match_picture(im) if "keypoint" not in m.how)
        assert got == scan


def test_records_without_keypoints_still_match_by_pdq(pictures: list[Image.Image]) -> None:
    rec = record("old", pictures[0])
    hashes = dict(rec["hashes"])  # type: ignore[call-overload]
    del hashes["keypoints"]
    old = Bank.from_records([{**rec, "hashes": hashes}])
    assert [m.item for m in old.match_picture(pictures[0].resize((160, 120)))] == ["old"]
    assert old.match_picture(scene(77)) == []


def test_bank_records_keep_keypoints(tmp_path: object, pictures: list[Image.Image]) -> None:
    rec = record("p", pictures[0])
    again = Bank.from_records(bank_records(Bank.from_records([rec])))
    assert again.items()[0].hashes["keypoints"] == rec["hashes"]["keypoints"]  # type: ignore[index]


def test_a_dark_picture_is_not_all_overlay() -> None:
    """Every row of a dark, low-contrast photo passes the flatness test; its keypoints must not all be dropped."""
    rng = np.random.default_rng(3)
    dark = np.clip(30 + rng.normal(0, 4, (300, 300)).cumsum(axis=1) / 20, 0, 255).astype(np.uint8)
    dark[::17] = 60  # faint structure
    assert not kp.overlay_rows(dark).any()
    bar = np.full((300, 300), 128, np.uint8)
    bar[:60] = 255
    bar[60:] = np.random.default_rng(4).integers(0, 256, (240, 300))
    assert kp.overlay_rows(bar)[:50].all()
