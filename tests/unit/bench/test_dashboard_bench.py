"""bench/dashboard.py's timing loop on the in-memory API (the bench itself runs over the demo's data)."""

from __future__ import annotations

from pathlib import Path

from bench.dashboard import measure
from flockwatch.api.access import Role
from flockwatch.api.app import api_paths, create_app
from flockwatch.config import Settings
from tests.browser import served
from tests.fakes.api_store import analyst_store


def test_each_run_loads_the_feed_signed_in_from_a_cold_context(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state")
    tokens, audit = api_paths(settings)
    token = tokens.create("bench", Role.analyst)
    with served(create_app(settings, analyst_store())) as base:  # type: ignore[arg-type]  # the in-memory store
        walls, clock, shown = measure(base, token, runs=2)
    assert len(walls) == len(clock) == 2 and all(0 < w < 30 for w in walls)
    assert shown == 1  # the store's one alert, drawn
    assert [e["action"] for e in audit.tail(10)].count("list_alerts") == 2  # signed in: the API was asked twice
