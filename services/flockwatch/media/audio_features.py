"""Spectral features of speech for the cloned-voice detector: LFCC plus a few spectral-shape measures.

LFCC (linear-frequency cepstral coefficients) follow Sahidullah, Kinnunen & Hanilçi, "A Comparison of
Features for Synthetic Speech Detection" (Interspeech 2015): a *linear* filterbank keeps the resolution in
the upper band, where vocoders and neural TTS leave most of their artefacts, which the mel scale blurs.
Spectral flatness, 85% roll-off, centroid and a high/low band energy ratio add the spectral-shape cues
used by the ASVspoof baselines. Everything here is pure numpy/scipy on 16 kHz mono float32 audio;
:func:`mp3_roundtrip` (PyAV) is the one exception, used to put every input through the same codec.

Per frame (25 ms Hann, 10 ms hop): 20 LFCC (c1..c20, c0 dropped so gain does not matter), their deltas,
and 4 shape measures. Frames that are quiet or noise-flat are not speech and are dropped. Per window
(3 s, hop 1.5 s): mean and standard deviation of every frame feature over its speech frames: 88 values.
"""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
from scipy.fft import dct  # type: ignore[import-untyped, unused-ignore]
from scipy.signal import correlate  # type: ignore[import-untyped, unused-ignore]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

RATE = 16_000
FRAME = 400  # 25 ms
HOP = 160  # 10 ms
N_FFT = 512
N_FILTERS = 30
N_LFCC = 20
# Band-limit every input to 7 kHz: 8 kHz resampled inputs differ most near Nyquist (resampler filters,
# MP3 encoders' low-pass at low bit rates), which says "which codec", not "which voice".
F_MAX = 7_000.0
# Speech frames: within 35 dB of the loud frames, above an absolute floor, and not noise-flat
# (white noise has a spectral flatness near e^-γ ≈ 0.56; voiced speech stays well under 0.3).
DYNAMIC_DB = 35.0
FLOOR_DB = -60.0
MAX_FLATNESS = 0.45
WINDOW_S = 3.0
WINDOW_HOP_S = 1.5
# A window needs this many speech frames (1 s) to be scored; fewer and its statistics are noise.
MIN_SPEECH_FRAMES = 100

FRAME_FEATURES = 2 * N_LFCC + 4
WINDOW_FEATURES = 2 * FRAME_FEATURES
FEATURE_NAMES: tuple[str, ...] = tuple(
    f"{stat}_{name}"
    for stat in ("mean", "std")
    for name in (
        *(f"lfcc{i}" for i in range(1, N_LFCC + 1)),
        *(f"dlfcc{i}" for i in range(1, N_LFCC + 1)),
        "flatness",
        "rolloff",
        "centroid",
        "hf_ratio",
    )
)


