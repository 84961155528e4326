"""Lip sync: does the mouth move with the speech? An audio-visual offset and its strength per face track.

Training-free, after the audio-visual synchrony measures that correlate pixel change with sound energy
(Hershey & Movellan, "Audio Vision: Using Audio-Visual Synchrony to Locate Sounds", NIPS 1999; Slaney & Covell,
"FaceSync: A linear operator for measuring synchronization of video facial images and audio tracks", NIPS 2000),
read out as SyncNet reads its distances (Chung & Zisserman, "Out of time: automated lip sync in the wild", ACCV 2016
workshops): the offset where audio and mouth agree best, and how clearly that agreement stands out.

For each face track over the first ``MAX_SECONDS`` of the video:

- mouth motion ``m[t]``: mean absolute change, from frame ``t-1`` to ``t``, of a brightness-normalised grey patch
  around the mouth. The patch follows MTCNN's mouth-corner landmarks smoothed over time: per-frame landmark jitter
  would otherwise move the patch more than the lips move;
- speech envelope ``a[t]``: log energy of the audio in a frame-long window centred on the moment frame ``t``
  replaces frame ``t-1`` (when ``m[t]`` happens);
- ``r(L) = pearson(m[t], a[t + L])`` for ``|L| <= MAX_LAG`` frames. The offset ``L*`` is the peak of ``r`` averaged
  over ``CURVE_SMOOTH`` neighbouring lags (speech energy changes over a syllable, so the raw curve is a broad
  plateau whose highest point wanders), refined to the highest raw lag within that window: the audio is ``L*``
  frames late (early when negative). Its strength is Fisher's ``z = atanh(r(L*)) * sqrt(n - 3)``, with ``n`` the
  frames the two series overlap at ``L*``, so tracks of different lengths compare;
- ``synchrony``: ``found`` when ``z >= SYNC_Z`` and the peak is not at the edge of the search (within
  ``CURVE_SMOOTH // 2`` lags of ``±MAX_LAG``, where the true top may lie beyond it); otherwise ``none``: no offset
  stands out, and the speech may not come from this face. The offset is coarse (``± RESOLUTION`` frames, measured
  by the bench) and its zero is uncalibrated (no clip here has known sync), so no in-step / out-of-step call is made
  on it: only gross offsets mean anything, and they are for the analyst to check by eye.

What this can and cannot show (``models/lip_sync/MODEL_CARD.md``): swapped audio (or grossly shifted audio) under a
visible talking mouth. A lip-sync deepfake (Wav2Lip and kin) is generated to move in step with its audio, so this
measure does not detect one; and a voice-over on a face that is not speaking reads as ``none``, not as fake. It
is therefore an observation (``score=None``): reported to the analyst, ignored by fusion.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from flockwatch.media.decode import AUDIO_RATE, RGB, Frame, audio_samples, iter_video_frames
from flockwatch.media.errors import MediaRefused
from flockwatch.media.faces import FaceCropper, Points
from flockwatch.media.signal import Finding, MediaFile, Tier

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]

MAX_SECONDS = 10.0  # analysed from the start: enough speech for a clear peak, bounded cost (MTCNN on every frame)
MAX_LAG = (
    15  # frames each way (0.5 s at 30 fps): SyncNet's search range (a wider one lets swapped audio find chance peaks)
)
CURVE_SMOOTH = 5  # lags
DETECT_EVERY = 3  # MTCNN on every third frame; landmarks in between are interpolated (a third of the cost)
# Strength a track needs before its offset is read (Fisher z). Chosen by `python -m bench.lip_sync` as the 95th
# percentile of z when unrelated speech (LibriSpeech) is put under the DFDC clips' mouths, and reported there on
# the clips' own audio, shifted and swapped between clips.
SYNC_Z = 4.3
# Frames the offset is good to: the most it moved, on the tracks where sync was found, when a little of the same
# speech was left out or the audio was shifted by a known amount (`python -m bench.lip_sync`).
RESOLUTION = 7
MIN_TRACK_SECONDS = 8.0  # shorter tracks read offsets even more coarsely than the bench measures (on 8.7-10 s)
MIN_SPEECH_SECONDS = 2.0
PATCH = (48, 32)  # mouth patch, width x height, in pixels
# Mouth patch around the mouth corners' midpoint, in mouth widths: lips and chin below the corners matter most.
PATCH_LEFT_RIGHT, PATCH_ABOVE, PATCH_BELOW = 0.9, 0.6, 0.8
MAX_GAP_FRAMES = 15  # a track whose face is unseen for longer ends; landmarks are interpolated only across shorter gaps
SMOOTH_FRAMES = 7  # median over this many frames, then a mean over 5: removes landmark jitter, keeps head motion


@dataclass(frozen=True)
class SyncEstimate:
    """Where audio and mouth agree best: ``offset`` frames (audio late when positive), with its strength."""

    offset: int
    correlation: float
    z: float
    frames: int
    curve: tuple[float, ...]  # r(L) for L = -max_lag..max_lag


def av_offset(motion: Sequence[float] | F64, envelope: Sequence[float] | F64, max_lag: int = MAX_LAG) -> SyncEstimate:
    """Cross-correlate mouth motion with the speech envelope over ``±max_lag`` frames (see the module docstring).

    Both series are per video frame and of equal length; a lag whose overlap is constant gives r = 0.
    """
    from scipy.ndimage import uniform_filter1d  # type: ignore[import-untyped, unused-ignore]

    m, a = np.asarray(motion, np.float64), np.asarray(envelope, np.float64)
    if m.shape != a.shape or m.ndim != 1:
        raise ValueError(f"motion and envelope must be 1-D and of equal length, got {m.shape} and {a.shape}")
    n = m.size
    if n < min_frames(max_lag):
        raise ValueError(f"{n} frames is too few for lags of ±{max_lag}")
    curve: list[float] = []
    for lag in range(-max_lag, max_lag + 1):
        x, y = (m[: n - lag], a[lag:]) if lag >= 0 else (m[-lag:], a[: n + lag])
        curve.append(_pearson(x, y))
    # The plateau with the most agreement first (smoothed), then its highest raw lag: a sharp peak keeps its place
    # and a broad plateau cannot be won by one noisy lag elsewhere.
    raw = np.asarray(curve)
    centre = int(np.argmax(uniform_filter1d(raw, CURVE_SMOOTH, mode="nearest")))
    half = CURVE_SMOOTH // 2
    lo = max(0, centre - half)
    best = lo + int(np.argmax(raw[lo : centre + half + 1]))
    r = curve[best]
    overlap = n - abs(best - max_lag)
    z = math.atanh(min(max(r, -0.999999), 0.999999)) * math.sqrt(max(overlap - 3, 1))
    return SyncEstimate(best - max_lag, r, z, n, tuple(curve))


def min_frames(max_lag: int = MAX_LAG) -> int:
    """Fewest frames a correlation over ``±max_lag`` is computed on (every lag keeps a few frames of overlap)."""
    return 2 * max_lag + 4


def _pearson(x: F64, y: F64) -> float:
    dx, dy = x - x.mean(), y - y.mean()
    den = math.sqrt(float(dx @ dx) * float(dy @ dy))
    return float(dx @ dy) / den if den > 0 else 0.0


def synchrony(estimate: SyncEstimate, fps: float, sync_z: float = SYNC_Z) -> str:
    """``found`` / ``none`` (see the module docstring)."""
    if estimate.z < sync_z or abs(estimate.offset) > MAX_LAG - CURVE_SMOOTH // 2:
        return "none"  # no clear peak, or a peak at the search edge whose true top may lie beyond it
    return "found"


def speech_envelope(
    samples: npt.NDArray[np.float32], times: Sequence[float], fps: float, rate: int = AUDIO_RATE
) -> F64:
    """Log energy of ``samples`` (mono, ``rate`` Hz, starting at the first frame) in the frame-long window centred on
    each of ``times``: the moment frame ``t`` replaces frame ``t-1``, which is when :func:`mouth_motion` measures the
    change. (A window starting at ``t`` would put the audio half a frame after the motion, and in-step speech would
    read one frame early.)

    Frames past the end of the audio get the quietest frame's value, so they add no false energy."""
    x = np.asarray(samples, np.float64)
    out = np.full(len(times), np.nan)
    half = 0.5 / fps
    for i, t in enumerate(times):
        lo = max(0, round((t - half) * rate))
        chunk = x[lo : max(lo, round((t + half) * rate))]
        if chunk.size:
            out[i] = math.log(float(chunk @ chunk) / chunk.size + 1e-8)
    if np.isnan(out).all():
        return np.zeros(len(times))
    out[np.isnan(out)] = np.nanmin(out)
    return out


