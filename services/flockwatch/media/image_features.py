"""Hand-crafted forensic features of one image, for the synthetic-image detector.

With a few hundred training images and no pretrained backbone, features that describe *how* pixels were made
generalise across generators better than a network learnt from scratch. Five groups, all pure numpy:

- ``spectrum``: azimuthally averaged log power spectrum (Durall, Keuper & Keuper 2020, "Watch your
  Up-Convolution: CNN Based Generative Deep Neural Networks are Failing to Reproduce Spectral Distributions");
- ``periodic``: peaks of the noise residual's 2-D spectrum at the frequencies up-sampling layers leave
  (Zhang, Karaman & Chang 2019, "Detecting and Simulating Artifacts in GAN Fake Images"), plus a peakiness
  score that does not assume where the peak is;
- ``residual``: SRM-style high-pass noise residuals: truncated histograms, moments, a co-occurrence matrix and
  cross-colour correlations (Fridrich & Kodovsky 2012, "Rich Models for Steganalysis of Digital Images");
- ``dct``: log mean magnitude of each 8×8 block-DCT coefficient (Frank et al. 2020, "Leveraging Frequency
  Analysis for Deep Fake Image Recognition");
- ``npr``: neighbouring-pixel relationships inside 2×2 blocks and the phase periodicity of pixel differences
  (Tan et al. 2024, "Rethinking the Up-Sampling Operations in CNN-based Generative Network for Generalizable
  Deepfake Detection"): up-sampling copies or interpolates each source pixel into a small block, so differences
  between pixels depend on where they sit in that block; a camera's do not.

The detector works on tiles: :func:`tile_features` cuts the centre of the image into up to 5×5 tiles of
:data:`TILE` pixels (offsets on the 8-pixel JPEG grid) and describes each. With 240 training images, tiles
give the classifier 25× more (correlated) rows, and averaging tile logits makes the image score steadier;
leave-one-generator-out AUROC rose from ≈0.71 (one whole-crop vector) to ≈0.86 (tiles). Image size does not
enter the features; spectra are binned by normalised frequency, so smaller tiles give the same vector length.
Crops under :data:`MIN_SIDE` are up-sampled to it: tiny inputs get a defined (if uninformative) vector.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image

F64 = npt.NDArray[np.float64]

# Bump when any feature changes: a model stores the version it was trained on and refuses another.
FEATURE_VERSION: Final = 2
CROP: Final = 256
TILE: Final = 64
TILES_PER_SIDE: Final = 5
MIN_SIDE: Final = 32
SPECTRUM_BINS: Final = 16
# (fy, fx) in cycles per pixel: Nyquist (2× up-sampling, checkerboards) and half of it (4×).
PEAK_FREQS: Final = ((0.0, 0.5), (0.5, 0.0), (0.5, 0.5), (0.0, 0.25), (0.25, 0.0), (0.25, 0.25))
GROUPS: Final = ("spectrum", "periodic", "residual", "dct", "npr")
# Periods (pixels) whose phase profile of differences the ``npr`` group reads: 2× and 4× up-sampling.
NPR_PERIODS: Final = (2, 4)
# Positions inside a 2×2 block other than its anchor (top-left), which NPR compares each of them with.
_NPR_POSITIONS: Final = ((0, 1), (1, 0), (1, 1))

# High-pass kernels from the SRM set (Fridrich & Kodovsky 2012) with the quantisation step used on each.
_KB: Final = np.array([[-1, 2, -1], [2, -4, 2], [-1, 2, -1]], dtype=np.float64)
_KV: Final = np.array(
    [[-1, 2, -2, 2, -1], [2, -6, 8, -6, 2], [-2, 8, -12, 8, -2], [2, -6, 8, -6, 2], [-1, 2, -2, 2, -1]],
    dtype=np.float64,
)
_TRUNC: Final = 2


def to_rgb_array(image: npt.ArrayLike) -> F64:
    """An H×W×3 float64 array in 0..255 from RGB, RGBA or grayscale input (uint8 or float in 0..255)."""
    a = np.asarray(image, dtype=np.float64)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"expected an H×W, H×W×1, H×W×3 or H×W×4 image, got shape {a.shape}")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    a = a[:, :, :3]
    return np.nan_to_num(np.clip(a, 0.0, 255.0))


def centre_crop(rgb: F64, size: int = CROP) -> F64:
    """Square centre crop of side min(size, shortest side), up-sampled to MIN_SIDE when smaller."""
    h, w = rgb.shape[:2]
    s = min(size, h, w)
    # Offsets on the 8-pixel grid keep JPEG blocks aligned in the crop, as they are in the file.
    top, left = ((h - s) // 2) // 8 * 8, ((w - s) // 2) // 8 * 8
    crop = rgb[top : top + s, left : left + s]
    if s >= MIN_SIDE:
        return crop
    im = Image.fromarray(crop.round().astype(np.uint8)).resize((MIN_SIDE, MIN_SIDE), Image.Resampling.BICUBIC)
    return np.asarray(im, dtype=np.float64)


def gray(rgb: F64) -> F64:
    """ITU-R BT.601 luma, as JPEG computes it."""
    out: F64 = rgb @ np.array([0.299, 0.587, 0.114])
    return out


def filter2d(x: F64, kernel: F64) -> F64:
    """'Valid' 2-D correlation with a small kernel, as a sum of shifted slices (no scipy needed)."""
    kh, kw = kernel.shape
    h, w = x.shape[0] - kh + 1, x.shape[1] - kw + 1
    out = np.zeros((h, w, *x.shape[2:]), dtype=np.float64)
    for i in range(kh):
        for j in range(kw):
            if kernel[i, j] != 0:
                out += kernel[i, j] * x[i : i + h, j : j + w]
    return out


def _log_power(x: F64) -> F64:
    """Log10 power spectrum of a Hann-windowed, zero-mean 2-D signal, DC at the centre."""
    n, m = x.shape
    win = np.outer(np.hanning(n), np.hanning(m))
    f = np.fft.fftshift(np.fft.fft2((x - x.mean()) * win))
    return np.log10(np.abs(f) ** 2 + 1e-8)


def _freq_grid(n: int, m: int) -> tuple[F64, F64]:
    fy = np.fft.fftshift(np.fft.fftfreq(n))
    fx = np.fft.fftshift(np.fft.fftfreq(m))
    return np.meshgrid(fy, fx, indexing="ij")


def spectrum_features(g: F64, bins: int = SPECTRUM_BINS) -> F64:
    """Azimuthal mean of the log power spectrum in ``bins`` rings up to Nyquist, minus its own mean.

    Subtracting the mean keeps the spectrum's *shape* (the high-frequency fall-off up-sampling distorts)
    and drops overall contrast, which says nothing about how the image was made.
    """
    lp = _log_power(g)
    fy, fx = _freq_grid(*g.shape)
    r = np.sqrt(fy**2 + fx**2) / 0.5
    idx = np.minimum((r * bins).astype(np.int64), bins)  # bin `bins` collects the corners beyond Nyquist
    sums = np.bincount(idx.ravel(), weights=lp.ravel(), minlength=bins + 1)[:bins]
    counts = np.bincount(idx.ravel(), minlength=bins + 1)[:bins]
    # Small crops leave inner rings empty: carry the neighbour's value rather than emit NaN.
    prof = np.divide(sums, counts, out=np.full(bins, np.nan), where=counts > 0)
    valid = np.flatnonzero(counts > 0)
    prof = np.interp(np.arange(bins), valid, prof[valid])
    out: F64 = prof - prof.mean()
    return out


def _box_mean(x: F64, k: int) -> F64:
    """Mean over a k×k window (edges wrapped, as the spectrum is periodic), via cumulative sums."""
    p = k // 2
    xp = np.pad(x, p, mode="wrap")
    c = np.cumsum(np.cumsum(xp, axis=0), axis=1)
    c = np.pad(c, ((1, 0), (1, 0)))
    n, m = x.shape
    s = c[k : k + n, k : k + m] - c[0:n, k : k + m] - c[k : k + n, 0:m] + c[0:n, 0:m]
    return s / (k * k)


def periodic_features(g: F64) -> F64:
    """Residual-spectrum peaks at :data:`PEAK_FREQS` over the local background, then global peakiness.

    Up-sampling by transposed convolution or nearest-neighbour leaves periodic energy at fixed fractions of
    the sampling rate; camera images have a smooth residual spectrum there.
    """
    res = filter2d(g, _KB)
    lp = _log_power(res)
    n, m = lp.shape
    k = max(3, (min(n, m) // 16) | 1)
    contrast = lp - _box_mean(lp, k)
    cy, cx = n // 2, m // 2
    out: list[float] = []
    for fy, fx in PEAK_FREQS:
        vals = []
        for sy, sx in ((1, 1), (1, -1)):
            iy = round(cy + sy * fy * n) % n
            ix = round(cx + sx * fx * m) % m
            # Max over a 3×3 neighbourhood: the exact bin moves by one with odd sizes and resizing.
            ys, xs = [(iy + d) % n for d in (-1, 0, 1)], [(ix + d) % m for d in (-1, 0, 1)]
            vals.append(float(contrast[np.ix_(ys, xs)].max()))
        out.append(float(np.mean(vals)))
    fyg, fxg = _freq_grid(n, m)
    hi = contrast[np.sqrt(fyg**2 + fxg**2) > 0.1]
    out += [float(hi.max()), float(np.percentile(hi, 99.9)), float(hi.std())]
    return np.array(out)


def _trunc_hist(r: F64, q: float) -> F64:
    """Share of residual values in each bin of round(r / q) clipped to ±_TRUNC."""
    v = np.clip(np.round(r / q), -_TRUNC, _TRUNC).astype(np.int64) + _TRUNC
    return np.bincount(v.ravel(), minlength=2 * _TRUNC + 1) / v.size


def _kurtosis(r: F64) -> float:
    c = r - r.mean()
    v = float((c**2).mean())
    return float((c**4).mean() / (v * v)) if v > 1e-12 else 0.0


def _log_std(r: F64) -> float:
    return float(np.log(r.std() + 1e-6))


def _log_kurtosis(r: F64) -> float:
    return float(np.log(_kurtosis(r) + 1e-6))


def _colour_correlations(residual: F64) -> list[float]:
    """Correlations of a colour residual's R-G, G-B and R-B planes (1 where a plane is flat)."""
    rc = residual.reshape(-1, 3)
    rc = rc - rc.mean(axis=0)
    sd = rc.std(axis=0)
    out = []
    for a, b in ((0, 1), (1, 2), (0, 2)):
        den = sd[a] * sd[b]
        out.append(float((rc[:, a] * rc[:, b]).mean() / den) if den > 1e-9 else 1.0)
    return out


