"""When a live connector pulled a record: the time of a post that has no time of its own.

Some feed entries and most flat video listings carry no date. Their post is dated by the pull, and the connector
writes that time into the payload itself (``DATED_BY_PULL``), so the flag travels with the record and a saved
payload replays to the same post; a record without it falls back on its ``collected_at`` context.
"""

from __future__ import annotations

from datetime import datetime

from flockwatch.replay.base import COLLECTED_AT
from flockwatch.replay.timestamps import from_iso
from flockwatch.schema import RawRecord

# The payload key a connector sets, to the pull's time (ISO 8601), when the item had no date at all.
DATED_BY_PULL = "dated_by_pull"


def pull_time(raw: RawRecord, missing: str) -> datetime:
    """When ``raw`` was pulled: its payload's ``dated_by_pull``, else its ``collected_at``; ``ValueError`` saying
    ``missing`` (why a pull time was needed) when it has neither."""
    for value, what in ((raw.payload.get(DATED_BY_PULL), DATED_BY_PULL), (raw.context.get(COLLECTED_AT), COLLECTED_AT)):
        if value is not None:
            return from_iso(value, what=what)
    raise ValueError(f"{missing} and the record no pull time ({DATED_BY_PULL}, {COLLECTED_AT})")