def smooth_mouths(points: Sequence[Points | None]) -> npt.NDArray[np.float64]:
    """Mouth corners per frame (``n x 2 x 2``) from MTCNN landmarks, gaps filled by interpolation, then median- and
    mean-filtered over time. Every frame gets corners (at least one must have landmarks)."""
    from scipy.ndimage import median_filter, uniform_filter1d  # type: ignore[import-untyped, unused-ignore]

    known = [i for i, p in enumerate(points) if p is not None]
    if not known:
        raise ValueError("no frame has landmarks")
    corners = np.full((len(points), 2, 2), np.nan)
    for i in known:
        p = points[i]
        assert p is not None
        corners[i] = (p[3], p[4])
    idx = np.arange(len(points))
    flat = corners.reshape(len(points), 4)
    for j in range(4):
        col = np.interp(idx, known, flat[known, j])
        flat[:, j] = uniform_filter1d(median_filter(col, SMOOTH_FRAMES, mode="nearest"), 5, mode="nearest")
    return np.asarray(flat.reshape(len(points), 2, 2), np.float64)


def mouth_patch(grey: npt.NDArray[np.uint8], corners: npt.NDArray[np.float64], width: float) -> F64:
    """The mouth patch (``PATCH``) around ``corners``, ``width`` (the track's mouth width) wide, divided by its
    mean brightness so lighting changes do not read as motion."""
    import cv2

    cx, cy = corners.mean(axis=0)
    h, w = grey.shape
    x0, x1 = int(cx - PATCH_LEFT_RIGHT * width), int(cx + PATCH_LEFT_RIGHT * width)
    y0, y1 = int(cy - PATCH_ABOVE * width), int(cy + PATCH_BELOW * width)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, max(x1, x0 + 2)), min(h, max(y1, y0 + 2))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.zeros(PATCH[::-1])
    patch = np.asarray(cv2.resize(grey[y0:y1, x0:x1], PATCH, interpolation=cv2.INTER_AREA), np.float64)
    return patch / (float(patch.mean()) + 1.0)


