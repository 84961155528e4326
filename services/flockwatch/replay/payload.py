"""Typed, fail-loud access to a raw record's JSON payload.

A payload arrives from Kafka as arbitrary JSON, so a field may be missing, ``null`` or of the
wrong type. Normalisers read it only through these helpers, which raise ``ValueError`` naming
the field, so a malformed record is dead-lettered with a reason an operator can act on instead
of surfacing as a ``KeyError``/``TypeError`` from deep inside a normaliser.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def req_str(data: Mapping[str, Any], key: str, *, allow_empty: bool = False) -> str:
    """A string field that must be present (and non-empty unless ``allow_empty``)."""
    value = data.get(key)
    if value is None:
        raise ValueError(f"missing field {key!r}")
    if not isinstance(value, str):
        raise ValueError(f"field {key!r} must be a string, got {type(value).__name__} {_show(value)}")
    if not allow_empty and not value.strip():
        raise ValueError(f"field {key!r} is empty")
    return value


def opt_str(data: Mapping[str, Any], key: str) -> str | None:
    """A string field that may be absent; blank strings read as absent."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"field {key!r} must be a string, got {type(value).__name__} {_show(value)}")
    return value if value.strip() else None


def text_field(data: Mapping[str, Any], key: str, *, required: bool = True) -> str:
    """Post text: a payload without the field is missing it (dead-lettered, as every missing field), unless the
    format says text may be absent (``required=False``); ``null`` is the empty string (the record says "none")."""
    if key not in data:
        if required:
            raise ValueError(f"missing field {key!r}")
        return ""
    value = data[key]
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"field {key!r} must be a string, got {type(value).__name__} {_show(value)}")
    return value


def is_decimal(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts superscripts and other scripts' digits."""
    return text.isascii() and text.isdigit()


def as_id(value: object, key: str) -> str:
    """An identifier that some files store as a number (``7587032``, ``7587032.0``) and others as text."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"field {key!r} is not an id: {_show(value)}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value) or abs(value) >= 2**53:
            raise ValueError(f"field {key!r} is not an exact integer id: {_show(value)}")
        return str(int(value))
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(".0") and is_decimal(text[:-2]):
            text = text[:-2]
        if not text:
            raise ValueError(f"field {key!r} is empty")
        return text
    raise ValueError(f"field {key!r} must be an id, got {type(value).__name__} {_show(value)}")


def req_id(data: Mapping[str, Any], key: str) -> str:
    if data.get(key) is None:
        raise ValueError(f"missing field {key!r}")
    return as_id(data.get(key), key)


def opt_id(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return as_id(value, key)


def opt_count(data: Mapping[str, Any], key: str) -> int | None:
    """A non-negative count stored as an int, an integral float or a numeric string; blank is absent."""
    value = data.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"field {key!r} must be a count, got a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise ValueError(f"field {key!r} must be a whole number, got {_show(value)}")
        number = int(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = int(text)
        except ValueError:
            try:
                as_float = float(text)
            except ValueError:
                raise ValueError(f"field {key!r} must be a count, got {_show(value)}") from None
            if not math.isfinite(as_float) or as_float != int(as_float):
                raise ValueError(f"field {key!r} must be a whole number, got {_show(value)}") from None
            number = int(as_float)
    else:
        raise ValueError(f"field {key!r} must be a count, got {type(value).__name__} {_show(value)}")
    if number < 0:
        raise ValueError(f"field {key!r} must not be negative, got {number}")
    return number


def opt_dict(data: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError(f"field {key!r} must be an object, got {type(value).__name__} {_show(value)}")
    return value


def req_dict(data: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = opt_dict(data, key)
    if value is None:
        raise ValueError(f"missing field {key!r}")
    return value


def opt_list(data: Mapping[str, Any], key: str) -> list[Any]:
    """A list field; absent or ``null`` is the empty list."""
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"field {key!r} must be a list, got {type(value).__name__} {_show(value)}")
    return value


# Readers never stop on a record they cannot parse: they pass it on under this key, so the
# replayer dead-letters it with the reason and the original bytes (and a normaliser that still
# meets one, from a live connector, rejects it), and the count of source records stays exact.
READER_ERROR = "_reader_error"
ORIGINAL_B64 = "original_b64"
# What a reject keeps of its source record: enough to see what went wrong, bounded so the
# dead letter always fits in a message (the replayer's oversize dead letters keep as much).
KEEP_ORIGINAL_BYTES = 1024 * 1024
# Deepest JSON nesting a reader accepts. Real events nest under 10 levels; the broker's JSON
# parser (pydantic's) gives up near 200 and Python's json near 1,000 (RecursionError), so a
# deeper record could be read here and then fail every consumer.
MAX_JSON_DEPTH = 64


def unreadable(error: str, original: str | bytes) -> dict[str, Any]:
    """The payload a reader emits for a source record it could not parse.

    ``original`` is the record as read; bytes are kept exactly (they may not be UTF-8 at all).
    """
    raw = original if isinstance(original, bytes) else original.encode("utf-8", "surrogateescape")
    kept = raw[:KEEP_ORIGINAL_BYTES]
    if len(raw) > len(kept):
        error += f" (original of {len(raw)} bytes kept to its first {len(kept)})"
    return {
        READER_ERROR: error,
        "original": kept[:10_000].decode("utf-8", "replace"),
        ORIGINAL_B64: base64.b64encode(kept).decode("ascii"),
    }


def reader_reject(data: Mapping[str, Any]) -> tuple[str, bytes] | None:
    """``(reason, original bytes)`` when a reader marked this payload unreadable, else ``None``."""
    error = data.get(READER_ERROR)
    if error is None:
        return None
    encoded = data.get(ORIGINAL_B64)
    if isinstance(encoded, str):
        original = base64.b64decode(encoded)
    else:
        original = str(data.get("original", "")).encode("utf-8", "surrogateescape")
    return str(error), original


def reject_unreadable(data: Mapping[str, Any]) -> None:
    """Raise the reader's parse error, if it recorded one, as this record's failure reason."""
    error = data.get(READER_ERROR)
    if error is not None:
        raise ValueError(f"unreadable source record: {error}")


def json_depth(value: object) -> int:
    """How deeply ``value`` nests lists and objects (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[object] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def loads_bounded(text: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that raises ``ValueError`` (never ``RecursionError``) for input nested too deeply."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(f"JSON nested too deeply to parse (limit {max_depth} levels)") from None
    depth = json_depth(value)
    if depth > max_depth:
        raise ValueError(f"JSON nested {depth} levels deep (limit {max_depth})")
    return value
