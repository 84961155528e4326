"""Burst detection on per-entity time series (hashtags, canonical URLs, narratives, media, clusters).

Two detectors, both over fixed bins of event time:

**Kleinberg's two-state automaton** (J. Kleinberg, "Bursty and Hierarchical Structure in Streams",
KDD 2002; Data Mining and Knowledge Discovery 7(4), 2003), the batched-arrivals form of section 3:
in bin ``t`` there are ``d_t`` posts in all, ``r_t`` of them about the entity. State ``q0`` emits
entity posts with probability ``p0`` (the baseline share), state ``q1`` with ``p1 = s · p0``. The cost
of being in state ``i`` in bin ``t`` is the negative log-likelihood

    σ(i, r_t, d_t) = −ln[ C(d_t, r_t) · p_i^r_t · (1 − p_i)^(d_t − r_t) ]

and moving up from ``q0`` to ``q1`` costs ``τ = γ · ln n`` (``n`` bins; moving down is free). The
state sequence minimising ``Σ_t σ(q_t, r_t, d_t) + Σ_t τ(q_{t−1}, q_t)`` is found with a Viterbi pass
(:func:`kleinberg_viterbi`); every maximal run of ``q1`` is a burst, and its **weight** is the cost it
saves, ``Σ_{t in burst} [σ(0, r_t, d_t) − σ(1, r_t, d_t)]``. The binomial coefficient is the same in
both states, so it cancels in every comparison and is left out.

The streaming form (:class:`BurstTracker`) runs the same recursion one bin at a time. With
``Δ_t = C1_t − C0_t`` (cost of the best path ending in ``q1`` minus ``q0``), the Viterbi recursion
reduces to ``Δ_{t+1} = clip(Δ_t, 0, τ) + σ(1, ·) − σ(0, ·)``: the entity is bursting at ``t`` exactly
when the batch Viterbi path over the bins so far would end in ``q1`` (``Δ_t < 0``), and the run of ``q1``
on that path is tracked as it grows. Here ``p0`` is an exponentially weighted share over past bins
(half-life configurable) instead of the whole series' ``R/D``, since a stream has no end.

**Robust z-score / EWMA baseline**: the entity's count per bin against the median and MAD of a trailing
window (:func:`robust_zscores`, batch) or an exponentially weighted mean and variance
(:class:`Ewma`, streaming), with a Poisson floor on the scale so that a rare entity's first few posts
do not divide by zero.

Every burst states its baseline (share and posts/hour expected at that share), observed rate and weight.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from flockwatch.yamlconf import parse_duration

F64 = NDArray[np.float64]

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]

ENTITY_TYPES = ("hashtag", "url", "narrative", "media", "cluster", "watch")
_MAX_P = 0.999


class BurstConfig(BaseModel):
    """Detector parameters (the ``detector:`` section of the alerts config)."""

    model_config = ConfigDict(extra="forbid")

    bin: Duration = Field(default=timedelta(minutes=15), description="Width of one time bin.")
    s: float = Field(default=3.0, gt=1.0, description="Burst state share = s × baseline share.")
    gamma: float = Field(default=1.0, gt=0.0, description="Cost of entering a burst: τ = γ · ln(horizon_bins).")
    horizon_bins: int = Field(default=96, ge=2, description="n in τ = γ ln n for the streaming automaton.")
    baseline_half_life: Duration = Field(default=timedelta(hours=24))
    min_share: float = Field(default=1e-4, gt=0.0, lt=0.5, description="Floor of the baseline share p0.")
    min_posts: int = Field(default=10, ge=1, description="Posts in a burst before it is reported.")
    min_weight: float = Field(default=10.0, ge=0.0, description="Kleinberg weight before a burst is reported.")
    warmup: Duration = Field(default=timedelta(hours=1), description="History needed before any burst.")
    z_window_bins: int = Field(default=96, ge=4, description="Trailing bins of the robust z-score.")
    entity_types: list[str] = Field(default_factory=lambda: list(ENTITY_TYPES))
    max_entities: int = Field(default=200_000, ge=100, description="Entities tracked at once (idle ones go).")
    keep_post_keys: int = Field(default=25, ge=0, description="Post keys remembered per entity for evidence.")
    max_gap: Duration = Field(
        default=timedelta(hours=2), description="A burst ends after this long without a post about its entity."
    )
    check_every: Duration = Field(
        default=timedelta(minutes=1),
        description="Streaming: bursts are judged each time event time passes a multiple of this (at most one bin), "
        "so what is raised does not depend on how the stream was batched.",
    )

    @model_validator(mode="after")
    def _check(self) -> BurstConfig:
        if self.bin.total_seconds() < 1:
            raise ValueError("bin must be at least 1s")
        if not 1 <= self.check_every.total_seconds() <= self.bin.total_seconds():
            raise ValueError("check_every must be at least 1s and at most one bin")
        unknown = sorted(set(self.entity_types) - set(ENTITY_TYPES))
        if unknown:
            raise ValueError(f"unknown entity types {unknown}; known: {', '.join(ENTITY_TYPES)}")
        return self

    @property
    def bin_s(self) -> float:
        return self.bin.total_seconds()

    @property
    def tau(self) -> float:
        return self.gamma * math.log(self.horizon_bins)

    @property
    def decay(self) -> float:
        """Per-bin decay factor of the baseline (λ with λ^(half-life in bins) = 1/2)."""
        return float(0.5 ** (self.bin_s / max(self.baseline_half_life.total_seconds(), self.bin_s)))


def entity_type(entity: str) -> str:
    return entity.split(":", 1)[0]


@dataclass(frozen=True)
class Burst:
    """One burst of one entity: when, how strong, and compared with what."""

    entity: str
    start: datetime
    end: datetime  # exclusive: the end of the last bin in the burst
    posts: int  # the entity's posts in the burst
    total: int  # all posts in the burst's bins
    weight: float  # Kleinberg weight: Σ σ(0) − σ(1) over the burst's bins
    baseline_share: float  # p0
    observed_share: float  # posts / total
    baseline_rate: float  # posts per hour expected at the baseline share, given the volume
    observed_rate: float  # posts per hour observed
    z: float | None = None  # robust (batch) or EWMA (streaming) z-score of the latest bin
    ongoing: bool = False  # reached the latest bin seen
    post_keys: tuple[str, ...] = ()

    def metrics(self) -> dict[str, float]:
        out = {
            "burst_weight": round(self.weight, 3),
            "burst_posts": float(self.posts),
            "burst_total": float(self.total),
            "baseline_share": self.baseline_share,
            "observed_share": self.observed_share,
            "baseline_rate_per_h": round(self.baseline_rate, 3),
            "observed_rate_per_h": round(self.observed_rate, 3),
            "burst_ratio": round(self.observed_share / self.baseline_share, 3) if self.baseline_share else 0.0,
            "burst_start_ts": self.start.timestamp(),
            "burst_end_ts": self.end.timestamp(),
        }
        if self.z is not None:
            out["burst_z"] = round(self.z, 3)
        return out

    def describe(self) -> str:
        hours = (self.end - self.start).total_seconds() / 3600
        return (
            f"{self.posts} posts in {hours:g} h from {self.start:%Y-%m-%d %H:%M} UTC: "
            f"observed {self.observed_rate:.1f}/h ({self.observed_share:.2%} of all posts) vs baseline "
            f"{self.baseline_rate:.2f}/h ({self.baseline_share:.3%}); Kleinberg weight {self.weight:.1f}"
            + (f", z {self.z:.1f}" if self.z is not None else "")
        )


# --- Kleinberg: costs and the batch Viterbi pass ------------------------------------------------------


def state_costs(r: F64, d: F64, p: F64 | float) -> F64:
    """σ(i, r, d) without the binomial coefficient: −r ln p − (d − r) ln(1 − p).

    Parameters
    ----------
    r : numpy.ndarray
        The entity's posts per bin.
    d : numpy.ndarray
        All posts per bin (broadcast against ``r``).
    p : numpy.ndarray or float
        The state's share of entity posts (``p0`` or ``s · p0``), clipped to ``[1e-12, 0.999]``.

    Returns
    -------
    numpy.ndarray
        The cost of each bin (Kleinberg [1]_).

    References
    ----------
    .. [1] J. Kleinberg, "Bursty and hierarchical structure in streams", KDD 2002; Data Mining and Knowledge
       Discovery 7(4), 2003.

    Examples
    --------
    >>> import numpy as np
    >>> state_costs(np.array([0.0, 2.0]), np.array([2.0, 2.0]), 0.1).round(3).tolist()  # −2 ln 0.9, −2 ln 0.1
    [0.211, 4.605]
    """
    p_arr = np.clip(np.asarray(p, dtype=np.float64), 1e-12, _MAX_P)
    return np.asarray(-r * np.log(p_arr) - (d - r) * np.log1p(-p_arr), dtype=np.float64)


def burst_gain(r: F64, d: F64, p0: F64 | float, s: float) -> F64:
    """σ(0) − σ(1) per bin: how much cheaper the burst state explains the bin (negative when quiet).

    Parameters
    ----------
    r : numpy.ndarray
        The entity's posts per bin.
    d : numpy.ndarray
        All posts per bin (broadcast against ``r``).
    p0 : numpy.ndarray or float
        The baseline share (clipped so that ``s · p0 <= 0.999``).
    s : float
        The burst state's share is ``s · p0``.

    Returns
    -------
    numpy.ndarray
        The gain of each bin; a burst's weight is the sum over its bins (Kleinberg [1]_).

    References
    ----------
    .. [1] J. Kleinberg, "Bursty and hierarchical structure in streams", KDD 2002; Data Mining and Knowledge
       Discovery 7(4), 2003.

    Examples
    --------
    >>> import numpy as np
    >>> burst_gain(np.array([0.0, 2.0]), np.array([2.0, 2.0]), 0.1, 3.0).round(3).tolist()  # 2 ln(0.7/0.9), 2 ln 3
    [-0.503, 2.197]
    """
    p0_arr = np.clip(np.asarray(p0, dtype=np.float64), 1e-12, _MAX_P / s)
    return state_costs(r, d, p0_arr) - state_costs(r, d, p0_arr * s)


def gain_one(r: float, d: float, p0: float, s: float) -> float:
    """:func:`burst_gain` for one bin, without numpy (the streaming hot path)."""
    p0 = min(max(p0, 1e-12), _MAX_P / s)
    return r * math.log(s) + (d - r) * (math.log1p(-p0 * s) - math.log1p(-p0))


def viterbi_step(delta: float, gain: float, tau: float) -> tuple[float, bool]:
    """One online Viterbi step: ``Δ' = clip(Δ, 0, τ) − gain``; also whether the best path into ``q1``
    stays in ``q1`` (``Δ ≤ τ``) rather than entering it now. ``Δ = +∞`` is a fresh start in ``q0``."""
    return min(max(delta, 0.0), tau) - gain, delta <= tau


def online_states(r: F64, d: F64, p0: float, s: float, tau: float) -> NDArray[np.bool_]:
    """For each prefix ``[0, t]``: is the Viterbi-optimal state of bin ``t`` the burst state?

    Equals ``kleinberg_viterbi(r[:t + 1], d[:t + 1], ...)[-1]`` for every ``t`` (with the same ``p0``
    and ``τ``), in one pass: the streaming detector's decision rule.
    """
    out = np.zeros(len(r), dtype=bool)
    delta = math.inf
    for t, (rt, dt) in enumerate(zip(np.asarray(r).tolist(), np.asarray(d).tolist(), strict=True)):
        delta, _ = viterbi_step(delta, gain_one(rt, dt, p0, s), tau)
        out[t] = delta < 0
    return out


def kleinberg_viterbi(
    r: F64, d: F64, s: float = 3.0, gamma: float = 1.0, p0: F64 | None = None, tau: float | None = None
) -> NDArray[np.bool_]:
    """The optimal two-state sequence for each row of ``r`` (entities × bins) given bin totals ``d``.

    ``p0`` defaults to Kleinberg's ``R / D`` per entity. Returns a boolean array (True = burst state).
    The automaton starts in ``q0``; ties keep the cheaper transition (staying).

    Parameters
    ----------
    r : numpy.ndarray
        Entity posts per bin, entities × bins (a 1-d array is one entity).
    d : numpy.ndarray
        All posts per bin.
    s : float
        The burst state's share is ``s · p0``.
    gamma : float
        Entering the burst state costs ``τ = γ ln n`` (``n`` bins).
    p0 : numpy.ndarray, optional
        The baseline share per entity; default ``R / D``.
    tau : float, optional
        ``τ`` itself, instead of ``γ ln n``.

    Returns
    -------
    numpy.ndarray of bool
        Entities × bins, True in the burst state.

    References
    ----------
    .. [1] J. Kleinberg, "Bursty and hierarchical structure in streams", KDD 2002; Data Mining and Knowledge
       Discovery 7(4), 2003.

    Examples
    --------
    Every bin holds 10 posts, so ``p0 = 10/60`` and ``p1 = 0.5``. In ``q1`` a bin with 5 entity posts gains
    ``5 ln 1.8 ≈ 2.9`` and an empty one loses ``10 ln(5/3) ≈ 5.1``; entering costs ``ln 6 ≈ 1.8``.

    >>> import numpy as np
    >>> kleinberg_viterbi(np.array([[0, 0, 5, 5, 0, 0]]), np.full(6, 10)).astype(int).tolist()
    [[0, 0, 1, 1, 0, 0]]
    """
    r2 = np.atleast_2d(np.asarray(r, dtype=np.float64))
    d1 = np.asarray(d, dtype=np.float64)
    n_ent, n = r2.shape
    if n == 0:
        return np.zeros((n_ent, 0), dtype=bool)
    if p0 is None:
        total = float(d1.sum())
        p0 = r2.sum(axis=1) / total if total > 0 else np.zeros(n_ent)
    p0c = np.clip(np.asarray(p0, dtype=np.float64), 1e-12, _MAX_P / s)[:, None]
    sigma0 = state_costs(r2, d1[None, :], p0c)
    sigma1 = state_costs(r2, d1[None, :], p0c * s)
    if tau is None:
        tau = gamma * math.log(max(n, 2))
    from1_to0 = np.zeros((n_ent, n), dtype=bool)  # best path into q0 at t came from q1
    from0_to1 = np.zeros((n_ent, n), dtype=bool)  # best path into q1 at t came from q0
    c0 = sigma0[:, 0].copy()
    c1 = tau + sigma1[:, 0]
    from0_to1[:, 0] = True
    for t in range(1, n):
        down = c1 < c0
        up = c0 + tau < c1
        new0 = np.where(down, c1, c0) + sigma0[:, t]
        new1 = np.where(up, c0 + tau, c1) + sigma1[:, t]
        from1_to0[:, t] = down
        from0_to1[:, t] = up
        c0, c1 = new0, new1
    states = np.zeros((n_ent, n), dtype=bool)
    cur = c1 < c0
    for t in range(n - 1, -1, -1):
        states[:, t] = cur
        if t == 0:
            break
        cur = np.where(cur, ~from0_to1[:, t], from1_to0[:, t])
    return states


def runs(states: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """Maximal runs of True in a 1-d boolean array, as (start, end_exclusive).

    Parameters
    ----------
    states : numpy.ndarray of bool
        One entity's states, e.g. a row of :func:`kleinberg_viterbi`.

    Returns
    -------
    list of tuple of int
        ``(start, end_exclusive)`` per run, in order.

    Examples
    --------
    >>> import numpy as np
    >>> runs(np.array([0, 1, 1, 0, 1], dtype=bool))
    [(1, 3), (4, 5)]
    """
    out: list[tuple[int, int]] = []
    start = None
    for i, v in enumerate(states.tolist()):
        if v and start is None:
            start = i
        elif not v and start is not None:
            out.append((start, i))
            start = None
    if start is not None:
        out.append((start, len(states)))
    return out


def split_at_gaps(spans: list[tuple[int, int]], counts: F64, max_gap: int) -> list[tuple[int, int]]:
    """Cut each run where the entity has more than ``max_gap`` empty bins in a row.

    As the streaming tracker ends a burst after ``max_gap`` without a post; runs are trimmed to their first
    and last post (a run without posts is dropped).

    Parameters
    ----------
    spans : list of tuple of int
        ``(start, end_exclusive)`` runs, as :func:`runs` gives them.
    counts : numpy.ndarray
        The entity's posts per bin.
    max_gap : int
        The most empty bins in a row a run may hold.

    Returns
    -------
    list of tuple of int
        The cut and trimmed ``(start, end_exclusive)`` runs.

    Examples
    --------
    >>> import numpy as np
    >>> split_at_gaps([(0, 8)], np.array([1, 0, 0, 0, 1, 1, 0, 0]), max_gap=2)  # 3 empty bins after bin 0
    [(0, 1), (4, 6)]
    """
    out: list[tuple[int, int]] = []
    for a, b in spans:
        active = [t for t in range(a, b) if counts[t] > 0]
        if not active:
            continue
        start = prev = active[0]
        for t in active[1:]:
            if t - prev - 1 > max_gap:
                out.append((start, prev + 1))
                start = t
            prev = t
        out.append((start, prev + 1))
    return out


def robust_zscores(counts: F64, window: int) -> F64:
    """z of each bin against the median/MAD of the ``window`` bins before it (rows = entities).

    Scale = max(1.4826 · MAD, √max(median, 1)): the Poisson floor keeps sparse series sane.
    The first bins, with less history, use what there is; bin 0 gets z = 0.

    Parameters
    ----------
    counts : numpy.ndarray
        Posts per bin, entities × bins (a 1-d array is one entity).
    window : int
        The number of trailing bins in the baseline.

    Returns
    -------
    numpy.ndarray
        z per entity and bin (always 2-d).

    Examples
    --------
    >>> import numpy as np
    >>> robust_zscores(np.array([4, 4, 4, 4, 10]), window=4).tolist()  # median 4, MAD 0: scale √4, z = 6 / 2
    [[0.0, 0.0, 0.0, 0.0, 3.0]]
    """
    c = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    n_ent, n = c.shape
    z = np.zeros((n_ent, n))
    for t in range(1, n):
        hist = c[:, max(0, t - window) : t]
        med = np.median(hist, axis=1)
        mad = np.median(np.abs(hist - med[:, None]), axis=1)
        scale = np.maximum(1.4826 * mad, np.sqrt(np.maximum(med, 1.0)))
        z[:, t] = (c[:, t] - med) / scale
    return z


@dataclass
class Series:
    """Per-entity counts over fixed bins, with the total number of posts in each bin."""

    start: datetime
    bin: timedelta
    totals: F64
    counts: dict[str, F64]
    post_keys: dict[str, list[tuple[int, str]]] = field(default_factory=dict)

    def bin_start(self, i: int) -> datetime:
        return self.start + i * self.bin


def build_series(
    posts: Iterable[tuple[datetime, str, Sequence[str]]],
    start: datetime,
    end: datetime,
    bin: timedelta,
    keep_post_keys: int = 25,
) -> Series:
    """Bin ``(created_at, post_key, entities)`` triples into a :class:`Series` over ``[start, end)``.

    Parameters
    ----------
    posts : iterable of (datetime, str, sequence of str)
        ``(created_at, post_key, entities)``; posts outside ``[start, end)`` are skipped, and an entity
        repeated in one post counts once.
    start, end : datetime
        The span covered.
    bin : timedelta
        The bin width; the series has ``ceil((end - start) / bin)`` bins (at least 1).
    keep_post_keys : int
        When non-zero, each entity's ``(bin, post_key)`` pairs are kept in ``post_keys``.

    Returns
    -------
    Series
        Total posts per bin and each entity's posts per bin.

    Examples
    --------
    >>> from datetime import UTC, datetime, timedelta
    >>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
    >>> posts = [(t0 + timedelta(minutes=1), "p1", ["hashtag:x"]), (t0 + timedelta(minutes=2), "p2", []),
    ...          (t0 + timedelta(minutes=20), "p3", ["hashtag:x", "url:y"])]
    >>> s = build_series(posts, t0, t0 + timedelta(minutes=30), timedelta(minutes=15))
    >>> s.totals.tolist(), s.counts["hashtag:x"].tolist(), s.post_keys["url:y"]
    ([2.0, 1.0], [1.0, 1.0], [(1, 'p3')])
    """
    bin_s = bin.total_seconds()
    n = max(1, math.ceil((end - start).total_seconds() / bin_s))
    totals = np.zeros(n)
    counts: dict[str, F64] = {}
    keys: dict[str, list[tuple[int, str]]] = {}
    t0 = start.timestamp()
    for when, key, entities in posts:
        i = int((when.timestamp() - t0) // bin_s)
        if not 0 <= i < n:
            continue
        totals[i] += 1
        for e in set(entities):
            arr = counts.get(e)
            if arr is None:
                arr = counts[e] = np.zeros(n)
            arr[i] += 1
            if keep_post_keys:
                kept = keys.setdefault(e, [])
                kept.append((i, key))
    return Series(start, bin, totals, counts, keys)


def detect_bursts(
    series: Series,
    config: BurstConfig,
    baseline: Mapping[str, float] | None = None,
    min_posts: int | None = None,
    min_weight: float | None = None,
) -> list[Burst]:
    """All bursts in ``series`` by a batch Viterbi pass per entity (vectorised over entities).

    ``baseline`` optionally gives p0 per entity (for example from a longer lookback); otherwise
    Kleinberg's ``R / D`` over the series, floored at ``config.min_share``.

    Parameters
    ----------
    series : Series
        Posts per bin, as :func:`build_series` gives them.
    config : BurstConfig
        ``s``, ``gamma``, ``min_share``, ``max_gap``, ``z_window_bins``, ``entity_types`` and the reporting
        thresholds.
    baseline : mapping of str to float, optional
        p0 per entity.
    min_posts : int, optional
        Overrides ``config.min_posts``.
    min_weight : float, optional
        Overrides ``config.min_weight``.

    Returns
    -------
    list of Burst
        Heaviest first (Kleinberg weight [1]_).

    References
    ----------
    .. [1] J. Kleinberg, "Bursty and hierarchical structure in streams", KDD 2002; Data Mining and Knowledge
       Discovery 7(4), 2003.

    Examples
    --------
    10 posts per bin, 5 of them about ``hashtag:x`` in bins 2 and 3 (as in :func:`kleinberg_viterbi`); the
    weight is ``2 · 5 ln 1.8``.

    >>> from datetime import UTC, datetime, timedelta
    >>> import numpy as np
    >>> series = Series(datetime(2024, 1, 1, tzinfo=UTC), timedelta(minutes=15), totals=np.full(6, 10.0),
    ...                 counts={"hashtag:x": np.array([0, 0, 5, 5, 0, 0.0])})
    >>> [b] = detect_bursts(series, BurstConfig(), min_weight=0)
    >>> f"{b.start:%H:%M}", f"{b.end:%H:%M}", b.posts, round(b.weight, 3)
    ('00:30', '01:00', 10, 5.878)
    """
    names = [e for e in series.counts if entity_type(e) in config.entity_types]
    if not names:
        return []
    min_posts = config.min_posts if min_posts is None else min_posts
    min_weight = config.min_weight if min_weight is None else min_weight
    n = len(series.totals)
    r = np.vstack([series.counts[e] for e in names])
    d = series.totals
    total = float(d.sum())
    p0 = np.array(
        [
            max(
                baseline.get(e, 0.0) if baseline is not None else (r[i].sum() / total if total else 0.0),
                config.min_share,
            )
            for i, e in enumerate(names)
        ]
    )
    p0 = np.minimum(p0, _MAX_P / config.s)
    states = kleinberg_viterbi(r, d, config.s, config.gamma, p0)
    gains = burst_gain(r, d[None, :], p0[:, None], config.s)
    z = robust_zscores(r, config.z_window_bins)
    bin_h = config.bin_s / 3600
    out: list[Burst] = []
    max_gap = max(1, int(config.max_gap.total_seconds() // config.bin_s))
    for i, name in enumerate(names):
        for a, b in split_at_gaps(runs(states[i]), r[i], max_gap):
            posts = int(r[i, a:b].sum())
            weight = float(gains[i, a:b].sum())
            if posts < min_posts or weight < min_weight:
                continue
            tot = int(d[a:b].sum())
            hours = (b - a) * bin_h
            keys = tuple(k for j, k in series.post_keys.get(name, ()) if a <= j < b)[: config.keep_post_keys]
            out.append(
                Burst(
                    entity=name,
                    start=series.bin_start(a),
                    end=series.bin_start(b),
                    posts=posts,
                    total=tot,
                    weight=weight,
                    baseline_share=float(p0[i]),
                    observed_share=posts / tot if tot else 0.0,
                    baseline_rate=float(p0[i]) * tot / hours,
                    observed_rate=posts / hours,
                    z=float(z[i, a:b].max()),
                    ongoing=b == n,
                    post_keys=keys,
                )
            )
    out.sort(key=lambda x: -x.weight)
    return out


# --- streaming ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class Ewma:
    """Exponentially weighted mean and variance of an entity's count per bin."""

    alpha: float
    mean: float = 0.0
    var: float = 0.0

    def update(self, x: float) -> None:
        diff = x - self.mean
        incr = self.alpha * diff
        self.mean += incr
        self.var = (1 - self.alpha) * (self.var + diff * incr)

    def skip_zeros(self, k: int) -> None:
        for _ in range(min(k, 200)):
            self.update(0.0)
        if k > 200:
            self.mean = self.var = 0.0

    def z(self, x: float) -> float:
        scale = max(math.sqrt(max(self.var, 0.0)), math.sqrt(max(self.mean, 1.0)))
        return (x - self.mean) / scale


