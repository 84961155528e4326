"""The installed distributions a set of requirements pulls in, transitively (for the tests that check an image or a
requirements file installs every package some code imports)."""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def closure(names: Iterable[str]) -> set[str]:
    """``names`` and, transitively, what they require (markers evaluated without extras), canonicalised."""
    covered: set[str] = set()
    todo = [canonicalize_name(n) for n in names]
    while todo:
        name = todo.pop()
        if name in covered:
            continue
        covered.add(name)
        for req in metadata.requires(name) or []:
            parsed = Requirement(req)
            if parsed.marker is None or parsed.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(parsed.name))
    return covered
