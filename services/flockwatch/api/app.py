"""The query API (FastAPI): ``/api/v1/...`` behind bearer tokens, every answer bounded, every action audited.

A thin adapter: routes check the token (:mod:`flockwatch.api.token_file`) and the role's right
(:mod:`flockwatch.api.access`), call the store's repositories and the pure builders (:mod:`flockwatch.api.
post_query`, :mod:`flockwatch.api.spread`), pseudonymise authors for researchers, and append to the audit log
(:mod:`flockwatch.api.audit_log`). Without a valid token any ``/api/v1/`` route answers 401; with a token whose
role lacks the right, 403. The store unreachable (or refusing our credentials) is a 503 with the reason, a query
the store refuses a 400 with its reason (a 502 if it failed on it); never a 500.

The web dashboard (:mod:`flockwatch.api.dashboard`) is a static page at ``/`` reading these routes.

This module only assembles the app; the routes are in ``routes_<area>.py`` (one ``APIRouter`` each) and what they
share (context, token and role checks, search parameters) in :mod:`flockwatch.api.deps`.
"""

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from flockwatch.api import routes_admin, routes_alerts, routes_cases, routes_files, routes_graph, routes_posts
from flockwatch.api.audit_log import AuditLog
from flockwatch.api.dashboard import install_dashboard
from flockwatch.api.deps import API, ApiContext
from flockwatch.api.post_query import BadQuery
from flockwatch.api.token_file import TokenFile
from flockwatch.config import Settings
from flockwatch.store import Store
from flockwatch.store.documents import StoreAccessDenied, StoreRequestError, StoreUnavailable

__all__ = ["API", "ApiContext", "api_paths", "create_app"]

ROUTERS = (
    routes_posts.router,
    routes_graph.router,
    routes_files.router,
    routes_cases.router,
    routes_alerts.router,
    routes_admin.router,
)


def api_paths(settings: Settings) -> tuple[TokenFile, AuditLog]:
    base = settings.state_dir / "api"
    return TokenFile(base / "tokens.json"), AuditLog(base / "audit.jsonl")


def create_app(settings: Settings, store: Store | None = None) -> FastAPI:
    """The API over ``store`` (else the store of ``settings``, opened on first use)."""
    tokens, audit = api_paths(settings)
    app = FastAPI(
        title="Flockwatch API",
        version="1",
        description="Query what Flockwatch found: posts, spread, alerts. Every route needs a bearer token.",
        # The schema and its page describe routes, not data: public, outside /api/v1/ (where every route needs a token).
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.context = ApiContext(settings, store, tokens, audit)
    app.add_exception_handler(StoreUnavailable, _store_down)
    app.add_exception_handler(BadQuery, _bad_query)
    app.add_exception_handler(StoreRequestError, _store_refused)
    for router in ROUTERS:
        app.include_router(router)
    install_dashboard(app)
    return app


async def _store_down(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": f"the store is unavailable: {exc}"}, status_code=503)


async def _bad_query(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=400)


async def _store_refused(request: Request, exc: Exception) -> JSONResponse:
    """What the engine refused for good: our credentials (the server's setup: the store is unavailable to us), a
    query (4xx: built from what the client sent, e.g. a date out of the engine's range), or it failed on it (5xx)."""
    if isinstance(exc, StoreAccessDenied):
        return JSONResponse({"detail": f"the store is unavailable: {exc}"}, status_code=503)
    status = exc.status if isinstance(exc, StoreRequestError) else 500
    return JSONResponse({"detail": str(exc)}, status_code=400 if status < 500 else 502)
