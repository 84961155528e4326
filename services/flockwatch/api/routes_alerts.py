"""Alerts (list, acknowledge, resolve) and the watchlists that raise watched-entity alerts."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, Field

from flockwatch.alerts.lifecycle import TransitionError, parse_status, transition
from flockwatch.alerts.watchlist import WatchEntity
from flockwatch.api.alert_views import alert_view, with_about
from flockwatch.api.deps import API, Actor, ApiContext, Ctx, Reader
from flockwatch.api.post_query import MAX_LIMIT
from flockwatch.api.token_file import Principal
from flockwatch.messages import describe_error

router = APIRouter(prefix=API)

AlertId = Annotated[str, Path(min_length=1, max_length=300)]
EntityId = Annotated[str, Path(max_length=64)]
Note = Annotated[str | None, Query(max_length=2000)]


class WatchBody(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(default="entity", min_length=1, max_length=64)
    aliases: list[str] = Field(default_factory=list, max_length=50)
    handles: list[str] = Field(default_factory=list, max_length=50)
    languages: list[str] = Field(default_factory=list, max_length=20)


@router.get("/alerts", tags=["alerts"])
def list_alerts(
    who: Reader,
    ctx: Ctx,
    status: Annotated[str | None, Query(pattern="^(new|acknowledged|resolved)$")] = None,
    severity: Annotated[str | None, Query(pattern="^(low|medium|high|critical)$")] = None,
    rule: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> dict[str, Any]:
    """Alerts, newest first, with their evidence and ``about``: what each is about in words (a narrative with
    what it says); accounts as pseudonyms for researchers."""
    docs = ctx.store.alerts.find(status=status, severity=severity, rule=rule, size=limit)
    ctx.audit.append(who.name, who.role.value, "list_alerts", status or "", {"hits": len(docs)})
    return {"items": with_about(ctx.store, docs, ctx.pseudonyms(who)), "next": None}


@router.get("/alerts/{alert_id}", tags=["alerts"])
def get_alert(who: Reader, ctx: Ctx, alert_id: AlertId) -> dict[str, Any]:
    """One alert and its brief: the narrative's text, the accounts behind its posts, its earliest posts and the
    media verdicts with the signals that fired (accounts as pseudonyms for researchers)."""
    doc = ctx.store.alerts.get(alert_id)
    if doc is None:
        raise HTTPException(404, f"no alert {alert_id}")
    ctx.audit.append(who.name, who.role.value, "get_alert", alert_id)
    return alert_view(ctx.store, doc, ctx.pseudonyms(who))


@router.post("/alerts/{alert_id}/acknowledge", tags=["alerts"])
def acknowledge_alert(who: Actor, ctx: Ctx, alert_id: AlertId, note: Note = None) -> dict[str, Any]:
    """new → acknowledged."""
    return _lifecycle(ctx, who, alert_id, "acknowledged", note)


@router.post("/alerts/{alert_id}/resolve", tags=["alerts"])
def resolve_alert(who: Actor, ctx: Ctx, alert_id: AlertId, note: Note = None) -> dict[str, Any]:
    """new or acknowledged → resolved."""
    return _lifecycle(ctx, who, alert_id, "resolved", note)


@router.get("/watchlists", tags=["watchlists"])
def list_watchlists(who: Reader, ctx: Ctx) -> dict[str, Any]:
    """Every watched entity (names, aliases, handles, languages)."""
    return {"items": ctx.store.watchlists.entities(), "next": None}


@router.put("/watchlists/{entity_id}", tags=["watchlists"])
def put_watchlist(who: Actor, ctx: Ctx, entity_id: EntityId, body: WatchBody) -> dict[str, Any]:
    """Watch an entity (or replace how it is watched): posts naming it raise watched-entity alerts."""
    try:
        entity = WatchEntity(id=entity_id, **body.model_dump())
    except ValueError as exc:  # pydantic's ValidationError is one
        raise HTTPException(422, describe_error(exc)) from None
    ctx.store.watchlists.put([entity.model_dump()])
    ctx.audit.append(who.name, who.role.value, "watchlist_put", entity_id, {"name": entity.name})
    return entity.model_dump()


@router.delete("/watchlists/{entity_id}", tags=["watchlists"])
def delete_watchlist(who: Actor, ctx: Ctx, entity_id: EntityId) -> dict[str, Any]:
    """Stop watching an entity."""
    if not ctx.store.watchlists.delete(entity_id):
        raise HTTPException(404, f"no watched entity {entity_id}")
    ctx.audit.append(who.name, who.role.value, "watchlist_delete", entity_id)
    return {"removed": entity_id}


def _lifecycle(ctx: ApiContext, who: Principal, alert_id: str, target: str, note: str | None) -> dict[str, Any]:
    """Move the alert to ``target``, audited; 404 for an unknown alert, 409 for a move its status forbids."""
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
