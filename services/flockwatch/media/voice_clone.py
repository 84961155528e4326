"""Cloned-voice detector: a learned, weak prior that a recording's voice is synthetic.

LFCC window statistics (Sahidullah et al., "A Comparison of Features for Synthetic Speech Detection",
Interspeech 2015) scored by a logistic regression trained in :mod:`flockwatch.training.voice` on one
speaker's real and Resemble.ai-cloned clips (see ``models/voice_clone/MODEL_CARD.md``). It applies to audio
files and to videos (their first audio stream); a video with no audio stream gives an observation saying so.

Too little speech (under 1 s of frames that look like speech, including silence and pure noise) also gives an
observation (no score) with the seconds found: the signal has nothing to say, and a fused verdict should not read
"unscored" as "real".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from flockwatch.media import audio_features as af
from flockwatch.media.decode import audio_samples
from flockwatch.media.errors import MediaRefused
from flockwatch.media.signal import Finding, MediaFile, Tier
from flockwatch.model_id import files_model_id

F64 = npt.NDArray[np.float64]

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[3] / "models" / "voice_clone"
# Enough for a verdict; longer media are scored on windows spread evenly over the whole file.
MAX_WINDOWS = 200
MIN_SPEECH_S = 1.0


@dataclass(frozen=True)
class VoiceCloneModel:
    mean: F64
    scale: F64
    w: F64
    b: float
    neutral_kbps: int
    threshold: float | None  # ≤5% FPR on the calibration LibriSpeech speakers (seen by neither fit nor report)
    meta: dict[str, Any]
    model_id: str = "voice_clone"

    def window_scores(self, windows: F64) -> F64:
        z = ((windows - self.mean) / self.scale) @ self.w + self.b
        return np.asarray(1.0 / (1.0 + np.exp(-z)))


@lru_cache(maxsize=4)
def load_model(model_dir: Path = DEFAULT_MODEL_DIR) -> VoiceCloneModel:
    """Weights (npz, no pickle) and config from ``model_dir``; raises FileNotFoundError if absent."""
    meta = json.loads((model_dir / "model.json").read_text())
    with np.load(model_dir / "weights.npz", allow_pickle=False) as z:
        mean, scale, w, b = (z[k].astype(np.float64) for k in ("mean", "scale", "w", "b"))
    if w.shape != (af.WINDOW_FEATURES,):
        raise ValueError(f"voice-clone weights have {w.shape[0]} features, code expects {af.WINDOW_FEATURES}")
    thr = meta.get("threshold_fpr_0.05")
    return VoiceCloneModel(
        mean,
        scale,
        w,
        float(b[0]),
        int(meta["neutral_mp3_kbps"]),
        None if thr is None else float(thr),
        meta,
        files_model_id("voice_clone", model_dir, ["model.json", "weights.npz"]),
    )


def clip_windows(x: npt.NDArray[np.float32], neutral_kbps: int) -> tuple[F64, F64] | None:
    """The windows this signal scores for 16 kHz mono ``x`` and their start times; None under 1 s of speech.

    Model-free, so training and evaluation featurise every clip with this same function.
    """
    if af.speech_seconds(x) < MIN_SPEECH_S:
        return None
    windows, times = af.window_features(af.mp3_roundtrip(x, af.RATE, neutral_kbps))
    if not len(windows):
        return None
    if len(windows) > MAX_WINDOWS:
        keep = np.linspace(0, len(windows) - 1, MAX_WINDOWS).round().astype(int)
        windows, times = windows[keep], times[keep]
    return windows, times


def score_samples(model: VoiceCloneModel, x: npt.NDArray[np.float32]) -> tuple[F64, F64] | None:
    """Per-window scores and window start times for 16 kHz mono ``x``; None under 1 s of speech."""
    found = clip_windows(x, model.neutral_kbps)
    if found is None:
        return None
    windows, times = found
    return model.window_scores(windows), times


def at_threshold_half(raw: float, threshold: float) -> float:
    """Monotone rescaling that puts the stored 5%-FPR threshold at 0.5.

    The raw mean window probability is not calibrated (the card's figures give how many unseen speakers'
    clips reach 0.5); fusion reads 0.5 as "manipulated", so the calibrated operating point must sit there.
    """
    if raw < threshold:
        return 0.5 * raw / threshold
    return 0.5 + 0.5 * (raw - threshold) / max(1.0 - threshold, 1e-9)


@dataclass
class VoiceCloneSignal:
    """MediaSignal for audio and video-with-audio: mean window probability that the voice is cloned."""

    model_dir: Path = DEFAULT_MODEL_DIR
    name: str = "voice_clone"
    tier: Tier = Tier.learned

    def applies_to(self, media: MediaFile) -> bool:
        return media.kind in ("audio", "video")

    def compute(self, media: MediaFile) -> Finding | None:
        if not self.applies_to(media):
            return None
        try:
            x = audio_samples(media.path, af.RATE)
        except MediaRefused as e:
            # A video without sound has no voice to judge; other refusals (a broken track, the deadline) say so.
            if media.kind == "video" and e.reason == "no audio stream":
                return Finding.observation(self.name, "not scored: no audio stream", self.tier, {"audio_seconds": 0.0})
            raise
        model = load_model(self.model_dir)
        scored = score_samples(model, x)
        if scored is None:
            return self.unscored(x)
        scores, times = scored
        raw = float(np.mean(scores))
        score = raw if model.threshold is None else at_threshold_half(raw, model.threshold)
        above = int((scores > (model.threshold or 0.5)).sum())
        detail = (
            f"cloned-voice score {score:.2f} (0.5 = the 5%-FPR threshold on unseen speakers) over {scores.size} "
            f"windows ({above} above it), LFCC model trained on 1 speaker — weak evidence"
        )
        data: dict[str, Any] = {
            "window_scores": [round(float(s), 4) for s in scores],
            "window_starts_s": [round(float(t), 2) for t in times],
            "window_s": af.WINDOW_S,
            "threshold_fpr_0.05": model.threshold,
            "raw_score": round(raw, 4),
            "above_threshold": None if model.threshold is None else raw >= model.threshold,
            "audio_seconds": round(x.size / af.RATE, 2),
            "model": model.model_id,
        }
        return Finding.scored(self.name, score, detail, self.tier, data)

    def unscored(self, x: npt.NDArray[np.float32]) -> Finding:
        """The observation for audio with too little speech to score: how much speech there is, and of what."""
        speech, seconds = af.speech_seconds(x), x.size / af.RATE
        if speech < MIN_SPEECH_S:
            why = f"{speech:.1f} s of speech in {seconds:.1f} s of audio, under the {MIN_SPEECH_S:g} s needed"
        else:
            why = f"{seconds:.1f} s of audio is shorter than one {af.WINDOW_S:g} s window"
        data = {"speech_seconds": round(speech, 2), "audio_seconds": round(seconds, 2), "min_speech_s": MIN_SPEECH_S}
        return Finding.observation(self.name, f"not scored: {why}", self.tier, data)
