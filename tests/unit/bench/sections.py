"""Run a bench's ``main`` with arguments and catch the docs/benchmarks.md section it would write."""

from __future__ import annotations

from types import ModuleType

import pytest


def written_section(monkeypatch: pytest.MonkeyPatch, bench: ModuleType, *argv: str) -> tuple[str, str, str]:
    """(section name, command, body) of the one section ``bench.main()`` writes with ``argv``."""
    written: list[tuple[str, str, str]] = []
    monkeypatch.setattr(bench, "write_section", lambda *a: written.append(a))
    monkeypatch.setattr("sys.argv", [f"{bench.__name__.rsplit('.', 1)[-1]}.py", *argv])
    bench.main()
    [section] = written
    return section
