"""API tokens in a JSON file under the state directory: names, roles and SHA-256 hashes, never the tokens.

The file (``<state_dir>/api/tokens.json``, mode 0600) is written whole to a temporary file and renamed, under an
exclusive ``flock`` so two ``flockwatch token create`` runs cannot lose each other's token; the server re-reads it
when it changes (modification time, inode or size), so a token created or revoked while it runs counts at once. It
also holds the secret pseudonyms are made with (:func:`flockwatch.api.access.pseudonym`), made on first use.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flockwatch.api.access import Role, check_name, new_token, same_hash, token_hash, well_formed


@dataclass(frozen=True)
class Principal:
    """Who a valid token belongs to."""

    name: str
    role: Role


class TokenFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        # The file's (mtime in ns, inode, size) and what it held: a write replaces the file (a new inode), so a revoke
        # is seen at once even within the filesystem's mtime granularity.
        self._cache: tuple[tuple[int, int, int], dict[str, Any]] | None = None

    @contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self._read()
            yield data
            tmp = self.path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=1, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"tokens": [], "pseudonym_secret": secrets.token_hex(32)}
        data = json.loads(self.path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("tokens"), list):
            raise ValueError(f"{self.path} is not a Flockwatch token file")
        return data

    def _current(self) -> dict[str, Any]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {"tokens": []}
        version = (stat.st_mtime_ns, stat.st_ino, stat.st_size)
        if self._cache is None or self._cache[0] != version:
            self._cache = (version, self._read())
        return self._cache[1]

    def create(self, name: str, role: Role, now: datetime | None = None) -> str:
        """A new token for ``name`` (a name in use is refused: revoke it first); returned once, never stored."""
        check_name(name)
        token = new_token()
        with self._locked() as data:
            if any(t["name"] == name for t in data["tokens"]):
                raise ValueError(f"a token named {name!r} exists; revoke it first or choose another name")
            created = (now or datetime.now(UTC)).isoformat()
            data["tokens"].append({"name": name, "role": role.value, "sha256": token_hash(token), "created": created})
        return token

    def revoke(self, name: str) -> bool:
        with self._locked() as data:
            before = len(data["tokens"])
            data["tokens"] = [t for t in data["tokens"] if t["name"] != name]
            return len(data["tokens"]) < before

    def listing(self) -> list[dict[str, str]]:
        """Names, roles and creation times (no hashes)."""
        return [{k: t[k] for k in ("name", "role", "created")} for t in self._current()["tokens"]]

    def principal(self, token: str) -> Principal | None:
        """Whose ``token`` is, or ``None`` for a token that is not (or no longer) valid."""
        if not well_formed(token):
            return None
        digest = token_hash(token)
        for entry in self._current()["tokens"]:
            if same_hash(entry["sha256"], digest):
                return Principal(entry["name"], Role(entry["role"]))
        return None

    def pseudonym_secret(self) -> bytes:
        """The secret pseudonyms are made with (created with the file, kept in it)."""
        secret = self._current().get("pseudonym_secret")
        if not secret:
            with self._locked() as data:
                secret = data.setdefault("pseudonym_secret", secrets.token_hex(32))
        return bytes.fromhex(str(secret))
