"""Face-video path: MTCNN offline, crops, the shipped SBI model, aggregation, and "no face" -> an observation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flockwatch.config import Settings
from flockwatch.media.decode import video_frames
from flockwatch.media.face_video import MODEL_DIR, FaceVideoSignal, load_model, top_fraction_mean, video_finding
from flockwatch.media.faces import CROP_SIZE, FaceCrop, FaceCropper, crop_face
from flockwatch.media.signal import Tier
from flockwatch.media.sniff import open_media
from flockwatch.training.face import clips, face_mask, self_blend

SAMPLES = Settings().data_dir / "media" / "video" / "ffpp_dfdc_samples"
ORIGINAL = SAMPLES / "ffpp/original_sequences/youtube/c23/videos/004.mp4"
FAKE = SAMPLES / "ffpp/manipulated_sequences/NeuralTextures/c23/videos/004_982.mp4"


def test_mtcnn_loads_offline_and_finds_the_face_in_an_ffpp_original() -> None:
    frames = video_frames(ORIGINAL, max_frames=1)
    crops = FaceCropper().crops(frames)
    assert len(crops) == 1
    c = crops[0]
    assert c.prob >= 0.95
    assert c.rgb.shape == (CROP_SIZE, CROP_SIZE, 3) and c.rgb.dtype == np.uint8
    x0, y0, x1, y1 = c.box
    h, w = frames[0].rgb.shape[:2]
    assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h and x1 - x0 > 60
    # Landmarks land inside the crop, eyes above the mouth.
    pts = np.array(c.points)
    assert (pts >= 0).all() and (pts < CROP_SIZE).all() and pts[0, 1] < pts[3, 1]


def test_signal_scores_a_face_video_with_evidence_counts_and_repeats_exactly() -> None:
    media = open_media(FAKE)
    signal = FaceVideoSignal(every_s=1.0, max_frames=2)
    assert signal.applies_to(media) and signal.tier is Tier.learned
    a, b = signal.compute(media), signal.compute(media)
    assert a is not None and b is not None and a.score is not None
    assert 0.0 <= a.score <= 1.0 and a.tier is Tier.learned and a.signal == "face_video"
    assert a.data["frames_sampled"] == 2 and a.data["frames_with_face"] == 2 and a.data["crops"] >= 2
    assert len(a.data["per_crop"]) == a.data["crops"]
    assert "face crops" in a.detail and "of 2 sampled frames" in a.detail
    assert a.score == b.score and a.data == b.data


def test_video_without_faces_is_not_applicable(tmp_path: Path) -> None:
    import cv2

    path = tmp_path / "gradient.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 5.0, (160, 120))
    rng = np.random.default_rng(0)
    ramp = np.tile(np.linspace(0, 255, 160, dtype=np.float32), (120, 1))
    for i in range(10):
        frame = np.clip(ramp[..., None] * [1.0, 0.5, 0.2] + rng.normal(0, 8, (120, 160, 3)) + i * 3, 0, 255)
        writer.write(frame.astype(np.uint8))
    writer.release()
    media = open_media(path)
    assert media.kind == "video"
    finding = FaceVideoSignal(every_s=0.5, max_frames=4).compute(media)
    assert finding is not None and finding.score is None  # an observation: fusion ignores it
    assert finding.detail == "not scored: no face found by MTCNN in 4 sampled frames"


def test_signal_scores_a_still_image_with_a_face(tmp_path: Path) -> None:
    from PIL import Image

    frame = video_frames(ORIGINAL, max_frames=1)[0]
    path = tmp_path / "still.png"
    Image.fromarray(frame.rgb).save(path)
    f = FaceVideoSignal().compute(open_media(path))
    assert f is not None and f.score is not None and 0.0 <= f.score <= 1.0 and "of 1 image" in f.detail


def test_shipped_weights_are_small_float16_and_load() -> None:
    assert (MODEL_DIR / "weights.npz").stat().st_size < 600_000
    model = load_model(MODEL_DIR)
    scores = model.score(np.full((2, model.size, model.size, 3), 128, np.uint8))
    assert scores.shape == (2,) and ((scores >= 0) & (scores <= 1)).all()
    with np.load(MODEL_DIR / "weights.npz") as z:
        assert all(z[k].dtype == np.float16 for k in z.files)


def test_aggregation_is_top_third_mean_and_no_crops_is_an_observation() -> None:
    mean, k = top_fraction_mean([0.1, 0.9, 0.2, 0.8, 0.3, 0.7])
    assert mean == pytest.approx(0.85) and k == 2
    assert top_fraction_mean([0.4]) == (0.4, 1)
    none = video_finding("face_video", [], [], n_frames=5)
    assert none.score is None and none.data["frames_with_face"] == 0 and "in 5 sampled frames" in none.detail
    crop = FaceCrop(0.0, (0, 0, 10, 10), 0.99, ((1, 1),) * 5, np.zeros((4, 4, 3), np.uint8))
    f = video_finding("face_video", [crop, crop], [0.9, 0.2], n_frames=4)
    assert f is not None and f.score == pytest.approx(0.9)
    assert "1 of 2 face crops" in f.detail and "faces in 1 of 4 sampled frames" in f.detail


def test_crop_pads_past_the_frame_edge_and_maps_landmarks() -> None:
    rgb = np.zeros((100, 100, 3), np.uint8)
    rgb[:, :50] = 200
    out, pts = crop_face(rgb, (-10, -10, 30, 30), ((10.0, 10.0),) * 5, size=64, margin=0.25)
    assert out.shape == (64, 64, 3) and (out > 0).any()
    # The box (side 40, +25% each side = 60) starts at -20: (10, 10) sits at 30/60 of the crop.
    assert pts[0] == pytest.approx((32.0, 32.0), abs=1.5)


def test_self_blend_is_deterministic_and_keeps_the_mask_soft() -> None:
    img = np.random.default_rng(1).integers(0, 255, (CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8)
    pts = np.array([[44, 52], [84, 52], [64, 70], [48, 90], [80, 90]], np.float32)
    a = self_blend(np.random.default_rng(3), img, pts)
    b = self_blend(np.random.default_rng(3), img, pts)
    assert np.array_equal(a, b) and a.shape == img.shape
    m = face_mask(np.random.default_rng(3), pts, CROP_SIZE)
    assert m.min() >= 0.0 and m.max() <= 1.0 and m[70, 64] > 0.5 and m[2, 2] == 0.0


def test_clip_list_pairs_each_manipulation_with_its_original() -> None:
    cs = {c.name: c for c in clips(Settings().data_dir)}
    assert len(cs) == 10 and sum(c.label == 0 for c in cs.values()) == 3
    assert cs["519_515"].group == "519" and cs["519_515"].method == "Deepfakes"
    assert all(c.label == 1 for c in cs.values() if c.method == "DFDC")


def test_frames_of_one_time_count_once() -> None:
    crop = FaceCrop(1.0, (0, 0, 10, 10), 0.99, ((1, 1),) * 5, np.zeros((4, 4, 3), np.uint8))
    f = video_finding("face_video", [crop, crop], [0.1, 0.1], n_frames=2)
    assert f is not None and f.data["frames_with_face"] == 1
