"""The query API (FastAPI): ``/api/v1/...`` behind bearer tokens, every answer bounded, every action audited.

A thin adapter: routes check the token (:mod:`flockwatch.api.token_file`) and the role's right
(:mod:`flockwatch.api.access`), call the store's repositories and the pure builders (:mod:`flockwatch.api.
post_query`, :mod:`flockwatch.api.spread`), pseudonymise authors for researchers, and append to the audit log
(:mod:`flockwatch.api.audit_log`). Without a valid token any ``/api/v1/`` route answers 401; with a token whose
role lacks the right, 403. The store unreachable is a 503 with the reason, never a 500.
"""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at definition time, and the
# dependency aliases (Reader, Actor...) are local to create_app.
import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from flockwatch.alerts.watchlist import WatchEntity
from flockwatch.api.access import Right, Role, allowed, pseudonym, pseudonymised
from flockwatch.api.audit_log import AuditLog
from flockwatch.api.case_views import case_bundle, case_stix, case_view
from flockwatch.api.export_views import MAX_ROWS, cascade_export, cluster_export, posts_export
from flockwatch.api.export_views import MEDIA_TYPES as EXPORT_TYPES
from flockwatch.api.figures import SpreadKind, cluster_figure, narrative_figure, spread_figure
from flockwatch.api.lookups import (
    cascade_of,
    cluster_members,
    cluster_windows,
    earliest_posts,
    edges_between,
    narrative_volume,
)
from flockwatch.api.post_query import (
    MAX_LIMIT,
    SORT,
    BadQuery,
    PostSearch,
    decode_cursor,
    encode_cursor,
    post_query,
)
from flockwatch.api.spread import spread_history
from flockwatch.api.token_file import Principal, TokenFile
from flockwatch.cases import ITEM_KINDS, CaseError, new_case, with_item, with_note
from flockwatch.config import Settings
from flockwatch.messages import describe_error
from flockwatch.plots import MEDIA_TYPES
from flockwatch.store import Store, open_store
from flockwatch.store.documents import IndexKind, StoreUnavailable

API = "/api/v1"
MAX_KEY_CHARS = 1000


class NewCase(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)


class NewItem(BaseModel):
    kind: str = Field(description=f"One of {', '.join(ITEM_KINDS)}.")
    ref: str = Field(min_length=1, max_length=1000, description="Its key: platform:id, a cluster/narrative/alert id.")
    note: str | None = Field(default=None, max_length=10_000)


class WatchBody(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(default="entity", min_length=1, max_length=64)
    aliases: list[str] = Field(default_factory=list, max_length=50)
    handles: list[str] = Field(default_factory=list, max_length=50)
    languages: list[str] = Field(default_factory=list, max_length=20)


class NewNote(BaseModel):
    text: str = Field(min_length=1, max_length=10_000)
    refs: list[str] = Field(default_factory=list, max_length=100)


_bearer = HTTPBearer(auto_error=False, description="A token from `flockwatch token create`.")


class ApiContext:
    """What the routes share: the store (opened on first use), tokens and the audit log."""

    def __init__(self, settings: Settings, store: Store | None, tokens: TokenFile, audit: AuditLog) -> None:
        self.settings = settings
        self._store = store
        self.tokens = tokens
        self.audit = audit

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.settings)
        return self._store

    def names(self, who: Principal) -> Callable[[str], str]:
        """How ``who`` may see an account key: as it is, or as its pseudonym."""
        if not pseudonymised(who.role):
            return lambda key: key
        secret = self.tokens.pseudonym_secret()
        return lambda key: pseudonym(secret, key)


def api_paths(settings: Settings) -> tuple[TokenFile, AuditLog]:
    base = settings.state_dir / "api"
    return TokenFile(base / "tokens.json"), AuditLog(base / "audit.jsonl")


