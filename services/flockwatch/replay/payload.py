"""Typed, fail-loud access to a raw record's JSON payload.

A payload arrives from Kafka as arbitrary JSON, so a field may be missing, ``null`` or of the
wrong type. Normalisers read it only through these helpers, which raise ``ValueError`` naming
the field, so a malformed record is dead-lettered with a reason an operator can act on instead
of surfacing as a ``KeyError``/``TypeError`` from deep inside a normaliser.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
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


def text_field(data: Mapping[str, Any], key: str) -> str:
    """Post text: absent or ``null`` is the empty string, anything else must be a string."""
    value = data.get(key)
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
# normaliser dead-letters it with the reason and the count of source records stays exact.
READER_ERROR = "_reader_error"


def unreadable(error: str, original: str) -> dict[str, Any]:
    """The payload a reader emits for a source record it could not parse."""
    return {READER_ERROR: error, "original": original[:10_000]}


def reject_unreadable(data: Mapping[str, Any]) -> None:
    """Raise the reader's parse error, if it recorded one, as this record's failure reason."""
    error = data.get(READER_ERROR)
    if error is not None:
        raise ValueError(f"unreadable source record: {error}")
