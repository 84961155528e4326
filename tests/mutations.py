"""Mutating real payloads for property tests: every place in a JSON value, edits at drawn places, and the
check every connector format passes: a post, a skip, or a refusal dead-lettered with its reason.

The connectors' parsers are fed their platforms' recorded payloads with a few fields deleted or replaced by
arbitrary JSON (plus values typical of the format, so edits often stay plausible)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from flockwatch.adapters.connectors.sink import FileSink
from flockwatch.messages import describe_error
from flockwatch.replay import normalize_record
from flockwatch.schema import Post, RawRecord


def json_paths(value: Any, prefix: tuple[Any, ...] = (), max_items: int | None = None) -> list[tuple[Any, ...]]:
    """Every location inside nested dicts and lists (the first ``max_items`` of each list)."""
    found: list[tuple[Any, ...]] = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += json_paths(child, (*prefix, key), max_items)
    elif isinstance(value, list):
        for index, child in enumerate(value[:max_items]):
            found += json_paths(child, (*prefix, index), max_items)
    return found


def json_values(typical: list[str], *, nan: bool = True, key_size: int = 8, leaves: int = 6) -> st.SearchStrategy[Any]:
    """Arbitrary JSON-like values, with ``typical`` strings of the format among the leaves."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=nan),
        st.text(max_size=12),
        st.sampled_from(typical),
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=key_size), inner, max_size=3),
        max_leaves=leaves,
    )


def mutate(
    draw: Callable[[st.SearchStrategy[Any]], Any],
    payload: dict[str, Any],
    values: st.SearchStrategy[Any],
    edits: int = 3,
) -> None:
    """Delete or replace (with a drawn value) up to ``edits`` drawn places of ``payload``, in place."""
    for _ in range(draw(st.integers(1, edits))):
        paths = json_paths(payload)
        if not paths:
            return
        path = draw(st.sampled_from(paths))
        parent: Any = payload
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(values)


def post_or_dead_lettered(record: RawRecord, sink: FileSink) -> Post | None:
    """The record's post (or ``None``, not a post); when its normaliser refuses it (``ValueError``, the only
    refusal allowed), check the file sink dead-letters it, once, with the reason."""
    try:
        outcome = normalize_record(record)
    except ValueError as exc:
        before = sink.dead_letters
        start = sink.dead_path.stat().st_size if sink.dead_path.exists() else 0
        written, reasons = sink.write([record])
        assert written == 0 and sum(reasons.values()) == 1 and sink.dead_letters == before + 1
        with sink.dead_path.open("rb") as letters:
            letters.seek(start)
            (line,) = letters.read().splitlines()
        letter = json.loads(line)
        assert letter["stage"] == "collect" and describe_error(exc)[:30] in letter["reason"]
        return None
    assert outcome is None or isinstance(outcome, Post)
    return outcome
