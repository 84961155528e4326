"""Analysts' verdicts on cascades (pure): what was judged, by whom, when and why, and what it teaches.

A verdict is a document keyed by the cascade's id (one per cascade: judging again replaces it, withdrawing deletes
it): ``cascade_id``, ``verdict`` (``false``, ``true`` or ``unverified``), ``by``, ``at`` and an optional ``note``.
The account history (:mod:`flockwatch.graph.account_history`, whose ``LABELS`` read these words) learns from
``false`` (flagged) and ``true`` (not flagged) verdicts; ``unverified`` records that someone looked, and teaches
nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

VERDICTS = ("false", "true", "unverified")
MAX_NOTE = 2_000
MAX_CASCADE_ID = 1_000


class VerdictError(ValueError):
    """A verdict the store must not keep, with the reason."""


class CascadeMerged(VerdictError):
    """The cascade merged into another since: a verdict belongs on the one that holds its posts now."""

    def __init__(self, cascade_id: str, merged_into: str) -> None:
        super().__init__(f"cascade {cascade_id} merged into {merged_into}: judge {merged_into}")
        self.merged_into = merged_into


def combined_flag(own: bool | None, merged: Iterable[bool | None], *, own_judged: bool | None = None) -> bool | None:
    """What a cascade teaches when analysts judged it and/or cascades that merged into it (flagged = ``false``;
    ``None`` among the verdicts: one that teaches nothing, such as unverified).

    Its own verdict wins: it was given on everything the cascade held then, the merged ones on parts. An own
    verdict that teaches nothing still wins, teaching nothing (``own_judged=True`` with ``own=None``; by default a
    cascade is judged when ``own`` is not ``None``). Without one, the merged cascades' verdicts count when they
    agree; when they disagree (or there are none) it teaches nothing (``None``), rather than letting one part's
    verdict speak for another's resharers.
    """
    judged = own is not None if own_judged is None else own_judged
    if judged:
        return own
    flags = teaching_flags(merged)
    return flags.pop() if len(flags) == 1 else None


def teaching_flags(verdicts: Iterable[bool | None]) -> set[bool]:
    """The distinct flags among verdicts, leaving out those that teach nothing: two means they disagree."""
    return {v for v in verdicts if v is not None}


def new_verdict(cascade_id: str, verdict: str, by: str, now: datetime, note: str = "") -> dict[str, Any]:
    """The verdict document, or :class:`VerdictError` naming what is wrong."""
    verdict = verdict.strip().lower()
    if verdict not in VERDICTS:
        raise VerdictError(f"a verdict is one of {', '.join(VERDICTS)}, not {verdict!r}")
    if not 1 <= len(cascade_id) <= MAX_CASCADE_ID:
        raise VerdictError(f"a cascade id is 1 to {MAX_CASCADE_ID} characters")
    if len(note) > MAX_NOTE:
        raise VerdictError(f"a verdict's note is at most {MAX_NOTE} characters")
    return {"cascade_id": cascade_id, "verdict": verdict, "by": by, "at": now.isoformat(), "note": note.strip()}