def linear_filterbank(n_filters: int = N_FILTERS, n_fft: int = N_FFT, rate: int = RATE, f_max: float = F_MAX) -> F64:
    """Triangular filters equally spaced on a linear Hz axis from 0 to ``f_max``: (n_filters, n_fft // 2 + 1)."""
    freqs = np.linspace(0.0, rate / 2, n_fft // 2 + 1)
    edges = np.linspace(0.0, f_max, n_filters + 2)
    bank = np.zeros((n_filters, freqs.size))
    for i in range(n_filters):
        lo, mid, hi = edges[i], edges[i + 1], edges[i + 2]
        rising = (freqs - lo) / (mid - lo)
        falling = (hi - freqs) / (hi - mid)
        bank[i] = np.clip(np.minimum(rising, falling), 0.0, None)
    return bank


_BANK = linear_filterbank()


def power_spectrogram(x: F32) -> F64:
    """|STFT|² of ``x`` (16 kHz): (frames, N_FFT // 2 + 1); empty when ``x`` is shorter than one frame."""
    if x.size < FRAME:
        return np.zeros((0, N_FFT // 2 + 1))
    n = 1 + (x.size - FRAME) // HOP
    idx = np.arange(FRAME)[None, :] + HOP * np.arange(n)[:, None]
    frames = x.astype(np.float64)[idx] * np.hanning(FRAME)[None, :]
    return np.abs(np.fft.rfft(frames, n=N_FFT, axis=1)) ** 2


def _deltas(c: F64, width: int = 2) -> F64:
    """Regression deltas over ±``width`` frames (the HTK formula), edges padded by repetition."""
    if c.shape[0] == 0:
        return c.copy()
    padded = np.pad(c, ((width, width), (0, 0)), mode="edge")
    num = sum(
        k * (padded[width + k : width + k + c.shape[0]] - padded[width - k : width - k + c.shape[0]])
        for k in range(1, width + 1)
    )
    return np.asarray(num / (2 * sum(k * k for k in range(1, width + 1))))


def frame_features(x: F32) -> tuple[F64, npt.NDArray[np.bool_]]:
    """Per-frame features (frames, FRAME_FEATURES) and the mask of frames that look like speech."""
    p = power_spectrogram(x)
    if p.shape[0] == 0:
        return np.zeros((0, FRAME_FEATURES)), np.zeros(0, dtype=bool)
    freqs = np.linspace(0.0, RATE / 2, p.shape[1])
    band = freqs <= F_MAX
    pb = p[:, band] + 1e-12
    fb = freqs[band]
    lfcc = dct(np.log(p @ _BANK.T + 1e-10), type=2, norm="ortho", axis=1)[:, 1 : N_LFCC + 1]
    flatness = np.exp(np.mean(np.log(pb), axis=1)) / np.mean(pb, axis=1)
    total = pb.sum(axis=1)
    rolloff = fb[np.argmax(np.cumsum(pb, axis=1) >= 0.85 * total[:, None], axis=1)] / F_MAX
    centroid = (pb @ fb) / total / F_MAX
    hi = pb[:, fb >= 4000.0].sum(axis=1)
    lo = pb[:, (fb >= 300.0) & (fb < 4000.0)].sum(axis=1)
    hf_ratio = np.log10(hi / lo)
    feats = np.column_stack([lfcc, _deltas(lfcc), flatness, rolloff, centroid, hf_ratio])
    # Energy relative to full scale (a full-scale sine frame ≈ 0 dB).
    energy_db = 10 * np.log10(p.sum(axis=1) / (N_FFT * FRAME / 4) + 1e-12)
    loud = np.percentile(energy_db, 95)
    speech = (energy_db > max(FLOOR_DB, loud - DYNAMIC_DB)) & (flatness < MAX_FLATNESS)
    return feats, speech


def window_features(x: F32, window_s: float = WINDOW_S, hop_s: float = WINDOW_HOP_S) -> tuple[F64, F64]:
    """(windows, WINDOW_FEATURES) mean/std of speech-frame features per window, and each window's start (s).

    Windows with under :data:`MIN_SPEECH_FRAMES` speech frames are left out. Audio shorter than one window
    but with enough speech is one window. Empty arrays when nothing qualifies (silence, noise, too short).
    """
    feats, speech = frame_features(x)
    per_window = round(window_s * RATE / HOP)
    step = round(hop_s * RATE / HOP)
    starts = list(range(0, max(1, feats.shape[0] - per_window + 1), step))
    rows: list[F64] = []
    times: list[float] = []
    for s in starts:
        f = feats[s : s + per_window][speech[s : s + per_window]]
        if f.shape[0] >= MIN_SPEECH_FRAMES:
            rows.append(np.concatenate([f.mean(axis=0), f.std(axis=0)]))
            times.append(s * HOP / RATE)
    if not rows:
        return np.zeros((0, WINDOW_FEATURES)), np.zeros(0)
    return np.vstack(rows), np.asarray(times)


def speech_seconds(x: F32) -> float:
    """Seconds of frames that look like speech (the too-short / silence test)."""
    _, speech = frame_features(x)
    return float(speech.sum()) * HOP / RATE


def mp3_roundtrip(x: F32, rate: int = RATE, kbps: int = 32) -> F32:
    """``x`` encoded to MP3 at ``kbps`` and decoded back (same length, same rate), in memory via PyAV.

    Training and scoring put every input through this one codec so that the inputs' own codecs and bit
    rates (which differ between the real and cloned clips here) matter less than the voice.
    """
    import av  # heavy import kept local

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=rate, layout="mono")
        stream.bit_rate = kbps * 1000
        frame_size = 1152
        pcm = np.clip(x, -1.0, 1.0).astype(np.float32)
        for i in range(0, pcm.size, frame_size):
            chunk = pcm[i : i + frame_size]
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
            frame.sample_rate = rate
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buf.seek(0)
    chunks: list[F32] = []
    with av.open(buf, "r", format="mp3") as inp:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        for frame in inp.decode(audio=0):
            for o in resampler.resample(frame):
                chunks.append(o.to_ndarray().reshape(-1).astype(np.float32, copy=False))
    y = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    # LAME adds an encoder delay (~1105 samples incl. decoder delay); align and trim to the input's length.
    delay = _best_lag(x, y)
    y = y[delay : delay + x.size]
    return np.pad(y, (0, x.size - y.size)).astype(np.float32)


def _best_lag(x: F32, y: F32, max_lag: int = 3000) -> int:
    """The lag of ``y`` behind ``x`` (0..max_lag) that best aligns the first seconds; 0 for silence."""
    n = min(x.size, y.size - max_lag, 2 * RATE)
    if n <= 0 or not np.any(x[:n]):
        return 0
    # Cross-correlation by FFT: lags 0..max_lag of y against the first n samples of x.
    corr = correlate(y[: n + max_lag].astype(np.float64), x[:n].astype(np.float64), mode="valid", method="fft")
    return int(np.argmax(corr))