def mouth_motion(patches: Sequence[F64]) -> F64:
    """Mean absolute change between consecutive patches; the first frame gets 0."""
    if len(patches) < 2:
        return np.zeros(len(patches))
    change = np.abs(np.diff(np.stack(patches), axis=0)).mean(axis=(1, 2))
    return np.concatenate([[0.0], change]).astype(np.float64)


@dataclass
class FaceTrack:
    """One face followed through the frames: landmarks where MTCNN found it, ``None`` where it did not."""

    points: list[Points | None] = field(default_factory=list)

    def mouth(self, max_gap: int = MAX_GAP_FRAMES) -> tuple[float, float] | None:
        """The mouth at the last detection, unless that is more than ``max_gap`` frames old: a face seen again after
        a longer gap (a cut, a turn away) starts a new track rather than bridging it with made-up landmarks."""
        for age, p in enumerate(reversed(self.points)):
            if age > max_gap:
                return None
            if p is not None:
                return ((p[3][0] + p[4][0]) / 2, (p[3][1] + p[4][1]) / 2)
        return None

    @property
    def seen(self) -> int:
        return sum(p is not None for p in self.points)


def face_tracks(detections: Iterable[list[tuple[Any, float, Points]]], max_jump: float = 0.5) -> list[FaceTrack]:
    """Link per-frame detections into tracks: a face joins the track whose last mouth is nearest, if within
    ``max_jump`` face widths of it; otherwise it starts a track."""
    tracks: list[FaceTrack] = []
    for n, found in enumerate(detections):
        taken: set[int] = set()
        for box, _prob, pts in found:
            width = float(box[2] - box[0])
            mouth = ((pts[3][0] + pts[4][0]) / 2, (pts[3][1] + pts[4][1]) / 2)
            best, best_d = -1, max_jump * width
            for k, tr in enumerate(tracks):
                last = tr.mouth()
                if k in taken or last is None:
                    continue
                d = math.dist(mouth, last)
                if d <= best_d:
                    best, best_d = k, d
            if best < 0:
                tracks.append(FaceTrack([None] * n))
                best = len(tracks) - 1
            taken.add(best)
            tracks[best].points.append(pts)
        for tr in tracks:
            if len(tr.points) < n + 1:
                tr.points.append(None)
    return tracks


@dataclass(frozen=True)
class TrackSync:
    track: int
    first_t: float
    last_t: float
    estimate: SyncEstimate
    synchrony: str

    def as_dict(self, fps: float) -> dict[str, Any]:
        e = self.estimate
        return {
            "track": self.track,
            "t": [round(self.first_t, 2), round(self.last_t, 2)],
            "frames": e.frames,
            "offset_frames": e.offset,
            "offset_ms": round(1000 * e.offset / fps),
            "offset_resolution_ms": round(1000 * RESOLUTION / fps),
            "correlation": round(e.correlation, 4),
            "z": round(e.z, 2),
            "synchrony": self.synchrony,
        }


