"""The append-only audit log: who queried, exported, acknowledged or resolved what, and when.

One JSON object a line in ``<state_dir>/api/audit.jsonl``, appended under an exclusive ``flock`` and fsynced.
Each entry carries ``prev``, the SHA-256 of the line before it (``""`` for the first), so an edited or deleted
line breaks the chain from there on: :meth:`AuditLog.verify` names the first broken line. Append-only is how it
is written, the chain is how a reader checks that it stayed so.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _digest(line: bytes) -> str:
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, who: str, role: str, action: str, target: str, detail: dict[str, Any] | None = None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "rb+") as log:
            fcntl.flock(log, fcntl.LOCK_EX)
            prev = _digest(_last_line(log)) if log.seek(0, os.SEEK_END) else ""
            entry = {
                "at": datetime.now(UTC).isoformat(),
                "who": who,
                "role": role,
                "action": action,
                "target": target[:2000],
                "detail": detail or {},
                "prev": prev,
            }
            log.write(json.dumps(entry, sort_keys=True, default=str).encode("utf-8") + b"\n")
            log.flush()
            os.fsync(log.fileno())

    def tail(self, limit: int = 100) -> list[dict[str, Any]]:
        """The last ``limit`` entries, newest first. A line that is not an entry (cut short by a crash, edited) is
        shown as ``{"unreadable": its start}``: the log is broken there (:meth:`verify` says from which line), and
        the entries around it are still worth reading."""
        if not self.path.exists():
            return []
        with self.path.open("rb") as log:
            last = deque(log, maxlen=limit)
        return [_entry(line) for line in reversed(last)]

    def verify(self) -> int | None:
        """The 1-based number of the first line whose ``prev`` does not match the line before; ``None`` if whole."""
        if not self.path.exists():
            return None
        prev = ""
        with self.path.open("rb") as log:
            for number, line in enumerate(log, 1):
                try:
                    entry = json.loads(line)
                except ValueError:
                    return number
                if not isinstance(entry, dict) or entry.get("prev") != prev:
                    return number
                prev = _digest(line)
        return None


def _entry(line: bytes) -> dict[str, Any]:
    try:
        entry = json.loads(line)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        entry = None
    if isinstance(entry, dict):
        return entry
    return {"unreadable": line[:500].decode("utf-8", "replace").rstrip("\n")}


def _last_line(log: Any) -> bytes:
    """The last line of an open file (read backwards in blocks: the log grows without bound)."""
    end = log.seek(0, os.SEEK_END)
    block, data = 4096, b""
    position = end
    while position > 0:
        step = min(block, position)
        position -= step
        log.seek(position)
        data = log.read(step) + data
        if data.rstrip(b"\n").count(b"\n") >= 1:
            break
    return data.rstrip(b"\n").rsplit(b"\n", 1)[-1]
