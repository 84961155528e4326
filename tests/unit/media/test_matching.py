"""Known-media matching on the real test sets: PDQ variants, TMK video variants, edited cnndetection
pictures, voice clips, and the directory bank round trip. Subsampled to stay fast; the full run is
``python -m bench.media_matching``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.media_matching import EDITS, SAME_PICTURE, content, reencode, unrelated_images
from flockwatch.config import Settings
from flockwatch.media import audio_fingerprint as af
from flockwatch.media import hashing
from flockwatch.media import video_hash as vh
from flockwatch.media.bank import Bank, BankMatchSignal, bank_records, match_line
from flockwatch.media.decode import audio_samples, open_image, video_frames
from flockwatch.media.signal import MediaSignal, Tier
from flockwatch.media.sniff import open_media

MEDIA = Settings().data_dir / "media"
PDQ_VARIANTS = MEDIA / "images" / "pdq_variants"
TMK = MEDIA / "video" / "tmk_variants"


@pytest.fixture(scope="module")
def bridge_bank() -> hashing.ImageHashes:
    return hashing.image_hashes(open_image(PDQ_VARIANTS / "bridge-1-original.jpg"), "bank")


@pytest.mark.parametrize("name", sorted(p.name for p in PDQ_VARIANTS.glob("*.jpg")) if PDQ_VARIANTS.is_dir() else [])
def test_pdq_variants_match_their_original(bridge_bank: hashing.ImageHashes, name: str) -> None:
    bits, how = hashing.image_distance(hashing.image_hashes(open_image(PDQ_VARIANTS / name)), bridge_bank)
    assert hashing.is_match(bits), (name, bits, how)


def test_plain_pdq_misses_what_the_windows_catch() -> None:
    # The baseline the issue describes: a flip or a 5%-per-side crop defeats whole-picture PDQ.
    orig = open_image(PDQ_VARIANTS / "bridge-1-original.jpg")
    w, h = orig.size
    crop = orig.crop((w // 20, h // 20, w - w // 20, h - h // 20))
    a, _ = hashing.pdq(np.asarray(orig))
    b, _ = hashing.pdq(np.asarray(crop))
    plain = int(hashing.hamming_matrix(hashing.to_words([a]), hashing.to_words([b]))[0, 0])
    windowed, _ = hashing.image_distance(hashing.image_hashes(crop), hashing.image_hashes(orig, "bank"))
    assert plain > hashing.MATCH_BITS
    assert windowed <= hashing.MATCH_BITS


@pytest.fixture(scope="module")
def sample_pictures() -> list[tuple[str, Image.Image, hashing.ImageHashes]]:
    paths = unrelated_images()
    picked = paths[:: max(1, len(paths) // 12)][:12]
    out = []
    for p in picked:
        im = content(open_image(p))
        out.append((p.name, im, hashing.image_hashes(im, "bank")))
    return out


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_edited_copies_match_only_their_original(
    sample_pictures: list[tuple[str, Image.Image, hashing.ImageHashes]], edit: str
) -> None:
    hits = 0
    for k, (name, im, _) in enumerate(sample_pictures):
        q = hashing.image_hashes(EDITS[edit](im, k))
        for other, _, banked in sample_pictures:
            bits, how = hashing.image_distance(q, banked)
            if other == name:
                hits += hashing.is_match(bits)
            elif frozenset({name, other}) not in SAME_PICTURE:
                assert not hashing.is_match(bits), (edit, name, other, bits, how)
    # ≥ 0.95 in the full benchmark; on 12 pictures allow one miss.
    assert hits >= len(sample_pictures) - 1, (edit, hits)


def test_unrelated_pictures_do_not_match(sample_pictures: list[tuple[str, Image.Image, hashing.ImageHashes]]) -> None:
    closest = hashing.BITS
    for name, im, _ in sample_pictures:
        q = hashing.image_hashes(im)
        for other, _, banked in sample_pictures:
            if other != name and frozenset({name, other}) not in SAME_PICTURE:
                closest = min(closest, hashing.image_distance(q, banked)[0])
    assert closest > hashing.MATCH_BITS


def test_flat_picture_has_no_usable_hash() -> None:
    flat = Image.new("RGB", (300, 200), (120, 130, 140))
    h = hashing.image_hashes(flat, "bank")
    assert h.quality < hashing.MIN_QUALITY and not h.hashes
    assert hashing.image_distance(hashing.image_hashes(flat), h)[0] == hashing.BITS


def test_image_hashes_round_trip_json(bridge_bank: hashing.ImageHashes) -> None:
    again = hashing.ImageHashes.from_dict(json.loads(json.dumps(bridge_bank.to_dict())))
    assert again.hashes == bridge_bank.hashes and again.labels == bridge_bank.labels


@pytest.fixture(scope="module")
def videos() -> dict[str, tuple[vh.VideoHashes, vh.VideoHashes]]:
    names = ["chair-orig-22-sd-bar", "chair-22-sd-sepia-bar", "chair-19-sd-bar", "pattern-hd-no-bar"]
    names += ["pattern-sd-with-small-logo-bar", "doorknob-hd-no-bar", "test-padded-dimensions"]
    out = {}
    for n in names:
        frames = video_frames(TMK / f"{n}.mp4", every_s=vh.BANK_EVERY_S, max_frames=60)
        # The query side at 1 s is every other banked frame: one decode for both roles keeps this fast.
        out[n] = (vh.frames_hashes(frames[::2], "query"), vh.frames_hashes(frames, "bank"))
    return out


@pytest.mark.parametrize(
    ("a", "b", "related"),
    [
        ("chair-22-sd-sepia-bar", "chair-orig-22-sd-bar", True),
        ("chair-19-sd-bar", "chair-orig-22-sd-bar", True),
        ("pattern-sd-with-small-logo-bar", "pattern-hd-no-bar", True),
        ("chair-orig-22-sd-bar", "pattern-hd-no-bar", False),
        ("pattern-hd-no-bar", "chair-orig-22-sd-bar", False),
        ("doorknob-hd-no-bar", "chair-orig-22-sd-bar", False),
        ("chair-19-sd-bar", "test-padded-dimensions", False),
        ("test-padded-dimensions", "pattern-hd-no-bar", False),
    ],
)
def test_tmk_variants(videos: dict[str, tuple[vh.VideoHashes, vh.VideoHashes]], a: str, b: str, related: bool) -> None:
    d, how = vh.video_distance(videos[a][0], videos[b][1])
    assert vh.is_match(d) == related, (a, b, d, how)


@pytest.fixture(scope="module")
def clips() -> list[np.ndarray]:
    base = MEDIA / "audio" / "voice_clone"
    paths = sorted(base.glob("donald_trump/*/*.mp3"))[:3] + sorted(base.glob("librispeech_test-other/*/*.flac"))[:2]
    return [audio_samples(p, max_seconds=20) for p in paths]


def test_audio_copies_match_and_different_clips_do_not(clips: list[np.ndarray]) -> None:
    rate = af.RATE
    prints = [af.fingerprint(c, rate) for c in clips]
    for k, c in enumerate(clips):
        copies = {
            "mp3": reencode(c, rate, "mp3", 64_000),
            "trim": c[int(1.3 * rate) : len(c) - rate],
            "quiet": (c * 0.4).astype(np.float32),
        }
        for name, copy in copies.items():
            ber, how = af.audio_distance(af.fingerprint(copy, rate), prints[k])
            assert af.is_match(ber), (k, name, ber, how)
        for j in range(len(clips)):
            if j != k:
                ber, how = af.audio_distance(prints[k], prints[j])
                assert not af.is_match(ber), (k, j, ber, how)


def test_audio_fingerprint_round_trip_json(clips: list[np.ndarray]) -> None:
    fp = af.fingerprint(clips[0])
    again = af.AudioFingerprint.from_dict(json.loads(json.dumps(fp.to_dict())))
    assert np.array_equal(again.words, fp.words) and np.array_equal(again.loud, fp.loud)


def test_bank_round_trip(tmp_path: Path) -> None:
    bank = Bank(tmp_path / "bank")
    cnn = MEDIA / "images" / "cnndetection"
    orig = str(PDQ_VARIANTS / "bridge-1-original.jpg")
    items = bank.add([orig, cnn / "0_cyclegan_real.jpg"], label="known_fake", note="test", copy=True)
    assert [i.item for i in items] == [orig, str(cnn / "0_cyclegan_real.jpg")]
    assert (tmp_path / "bank" / "files" / items[0].sha256).is_file()
    # Re-adding the same path and bytes is a no-op.
    again = bank.add([orig])
    assert again[0].added_at == items[0].added_at and len(bank.items()) == 2

    # Same bytes under another name: distance 0 by sha256.
    same = bank.match(open_media(PDQ_VARIANTS / "aaa-orig.jpg"))
    assert same[0].item == orig and same[0].distance == 0.0
    # An edit matches the original, by hash.
    flipped = bank.match(open_media(PDQ_VARIANTS / "bridge-6-flipy.jpg"))
    assert [m.item for m in flipped] == [orig] and 0 <= flipped[0].distance <= hashing.MATCH_BITS / hashing.BITS
    # An unrelated picture: no match, and the CLI line has an empty list.
    line = match_line(bank, cnn / "100_cyclegan_fake.jpg")
    assert line == {"path": str(cnn / "100_cyclegan_fake.jpg"), "matches": []}

    records = bank_records(bank)
    assert len(records) == 2 and json.loads(json.dumps(records)) == records


def test_bank_match_signal(tmp_path: Path) -> None:
    cnn = MEDIA / "images" / "cnndetection"
    bank = Bank(tmp_path)
    bank.add([PDQ_VARIANTS / "bridge-1-original.jpg"], label="known_fake")
    bank.add([cnn / "0_cyclegan_real.jpg"], label="fact_checked_real")
    signal = BankMatchSignal(bank)
    assert isinstance(signal, MediaSignal) and signal.tier == Tier.match

    fake = signal.compute(open_media(PDQ_VARIANTS / "bridge-3-rotate-180.jpg"))
    assert fake is not None and fake.score is not None and fake.score >= 0.9 and "bridge-1-original.jpg" in fake.detail
    real = signal.compute(open_media(cnn / "0_cyclegan_real.jpg"))
    assert real is not None and real.score is not None and real.score < 0.2
    assert signal.compute(open_media(cnn / "100_cyclegan_fake.jpg")) is None
