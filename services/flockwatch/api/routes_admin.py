"""Who the token is (any valid token) and the audit log (admin)."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from flockwatch.api.access import RIGHTS
from flockwatch.api.deps import API, Admin, Caller, Ctx

router = APIRouter(prefix=API)


@router.get("/audit", tags=["admin"])
def audit_tail(who: Admin, ctx: Ctx, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    """The audit log's newest entries, and whether its hash chain is whole."""
    return {"items": ctx.audit.tail(limit), "broken_at_line": ctx.audit.verify()}


@router.get("/me", tags=["admin"])
def me(who: Caller) -> dict[str, Any]:
    """Who the token belongs to, and what the role may do."""
    return {"name": who.name, "role": who.role.value, "rights": sorted(r.value for r in RIGHTS[who.role])}
