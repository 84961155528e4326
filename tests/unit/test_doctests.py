"""The ``Examples`` sections of the documented modules run, and print what they say they print."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "flockwatch.graph.cascade_metrics",
    "flockwatch.graph.significance",
    "flockwatch.alerts.bursts",
    "flockwatch.messages",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, verbose=False, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0, result