# Slots and a list, not a deque (632 bytes empty): a stream holds one of these per hashtag and URL it has seen.
@dataclass(slots=True)
class _Entity:
    hist_r: float = 0.0  # decayed count over closed bins
    last_bin: int = -1  # last closed bin this state accounts for
    delta: float = math.inf  # C1 − C0 after last_bin (∞: fresh, i.e. saturated)
    run_start: int | None = None  # first bin of the q1 run on the best path ending in q1
    run_gain: float = 0.0
    run_posts: int = 0
    run_total: float = 0.0
    run_p0: float = 0.0  # the baseline share when the run began
    open_r: int = 0  # posts in the open bin
    ewma: Ewma | None = None
    keys: list[tuple[int, str]] = field(default_factory=list)  # at most keep_post_keys, oldest first

    def reset_run(self) -> None:
        self.delta = math.inf
        self.run_start = None
        self.run_gain = 0.0
        self.run_posts = 0
        self.run_total = 0.0


class BurstTracker:
    """Kleinberg's automaton run online over event time, one state per entity (see module docstring).

    Feed posts with :meth:`add` in roughly event-time order. A post for a bin after the open one closes
    the open bin (and any empty bins between); a post for a bin already closed (streams from several
    partitions interleave) is counted in the open bin and tallied in ``late``. :meth:`bursting`
    evaluates entities as if the open bin closed now, so a burst is reported while it is happening.
    A run of the burst state ends after ``max_gap`` without a post about its entity (Kleinberg's
    automaton alone would let a rare entity's run persist for days, as an empty bin costs it almost
    nothing). The open bin is judged with its expected size as the total (a short EWMA of closed bins),
    so a burst reported before its bin closes does not flicker away when the rest of the bin arrives.
    """

    def __init__(self, config: BurstConfig) -> None:
        self.config = config
        self.tau = config.tau
        self.lam = config.decay
        self.alpha = 1 - self.lam
        self.max_gap_bins = max(1, int(config.max_gap.total_seconds() // config.bin_s))
        self.recent_total = 0.0  # short EWMA of closed bins' totals (the open bin's expected size)
        self.entities: dict[str, _Entity] = {}
        self.open_bin: int | None = None
        self.open_total = 0
        self.open_entities: set[str] = set()
        self.hist_d = 0.0  # decayed total over closed bins
        self.cum_d: dict[int, float] = {}  # closed bin → cumulative total, for the last horizon bins
        self.cum = 0.0
        self.first_bin: int | None = None
        self.late = 0
        self.touched: set[str] = set()
        # Bursts seen when their bin closed, since the last bursting() call: a replay may close many
        # bins in one batch, and a burst that ends inside a batch must still be reported.
        self.closed_bursts: dict[str, Burst] = {}

    # time ------------------------------------------------------------------------------------------

    def _bin_of(self, ts: float) -> int:
        return int(ts // self.config.bin_s)

    def bin_start(self, b: int) -> datetime:
        return datetime.fromtimestamp(b * self.config.bin_s, UTC)

    def _close_until(self, b: int) -> None:
        """Close the open bin and the empty ones after it, so that ``b`` becomes the open bin."""
        if self.open_bin is None:
            self.open_bin = self.first_bin = b
            return
        horizon = self.config.horizon_bins
        while self.open_bin < b:
            self._close_open_bin()
            self.open_bin += 1
            if b - self.open_bin > 2 * horizon:
                # A long silence: nothing happens in empty bins but decay, so jump over it.
                skip = b - self.open_bin
                self.hist_d *= self.lam**skip
                self.cum_d.clear()
                self.open_bin = b

    def _close_open_bin(self) -> None:
        assert self.open_bin is not None
        b = self.open_bin
        d = float(self.open_total)
        warm = self.warmed_up()
        for name in self.open_entities:
            ent = self.entities[name]
            self._catch_up(ent, b - 1)
            r = ent.open_r
            delta, start, gain, posts, total = self._step(ent, b, r, d, commit=True)
            ent.open_r = 0
            if warm and delta < 0 and start is not None and self._reportable(posts, gain):
                self.closed_bursts[name] = self._burst(name, ent, b, r, start, gain, posts, total, ongoing=False)
        self.open_entities.clear()
        self.hist_d = self.hist_d * self.lam + d
        self.recent_total = d if self.recent_total == 0 else 0.7 * self.recent_total + 0.3 * d
        self.cum += d
        self.cum_d[b] = self.cum
        self.cum_d.pop(b - 2 * self.config.horizon_bins, None)
        self.open_total = 0
        if len(self.entities) > self.config.max_entities:
            self._prune()

    def _p0(self, ent: _Entity) -> float:
        p0 = ent.hist_r / self.hist_d if self.hist_d > 0 else 0.0
        return min(max(p0, self.config.min_share), _MAX_P / self.config.s)

    def _catch_up(self, ent: _Entity, b: int) -> None:
        """Advance ``ent`` through the empty bins after its last closed bin, up to and including ``b``.

        In an empty bin the gain is ``−g`` with ``g = d · ln((1 − p0) / (1 − s·p0)) > 0``, so Δ only grows:
        the run survives the gap iff ``clip(Δ, 0, τ) + Σ g ≤ τ`` (p0 is held at its value before the gap).
        """
        k = b - ent.last_bin
        if k <= 0:
            return
        if ent.last_bin < 0:
            ent.last_bin = b
            return
        start_cum = self.cum_d.get(ent.last_bin)
        end_cum = self.cum_d.get(b)
        if k > self.max_gap_bins or start_cum is None or end_cum is None:
            ent.reset_run()
        else:
            p0 = self._p0(ent)
            lfac = math.log1p(-p0) - math.log1p(-p0 * self.config.s)
            gap_total = end_cum - start_cum
            g = lfac * gap_total
            x = min(max(ent.delta, 0.0), self.tau)
            if ent.run_start is not None and x + g <= self.tau:
                ent.delta = x + g
                ent.run_gain -= g
                ent.run_total += gap_total
            else:
                ent.reset_run()
        ent.hist_r *= self.lam**k
        if ent.ewma is not None:
            ent.ewma.skip_zeros(k)
        ent.last_bin = b

    def _step(
        self, ent: _Entity, b: int, r: int, d: float, *, commit: bool
    ) -> tuple[float, int | None, float, int, float]:
        """One Viterbi step for bin ``b``; returns (Δ, run start, run gain, run posts, run total)."""
        p0 = self._p0(ent)
        gain = gain_one(r, d, p0, self.config.s)
        delta, stay = viterbi_step(ent.delta, gain, self.tau)
        from_burst = stay and ent.run_start is not None
        run: tuple[int | None, float, int, float]
        if from_burst:
            run = (ent.run_start, ent.run_gain + gain, ent.run_posts + r, ent.run_total + d)
        else:
            run = (b, gain, r, d)
        if commit:
            ent.delta = delta
            if not from_burst:
                ent.run_p0 = p0
            ent.run_start, ent.run_gain, ent.run_posts, ent.run_total = run
            ent.hist_r = ent.hist_r * self.lam + r
            if ent.ewma is None:
                ent.ewma = Ewma(self.alpha)
            ent.ewma.update(float(r))
            ent.last_bin = b
        return delta, *run

    def _prune(self) -> None:
        """Forget the least recently active entities (never those in the open bin), down to 90% of the cap."""
        idle = sorted((e.last_bin, n) for n, e in self.entities.items() if n not in self.open_entities)
        for _, name in idle[: len(self.entities) - int(self.config.max_entities * 0.9)]:
            del self.entities[name]

    # input -----------------------------------------------------------------------------------------

    def add(self, when: datetime, key: str, entities: Iterable[str], count_total: bool = True) -> bool:
        """Count one post; False if its bin had already closed (it is then counted in the open bin).

        ``count_total=False`` adds entities to a post counted before (a narrative assigned later).
        """
        b = self._bin_of(when.timestamp())
        on_time = True
        if self.open_bin is None or b > self.open_bin:
            self._close_until(b)
        elif b < self.open_bin:
            self.late += 1
            on_time = False
            b = self.open_bin
        if count_total:
            self.open_total += 1
        types = self.config.entity_types
        for name in set(entities):
            if entity_type(name) not in types:
                continue
            ent = self.entities.get(name)
            if ent is None:
                ent = self.entities[name] = _Entity()
            ent.open_r += 1
            self.open_entities.add(name)
            if self.config.keep_post_keys:
                ent.keys.append((b, key))
                if len(ent.keys) > self.config.keep_post_keys:
                    del ent.keys[0]
            self.touched.add(name)
        return on_time

    def advance_to(self, when: datetime) -> None:
        """Close bins up to ``when`` without new posts (quiet streams, end of a sweep)."""
        b = self._bin_of(when.timestamp())
        if self.open_bin is not None and b > self.open_bin:
            self._close_until(b)

    # output ----------------------------------------------------------------------------------------

    def warmed_up(self) -> bool:
        if self.first_bin is None or self.open_bin is None:
            return False
        return (self.open_bin - self.first_bin) * self.config.bin_s >= self.config.warmup.total_seconds()

    def state_of(self, name: str) -> Burst | None:
        """The entity's burst as of now (open bin evaluated as if it closed now), or None."""
        ent = self.entities.get(name)
        if ent is None or self.open_bin is None:
            return None
        b = self.open_bin
        self._catch_up(ent, b - 1)
        r = ent.open_r if name in self.open_entities else 0
        # Judge the open bin as if the posts still to come in it were all about something else:
        # a burst reported early then stands when the bin closes, instead of flickering.
        d = max(float(self.open_total), self.recent_total)
        delta, start, gain, posts, total = self._step(ent, b, r, d, commit=False)
        if delta >= 0 or start is None:
            return None
        return self._burst(name, ent, b, r, start, gain, posts, total, ongoing=True)

    def _reportable(self, posts: int, gain: float) -> bool:
        return posts >= self.config.min_posts and gain >= self.config.min_weight

    def _burst(
        self,
        name: str,
        ent: _Entity,
        b: int,
        r: int,
        start: int,
        gain: float,
        posts: int,
        total: float,
        *,
        ongoing: bool,
    ) -> Burst:
        p0 = ent.run_p0 if ent.run_start == start else self._p0(ent)
        hours = (b + 1 - start) * self.config.bin_s / 3600
        z = ent.ewma.z(float(r)) if ent.ewma is not None else float(r)
        keys = tuple(k for kb, k in ent.keys if kb >= start)
        return Burst(
            entity=name,
            start=self.bin_start(start),
            end=self.bin_start(b + 1),
            posts=posts,
            total=int(total),
            weight=gain,
            baseline_share=p0,
            observed_share=posts / total if total else 0.0,
            baseline_rate=p0 * total / hours,
            observed_rate=posts / hours,
            z=z,
            ongoing=ongoing,
            post_keys=keys,
        )

    def bursting(self, names: Iterable[str] | None = None) -> list[Burst]:
        """Bursts meeting ``min_posts`` and ``min_weight``: those seen as bins closed since the last call,
        then ``names`` (default: the entities touched since the last call) as of the open bin."""
        found, self.closed_bursts = self.closed_bursts, {}
        if names is None:
            names, self.touched = self.touched, set()
        if not self.warmed_up():
            return list(found.values())
        for name in names:
            burst = self.state_of(name)
            if burst is not None and self._reportable(burst.posts, burst.weight):
                found[name] = burst
        return list(found.values())

    def snapshot(self) -> dict[str, Any]:
        return {
            "entities": len(self.entities),
            "open_bin": self.bin_start(self.open_bin).isoformat() if self.open_bin is not None else None,
            "late": self.late,
        }
