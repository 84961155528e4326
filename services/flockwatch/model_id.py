"""Model ids that name what a model is (its settings and weights), never when it was trained.

Every learned signal puts its model id in its evidence, so an analyst can say which model scored a post, and
two retrains that give the same files give the same id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path


def files_model_id(name: str, folder: Path, files: Sequence[str]) -> str:
    """``name@<10 hex>``: a BLAKE2b of the files' names and bytes (the settings JSON and the weights).

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()); _ = (d / "model.json").write_text("{}"); _ = (d / "w.bin").write_bytes(b"1")
    >>> files_model_id("m", d, ["model.json", "w.bin"]) == files_model_id("m", d, ["model.json", "w.bin"])
    True
    """
    digest = hashlib.blake2b(digest_size=16)
    for file in files:
        digest.update(file.encode() + b"\0")
        digest.update((folder / file).read_bytes())
    return f"{name}@{digest.hexdigest()[:10]}"
