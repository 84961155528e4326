"""Wildcard and _all deletes are refused by the store; drop_all still empties a namespace by explicit names."""

from __future__ import annotations

import pytest
from opensearchpy.exceptions import RequestError

from flockwatch.config import Settings
from flockwatch.store.engines.opensearch import OpenSearchEngine


def test_wildcard_deletes_refused_and_drop_all_works(settings: Settings) -> None:
    engine = OpenSearchEngine(settings)
    # The local runner's opensearch.yml sets it; a node started before that change gets the same value here.
    engine.client.cluster.put_settings(body={"persistent": {"action.destructive_requires_name": True}})
    assert engine.client.indices.get(index=f"{settings.index_prefix}-*")  # the namespace has indices
    for pattern in ("*", "_all", f"{settings.index_prefix}-*"):
        with pytest.raises(RequestError, match="Wildcard expressions or all indices are not allowed"):
            engine.client.indices.delete(index=pattern)
    engine.drop_all()
    assert engine.client.indices.get(index=f"{settings.index_prefix}-*") == {}
