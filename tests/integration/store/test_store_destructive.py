"""Wildcard and _all deletes are refused by the store; drop_all still empties a namespace by explicit names."""

from __future__ import annotations

import json

import pytest

from flockwatch.config import Settings
from flockwatch.store import open_engine
from flockwatch.store.engines.rest import RestEngine

pytestmark = [pytest.mark.integration, pytest.mark.store]


def test_wildcard_deletes_refused_and_drop_all_works(settings: Settings) -> None:
    engine = open_engine(settings)
    assert isinstance(engine, RestEngine)

    def call(method: str, path: str, body: object = None) -> tuple[int, object]:
        text = json.dumps(body) if body is not None else None
        answer = engine.client.request(method, path, body=text, timeout_s=30)
        return answer.status, answer.body

    # The local node's settings set it; a node started before that change gets the same value here.
    assert call("PUT", "/_cluster/settings", {"persistent": {"action.destructive_requires_name": True}})[0] == 200
    status, found = call("GET", f"/{settings.index_prefix}-*")
    assert status == 200 and found  # the namespace has indices
    for pattern in ("*", "_all", f"{settings.index_prefix}-*"):
        status, error = call("DELETE", f"/{pattern}")
        assert status == 400 and "Wildcard expressions or all indices are not allowed" in json.dumps(error)
    engine.drop_all()
    assert call("GET", f"/{settings.index_prefix}-*") == (200, {})
