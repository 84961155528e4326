"""Plots where people would rather look than read (issue 13, item 4): pure functions from the documents the
stages store to PNG or SVG bytes, for the API and the CLI to return or write as they are.

Every plot takes plain dicts (store documents, passed straight in), a format ``"png"`` or ``"svg"``, and returns
bytes. The same input gives byte-identical output (fixed seeds and SVG ids, no dates, bundled font only). What a
user wrote is inert: labels are shortened, stripped of control characters, never read as mathtext, and XML-escaped
in SVG (text stays text there, so a post reading ``<script>`` shows as that text). Sizes are bounded: each plot
caps what it draws and says so in the figure. Nothing to draw is a ``ValueError``, never an empty figure.
``pseudonymise`` (the researcher role's account → pseudonym) replaces every account label; handles are then not
shown at all. Matplotlib runs on Agg only (no pyplot, no GUI backend, whatever ``MPLBACKEND`` says).

Plots and their inputs:

* :func:`cascade_tree` ``(cascade, posts=(), fmt, *, x="depth"|"time", score="machine"|"media", max_nodes,
  pseudonymise)``: ``cascade`` is a **cascades** document (graph stage, ``CascadeEntry.document``):
  ``cascade_id``/``root_key`` and ``events`` rows ``[post_key, parent_key, epoch_s, account]``
  (``placeholder_root`` optional). ``posts`` are stored **posts** documents (index stage ``post_document`` with
  scores merged: ``key``, ``text``, ``author.handle``, ``account_key``, ``text_score.machine_score``, ``media_risk``
  / ``media_by_url``): they give the root's text excerpt, handles and the node colours; any may be missing.
* :func:`reshare_timeline` ``(posts, fmt, *, root_key, max_steps)``: **posts** documents (``key``,
  ``created_at``, optional ``parent_key``), or :func:`cascade_posts` of a cascades document; cumulative reshares
  against time since the root, the first hour marked.
* :func:`narrative_volume` ``(narratives, fmt, *, max_narratives)``: one or several **narratives** documents
  (``narrative_id``, ``representative_text``; rollups stage ``narrative_document``) each with its volume as
  ``timeline`` ``[{"at": iso, "posts": n}]`` (the API's narrative view) or ``buckets`` (an OpenSearch
  ``date_histogram``'s ``[{"key_as_string"|"key", "doc_count"}]``).
* :func:`cluster_graph` ``(cluster, edges=(), fmt, *, handles, max_nodes, max_edges, seed, pseudonymise)``:
  ``cluster`` is a **clusters** snapshot (graph_windows ``_cluster_documents``: ``cluster_id``, ``accounts``,
  ``window_end``); ``edges`` are **coordination_edges** documents (``kind``, ``source``, ``target``, ``weight``),
  coloured by kind (same link, same text, similar text, same media, same hashtags, same reshare...).

:func:`render` ``(kind, data, fmt, **options)`` dispatches by name (:data:`KINDS`) with ``data`` holding the
arguments above by name (e.g. ``{"cascade": doc, "posts": [...]}``), for a route or command that takes the kind
as a parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flockwatch.plots._figure import FORMATS, Format, Pseudonymise
from flockwatch.plots.cascade import cascade_posts, cascade_tree, cumulative_reshares, reshare_timeline
from flockwatch.plots.cluster import cluster_edges, cluster_graph
from flockwatch.plots.narrative import narrative_volume, volume_points

__all__ = [
    "FORMATS",
    "KINDS",
    "MEDIA_TYPES",
    "Format",
    "Pseudonymise",
    "cascade_posts",
    "cascade_tree",
    "cluster_edges",
    "cluster_graph",
    "cumulative_reshares",
    "narrative_volume",
    "render",
    "reshare_timeline",
    "volume_points",
]

MEDIA_TYPES: dict[str, str] = {"png": "image/png", "svg": "image/svg+xml"}

# kind → (function, the names in ``data`` it takes positionally, in order)
_PLOTS: dict[str, tuple[Callable[..., bytes], tuple[str, ...]]] = {
    "cascade_tree": (cascade_tree, ("cascade", "posts")),
    "reshare_timeline": (reshare_timeline, ("posts",)),
    "narrative_volume": (narrative_volume, ("narratives",)),
    "cluster_graph": (cluster_graph, ("cluster", "edges")),
}
KINDS: tuple[str, ...] = tuple(_PLOTS)


def render(kind: str, data: Mapping[str, Any], fmt: str = "png", **options: Any) -> bytes:
    """The plot ``kind`` of ``data`` (its inputs by name, see the module doc) as ``fmt`` bytes; ``options`` are
    the plot's keyword options (``pseudonymise``, caps...)."""
    if kind not in _PLOTS:
        raise ValueError(f"unknown plot {kind!r}; expected one of {', '.join(KINDS)}")
    function, names = _PLOTS[kind]
    required = names[0]
    if required not in data:
        raise ValueError(f"plot {kind} needs {required!r} in its data")
    unknown = set(data) - set(names)
    if unknown:
        raise ValueError(f"plot {kind} takes {', '.join(names)} in its data, not {', '.join(sorted(unknown))}")
    return function(*(data[n] for n in names if n in data), fmt=fmt, **options)
