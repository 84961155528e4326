"""Size bound on the content-addressed media cache: least recently used entries are evicted.

An entry is a body ``<dir>/<sha[:2]>/<sha>`` and its sidecar ``<sha>.json``
(see :mod:`flockwatch.adapters.media_fetch`);
its size is both together, its recency the body's mtime, which the fetcher sets on every write and
refreshes on every hit (``touch``). mtime rather than atime: atime is not updated under ``noatime`` and
only daily under ``relatime``.

After a new entry is written, :func:`evict` removes the oldest entries until the cache is at or under
its bound. It never removes the entry just written, nor any entry used in the last ``grace_s`` seconds
(another worker sharing the directory may be scoring it right now): the cache can then overshoot its
bound by what is in use, never more. Two workers evicting at once is safe: whatever the other removed
first is skipped (FileNotFoundError is expected, not an error).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_SHA = re.compile(r"^[0-9a-f]{64}$")
DEFAULT_GRACE_S = 600.0  # well past one item's scoring deadline (50 s) and its fetch deadline (120 s)


@dataclass(frozen=True)
class Entry:
    sha256: str
    body: Path
    sidecar: Path
    size: int  # body + sidecar bytes
    used_at: float  # the body's mtime


@dataclass(frozen=True)
class EvictReport:
    before_bytes: int
    after_bytes: int
    evicted: int
    kept_in_use: int  # over the bound, but too recently used to evict


def touch(body: Path, sidecar: Path | None = None) -> None:
    """Mark an entry used now (a cache hit). A concurrently evicted entry is simply not there."""
    for path in (body, sidecar):
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.utime(path)


def entries(cache_dir: Path) -> list[Entry]:
    """Every complete or half-written entry (a body, a sidecar, or both), oldest use first."""
    found: dict[str, Entry] = {}
    try:
        shards = [d for d in os.scandir(cache_dir) if len(d.name) == 2 and d.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []
    for shard in shards:
        try:
            files = list(os.scandir(shard.path))
        except FileNotFoundError:
            continue
        for f in files:
            sha = f.name[:-5] if f.name.endswith(".json") else f.name
            if not _SHA.match(sha):
                continue  # temporary files (".<name>.<pid>.tmp") and anything else are not entries
            try:
                st = f.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            shard_dir = Path(shard.path)
            prev = found.get(sha)
            body_mtime = st.st_mtime if f.name == sha else None
            if prev is None:
                used = body_mtime if body_mtime is not None else st.st_mtime
                found[sha] = Entry(sha, shard_dir / sha, shard_dir / f"{sha}.json", st.st_size, used)
            else:
                used = body_mtime if body_mtime is not None else prev.used_at
                found[sha] = Entry(sha, prev.body, prev.sidecar, prev.size + st.st_size, used)
    return sorted(found.values(), key=lambda e: (e.used_at, e.sha256))


def evict(
    cache_dir: Path,
    max_bytes: int,
    keep: str | None = None,
    grace_s: float = DEFAULT_GRACE_S,
    now: float | None = None,
) -> EvictReport:
    """Remove least recently used entries until the cache holds at most ``max_bytes`` (see the module doc)."""
    found = entries(cache_dir)
    total = sum(e.size for e in found)
    before = total
    evicted = kept = 0
    now = time.time() if now is None else now
    for e in found:
        if total <= max_bytes:
            break
        if e.sha256 == keep or now - e.used_at < grace_s:
            kept += 1
            continue
        try:  # used again since the listing (a hit in another worker)? then it stays
            if now - e.body.stat().st_mtime < grace_s:
                kept += 1
                continue
        except FileNotFoundError:
            pass
        # Body first: an entry without a body is no hit, and its orphan sidecar is swept by the next pass.
        for path in (e.body, e.sidecar):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        total -= e.size
        evicted += 1
    if evicted:
        log.info("media cache: evicted %d entries, %d -> %d bytes (bound %d)", evicted, before, total, max_bytes)
    return EvictReport(before, total, evicted, kept)
