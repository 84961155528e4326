"""Scoring one media file (or URL): run every signal that applies, fuse, keep the evidence.

This is the one function the CLI (``flockwatch score media``), the Kafka worker and the Airflow task
share. A file that cannot be fetched or decoded gives a result with ``error`` set, never an exception:
one hostile file must not stop a batch.

Local paths are read only when the scorer is built with ``local_files=True``, which only the CLI does:
a media reference in a stream message is whatever its author wrote, and ``/etc/passwd`` or ``../x``
there must not make the worker read the machine's files.

Each item has a deadline (``item_deadline_s``, from the fetch on): decoders refuse past it, and signals
not yet run are skipped with that reason, so one long or slow file costs bounded time. The Kafka loop
sizes the media stage's batches from it (``MediaScoreStage.record_cost_s``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flockwatch.media import decode
from flockwatch.media.errors import MediaRefused
from flockwatch.media.fusion import fuse, ranked
from flockwatch.media.signal import Finding, MediaFile, MediaSignal, Tier
from flockwatch.media.sniff import open_media, settle_kind

log = logging.getLogger(__name__)

Fetcher = Callable[[str], MediaFile]

# A 4-minute 4K clip scores in well under this on one core (tests/unit/media/test_media_budget.py); the
# batch size of the media stage follows from it, so raising it shrinks the batches.
ITEM_DEADLINE_S = 50.0


@dataclass(frozen=True)
class MediaResult:
    path: str  # the path or URL as given
    manipulation_score: float | None
    decided_by: str
    findings: list[Finding] = field(default_factory=list)
    kind: str | None = None
    mime: str | None = None
    sha256: str | None = None
    error: str | None = None  # why it was refused or could not be scored
    # Signals that applied but could not run on this file (e.g. a video without an audio stream).
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def provenance(self) -> dict[str, Any]:
        return {f.signal: f.data for f in self.findings if f.tier == Tier.provenance}

    @property
    def matches(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for f in self.findings:
            if f.tier == Tier.match:
                out.extend(f.data.get("matches", []))
        return sorted(out, key=lambda m: float(m.get("distance", 0.0)))

    def to_json(self) -> dict[str, Any]:
        """The CLI's line: ``path, manipulation_score, provenance, matches, signals`` plus context."""
        out: dict[str, Any] = {
            "path": self.path,
            "manipulation_score": None if self.manipulation_score is None else round(self.manipulation_score, 4),
            "provenance": self.provenance,
            "matches": self.matches,
            "signals": [
                {"name": f.signal, "score": round(f.score, 4), "evidence": f.detail, "tier": f.tier.name}
                for f in self.findings
                if f.score is not None
            ],
            "observations": [
                # Provenance data is already the ``provenance`` summary above.
                {"name": f.signal, "evidence": f.detail, **({"data": f.data} if f.tier is not Tier.provenance else {})}
                for f in self.findings
                if f.score is None
            ],
            "decided_by": self.decided_by,
            "kind": self.kind,
            "mime": self.mime,
            "sha256": self.sha256,
        }
        if self.skipped:
            out["skipped"] = self.skipped
        if self.error is not None:
            out["error"] = self.error
        return out


def is_url(target: str) -> bool:
    return "://" in target or target.lower().startswith(("data:", "file:"))


def _remote_refusal(target: str) -> str | None:
    """Why ``target`` is not an http(s) URL a scorer without local files may fetch; None when it is."""
    try:
        scheme = urlsplit(target.strip()).scheme.lower()
    except ValueError:
        scheme = ""
    if scheme in ("http", "https") and "://" in target:
        return None
    if scheme and is_url(target):
        return f"refused media reference scheme {scheme!r}: only http(s) URLs are fetched"
    return "refused media reference: not an http(s) URL; local files are only read from the command line"


def preflight(media: MediaFile) -> None:
    """Refuse what no signal should see: image bombs and truncated images, videos with no decodable frame.

    Signals would each refuse these on their own, but provenance signals read only the container and
    would report on a file whose pixels are a bomb; one up-front decode makes the refusal the result.
    """
    if media.kind == "image":
        decode.open_image(media.path)
    elif media.kind == "video":
        decode.video_frames(media.path, max_frames=1)


class MediaScorer:
    """Runs ``signals`` over media; URLs go through ``fetcher`` (the safe fetcher).

    Local paths are opened only with ``local_files=True`` (the CLI); otherwise anything but an http(s)
    URL is refused with its reason, before any file or network access.
    """

    def __init__(
        self,
        signals: Sequence[MediaSignal],
        fetcher: Fetcher | None = None,
        *,
        local_files: bool = False,
        item_deadline_s: float | None = ITEM_DEADLINE_S,
    ) -> None:
        self.signals = list(signals)
        self.fetcher = fetcher
        self.local_files = local_files
        self.item_deadline_s = item_deadline_s

    def score(self, target: str) -> MediaResult:
        with decode.item_deadline(self.item_deadline_s):
            return self._score(target)

    def score_file(self, media: MediaFile, label: str | None = None) -> MediaResult:
        """Score a file :func:`~flockwatch.media.sniff.open_media` opened (its kind already settled: a fetcher's
        download goes through :meth:`score`, which settles it)."""
        with decode.item_deadline(self.item_deadline_s):
            return self._score_file(media, label)

    def _score(self, target: str) -> MediaResult:
        try:
            if not self.local_files and (reason := _remote_refusal(target)) is not None:
                raise MediaRefused(reason)
            if is_url(target):
                if self.fetcher is None:
                    raise MediaRefused("URL given but fetching is disabled")
                # The fetchers sniff the first bytes only: an audio-only MP4 or WebM download is audio.
                media = settle_kind(self.fetcher(target))
            else:
                media = open_media(Path(target), source=target)
        except MediaRefused as e:
            return MediaResult(target, None, "refused", error=e.reason)
        return self._score_file(media, target)

    def _score_file(self, media: MediaFile, label: str | None = None) -> MediaResult:
        try:
            preflight(media)
        # Broad on purpose: whatever a decoder raises on hostile bytes is a refusal of this file, not a crash.
        except Exception as e:
            reason = e.reason if isinstance(e, MediaRefused) else f"undecodable {media.kind}: {type(e).__name__}: {e}"
            return MediaResult(
                label or media.source, None, "refused", kind=media.kind, mime=media.mime, sha256=media.sha256,
                error=reason,
            )  # fmt: skip
        findings: list[Finding] = []
        skipped: dict[str, str] = {}
        for signal in self.signals:
            if not signal.applies_to(media):
                continue
            try:
                decode.check_deadline("earlier signals ran")
                finding = signal.compute(media)
            except MediaRefused as e:
                skipped[signal.name] = e.reason
                continue
            except Exception as e:  # a broken detector costs its own evidence, not the file's other signals
                log.exception("signal %s failed on %s", signal.name, media.source)
                skipped[signal.name] = f"failed: {type(e).__name__}: {e}"
                continue
            if finding is not None:
                findings.append(finding)
        score, decided_by = fuse(findings)
        error = None
        if not findings and skipped and len(skipped) == sum(s.applies_to(media) for s in self.signals):
            error = "; ".join(f"{k}: {v}" for k, v in skipped.items())
        return MediaResult(
            path=label or media.source,
            manipulation_score=score,
            decided_by=decided_by,
            findings=ranked(findings),
            kind=media.kind,
            mime=media.mime,
            sha256=media.sha256,
            error=error,
            skipped=skipped,
        )
