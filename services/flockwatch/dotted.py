"""Reading a nested document by a dotted path (pure): what the plots and the export tables both need."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def dotted_get(doc: Mapping[str, Any], path: str) -> Any:
    """``doc["a"]["b"]`` for ``"a.b"``, or None where a level is missing or not a mapping."""
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value
