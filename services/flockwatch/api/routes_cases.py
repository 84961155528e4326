"""Cases: open one, attach items and notes, read it, export its evidence bundle or STIX report."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from flockwatch.api.case_views import case_bundle, case_stix, case_view
from flockwatch.api.deps import API, Actor, ApiContext, Ctx, Exporter, Reader, attachment
from flockwatch.api.post_query import MAX_LIMIT
from flockwatch.api.token_file import Principal
from flockwatch.cases import ITEM_KINDS, CaseError, new_case, with_item, with_note

router = APIRouter(prefix=API)

CaseId = Annotated[str, Path(min_length=6, max_length=64, pattern=r"^case-[a-z0-9]+$")]


class NewCase(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)


class NewItem(BaseModel):
    kind: str = Field(description=f"One of {', '.join(ITEM_KINDS)}.")
    ref: str = Field(min_length=1, max_length=1000, description="Its key: platform:id, a cluster/narrative/alert id.")
    note: str | None = Field(default=None, max_length=10_000)


class NewNote(BaseModel):
    text: str = Field(min_length=1, max_length=10_000)
    refs: list[str] = Field(default_factory=list, max_length=100)


@router.post("/cases", tags=["cases"], status_code=201)
def create_case(who: Actor, ctx: Ctx, body: NewCase) -> dict[str, Any]:
    """Open a case (the token's holder is its creator)."""
    try:
        case = new_case(body.name, body.description, who.name, datetime.now(UTC))
    except CaseError as exc:
        raise HTTPException(422, str(exc)) from None
    ctx.store.cases.create(case)
    ctx.audit.append(who.name, who.role.value, "case_create", case["case_id"], {"name": body.name})
    return case


@router.get("/cases", tags=["cases"])
def list_cases(who: Reader, ctx: Ctx, limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50) -> dict[str, Any]:
    """Cases, most recently changed first."""
    return {"items": ctx.store.cases.recent(limit), "next": None}


@router.get("/cases/{case_id}", tags=["cases"])
def get_case(who: Reader, ctx: Ctx, case_id: CaseId) -> dict[str, Any]:
    """A case with its items and notes."""
    ctx.audit.append(who.name, who.role.value, "case_read", case_id)
    return case_view(_case(ctx, case_id), ctx.pseudonyms(who))


@router.post("/cases/{case_id}/items", tags=["cases"])
def add_case_item(who: Actor, ctx: Ctx, case_id: CaseId, body: NewItem) -> dict[str, Any]:
    """Attach a post, account, cluster, narrative, alert or cascade (by its key) to the case."""
    now = datetime.now(UTC)
    change = lambda c: with_item(c, body.kind, body.ref, who.name, now, body.note)  # noqa: E731
    return _change_case(ctx, who, case_id, "case_add", change, {"kind": body.kind, "ref": body.ref})


@router.post("/cases/{case_id}/notes", tags=["cases"])
def add_case_note(who: Actor, ctx: Ctx, case_id: CaseId, body: NewNote) -> dict[str, Any]:
    """Add a note (``refs``: the items it is about, as ``kind:ref``)."""
    now = datetime.now(UTC)
    change = lambda c: with_note(c, body.text, who.name, now, body.refs)  # noqa: E731
    return _change_case(ctx, who, case_id, "case_note", change, {})


@router.get("/cases/{case_id}/export", tags=["cases", "exports"], response_class=Response)
def export_case(
    who: Exporter,
    ctx: Ctx,
    case_id: CaseId,
    fmt: Annotated[str, Query(alias="format", pattern="^(bundle|stix)$")] = "bundle",
) -> Response:
    """The case's evidence bundle (a zip: items with their evidence, media hashes, plots, STIX report, sha256
    manifest) or its STIX 2.1 bundle."""
    case = _case(ctx, case_id)
    names = ctx.pseudonyms(who)
    make = case_bundle if fmt == "bundle" else case_stix
    return attachment(ctx, who, f"case_export_{fmt}", case_id, lambda: make(ctx.store, case, names), fmt, case_id)


def _case(ctx: ApiContext, case_id: str) -> dict[str, Any]:
    case = ctx.store.cases.get(case_id)
    if case is None:
        raise HTTPException(404, f"no case {case_id}")
    return case


def _change_case(
    ctx: ApiContext,
    who: Principal,
    case_id: str,
    action: str,
    change: Callable[[dict[str, Any]], dict[str, Any]],
    detail: dict[str, Any],
) -> dict[str, Any]:
    """Apply ``change`` to the stored case, audited; 404 for an unknown case, 409 for a change the case refuses."""
    try:
        case = ctx.store.cases.update(case_id, change)
    except KeyError:
        raise HTTPException(404, f"no case {case_id}") from None
    except CaseError as exc:
        raise HTTPException(409, str(exc)) from None
    ctx.audit.append(who.name, who.role.value, action, case_id, detail)
    return case