def _every_frame(path: Path, seconds: float) -> Iterator[Frame]:
    for frame in iter_video_frames(path, every_s=0.0, max_frames=100_000):
        if frame.t > seconds:
            return
        yield frame


def _grey(rgb: RGB) -> npt.NDArray[np.uint8]:
    import cv2

    return np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), np.uint8)


def _stream_starts(path: Path) -> float:
    """Seconds by which the first decoded audio comes after the first decoded video frame (players honour the
    difference; so must we). Frame times count from the first decoded frame, and decoded audio from its first
    sample, so the two first timestamps are what to compare, not the streams' declared start times."""
    import av

    def first(c: Any, stream: Any) -> float:
        for frame in c.decode(stream):
            if frame.pts is not None and frame.time_base is not None:
                return float(frame.pts * frame.time_base)
            break
        return 0.0

    with av.open(str(path)) as c:
        video = first(c, c.streams.video[0])
    with av.open(str(path)) as c:
        audio = first(c, c.streams.audio[0])
    return audio - video


@dataclass(frozen=True)
class TrackSeries:
    """One face track's mouth motion over frames ``lo..hi`` of the analysed span."""

    track: int
    lo: int
    hi: int
    motion: F64


@dataclass(frozen=True)
class VideoSeries:
    """What the offsets are computed from: per-frame times, the speech envelope and each kept track's motion."""

    fps: float
    times: list[float]
    envelope: F64
    speech_seconds: float
    tracks: list[TrackSeries]

    @property
    def not_applicable(self) -> str:
        """Why there is no track to read ("" when there is one)."""
        if self.tracks:
            return ""
        if self.speech_seconds < MIN_SPEECH_SECONDS:
            return f"not applicable: {self.speech_seconds:.1f} s of speech, under the {MIN_SPEECH_SECONDS:g} s needed"
        if len(self.times) < 2:
            return f"not applicable: {len(self.times)} video frame(s), no mouth motion to measure"
        if self.fps <= 0:
            return "not applicable: frame timestamps do not advance, no frame rate to measure offsets in"
        return f"not applicable: no face seen for {MIN_TRACK_SECONDS:g} s"


@dataclass(frozen=True)
class VideoSync:
    """Every kept track's synchrony, with the frame rate, span and speech it was measured on."""

    fps: float
    seconds: float
    speech_seconds: float
    tracks: list[TrackSync]


def aligned_audio(path: Path) -> npt.NDArray[np.float32]:
    """The audio as mono ``AUDIO_RATE`` samples from the first video frame on (container start times honoured)."""
    audio = audio_samples(path)  # MediaRefused("no audio stream") for a silent video: the caller decides
    delay = _stream_starts(path)
    if delay > 0:
        return np.concatenate([np.zeros(round(delay * AUDIO_RATE), np.float32), audio])
    return audio[round(-delay * AUDIO_RATE) :]


def video_series(path: Path, cropper: FaceCropper | None = None, seconds: float = MAX_SECONDS) -> VideoSeries:
    """Decode the first ``seconds`` twice (landmarks, then patches on smoothed landmarks: two passes keep memory
    to one frame). No tracks when there is too little speech (faces are then not looked for) or no face is seen
    long enough; ``speech_seconds`` says which."""
    from flockwatch.media.audio_features import speech_seconds

    audio = aligned_audio(path)[: int((seconds + 1.0) * AUDIO_RATE)]
    speech = speech_seconds(audio)
    if speech < MIN_SPEECH_SECONDS:
        return VideoSeries(0.0, [], np.zeros(0), speech, [])
    cropper = cropper or FaceCropper()
    times: list[float] = []
    detections: list[list[tuple[Any, float, Points]]] = []
    for i, frame in enumerate(_every_frame(path, seconds)):
        times.append(frame.t)
        detections.append(cropper.detect(frame.rgb) if i % DETECT_EVERY == 0 else [])
    if len(times) < 2:
        return VideoSeries(0.0, times, np.zeros(len(times)), speech, [])
    step = float(np.median(np.diff(times)))
    if step <= 0:  # broken timestamps: no frame rate to measure offsets in
        return VideoSeries(0.0, times, np.zeros(len(times)), speech, [])
    fps = 1.0 / step
    needed = max(int(MIN_TRACK_SECONDS * fps), min_frames())
    tracks = [t for t in face_tracks(detections) if t.seen * DETECT_EVERY >= needed]
    if not tracks:
        return VideoSeries(fps, times, np.zeros(len(times)), speech, [])
    corners = [smooth_mouths(t.points) for t in tracks]
    widths = [float(np.median(np.linalg.norm(c[:, 1] - c[:, 0], axis=1))) for c in corners]
    patches: list[list[F64]] = [[] for _ in tracks]
    for i, frame in enumerate(_every_frame(path, seconds)):
        if i >= len(times):
            break
        grey = _grey(frame.rgb)
        for k in range(len(tracks)):
            patches[k].append(mouth_patch(grey, corners[k][i], widths[k]))
    series: list[TrackSeries] = []
    for k, tr in enumerate(tracks):
        seen = [i for i, p in enumerate(tr.points) if p is not None]
        # The track's own span: frames before or after it hold no face; the last detection stands for the frames
        # up to the next one it would have had.
        lo, hi = seen[0], min(len(patches[k]), seen[-1] + DETECT_EVERY)
        if hi - lo >= min_frames():
            series.append(TrackSeries(k + 1, lo, hi, mouth_motion(patches[k][lo:hi])))
    return VideoSeries(fps, times, speech_envelope(audio, times, fps), speech, series)


