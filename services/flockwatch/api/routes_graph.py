"""What the graph stage found: narratives, accounts and coordination clusters; analysts' verdicts on cascades."""

from itertools import islice
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, Field

from flockwatch.api.access import pseudonymised
from flockwatch.api.deps import API, Actor, Ctx, Key, Reader, post_views
from flockwatch.api.lookups import cluster_windows, earliest_posts, edges_between, narrative_volume
from flockwatch.api.post_query import MAX_LIMIT, SORT
from flockwatch.exports import pseudonyms
from flockwatch.graph.verdicts import MAX_NOTE, VERDICTS, CascadeMerged, VerdictError
from flockwatch.store.documents import IndexKind

router = APIRouter(prefix=API)


@router.get("/narratives/{narrative_id}", tags=["narratives"])
def get_narrative(
    who: Reader,
    ctx: Ctx,
    narrative_id: Annotated[str, Path(min_length=1, max_length=200)],
    interval: Annotated[str, Query(pattern="^(hour|day|week)$")] = "day",
) -> dict[str, Any]:
    """A narrative: what it says, its counts, accounts and platforms, its posts per interval and its earliest
    posts."""
    doc = ctx.store.engine.get(IndexKind.narratives, narrative_id)
    if doc is None:
        raise HTTPException(404, f"no narrative {narrative_id}")
    pseudonymise = ctx.pseudonyms(who)
    earliest = earliest_posts(ctx.store, narrative_id)
    # For researchers as exports show it: members as pseudonyms, links naming accounts rewritten, raw handles scrubbed.
    view = pseudonyms.items({"narratives": [doc]}, pseudonymise, learn_from={"posts": earliest})["narratives"][0]
    view["accounts"] = list(view.get("accounts") or [])[:MAX_LIMIT]
    view["timeline"] = narrative_volume(ctx.store, narrative_id, interval)
    view["earliest_posts"] = post_views(earliest, ctx.names(who), who.role)
    ctx.audit.append(who.name, who.role.value, "get_narrative", narrative_id)
    return view


@router.get("/accounts/{account_key}", tags=["accounts"])
def get_account(
    who: Reader, ctx: Ctx, account_key: Key, limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20
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
    return {**view, "posts": post_views([h.source for h in hits], ctx.names(who), who.role)}


@router.get("/clusters/{cluster_id}", tags=["clusters"])
def get_cluster(
    who: Reader,
    ctx: Ctx,
    cluster_id: Annotated[str, Path(min_length=1, max_length=300)],
    edges: Annotated[int, Query(ge=0, le=2000)] = 500,
) -> dict[str, Any]:
    """A coordination cluster over time: each window's snapshot, the accounts, and the coordination edges
    between them with their evidence."""
    windows = cluster_windows(ctx.store, cluster_id)
    if not windows:
        raise HTTPException(404, f"no cluster {cluster_id}")
    pseudonymise = ctx.pseudonyms(who)
    names = pseudonymise or ctx.names(who)
    members = sorted({str(a) for w in windows for a in w.get("accounts") or []})
    between = edges_between(ctx.store, members, edges)
    ctx.audit.append(who.name, who.role.value, "get_cluster", cluster_id)
    # For researchers as exports show them: accounts as pseudonyms, links naming accounts rewritten, raw keys scrubbed.
    shown = pseudonyms.items({"clusters": windows, "edges": between}, pseudonymise)
    return {
        "cluster_id": cluster_id,
        "accounts": [names(a) for a in members],
        "windows": shown["clusters"],
        "edges": shown["edges"],
    }


class NewVerdict(BaseModel):
    verdict: str = Field(description=f"One of {', '.join(VERDICTS)}: false and true teach the account history.")
    note: str = Field(default="", max_length=MAX_NOTE, description="Why: the fact-check or source it rests on.")


@router.put("/cascades/{cascade_id}/verdict", tags=["cascades"])
def judge_cascade(who: Actor, ctx: Ctx, cascade_id: Key, body: NewVerdict) -> dict[str, Any]:
    """Judge a cascade (its id is its root post's key, as the spread view shows it); judging again replaces the
    verdict. `flockwatch graph history --from-store` learns the resharers' records from these."""
    try:
        verdict = ctx.store.verdicts.judge(cascade_id, body.verdict, who.name, body.note)
    except KeyError:
        raise HTTPException(404, f"no cascade {cascade_id}") from None
    except CascadeMerged as exc:
        raise HTTPException(409, str(exc)) from None
    except VerdictError as exc:
        raise HTTPException(422, str(exc)) from None
    ctx.audit.append(who.name, who.role.value, "cascade_verdict", cascade_id, {"verdict": verdict["verdict"]})
    return verdict


@router.delete("/cascades/{cascade_id}/verdict", tags=["cascades"])
def withdraw_verdict(who: Actor, ctx: Ctx, cascade_id: Key) -> dict[str, Any]:
    """Withdraw a cascade's verdict (the next `graph history --from-store` forgets it)."""
    if not ctx.store.verdicts.withdraw(cascade_id):
        raise HTTPException(404, f"cascade {cascade_id} has no verdict")
    ctx.audit.append(who.name, who.role.value, "cascade_verdict_withdrawn", cascade_id)
    return {"cascade_id": cascade_id, "withdrawn": True}


@router.get("/verdicts", tags=["cascades"])
def list_verdicts(who: Reader, ctx: Ctx, limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> dict[str, Any]:
    """The cascades analysts judged, by cascade id (at most ``limit``)."""
    items = list(islice(ctx.store.verdicts.every(), limit))
    ctx.audit.append(who.name, who.role.value, "list_verdicts", "", {"items": len(items)})
    return {"items": items}
