"""Files: plots (PNG, SVG) of a post's spread, a narrative and a cluster, and exports (tables, Gephi graphs,
STIX) of a search, a cascade and a cluster."""

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import Response

from flockwatch.api.deps import API, ApiContext, Ctx, Exporter, Key, Reader, Searched, attachment, searchable
from flockwatch.api.export_views import MAX_ROWS, cascade_export, cluster_export, posts_export
from flockwatch.api.figures import SpreadKind, cluster_figure, narrative_figure, spread_figure
from flockwatch.api.token_file import Principal
from flockwatch.plots import MEDIA_TYPES

router = APIRouter(prefix=API)

ClusterId = Annotated[str, Path(min_length=1, max_length=300)]
ImageFmt = Annotated[str, Query(alias="format", pattern="^(png|svg)$")]
TableFmt = Annotated[str, Query(alias="format", pattern="^(csv|jsonl|parquet)$")]


@router.get("/exports/posts", tags=["exports"], response_class=Response)
def export_posts(
    who: Exporter,
    ctx: Ctx,
    search: Searched,
    fmt: TableFmt = "csv",
    limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = 10_000,
) -> Response:
    """The posts of a search (newest first, at most ``limit``) as CSV, JSON lines or Parquet."""
    search = searchable(who, search)
    names = ctx.pseudonyms(who)
    write = lambda: posts_export(ctx.store, search, fmt, limit, names)  # noqa: E731
    detail = {"filters": search.described(), "limit": limit}
    return attachment(ctx, who, "export_posts", search.q, write, fmt, "posts", detail)


@router.get("/posts/{post_key}/spread/export", tags=["exports"], response_class=Response)
def export_spread(
    who: Exporter,
    ctx: Ctx,
    post_key: Key,
    fmt: Annotated[str, Query(alias="format", pattern="^(gexf|graphml|csv|jsonl|parquet)$")] = "gexf",
) -> Response:
    """The post's cascade for Gephi (GEXF, GraphML) or its events as a table."""
    names = ctx.pseudonyms(who)
    write = lambda: cascade_export(ctx.store, post_key, fmt, names)  # noqa: E731
    return attachment(ctx, who, "export_spread", post_key, write, fmt, "cascade")


@router.get("/clusters/{cluster_id}/export", tags=["exports"], response_class=Response)
def export_cluster(
    who: Exporter,
    ctx: Ctx,
    cluster_id: ClusterId,
    fmt: Annotated[str, Query(alias="format", pattern="^(gexf|graphml|stix|csv|jsonl|parquet)$")] = "gexf",
) -> Response:
    """A coordination cluster for Gephi (GEXF, GraphML), as a STIX 2.1 bundle with DISARM techniques, or its
    edges as a table."""
    names = ctx.pseudonyms(who)
    write = lambda: cluster_export(ctx.store, cluster_id, fmt, names)  # noqa: E731
    return attachment(ctx, who, "export_cluster", cluster_id, write, fmt, "cluster")


@router.get("/posts/{post_key}/spread/plot", tags=["plots"], response_class=Response)
def spread_plot(
    who: Reader,
    ctx: Ctx,
    post_key: Key,
    kind: Annotated[str, Query(pattern="^(tree|timeline)$")] = "tree",
    fmt: ImageFmt = "png",
) -> Response:
    """The post's reshare tree, or its reshares over time (``kind=timeline``), as PNG or SVG."""
    names = ctx.pseudonyms(who)
    shape: SpreadKind = "timeline" if kind == "timeline" else "tree"
    draw = lambda: spread_figure(ctx.store, post_key, shape, fmt, names)  # noqa: E731
    return _image(ctx, who, "plot_spread", post_key, draw, fmt)


@router.get("/narratives/{narrative_id}/plot", tags=["plots"], response_class=Response)
def narrative_plot(
    who: Reader,
    ctx: Ctx,
    narrative_id: Annotated[str, Path(min_length=1, max_length=200)],
    interval: Annotated[str, Query(pattern="^(hour|day|week)$")] = "day",
    fmt: ImageFmt = "png",
) -> Response:
    """The narrative's posts per interval, as PNG or SVG."""
    draw = lambda: narrative_figure(ctx.store, [narrative_id], fmt, interval)  # noqa: E731
    return _image(ctx, who, "plot_narrative", narrative_id, draw, fmt)


@router.get("/clusters/{cluster_id}/plot", tags=["plots"], response_class=Response)
def cluster_plot(who: Reader, ctx: Ctx, cluster_id: ClusterId, fmt: ImageFmt = "png") -> Response:
    """The cluster's accounts and coordination edges, coloured by kind, as PNG or SVG."""
    names = ctx.pseudonyms(who)
    draw = lambda: cluster_figure(ctx.store, cluster_id, fmt, names)  # noqa: E731
    return _image(ctx, who, "plot_cluster", cluster_id, draw, fmt)


def _image(ctx: ApiContext, who: Principal, action: str, target: str, draw: Callable[[], bytes], fmt: str) -> Response:
    """The plot ``draw`` makes, audited; 404 when there is nothing of that key or nothing to draw."""
    try:
        body = draw()
    except (LookupError, ValueError) as exc:  # ValueError: nothing to draw
        raise HTTPException(404, str(exc)) from None
    ctx.audit.append(who.name, who.role.value, action, target, {"format": fmt})
    return Response(body, media_type=MEDIA_TYPES[fmt])
