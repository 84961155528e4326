"""Index templates carry the shards and replicas of the settings, on whichever engine runs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flockwatch.adapters.scratch import scratch_namespace
from flockwatch.config import Settings
from flockwatch.store import open_engine
from flockwatch.store.documents import IndexKind, Upsert
from flockwatch.store.engines.rest import RestEngine

pytestmark = [pytest.mark.integration, pytest.mark.store]


def test_indices_get_the_configured_shards_and_replicas() -> None:
    with scratch_namespace("it", Settings(store_shards=2, store_replicas=1)) as settings:
        engine = open_engine(settings)
        assert isinstance(engine, RestEngine)
        when = datetime(2016, 10, 1, tzinfo=UTC)
        written = engine.bulk_upsert([Upsert(IndexKind.posts, "x:1", {"key": "x:1"}, time=when)])
        assert written.written == 1
        for index in (engine.index_for(IndexKind.alerts, None), engine.index_for(IndexKind.posts, when)):
            answer = engine.client.request("GET", f"/{index}/_settings", timeout_s=30)
            found = answer.body[index]["settings"]["index"]
            assert (found["number_of_shards"], found["number_of_replicas"]) == ("2", "1"), index
