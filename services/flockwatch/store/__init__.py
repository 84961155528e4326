"""The search store: one engine, and one repository per domain over it.

- :mod:`~flockwatch.store.documents`: the plain types everything exchanges (``IndexKind``, ``Upsert``,
  ``BulkResult``, ``StoreUnavailable``...); stages import store types from there only.
- :mod:`~flockwatch.store.mappings`: the index mappings, as data.
- :mod:`~flockwatch.store.engine`: ``Engine``, the generic operations (bulk upsert, get, search, scan, count...).
- :mod:`~flockwatch.store.engines.rest`: ``RestEngine``, the one implementation, as REST requests both engines
  answer; it sends them through a small ``RestClient`` over the configured engine's official client:
  :mod:`~flockwatch.store.engines.opensearch` (opensearch-py) or :mod:`~flockwatch.store.engines.elasticsearch`
  (elasticsearch), the only modules that import a client library. ``FLOCKWATCH_STORE_ENGINE`` picks one.
- The repositories, each over an ``Engine``: :mod:`~flockwatch.store.posts`, :mod:`~flockwatch.store.alerts`,
  :mod:`~flockwatch.store.watchlists`, :mod:`~flockwatch.store.banks`, :mod:`~flockwatch.store.graph`,
  :mod:`~flockwatch.store.rollups`, :mod:`~flockwatch.store.cases`, :mod:`~flockwatch.store.verdicts`.

``open_store(settings)`` gives a :class:`Store`; ``prepare_store`` also waits for the store and applies the
schema. ``tests.fakes.store.InMemoryStore`` has the same attributes, over dicts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from flockwatch.config import Settings
from flockwatch.readiness import SETTINGS_BOUND, resolve_wait, retry_until_ready
from flockwatch.store.alerts import AlertsRepository
from flockwatch.store.banks import BanksRepository
from flockwatch.store.cases import CasesRepository
from flockwatch.store.engine import Engine
from flockwatch.store.graph import GraphRepository
from flockwatch.store.mappings import GRAPH_FIELDS, TEXT_FIELDS
from flockwatch.store.posts import PostsRepository
from flockwatch.store.rollups import RollupsRepository
from flockwatch.store.verdicts import VerdictsRepository
from flockwatch.store.watchlists import WatchlistsRepository

T = TypeVar("T")


@dataclass(frozen=True)
class Store:
    """The engine (generic operations: ``store.engine.bulk_upsert``, ``count``, ``refresh``...) and the
    repositories over it."""

    engine: Engine
    posts: PostsRepository
    alerts: AlertsRepository
    watchlists: WatchlistsRepository
    banks: BanksRepository
    graph: GraphRepository
    rollups: RollupsRepository
    cases: CasesRepository
    verdicts: VerdictsRepository

    @classmethod
    def over(cls, engine: Engine) -> Store:
        return cls(
            engine=engine,
            posts=PostsRepository(engine),
            alerts=AlertsRepository(engine),
            watchlists=WatchlistsRepository(engine),
            banks=BanksRepository(engine),
            graph=GraphRepository(engine),
            rollups=RollupsRepository(engine),
            cases=CasesRepository(engine),
            verdicts=VerdictsRepository(engine),
        )


def open_engine(settings: Settings, timeout_s: float | None = None) -> Engine:
    """The engine ``settings.store_engine`` names (no request made yet). ``timeout_s`` fixes the first request
    timeout (tests)."""
    if settings.store_engine == "elasticsearch":
        from flockwatch.store.engines.elasticsearch import elasticsearch_engine

        return elasticsearch_engine(settings, timeout_s)
    from flockwatch.store.engines.opensearch import opensearch_engine

    return opensearch_engine(settings, timeout_s)


def open_store(settings: Settings, timeout_s: float | None = None) -> Store:
    """The store of ``settings`` (no request made yet). ``timeout_s`` fixes the first request timeout (tests)."""
    return Store.over(open_engine(settings, timeout_s))


def when_store_ready(settings: Settings, call: Callable[[], T], wait_s: float | None = SETTINGS_BOUND) -> T:
    """``call()``, retried with backoff while the store is starting; then ServiceNotReady, one line."""
    from flockwatch.adapters import local_services
    from flockwatch.store.engines.rest import store_transient

    return retry_until_ready(
        settings.store_name,
        call,
        is_transient=store_transient,
        wait_s=resolve_wait(wait_s, settings.service_wait_s),
        hint=local_services.hint(settings, settings.store_engine),
    )


def prepare_store(
    settings: Settings, *, text: bool = False, graph: bool = False, wait_s: float | None = SETTINGS_BOUND
) -> Store:
    """A store whose templates and fixed indices exist (plus the text or graph fields), once it answers."""
    store = open_store(settings)

    def prepare() -> None:
        store.engine.ensure_schema()
        if text:
            store.engine.ensure_fields(TEXT_FIELDS)
        if graph:
            store.engine.ensure_fields(GRAPH_FIELDS)

    when_store_ready(settings, prepare, wait_s)
    return store
