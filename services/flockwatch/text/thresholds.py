"""Labelling thresholds re-picked on the user's own human posts.

The thresholds a text model stores are chosen on its calibration split's humans; on other humans the rate at a
threshold is not its name (the model card's first failure mode, measured by ``bench/text_thresholds.py``). A
monitor who holds a sample of posts known to be human, from the population it watches (a candidate's own tweets, a
newsroom's), picks the threshold on that sample instead: at most ``fpr`` of the sample scores at or above it. The
ranking does not change, only where the line is drawn.

With ``n`` humans, ``k`` of them at or above the threshold, the true rate on that population is uncertain: each
threshold carries a one-sided 90% Clopper-Pearson upper bound (Clopper & Pearson, "The use of confidence or
fiducial limits illustrated in the case of the binomial", Biometrika 1934): ``Beta(0.9; k + 1, n - k)``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

FORMAT = 1
UPPER_LEVEL = 0.9


def threshold_at_fpr(human_scores: NDArray[Any] | Sequence[float], fpr: float) -> float:
    """Smallest threshold with at most ``fpr`` of these human scores at or above it."""
    s = np.sort(np.asarray(human_scores, dtype=np.float64))[::-1]
    if not len(s) or not np.isfinite(s).all():
        raise ValueError("thresholds need at least one score, and finite ones")
    k = int(np.floor(fpr * len(s)))  # k scores may sit at or above the threshold
    if k >= len(s):
        return float(s[-1])
    return float(np.nextafter(s[k], np.inf))


def fpr_upper_bound(flagged: int, humans: int, level: float = UPPER_LEVEL) -> float:
    """One-sided Clopper-Pearson upper bound of a rate seen as ``flagged`` of ``humans``."""
    from scipy.stats import beta  # type: ignore[import-untyped, unused-ignore]

    return 1.0 if flagged >= humans else float(beta.ppf(level, flagged + 1, humans - flagged))


def check_rate(fpr: float) -> None:
    """ValueError unless ``fpr`` is a rate a threshold can hold."""
    if not 0 < fpr < 1:
        raise ValueError(f"a false-positive rate is between 0 and 1, not {fpr:g}")


def min_humans(fpr: float) -> int:
    """The smallest sample that can hold a threshold at ``fpr``: at least one human may pass it."""
    return math.ceil(1 / fpr - 1e-9)


@dataclass(frozen=True)
class PickedThreshold:
    threshold: float
    flagged: int  # sample humans at or above it
    fpr_upper_90: float


@dataclass(frozen=True)
class PopulationThresholds:
    """Thresholds picked on one human sample, for one model (they mean nothing for another)."""

    model: str
    source: str  # the sample they were picked on
    humans: int  # scored posts in it
    unscored: int  # posts of the sample the model leaves unscored, or unreadable (not counted above)
    thresholds: dict[str, PickedThreshold]  # "fpr_0.01" -> ...
    # Unscored posts of the sample (another language...) that a decisive rule ("as an AI language model"...)
    # labels machine at any threshold: no threshold helps those, so they are reported apart.
    rule_labelled: int = 0

    def values(self) -> dict[str, float]:
        return {k: v.threshold for k, v in self.thresholds.items()}

    def save(self, path: Path) -> None:
        doc = {"format": FORMAT, **asdict(self)}
        path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> PopulationThresholds:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("format") != FORMAT:
                raise ValueError(f"format {doc.get('format')!r}, this build reads {FORMAT}")
            return cls(
                model=str(doc["model"]),
                source=str(doc["source"]),
                humans=int(doc["humans"]),
                unscored=int(doc["unscored"]),
                thresholds={k: _picked(v) for k, v in doc["thresholds"].items()},
                rule_labelled=int(doc.get("rule_labelled", 0)),
            )
        except (OSError, KeyError, TypeError, ValueError, AttributeError) as e:
            raise ValueError(f"{path}: not a thresholds file ({e})") from e


def _picked(entry: dict[str, Any]) -> PickedThreshold:
    """One stored threshold, its values read as numbers and checked: a word where a number belongs would fail
    mid-run, and NaN would label nothing machine."""
    threshold, bound = float(entry["threshold"]), float(entry["fpr_upper_90"])
    if not (0.0 <= threshold <= 1.0 and 0.0 <= bound <= 1.0):  # also false for NaN
        raise ValueError(f"threshold {threshold!r} and fpr_upper_90 {bound!r} must lie in [0, 1]")
    flagged = entry["flagged"]
    if not isinstance(flagged, int) or isinstance(flagged, bool) or flagged < 0:
        raise ValueError(f"flagged {flagged!r} is not a count")
    return PickedThreshold(threshold, flagged, bound)


def pick_thresholds(
    human_scores: Sequence[float],
    fprs: Sequence[float],
    *,
    model: str,
    source: str,
    unscored: int = 0,
    rule_labelled: int = 0,
) -> PopulationThresholds:
    """A threshold per rate in ``fprs`` from the scores of posts known to be human (what their labels compare with a
    threshold); refuses a sample too small."""
    n = len(human_scores)
    picked: dict[str, PickedThreshold] = {}
    for fpr in fprs:
        check_rate(fpr)
        if n < min_humans(fpr):
            raise ValueError(f"{n} scored human posts cannot hold a {fpr:g} rate: give at least {min_humans(fpr)}")
        t = threshold_at_fpr(human_scores, fpr)
        k = int(np.sum(np.asarray(human_scores, dtype=np.float64) >= t))
        picked[f"fpr_{fpr:g}"] = PickedThreshold(t, k, round(fpr_upper_bound(k, n), 4))
    return PopulationThresholds(model, source, n, unscored, picked, rule_labelled)