def create_app(settings: Settings, store: Store | None = None) -> FastAPI:
    tokens, audit = api_paths(settings)
    ctx = ApiContext(settings, store, tokens, audit)
    app = FastAPI(
        title="Flockwatch API",
        version="1",
        description="Query what Flockwatch found: posts, spread, alerts. Every route needs a bearer token.",
        # The schema and its page describe routes, not data: public, outside /api/v1/ (where every route needs a token).
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )

    @app.exception_handler(StoreUnavailable)
    async def _store_down(request: Request, exc: StoreUnavailable) -> JSONResponse:
        return JSONResponse({"detail": f"the store is unavailable: {exc}"}, status_code=503)

    @app.exception_handler(BadQuery)
    async def _bad_query(request: Request, exc: BadQuery) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    def principal(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
        who = ctx.tokens.principal(credentials.credentials) if credentials is not None else None
        if who is None:
            raise HTTPException(
                401, "a valid token is needed: Authorization: Bearer TOKEN", {"WWW-Authenticate": "Bearer"}
            )
        return who

    def needs(right: Right) -> Callable[[Principal], Principal]:
        def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
            if not allowed(who.role, right):
                raise HTTPException(403, f"the {who.role.value} role may not {right.value}")
            return who

        return check

    Reader = Annotated[Principal, Depends(needs(Right.read))]
    Actor = Annotated[Principal, Depends(needs(Right.act))]
    Admin = Annotated[Principal, Depends(needs(Right.administer))]
    Exporter = Annotated[Principal, Depends(needs(Right.export))]
    Key = Annotated[str, Path(min_length=3, max_length=MAX_KEY_CHARS, pattern=r"^[a-z0-9_.-]+:.+$")]

    def searched(
        q: Annotated[str, Query(max_length=500, description='Words (simple query syntax: "phrase", -not, a|b).')] = "",
        platform: Annotated[list[str], Query()] = [],  # noqa: B006 (FastAPI copies defaults per request)
        language: Annotated[list[str], Query()] = [],  # noqa: B006
        author: Annotated[list[str], Query(description="Account keys, platform:author_id.")] = [],  # noqa: B006
        hashtag: Annotated[list[str], Query()] = [],  # noqa: B006
        narrative: Annotated[list[str], Query()] = [],  # noqa: B006
        cluster: Annotated[list[str], Query(description="Coordination cluster ids.")] = [],  # noqa: B006
        since: datetime | None = None,
        until: datetime | None = None,
        min_machine_score: Annotated[float | None, Query(ge=0, le=1)] = None,
        min_media_risk: Annotated[float | None, Query(ge=0, le=1)] = None,
    ) -> PostSearch:
        return PostSearch(
            q, platform, language, author, hashtag, narrative, cluster, since, until, min_machine_score, min_media_risk
        ).check()

    Searched = Annotated[PostSearch, Depends(searched)]

    def no_raw_accounts(who: Principal, search: PostSearch) -> None:
        if pseudonymised(who.role) and search.authors:
            raise HTTPException(403, "the researcher role sees pseudonyms and cannot filter by a raw account")

    @app.get(f"{API}/posts", tags=["posts"])
    def search_posts(
        who: Reader,
        search: Searched,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
        next: Annotated[str | None, Query(max_length=1000, description="The cursor of the page before.")] = None,
    ) -> dict[str, Any]:
        """Posts matching words and filters, newest first, a page at a time (``next`` continues)."""
        no_raw_accounts(who, search)
        members = cluster_members(ctx.store, search.clusters) if search.clusters else None
        query = post_query(search, members)
        after = decode_cursor(next) if next else None
        hits = ctx.store.engine.hits(IndexKind.posts, query, size=limit, sort=SORT, after=after)
        detail = {"filters": _filters(search), "hits": len(hits)}
        ctx.audit.append(who.name, who.role.value, "search_posts", search.q, detail)
        names = ctx.names(who)
        items = [_post_view(h.source, names, who.role) for h in hits]
        more = len(hits) == limit and hits[-1].sort
        return {"items": items, "next": encode_cursor(hits[-1].sort) if more else None}

    TableFmt = Annotated[str, Query(alias="format", pattern="^(csv|jsonl|parquet)$")]

    def _file(who: Principal, action: str, target: str, write: Callable[[], bytes], fmt: str, name: str) -> Response:
        try:
            body = write()
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None
        ctx.audit.append(who.name, who.role.value, action, target, {"format": fmt, "bytes": len(body)})
        suffix = {"stix": "json", "bundle": "zip"}.get(fmt, fmt)
        headers = {"Content-Disposition": f'attachment; filename="{name}.{suffix}"'}
        return Response(body, media_type=EXPORT_TYPES[fmt], headers=headers)

    @app.get(f"{API}/exports/posts", tags=["exports"], response_class=Response)
    def export_posts(
        who: Exporter, search: Searched, fmt: TableFmt = "csv", limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = 10_000
    ) -> Response:
        """The posts of a search (newest first, at most ``limit``) as CSV, JSON lines or Parquet."""
        no_raw_accounts(who, search)
        names = ctx.names(who) if pseudonymised(who.role) else None
        write = lambda: posts_export(ctx.store, search, fmt, limit, names)  # noqa: E731
        return _file(who, "export_posts", search.q, write, fmt, "posts")

    @app.get(f"{API}/posts/{{post_key}}/spread/export", tags=["exports"], response_class=Response)
    def export_spread(
        who: Exporter,
        post_key: Key,
        fmt: Annotated[str, Query(alias="format", pattern="^(gexf|graphml|csv|jsonl|parquet)$")] = "gexf",
    ) -> Response:
        """The post's cascade for Gephi (GEXF, GraphML) or its events as a table."""
        names = ctx.names(who) if pseudonymised(who.role) else None
        write = lambda: cascade_export(ctx.store, post_key, fmt, names)  # noqa: E731
        return _file(who, "export_spread", post_key, write, fmt, "cascade")

    @app.get(f"{API}/clusters/{{cluster_id}}/export", tags=["exports"], response_class=Response)
    def export_cluster(
        who: Exporter,
        cluster_id: Annotated[str, Path(min_length=1, max_length=300)],
        fmt: Annotated[str, Query(alias="format", pattern="^(gexf|graphml|stix|csv|jsonl|parquet)$")] = "gexf",
    ) -> Response:
        """A coordination cluster for Gephi (GEXF, GraphML), as a STIX 2.1 bundle with DISARM techniques, or its
        edges as a table."""
        names = ctx.names(who) if pseudonymised(who.role) else None
        write = lambda: cluster_export(ctx.store, cluster_id, fmt, names)  # noqa: E731
        return _file(who, "export_cluster", cluster_id, write, fmt, "cluster")

    @app.get(f"{API}/posts/{{post_key}}", tags=["posts"])
    def get_post(who: Reader, post_key: Key) -> dict[str, Any]:
        """One post with its scores and their evidence."""
        doc = ctx.store.posts.get(post_key)
        if doc is None:
            raise HTTPException(404, f"no post {post_key}")
        ctx.audit.append(who.name, who.role.value, "get_post", post_key)
        return _post_view(doc, ctx.names(who), who.role)

    @app.get(f"{API}/posts/{{post_key}}/spread", tags=["posts"])
    def post_spread(
        who: Reader, post_key: Key, max_nodes: Annotated[int, Query(ge=1, le=20_000)] = 5000
    ) -> dict[str, Any]:
        """The post's cascade: the reshare tree, its metrics and the timeline of reshares."""
        cascade = cascade_of(ctx.store, post_key)
        if cascade is None:
            if ctx.store.posts.get(post_key) is None:
                raise HTTPException(404, f"no post {post_key}")
            raise HTTPException(404, f"post {post_key} is in no cascade yet (the graph stage has not seen it)")
        ctx.audit.append(who.name, who.role.value, "post_spread", post_key)
        return {"post_key": post_key, **spread_history(cascade, max_nodes, ctx.names(who))}

    @app.get(f"{API}/narratives/{{narrative_id}}", tags=["narratives"])
    def get_narrative(
        who: Reader,
        narrative_id: Annotated[str, Path(min_length=1, max_length=200)],
        interval: Annotated[str, Query(pattern="^(hour|day|week)$")] = "day",
    ) -> dict[str, Any]:
        """A narrative: what it says, its counts, accounts and platforms, its posts per interval and its earliest
        posts."""
        doc = ctx.store.engine.get(IndexKind.narratives, narrative_id)
        if doc is None:
            raise HTTPException(404, f"no narrative {narrative_id}")
        names = ctx.names(who)
        view = {k: v for k, v in doc.items() if not k.startswith("_")}
        view["accounts"] = [names(str(a)) for a in view.get("accounts") or []][:MAX_LIMIT]
        view["timeline"] = narrative_volume(ctx.store, narrative_id, interval)
        view["earliest_posts"] = [_post_view(p, names, who.role) for p in earliest_posts(ctx.store, narrative_id)]
        ctx.audit.append(who.name, who.role.value, "get_narrative", narrative_id)
        return view

    @app.get(f"{API}/accounts/{{account_key}}", tags=["accounts"])
    def get_account(
        who: Reader, account_key: Key, limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20
    ) -> dict[str, Any]:
        """An account: what the graph stage knows of it (clusters, partners, machine-like share) and its newest
        posts."""
        if pseudonymised(who.role):
            raise HTTPException(403, "the researcher role sees accounts only as pseudonyms, in posts and spread")
        doc = ctx.store.engine.get(IndexKind.accounts, account_key)
        platform, _, author_id = account_key.partition(":")
        author = {"bool": {"filter": [{"term": {"platform": platform}}, {"term": {"author.id": author_id}}]}}
        hits = ctx.store.engine.hits(IndexKind.posts, author, size=limit, sort=SORT)
        if doc is None and not hits:
            raise HTTPException(404, f"no account {account_key}")
        ctx.audit.append(who.name, who.role.value, "get_account", account_key)
        view = {k: v for k, v in (doc or {"key": account_key}).items() if not k.startswith("_")}
        return {**view, "posts": [_post_view(h.source, ctx.names(who), who.role) for h in hits]}

    @app.get(f"{API}/clusters/{{cluster_id}}", tags=["clusters"])
    def get_cluster(
        who: Reader,
        cluster_id: Annotated[str, Path(min_length=1, max_length=300)],
        edges: Annotated[int, Query(ge=0, le=2000)] = 500,
    ) -> dict[str, Any]:
        """A coordination cluster over time: each window's snapshot, the accounts, and the coordination edges
        between them with their evidence."""
        windows = cluster_windows(ctx.store, cluster_id)
        if not windows:
            raise HTTPException(404, f"no cluster {cluster_id}")
        names = ctx.names(who)
        members = sorted({str(a) for w in windows for a in w.get("accounts") or []})
        between = edges_between(ctx.store, members, edges)
        ctx.audit.append(who.name, who.role.value, "get_cluster", cluster_id)
        return {
            "cluster_id": cluster_id,
            "accounts": [names(a) for a in members],
            "windows": [_named_accounts(w, names) for w in windows],
            "edges": [_named_edge(e, names) for e in between],
        }

    Fmt = Annotated[str, Query(alias="format", pattern="^(png|svg)$")]

    def _image(who: Principal, action: str, target: str, draw: Callable[[], bytes], fmt: str) -> Response:
        try:
            body = draw()
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None
        except ValueError as exc:  # nothing to draw
            raise HTTPException(404, str(exc)) from None
        ctx.audit.append(who.name, who.role.value, action, target, {"format": fmt})
        return Response(body, media_type=MEDIA_TYPES[fmt])

    @app.get(f"{API}/posts/{{post_key}}/spread/plot", tags=["plots"], response_class=Response)
    def spread_plot(
        who: Reader, post_key: Key, kind: Annotated[str, Query(pattern="^(tree|timeline)$")] = "tree", fmt: Fmt = "png"
    ) -> Response:
        """The post's reshare tree, or its reshares over time (``kind=timeline``), as PNG or SVG."""
        names = ctx.names(who) if pseudonymised(who.role) else None
        shape: SpreadKind = "timeline" if kind == "timeline" else "tree"
        return _image(who, "plot_spread", post_key, lambda: spread_figure(ctx.store, post_key, shape, fmt, names), fmt)

    @app.get(f"{API}/narratives/{{narrative_id}}/plot", tags=["plots"], response_class=Response)
    def narrative_plot(
        who: Reader,
        narrative_id: Annotated[str, Path(min_length=1, max_length=200)],
        interval: Annotated[str, Query(pattern="^(hour|day|week)$")] = "day",
        fmt: Fmt = "png",
    ) -> Response:
        """The narrative's posts per interval, as PNG or SVG."""
        draw = lambda: narrative_figure(ctx.store, [narrative_id], fmt, interval)  # noqa: E731
        return _image(who, "plot_narrative", narrative_id, draw, fmt)

    @app.get(f"{API}/clusters/{{cluster_id}}/plot", tags=["plots"], response_class=Response)
    def cluster_plot(
        who: Reader, cluster_id: Annotated[str, Path(min_length=1, max_length=300)], fmt: Fmt = "png"
    ) -> Response:
        """The cluster's accounts and coordination edges, coloured by kind, as PNG or SVG."""
        names = ctx.names(who) if pseudonymised(who.role) else None
        return _image(who, "plot_cluster", cluster_id, lambda: cluster_figure(ctx.store, cluster_id, fmt, names), fmt)

    CaseId = Annotated[str, Path(min_length=6, max_length=64, pattern=r"^case-[a-z0-9]+$")]

    def _case(case_id: str) -> dict[str, Any]:
        case = ctx.store.cases.get(case_id)
        if case is None:
            raise HTTPException(404, f"no case {case_id}")
        return case

    def _change_case(
        who: Principal,
        case_id: str,
        action: str,
        change: Callable[[dict[str, Any]], dict[str, Any]],
        detail: dict[str, Any],
    ) -> dict[str, Any]:
        try:
            case = ctx.store.cases.update(case_id, change)
        except KeyError:
            raise HTTPException(404, f"no case {case_id}") from None
        except CaseError as exc:
            raise HTTPException(409, str(exc)) from None
        ctx.audit.append(who.name, who.role.value, action, case_id, detail)
        return case

    @app.post(f"{API}/cases", tags=["cases"], status_code=201)
    def create_case(who: Actor, body: NewCase) -> dict[str, Any]:
        """Open a case (the token's holder is its creator)."""
        try:
            case = new_case(body.name, body.description, who.name, datetime.now(UTC))
        except CaseError as exc:
            raise HTTPException(422, str(exc)) from None
        ctx.store.cases.create(case)
        ctx.audit.append(who.name, who.role.value, "case_create", case["case_id"], {"name": body.name})
        return case

    @app.get(f"{API}/cases", tags=["cases"])
    def list_cases(who: Reader, limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50) -> dict[str, Any]:
        """Cases, most recently changed first."""
        return {"items": ctx.store.cases.recent(limit), "next": None}

    @app.get(f"{API}/cases/{{case_id}}", tags=["cases"])
    def get_case(who: Reader, case_id: CaseId) -> dict[str, Any]:
        """A case with its items and notes."""
        ctx.audit.append(who.name, who.role.value, "case_read", case_id)
        return case_view(_case(case_id), ctx.names(who) if pseudonymised(who.role) else None)

    @app.post(f"{API}/cases/{{case_id}}/items", tags=["cases"])
    def add_case_item(who: Actor, case_id: CaseId, body: NewItem) -> dict[str, Any]:
        """Attach a post, account, cluster, narrative, alert or cascade (by its key) to the case."""
        now = datetime.now(UTC)
        change = lambda c: with_item(c, body.kind, body.ref, who.name, now, body.note)  # noqa: E731
        return _change_case(who, case_id, "case_add", change, {"kind": body.kind, "ref": body.ref})

    @app.post(f"{API}/cases/{{case_id}}/notes", tags=["cases"])
    def add_case_note(who: Actor, case_id: CaseId, body: NewNote) -> dict[str, Any]:
        """Add a note (``refs``: the items it is about, as ``kind:ref``)."""
        now = datetime.now(UTC)
        change = lambda c: with_note(c, body.text, who.name, now, body.refs)  # noqa: E731
        return _change_case(who, case_id, "case_note", change, {})

    @app.get(f"{API}/cases/{{case_id}}/export", tags=["cases", "exports"], response_class=Response)
    def export_case(
        who: Exporter, case_id: CaseId, fmt: Annotated[str, Query(alias="format", pattern="^(bundle|stix)$")] = "bundle"
    ) -> Response:
        """The case's evidence bundle (a zip: items with their evidence, media hashes, plots, STIX report, sha256
        manifest) or its STIX 2.1 bundle."""
        case = _case(case_id)
        names = ctx.names(who) if pseudonymised(who.role) else None
        make = case_bundle if fmt == "bundle" else case_stix
        return _file(who, f"case_export_{fmt}", case_id, lambda: make(ctx.store, case, names), fmt, case_id)

    @app.get(f"{API}/posts/{{post_key}}/media", tags=["posts"])
    def post_media(who: Reader, post_key: Key) -> dict[str, Any]:
        """The media evidence of a post: per media item its verdict, the signals that fired (with what they
        measured), provenance (C2PA) and matches against banked fakes."""
        doc = ctx.store.posts.get(post_key)
        if doc is None:
            raise HTTPException(404, f"no post {post_key}")
        ctx.audit.append(who.name, who.role.value, "post_media", post_key)
        scored = doc.get("media_by_url") or {}
        return {
            "post_key": post_key,
            "media": doc.get("media") or [],
            "media_risk": doc.get("media_risk"),
            "scores": list(scored.values()) if isinstance(scored, dict) else [],
        }

    @app.get(f"{API}/watchlists", tags=["watchlists"])
    def list_watchlists(who: Reader) -> dict[str, Any]:
        """Every watched entity (names, aliases, handles, languages)."""
        return {"items": ctx.store.watchlists.entities(), "next": None}

    @app.put(f"{API}/watchlists/{{entity_id}}", tags=["watchlists"])
    def put_watchlist(who: Actor, entity_id: Annotated[str, Path(max_length=64)], body: WatchBody) -> dict[str, Any]:
        """Watch an entity (or replace how it is watched): posts naming it raise watched-entity alerts."""
        try:
            entity = WatchEntity(id=entity_id, **body.model_dump())
        except ValueError as exc:  # pydantic's ValidationError is one
            raise HTTPException(422, describe_error(exc)) from None
        ctx.store.watchlists.put([entity.model_dump()])
        ctx.audit.append(who.name, who.role.value, "watchlist_put", entity_id, {"name": entity.name})
        return entity.model_dump()

    @app.delete(f"{API}/watchlists/{{entity_id}}", tags=["watchlists"])
    def delete_watchlist(who: Actor, entity_id: Annotated[str, Path(max_length=64)]) -> dict[str, Any]:
        """Stop watching an entity."""
        if not ctx.store.watchlists.delete(entity_id):
            raise HTTPException(404, f"no watched entity {entity_id}")
        ctx.audit.append(who.name, who.role.value, "watchlist_delete", entity_id)
        return {"removed": entity_id}

    @app.get(f"{API}/alerts", tags=["alerts"])
    def list_alerts(
        who: Reader,
        status: Annotated[str | None, Query(pattern="^(new|acknowledged|resolved)$")] = None,
        severity: Annotated[str | None, Query(pattern="^(low|medium|high|critical)$")] = None,
        rule: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    ) -> dict[str, Any]:
        """Alerts, newest first, with their evidence."""
        docs = ctx.store.alerts.find(status=status, severity=severity, rule=rule, size=limit)
        ctx.audit.append(who.name, who.role.value, "list_alerts", status or "", {"hits": len(docs)})
        return {"items": docs, "next": None}

    def _lifecycle(who: Principal, alert_id: str, target: str, note: str | None) -> dict[str, Any]:
        from flockwatch.alerts.lifecycle import TransitionError, parse_status, transition

        goal = parse_status(target)
        now = datetime.now(UTC)
        try:
            doc = ctx.store.alerts.update(alert_id, lambda d: transition(d, goal, now, who.name, note))
        except KeyError:
            raise HTTPException(404, f"no alert {alert_id}") from None
        except TransitionError as exc:
            raise HTTPException(409, f"alert {alert_id}: {exc}") from None
        ctx.audit.append(who.name, who.role.value, f"alert_{target}", alert_id, {"note": note})
        return {"alert_id": alert_id, "status": doc["status"], "history": doc.get("history", [])}

    AlertId = Annotated[str, Path(min_length=1, max_length=300)]
    Note = Annotated[str | None, Query(max_length=2000)]

    @app.post(f"{API}/alerts/{{alert_id}}/acknowledge", tags=["alerts"])
    def acknowledge_alert(who: Actor, alert_id: AlertId, note: Note = None) -> dict[str, Any]:
        """new → acknowledged."""
        return _lifecycle(who, alert_id, "acknowledged", note)

    @app.post(f"{API}/alerts/{{alert_id}}/resolve", tags=["alerts"])
    def resolve_alert(who: Actor, alert_id: AlertId, note: Note = None) -> dict[str, Any]:
        """new or acknowledged → resolved."""
        return _lifecycle(who, alert_id, "resolved", note)

    @app.get(f"{API}/audit", tags=["admin"])
    def audit_tail(who: Admin, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
        """The audit log's newest entries, and whether its hash chain is whole."""
        return {"items": ctx.audit.tail(limit), "broken_at_line": ctx.audit.verify()}

    @app.get(f"{API}/me", tags=["admin"])
    def me(who: Annotated[Principal, Depends(principal)]) -> dict[str, Any]:
        """Who the token belongs to, and what the role may do."""
        from flockwatch.api.access import RIGHTS

        return {"name": who.name, "role": who.role.value, "rights": sorted(r.value for r in RIGHTS[who.role])}

    return app


def _filters(search: PostSearch) -> dict[str, Any]:
    return {
        k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in vars(search).items() if v not in ("", [], None)
    }


def _post_view(doc: dict[str, Any], names: Callable[[str], str], role: Role) -> dict[str, Any]:
    """A stored post as the caller may see it (authors pseudonymised for researchers; store bookkeeping out)."""
    view = {k: v for k, v in doc.items() if not k.startswith("_")}
    if not pseudonymised(role):
        return view
    view = copy.deepcopy(view)
    platform = str(view.get("platform") or "")
    author = view.get("author")
    if isinstance(author, dict):
        view["author"] = {"id": names(f"{platform}:{author.get('id')}")}
    view["mentions"] = [names(f"{platform}:{m}") for m in view.get("mentions") or []]
    view.pop("account_key", None)
    return view


def _named_accounts(window: dict[str, Any], names: Callable[[str], str]) -> dict[str, Any]:
    view = {k: v for k, v in window.items() if not k.startswith("_")}
    view["accounts"] = [names(str(a)) for a in view.get("accounts") or []]
    return view


def _named_edge(edge: dict[str, Any], names: Callable[[str], str]) -> dict[str, Any]:
    view = {k: v for k, v in edge.items() if not k.startswith("_")}
    view["source"], view["target"] = names(str(view.get("source"))), names(str(view.get("target")))
    return view
