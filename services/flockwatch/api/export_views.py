"""Exports of what the store holds, for the API's export routes and ``flockwatch export``: the store reads of
:mod:`flockwatch.api.lookups` handed to the pure writers of :mod:`flockwatch.exports`.

Each function returns the file's bytes, raises ``LookupError`` when there is nothing of that key, and bounds what
it reads (``MAX_ROWS`` posts a query). ``pseudonymise`` rewrites every account id (the researcher role).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flockwatch.api.lookups import cascade_of, cluster_parts, posts_by_key, search_hits
from flockwatch.api.post_query import PostSearch
from flockwatch.exports import graph_files, stix, tables
from flockwatch.store import Store
from flockwatch.store.documents import IndexKind

Names = Callable[[str], str] | None
MAX_ROWS = 100_000
MAX_EDGES = 5000
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
    "gexf": "application/gexf+xml",
    "graphml": "application/graphml+xml",
    "stix": "application/stix+json;version=2.1",
    "bundle": "application/zip",
}
TABLE_FORMATS = ("csv", "jsonl", "parquet")
GRAPH_FORMATS = ("gexf", "graphml")


def matching_posts(store: Store, search: PostSearch, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` (at most ``MAX_ROWS``) posts of the search, newest first, paged by ``search_after``."""
    return [h.source for h in search_hits(store, search, min(limit, MAX_ROWS))]


def posts_export(store: Store, search: PostSearch, fmt: str, limit: int, names: Names = None) -> bytes:
    if fmt not in TABLE_FORMATS:
        raise ValueError(f"posts export as {', '.join(TABLE_FORMATS)}, not {fmt!r}")
    return tables.export_table("posts", matching_posts(store, search, limit), fmt, pseudonymise=names)  # type: ignore[arg-type]


def cascade_export(store: Store, post_key: str, fmt: str, names: Names = None) -> bytes:
    """The post's cascade: its tree for Gephi (``gexf``/``graphml``) or its events as a table."""
    cascade = cascade_of(store, post_key)
    if cascade is None:
        raise LookupError(f"post {post_key} is in no cascade (unknown, or not seen by the graph stage yet)")
    if fmt in TABLE_FORMATS:
        return tables.export_table("cascade_events", [cascade], fmt, pseudonymise=names)  # type: ignore[arg-type]
    if fmt not in GRAPH_FORMATS:
        raise ValueError(f"cascades export as {', '.join(GRAPH_FORMATS + TABLE_FORMATS)}, not {fmt!r}")
    members = [str(row[0]) for row in cascade.get("events") or []]
    graph = graph_files.cascade_graph(cascade, posts_by_key(store, members), pseudonymise=names)
    return graph_files.write_graph(graph, fmt)  # type: ignore[arg-type]


def cluster_export(store: Store, cluster_id: str, fmt: str, names: Names = None) -> bytes:
    """A coordination cluster for Gephi (``gexf``/``graphml``), as a STIX 2.1 bundle (``stix``), or its edges as a
    table."""
    snapshot, edges = cluster_parts(store, cluster_id, MAX_EDGES)
    accounts = list(store.engine.get_many(IndexKind.accounts, snapshot["accounts"]).values())
    if fmt in TABLE_FORMATS:
        return tables.export_table("edges", edges, fmt, pseudonymise=names)  # type: ignore[arg-type]
    if fmt in GRAPH_FORMATS:
        graph = graph_files.cluster_graph(snapshot, edges, accounts, pseudonymise=names)
        return graph_files.write_graph(graph, fmt)  # type: ignore[arg-type]
    if fmt == "stix":
        bundle = stix.cluster_bundle(snapshot, edges, accounts, pseudonymise=names)
        errors, _ = stix.validate(bundle)
        if errors:  # our own bug, not the user's: say so rather than hand out an invalid bundle
            raise RuntimeError(f"the STIX bundle of {cluster_id} does not validate: {errors[:3]}")
        return json.dumps(bundle, indent=1, sort_keys=True).encode()
    raise ValueError(f"clusters export as {', '.join((*GRAPH_FORMATS, 'stix', *TABLE_FORMATS))}, not {fmt!r}")
