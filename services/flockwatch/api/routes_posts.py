"""Posts: the search (a page at a time), one post, its media evidence and its spread."""

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from flockwatch.api.alert_views import media_verdicts
from flockwatch.api.deps import API, Ctx, Key, Reader, Searched, account_urls, post_view, post_views, searchable
from flockwatch.api.lookups import cascade_of, search_hits
from flockwatch.api.post_query import MAX_LIMIT, decode_cursor, encode_cursor
from flockwatch.api.spread import spread_history

router = APIRouter(prefix=API)


@router.get("/posts", tags=["posts"])
def search_posts(
    who: Reader,
    ctx: Ctx,
    search: Searched,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    next: Annotated[str | None, Query(max_length=1000, description="The cursor of the page before.")] = None,
) -> dict[str, Any]:
    """Posts matching words and filters, newest first, a page at a time (``next`` continues)."""
    search = searchable(who, search)
    hits = search_hits(ctx.store, search, limit, decode_cursor(next) if next else None)
    detail = {"filters": search.described(), "hits": len(hits)}
    ctx.audit.append(who.name, who.role.value, "search_posts", search.q, detail)
    items = post_views([h.source for h in hits], ctx.names(who), who.role)
    more = len(hits) == limit and hits[-1].sort
    return {"items": items, "next": encode_cursor(hits[-1].sort) if more else None}


@router.get("/posts/{post_key}", tags=["posts"])
def get_post(who: Reader, ctx: Ctx, post_key: Key) -> dict[str, Any]:
    """One post with its scores and their evidence."""
    doc = ctx.store.posts.get(post_key)
    if doc is None:
        raise HTTPException(404, f"no post {post_key}")
    ctx.audit.append(who.name, who.role.value, "get_post", post_key)
    return post_view(doc, ctx.names(who), who.role)


@router.get("/posts/{post_key}/spread", tags=["posts"])
def post_spread(
    who: Reader, ctx: Ctx, post_key: Key, max_nodes: Annotated[int, Query(ge=1, le=20_000)] = 5000
) -> dict[str, Any]:
    """The post's cascade: the reshare tree, its metrics, the timeline of reshares, an analyst's verdict, and the
    verdicts given on cascades that merged into it since (``merged_verdicts``, each naming its cascade)."""
    cascade = cascade_of(ctx.store, post_key)
    if cascade is None:
        if ctx.store.posts.get(post_key) is None:
            raise HTTPException(404, f"no post {post_key}")
        raise HTTPException(404, f"post {post_key} is in no cascade yet (the graph stage has not seen it)")
    ctx.audit.append(who.name, who.role.value, "post_spread", post_key)
    view = spread_history(cascade, max_nodes, ctx.names(who))
    cascade_id = view["cascade_id"]
    if not cascade_id:
        return {"post_key": post_key, **view, "verdict": None, "merged_verdicts": []}
    merged = ctx.store.verdicts.of_cascades(ctx.store.graph.merged_into(cascade_id))
    return {"post_key": post_key, **view, "verdict": ctx.store.verdicts.get(cascade_id), "merged_verdicts": merged}


@router.get("/posts/{post_key}/media", tags=["posts"])
def post_media(who: Reader, ctx: Ctx, post_key: Key) -> dict[str, Any]:
    """The media evidence of a post: per media item its verdict, the signals that fired (with what they
    measured), provenance (C2PA) and matches against banked fakes."""
    doc = ctx.store.posts.get(post_key)
    if doc is None:
        raise HTTPException(404, f"no post {post_key}")
    ctx.audit.append(who.name, who.role.value, "post_media", post_key)
    scored = doc.get("media_by_url") or {}
    view = {
        "post_key": post_key,
        "media": doc.get("media") or [],
        "media_risk": doc.get("media_risk"),
        "scores": list(scored.values()) if isinstance(scored, dict) else [],
        "verdicts": media_verdicts(doc),
    }
    urls = account_urls([doc], ctx.names(who), who.role)  # a media URL may name its author (Bluesky's CDN: the DID)
    return view if urls is None else dict(urls.deep(view))