def residual_features(rgb: F64) -> F64:
    """SRM-style residual statistics: for 4 high-pass filters, log std, log kurtosis and a truncated histogram;
    a 5×5 co-occurrence of horizontal and vertical neighbours of the KB residual; cross-colour correlations."""
    g = gray(rgb)
    first = [np.array([[1.0, -1.0]]), np.array([[1.0], [-1.0]])]
    second = [np.array([[1.0, -2.0, 1.0]]), np.array([[1.0], [-2.0], [1.0]])]
    out: list[float] = []
    for kernels, q in ((first, 1.0), (second, 2.0), ([_KB], 4.0), ([_KV], 12.0)):
        rs = [filter2d(g, k) for k in kernels]
        flat = np.concatenate([r.ravel() for r in rs])
        out += [_log_std(flat), _log_kurtosis(flat)]
        out += list(np.mean([_trunc_hist(r, q) for r in rs], axis=0))
    kb = np.clip(np.round(filter2d(g, _KB) / 4.0), -_TRUNC, _TRUNC).astype(np.int64) + _TRUNC
    side = 2 * _TRUNC + 1
    pairs = np.concatenate([(kb[:, :-1] * side + kb[:, 1:]).ravel(), (kb[:-1, :] * side + kb[1:, :]).ravel()])
    out += list(np.bincount(pairs, minlength=side * side) / max(pairs.size, 1))
    # Demosaicing couples the colour channels' noise in camera images; generators couple them differently.
    out += _colour_correlations(filter2d(rgb, _KB))
    return np.array(out)


