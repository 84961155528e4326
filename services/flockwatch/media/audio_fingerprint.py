"""Audio fingerprint: Haitsma & Kalker, "A Highly Robust Audio Fingerprinting System" (ISMIR 2002).

Mono audio at ~5.3 kHz, 0.384 s Hann frames every 12 ms (31/32 overlap, as in the paper), energy in 33
log-spaced bands from 300 to 2000 Hz, and one 32-bit sub-fingerprint per frame:

    F(n, m) = 1  iff  (E(n, m) - E(n, m+1)) - (E(n-1, m) - E(n-1, m+1)) > 0

Signs of energy differences survive re-encoding (MP3/AAC), volume changes and equalisation; the heavy
overlap makes a copy cut at any sample line up with the original to within half a hop.

Matching is the bit error rate (BER) at the best alignment. Candidate alignments come from exact
sub-fingerprint hits (the paper's lookup: a real copy shares some identical 32-bit words), plus every
offset when both clips are short enough to afford it. Frames quieter than 40 dB under the clip's loud
level are left out of the BER: digital silence gives all-zero words on both sides, which would agree
whatever the clips are.

Threshold (``MATCH_BER`` = 0.30, under the paper's 0.35): ``python -m bench.media_matching`` chooses one on
half of the voice clips (closest unrelated pair, a copy against another clip included, minus a margin) and
reports the re-encode, trim and volume copies' recall and the false matches at 0.30 on the other half
(docs/benchmarks.md, "Media matching"; the figures live there only).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.signal import resample_poly  # type: ignore[import-untyped, unused-ignore]

RATE = 16_000
DECIMATE = 3  # 16 kHz -> 5.33 kHz: the bands stop at 2 kHz
FRAME = 2048
HOP = 64
BANDS = 33
LOW_HZ, HIGH_HZ = 300.0, 2000.0
QUIET_DB = 40.0
# A match needs this many frames (~3 s) of overlap, or the whole shorter clip when it is shorter.
MIN_OVERLAP = 256
MATCH_BER = 0.30
# Below this many frame pairs (two ~6 s clips) try every alignment, not only the voted ones.
BRUTE_LIMIT = 250_000


@dataclass(frozen=True)
class AudioFingerprint:
    words: npt.NDArray[np.uint32]
    loud: npt.NDArray[np.bool_]
    hop_s: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "words": base64.b64encode(self.words.astype("<u4").tobytes()).decode(),
            "loud": base64.b64encode(np.packbits(self.loud).tobytes()).decode(),
            "frames": len(self.words),
            "hop_s": self.hop_s,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> AudioFingerprint:
        n = int(d["frames"])
        words = np.frombuffer(base64.b64decode(d["words"]), dtype="<u4").astype(np.uint32)
        loud = np.unpackbits(np.frombuffer(base64.b64decode(d["loud"]), dtype=np.uint8))[:n].astype(bool)
        return AudioFingerprint(words, loud, float(d["hop_s"]))


def _band_edges(rate: float) -> npt.NDArray[np.int64]:
    hz = np.geomspace(LOW_HZ, HIGH_HZ, BANDS + 1)
    return np.round(hz * FRAME / rate).astype(np.int64)


def fingerprint(samples: npt.NDArray[np.float32], rate: int = RATE) -> AudioFingerprint:
    """Sub-fingerprints of mono ``samples`` at ``rate`` Hz (16 kHz from :func:`decode.audio_samples`)."""
    x = np.asarray(samples, dtype=np.float64)
    if rate % DECIMATE == 0:
        x = resample_poly(x, 1, DECIMATE)
        low_rate = rate / DECIMATE
    else:
        x = resample_poly(x, 16_000, rate * DECIMATE)
        low_rate = 16_000 / DECIMATE
    n = (len(x) - FRAME) // HOP + 1
    if n < 2:
        return AudioFingerprint(np.zeros(0, np.uint32), np.zeros(0, bool), HOP / low_rate)
    edges = _band_edges(low_rate)
    window = np.hanning(FRAME)
    energy = np.empty((n, BANDS), dtype=np.float64)
    frames = np.lib.stride_tricks.sliding_window_view(x, FRAME)[::HOP]
    for start in range(0, n, 2048):  # chunks bound memory for long clips
        spec = np.abs(np.fft.rfft(frames[start : start + 2048] * window, axis=1)) ** 2
        cum = np.concatenate([np.zeros((spec.shape[0], 1)), np.cumsum(spec, axis=1)], axis=1)
        energy[start : start + 2048] = cum[:, edges[1:]] - cum[:, edges[:-1]]
    diff = energy[:, :-1] - energy[:, 1:]
    bits = (diff[1:] - diff[:-1]) > 0
    words = (bits.astype(np.uint64) << np.arange(31, -1, -1, dtype=np.uint64)).sum(axis=1).astype(np.uint32)
    total = energy[1:].sum(axis=1)
    ref = float(np.percentile(total, 95)) if total.size else 0.0
    loud = total > ref * 10 ** (-QUIET_DB / 10) if ref > 0 else np.zeros(len(total), bool)
    return AudioFingerprint(words, loud, HOP / low_rate)


def _ber_at(a: AudioFingerprint, b: AudioFingerprint, offset: int) -> tuple[float, int]:
    """BER over loud frames where a[i] lines up with b[i + offset]; (1.0, 0) when they barely overlap."""
    i0 = max(0, -offset)
    i1 = min(len(a.words), len(b.words) - offset)
    if i1 <= i0:
        return 1.0, 0
    mask = a.loud[i0:i1] & b.loud[i0 + offset : i1 + offset]
    used = int(mask.sum())
    if used == 0:
        return 1.0, 0
    x = a.words[i0:i1][mask] ^ b.words[i0 + offset : i1 + offset][mask]
    return float(np.bitwise_count(x).sum()) / (32 * used), used


def _candidate_offsets(a: AudioFingerprint, b: AudioFingerprint, top: int = 12) -> list[int]:
    """Offsets voted for by identical loud sub-fingerprints (Haitsma & Kalker's lookup step)."""
    qa = np.flatnonzero(a.loud)
    qb = np.flatnonzero(b.loud)
    order = np.argsort(b.words[qb], kind="stable")
    sorted_words = b.words[qb][order]
    lo = np.searchsorted(sorted_words, a.words[qa], "left")
    hi = np.searchsorted(sorted_words, a.words[qa], "right")
    counts = np.minimum(hi - lo, 50)  # a word repeated everywhere (tones, hum) says little
    if not counts.any():
        return []
    rep = np.repeat(np.arange(len(qa)), counts)
    within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    offsets = qb[order[lo[rep] + within]] - qa[rep]
    values, votes = np.unique(offsets, return_counts=True)
    best = values[np.argsort(-votes, kind="stable")[:top]].tolist()
    return sorted({o + d for o in best for d in range(-2, 3)})


def audio_distance(a: AudioFingerprint, b: AudioFingerprint) -> tuple[float, str]:
    """(lowest BER over alignments with enough overlap, evidence). 1.0 when nothing lines up."""
    na, nb = len(a.words), len(b.words)
    if na == 0 or nb == 0:
        return 1.0, "no fingerprint (clip too short)"
    need = min(MIN_OVERLAP, int(0.8 * min(int(a.loud.sum()), int(b.loud.sum()))))
    if need < 16:
        return 1.0, "too little sound to compare"
    offsets = list(range(-na + 1, nb)) if na * nb <= BRUTE_LIMIT else _candidate_offsets(a, b)
    best, best_off, best_used = 1.0, 0, 0
    for off in offsets:
        ber, used = _ber_at(a, b, off)
        if used >= need and ber < best:
            best, best_off, best_used = ber, off, used
    how = f"BER {best:.3f} over {best_used * a.hop_s:.1f} s at offset {best_off * a.hop_s:+.2f} s"
    return round(best, 4), how


def is_match(ber: float, threshold: float = MATCH_BER) -> bool:
    return ber <= threshold
