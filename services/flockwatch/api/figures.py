"""Plots of what the store holds, for the API's plot routes and ``flockwatch plot``: the store reads of
:mod:`flockwatch.api.lookups` handed to the pure plots of :mod:`flockwatch.plots`.

Each function raises ``LookupError`` (naming what is missing) when there is nothing of that key, and returns the
plot's bytes otherwise; ``pseudonymise`` replaces every account label (the researcher role).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from flockwatch import plots
from flockwatch.api.lookups import cascade_of, cluster_parts, narrative_volume, posts_by_key
from flockwatch.store import Store
from flockwatch.store.documents import IndexKind

Names = Callable[[str], str] | None
SpreadKind = Literal["tree", "timeline"]
MAX_EDGES = 1500


def spread_figure(store: Store, post_key: str, kind: SpreadKind, fmt: str, pseudonymise: Names = None) -> bytes:
    """The reshare tree (``tree``) or the cumulative reshares over time (``timeline``) of the post's cascade."""
    cascade = cascade_of(store, post_key)
    if cascade is None:
        raise LookupError(f"post {post_key} is in no cascade (unknown, or not seen by the graph stage yet)")
    if kind == "timeline":
        return plots.reshare_timeline(plots.cascade_posts(cascade), fmt, root_key=cascade.get("root_key"))
    members = [str(row[0]) for row in sorted(cascade.get("events") or [], key=lambda r: float(r[2]))]
    return plots.cascade_tree(cascade, posts_by_key(store, members), fmt, pseudonymise=pseudonymise)


def narrative_figure(store: Store, narrative_ids: Sequence[str], fmt: str, interval: str = "day") -> bytes:
    """Posts per interval of one or several narratives, each named by its representative text."""
    found = store.engine.get_many(IndexKind.narratives, list(narrative_ids))
    missing = [n for n in narrative_ids if n not in found]
    if missing:
        raise LookupError(f"no narrative {', '.join(missing)}")
    docs = [{**found[n], "timeline": narrative_volume(store, n, interval)} for n in narrative_ids]
    return plots.narrative_volume(docs, fmt)


def cluster_figure(store: Store, cluster_id: str, fmt: str, pseudonymise: Names = None) -> bytes:
    """The cluster's accounts (over all its windows) and the coordination edges between them, by kind."""
    snapshot, edges = cluster_parts(store, cluster_id, MAX_EDGES)
    return plots.cluster_graph(snapshot, edges, fmt, pseudonymise=pseudonymise)