def _dct_matrix(n: int = 8) -> F64:
    k = np.arange(n)
    m: F64 = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


def dct_features(g: F64) -> F64:
    """Log mean |coefficient| of the 63 AC coefficients of the 8×8 block DCT (blocks on the JPEG grid)."""
    n, m = g.shape[0] // 8 * 8, g.shape[1] // 8 * 8
    blocks = (g[:n, :m] - 128.0).reshape(n // 8, 8, m // 8, 8).transpose(0, 2, 1, 3)
    d = _dct_matrix()
    coef = np.einsum("ij,abjk,lk->abil", d, blocks, d)
    mag = np.abs(coef).reshape(-1, 64).mean(axis=0)
    out: F64 = np.log(mag[1:] + 1e-3)
    return out


def _phase_spectrum(d: F64, axis: int, period: int) -> list[float]:
    """|DFT| (frequencies 1..period/2) of the log std of ``d`` at each phase ``k mod period`` along ``axis``.

    A magnitude, so it does not depend on where the up-sampling grid starts; flat (≈0) for a camera image.
    """
    n = d.shape[axis] // period * period
    d = np.take(d, np.arange(n), axis=axis)
    prof = np.array([_log_std(np.take(d, np.arange(k, n, period), axis=axis)) for k in range(period)])
    return [float(v) for v in np.abs(np.fft.rfft(prof - prof.mean()))[1:]]


def _npr_blocks(x: F64, phase: int) -> F64:
    """Each pixel minus its 2×2 block's anchor (x − nearest-up(nearest-down(x)), Tan et al. 2024), blocks
    starting at (phase, phase); shape (rows/2, 2, cols/2, 2, ...)."""
    x = x[phase:, phase:]
    n, m = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
    b = x[:n, :m].reshape(n // 2, 2, m // 2, 2, *x.shape[2:])
    out: F64 = b - b[:, :1, :, :1]
    return out


def npr_features(rgb: F64) -> F64:
    """Up-sampling traces a tile carries in how neighbouring pixels relate:

    - phase spectra (:func:`_phase_spectrum`) of 1st- and 2nd-order horizontal and vertical differences over
      :data:`NPR_PERIODS`;
    - the NPR residual at both 2×2 block phases: log std and log kurtosis at each non-anchor position;
    - cross-colour correlations of the NPR residual (up-sampling acts on the colour planes together).
    """
    g = gray(rgb)
    out: list[float] = []
    for order in (np.array([[1.0, -1.0]]), np.array([[1.0, -2.0, 1.0]])):
        for d, axis in ((filter2d(g, order), 1), (filter2d(g, order.T), 0)):
            for period in NPR_PERIODS:
                out += _phase_spectrum(d, axis, period)
    for phase in (0, 1):
        r = _npr_blocks(g, phase)
        for i, j in _NPR_POSITIONS:
            out += [_log_std(r[:, i, :, j]), _log_kurtosis(r[:, i, :, j])]
    out += _colour_correlations(_npr_blocks(rgb, 0))
    return np.array(out)


def feature_names() -> dict[str, list[str]]:
    """Names of each group's features, in vector order."""
    res: list[str] = []
    for f in ("d1", "d2", "kb", "kv"):
        res += [f"{f}_logstd", f"{f}_logkurt"] + [f"{f}_h{v}" for v in range(-_TRUNC, _TRUNC + 1)]
    side = 2 * _TRUNC + 1
    res += [f"kb_cooc_{a}_{b}" for a in range(side) for b in range(side)]
    res += ["corr_rg", "corr_gb", "corr_rb"]
    return {
        "spectrum": [f"spec_{i}" for i in range(SPECTRUM_BINS)],
        "periodic": [f"peak_{fy}_{fx}" for fy, fx in PEAK_FREQS] + ["peak_max", "peak_p999", "peak_std"],
        "residual": res,
        "dct": [f"dct_{i}" for i in range(1, 64)],
        "npr": [
            f"phase_d{order}{axis}_p{period}_f{k}"
            for order in (1, 2)
            for axis in ("h", "v")
            for period in NPR_PERIODS
            for k in range(1, period // 2 + 1)
        ]
        + [f"npr_ph{ph}_{i}{j}_{stat}" for ph in (0, 1) for i, j in _NPR_POSITIONS for stat in ("logstd", "logkurt")]
        + ["npr_corr_rg", "npr_corr_gb", "npr_corr_rb"],
    }


def tiles(rgb: F64, tile: int = TILE, per_side: int = TILES_PER_SIDE) -> list[F64]:
    """Non-overlapping ``tile``-pixel tiles from the centre (up to per_side × per_side of them); an image
    smaller than one tile gives a single centre crop (up-sampled to MIN_SIDE if tinier still)."""
    h, w = rgb.shape[:2]
    ny, nx = min(per_side, h // tile), min(per_side, w // tile)
    if ny == 0 or nx == 0:
        return [centre_crop(rgb, tile)]
    top, left = ((h - ny * tile) // 2) // 8 * 8, ((w - nx * tile) // 2) // 8 * 8
    return [
        rgb[top + i * tile : top + (i + 1) * tile, left + j * tile : left + (j + 1) * tile]
        for i in range(ny)
        for j in range(nx)
    ]


def extract_crop(rgb: F64) -> dict[str, F64]:
    """All feature groups of one crop (H×W×3 float64 in 0..255), keyed by group name."""
    rgb = centre_crop(rgb, max(rgb.shape[0], rgb.shape[1]))
    g = gray(rgb)
    return {
        "spectrum": spectrum_features(g),
        "periodic": periodic_features(g),
        "residual": residual_features(rgb),
        "dct": dct_features(g),
        "npr": npr_features(rgb),
    }


def extract(image: npt.ArrayLike) -> dict[str, F64]:
    """All feature groups of the centre crop (at most CROP pixels) of one RGB, RGBA or grayscale image."""
    return extract_crop(centre_crop(to_rgb_array(image)))


def vector(features: dict[str, F64], groups: tuple[str, ...] | list[str]) -> F64:
    """The chosen groups' features, concatenated in the given order."""
    return np.concatenate([features[g] for g in groups])


def tile_features(image: npt.ArrayLike, groups: tuple[str, ...] | list[str] = GROUPS) -> F64:
    """One row of the chosen groups' features per tile: shape (n_tiles, n_features), n_tiles in 1..25."""
    return np.stack([vector(extract_crop(t), groups) for t in tiles(to_rgb_array(image))])


def group_slices(groups: tuple[str, ...] | list[str]) -> dict[str, slice]:
    """Which columns of :func:`tile_features` belong to each group."""
    names = feature_names()
    out, start = {}, 0
    for g in groups:
        out[g] = slice(start, start + len(names[g]))
        start += len(names[g])
    return out
