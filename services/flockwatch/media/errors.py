"""The one error media code raises for input it will not handle: a reason an analyst can read."""

from __future__ import annotations


class MediaRefused(Exception):
    """Input refused on purpose (unsafe URL, bomb, not media, too big...); ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
