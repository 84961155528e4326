"""The cloned-voice detector: committed model loads offline, scores are defined, training is reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest

from flockwatch.config import Settings
from flockwatch.media import audio_features as af
from flockwatch.media.sniff import open_media
from flockwatch.media.voice_clone import DEFAULT_MODEL_DIR, VoiceCloneSignal, load_model
from flockwatch.training import voice as tv
from tests.unit.media.clips import silent_video

F32 = npt.NDArray[np.float32]
RATE = af.RATE
REAL_CLIP = Settings().data_dir / tv.DATA_SUBDIR / "donald_trump" / "real" / "y0xEoKRHRi4.mp3"


def speechlike(seconds: float, seed: int = 0, f0: float = 120.0, jitter: float = 0.02) -> F32:
    """Harmonic buzz with a wandering pitch and a 4 Hz syllable envelope: speech enough for the frame gate."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    pitch = f0 * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t) + jitter * rng.standard_normal(n).cumsum() / np.sqrt(n))
    phase = 2 * np.pi * np.cumsum(pitch) / RATE
    x = sum(np.sin(k * phase) / k for k in range(1, 30))
    env = 0.5 * (1 - np.cos(2 * np.pi * 4 * t)) ** 2
    return np.asarray(0.1 * x * env + 1e-3 * rng.standard_normal(n), dtype=np.float32)


def write_audio(path: Path, x: F32, codec: str, fmt: str) -> Path:
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=RATE, layout="mono")
        assert isinstance(stream, av.audio.stream.AudioStream)
        pcm = (np.clip(x, -1, 1) * 32767).astype(np.int16) if codec != "libmp3lame" else x.astype(np.float32)
        sample_fmt = "s16" if codec != "libmp3lame" else "flt"
        for i in range(0, pcm.size, 1152):
            frame = av.AudioFrame.from_ndarray(pcm[None, i : i + 1152], format=sample_fmt, layout="mono")
            frame.sample_rate, frame.pts = RATE, i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def wav(tmp_path: Path, x: F32, name: str = "a.wav") -> Path:
    return write_audio(tmp_path / name, x, "pcm_s16le", "wav")


def test_features_have_the_right_shapes() -> None:
    x = speechlike(7.0)
    p = af.power_spectrogram(x)
    assert p.shape == (1 + (x.size - af.FRAME) // af.HOP, af.N_FFT // 2 + 1)
    feats, speech = af.frame_features(x)
    assert feats.shape == (p.shape[0], af.FRAME_FEATURES) and speech.shape == (p.shape[0],)
    windows, starts = af.window_features(x)
    assert windows.shape == (len(starts), af.WINDOW_FEATURES) == (len(starts), len(af.FEATURE_NAMES))
    assert len(starts) == 3 and np.all(np.isfinite(windows))
    assert af.linear_filterbank().shape == (af.N_FILTERS, af.N_FFT // 2 + 1)
    empty, no_starts = af.window_features(np.zeros(100, dtype=np.float32))
    assert empty.shape == (0, af.WINDOW_FEATURES) and no_starts.size == 0


def test_mp3_roundtrip_keeps_length_and_alignment() -> None:
    x = speechlike(3.0)
    y = af.mp3_roundtrip(x)
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.corrcoef(x, y)[0, 1] > 0.9


def test_model_loads_offline() -> None:
    model = load_model(DEFAULT_MODEL_DIR)
    assert model.w.shape == (af.WINDOW_FEATURES,) and np.all(np.isfinite(model.w))
    assert model.threshold is not None and 0 < model.threshold < 1
    assert json.loads((DEFAULT_MODEL_DIR / "metrics.json").read_text())["clips"]["fake"] == 6


def test_speechlike_audio_scores_in_range_and_deterministically(tmp_path: Path) -> None:
    media = open_media(wav(tmp_path, speechlike(8.0)))
    signal = VoiceCloneSignal()
    a, b = signal.compute(media), signal.compute(media)
    assert a is not None and b is not None
    assert a.score is not None and 0.0 <= a.score <= 1.0 and a.score == b.score and a.data == b.data
    assert len(a.data["window_scores"]) == 4 and "weak evidence" in a.detail
    assert a.signal == "voice_clone" and a.tier == signal.tier


def test_real_clip_scores_in_range() -> None:
    finding = VoiceCloneSignal().compute(open_media(REAL_CLIP))
    assert finding is not None and finding.score is not None and 0.0 <= finding.score <= 1.0
    assert len(finding.data["window_scores"]) > 10


@pytest.mark.parametrize(
    "x",
    [
        np.zeros(5 * RATE, dtype=np.float32),  # silence
        speechlike(0.6),  # under 1 s of speech
        (0.1 * np.random.default_rng(0).standard_normal(5 * RATE)).astype(np.float32),  # white noise
    ],
    ids=["silence", "too-short", "noise"],
)
def test_no_speech_gives_an_observation(tmp_path: Path, x: F32) -> None:
    finding = VoiceCloneSignal().compute(open_media(wav(tmp_path, x)))
    assert finding is not None and finding.score is None  # nothing to say, and said so
    assert finding.detail.startswith("not scored: ") and "of speech in" in finding.detail
    assert finding.data["speech_seconds"] < 1.0


def test_video_without_audio_gives_an_observation(tmp_path: Path) -> None:
    media = open_media(silent_video(tmp_path / "silent.mp4"))
    assert media.kind == "video" and VoiceCloneSignal().applies_to(media)
    finding = VoiceCloneSignal().compute(media)
    assert finding is not None and finding.score is None and finding.detail == "not scored: no audio stream"


def test_images_do_not_apply(tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    assert not VoiceCloneSignal().applies_to(open_media(tmp_path / "a.png"))


def _toy_data(root: Path) -> Path:
    """A data folder shaped like the real one: 3 real + 2 "cloned" (flat pitch) mp3s, 3 speakers' flac."""
    base = root / tv.DATA_SUBDIR
    for label, jitter, n in (("real", 0.05, 3), ("fake", 0.0, 2)):
        d = base / "donald_trump" / label
        d.mkdir(parents=True)
        for i in range(n):
            write_audio(d / f"{i}.mp3", speechlike(5.0, seed=i, jitter=jitter), "libmp3lame", "mp3")
    for spk, f0 in (("11", 200.0), ("12", 100.0), ("13", 150.0)):
        d = base / "librispeech_test-other" / spk
        d.mkdir(parents=True)
        write_audio(d / f"{spk}-0.flac", speechlike(4.0, seed=int(spk), f0=f0), "flac", "flac")
    return root


def test_training_on_a_subset_is_reproducible(tmp_path: Path) -> None:
    data = _toy_data(tmp_path / "data")
    m1 = tv.train(data, tmp_path / "m1", seed=0)
    m2 = tv.train(data, tmp_path / "m2", seed=0)
    assert m1["clips"] == {"fake": 2, "trump_real": 3, "librispeech": 3}
    for f in ("weights.npz", "model.json"):
        assert (tmp_path / "m1" / f).read_bytes() == (tmp_path / "m2" / f).read_bytes()
    assert m1["held_out_folds"] == m2["held_out_folds"] and m1["shipped_scores"] == m2["shipped_scores"]
    model = load_model(tmp_path / "m1")
    assert model.threshold is not None
