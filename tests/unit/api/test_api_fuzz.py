"""A schema-driven fuzz run of the API (schemathesis over its OpenAPI document): with a valid admin token, no
generated request to any route is answered with a server error, on an in-memory store holding a few documents."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings

from flockwatch.api.access import Role
from flockwatch.api.app import api_paths, create_app
from flockwatch.config import Settings
from flockwatch.store.documents import IndexKind
from tests.fakes.api_store import PagingEngine, post
from tests.fakes.store import InMemoryStore


def _app() -> tuple[Any, str]:
    state = Path(tempfile.mkdtemp(prefix="fw-api-fuzz-"))
    config = Settings(state_dir=state)
    store = InMemoryStore(engine=PagingEngine())
    store.__post_init__()
    for n in range(3):
        store.engine.docs[IndexKind.posts][f"twitter:{n}"] = post(n)
    tokens, _ = api_paths(config)
    return create_app(config, store), tokens.create("fuzzer", Role.admin)  # type: ignore[arg-type]


APP, TOKEN = _app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_is_answered_with_a_server_error(case: Any) -> None:
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {TOKEN}"}
    response = case.call()
    assert response.status_code < 500, (case.method, case.formatted_path, case.query, case.body, response.text[:500])