def measure(path: Path, cropper: FaceCropper | None = None, seconds: float = MAX_SECONDS) -> VideoSync | None:
    """Each face track's offset and synchrony over the first ``seconds`` (see the module docstring)."""
    vs = video_series(path, cropper, seconds)
    if not vs.tracks:
        log.info("lip_sync: %s (first %g s)", vs.not_applicable, seconds)
        return None
    return track_syncs(vs)


def track_syncs(vs: VideoSeries) -> VideoSync:
    """Each of ``vs``'s tracks' offset and synchrony (``vs`` has at least one track)."""
    out: list[TrackSync] = []
    for ts in vs.tracks:
        est = av_offset(ts.motion, vs.envelope[ts.lo : ts.hi])
        out.append(TrackSync(ts.track, vs.times[ts.lo], vs.times[ts.hi - 1], est, synchrony(est, vs.fps)))
    return VideoSync(vs.fps, vs.times[-1], vs.speech_seconds, out)


def describe(track: TrackSync, fps: float) -> str:
    e = track.estimate
    span = f"face {track.track} ({track.first_t:.1f}-{track.last_t:.1f} s)"
    if track.synchrony == "none":
        return (
            f"{span}: no clear synchrony between mouth and speech (z {e.z:.1f} < {SYNC_Z:g}): the speech may not come "
            "from this face (voice-over, dubbing or swapped audio)"
        )
    ms, pm = round(1000 * abs(e.offset) / fps), round(1000 * RESOLUTION / fps)
    when = "on time" if e.offset == 0 else f"{ms} ms {'late' if e.offset > 0 else 'early'}"
    return (
        f"{span}: mouth and speech move together, best with the audio {when} ± {pm} ms "
        f"(r {e.correlation:.2f}, z {e.z:.1f})"
    )


class LipSyncSignal:
    """Audio-visual offset and synchrony per face track of a video with speech, as a ``MediaSignal`` observation."""

    name = "lip_sync"
    tier = Tier.learned

    def __init__(self, seconds: float = MAX_SECONDS) -> None:
        self.seconds = seconds

    def applies_to(self, media: MediaFile) -> bool:
        return media.kind == "video"

    def compute(self, media: MediaFile) -> Finding | None:
        if not self.applies_to(media):
            return None
        try:
            vs = video_series(media.path, seconds=self.seconds)
        except MediaRefused as e:
            if str(e).startswith("no audio stream"):  # a silent video has no speech to compare
                return Finding.observation(self.name, "not applicable: no audio stream", self.tier, {"tracks": []})
            raise
        if not vs.tracks:
            # Said, not just logged: without it the analyst cannot tell "not measured" from "not run".
            data = {"speech_seconds": round(vs.speech_seconds, 1), "frames": len(vs.times), "tracks": []}
            return Finding.observation(self.name, vs.not_applicable, self.tier, data)
        result = track_syncs(vs)
        data = {
            "fps": round(result.fps, 3),
            "analysed_seconds": round(result.seconds, 2),
            "speech_seconds": round(result.speech_seconds, 1),
            "sync_z": SYNC_Z,
            "tracks": [t.as_dict(result.fps) for t in result.tracks],
        }
        detail = "; ".join(describe(t, result.fps) for t in result.tracks)
        return Finding.observation(self.name, detail, self.tier, data)
