"""The contract every media signal follows, and the file it looks at.

After python-threatexchange's signal types: a signal has a ``name``, says what it ``applies_to`` and
``compute``s a :class:`Finding` (a 0..1 score plus the quotable detail that explains it), or ``None``
when it has nothing to say. The ``tier`` orders evidence in fusion: provenance and bank matches are
facts about the file; learned detectors are priors.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

Kind = Literal["image", "video", "audio"]


class Tier(IntEnum):
    """Evidence strength; fusion lets a higher tier outrank a lower one."""

    learned = 1
    match = 2
    provenance = 3


@dataclass(frozen=True)
class MediaFile:
    """A local media file whose type was sniffed from its bytes (never from its name)."""

    path: Path
    kind: Kind
    mime: str
    sha256: str
    size: int
    # Where it came from: the URL it was fetched from, or the path given.
    source: str = ""


@dataclass(frozen=True)
class Finding:
    """One signal's result: ``score`` is how strongly it says "manipulated or synthetic" (0..1).

    ``score=None`` is an observation without an opinion (no Content Credentials, a remote manifest, a
    light edit): reported to the analyst, ignored by fusion.
    """

    signal: str
    score: float | None
    detail: str
    tier: Tier
    # Structured extras for the output (the provenance summary, match list, per-frame scores...).
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def scored(cls, signal: str, score: float, detail: str, tier: Tier, data: dict[str, Any] | None = None) -> Finding:
        """A signal's opinion: ``score`` in 0..1, with the ``detail`` an analyst reads."""
        return cls(signal, score, detail, tier, data or {})

    @classmethod
    def observation(cls, signal: str, detail: str, tier: Tier, data: dict[str, Any] | None = None) -> Finding:
        """Something worth reporting that is not evidence either way (fusion ignores it)."""
        return cls(signal, None, detail, tier, data or {})


@runtime_checkable
class MediaSignal(Protocol):
    name: str
    tier: Tier

    def applies_to(self, media: MediaFile) -> bool: ...

    def compute(self, media: MediaFile) -> Finding | None: ...


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
