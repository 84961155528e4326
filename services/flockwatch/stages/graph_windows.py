"""Windowed graph recomputation over stored posts, and graph exports from the store.

What the ``graph_windows`` DAG runs (the DAG file only wires these functions) and what
``flockwatch graph export`` calls.

:func:`recompute_window` reads the posts of ``[start, end)`` back from the store and, in batch:

1. merges them into accounts and cascades with the streaming stage's :class:`~flockwatch.stages.graph.GraphState`
   (same documents, same set semantics, so a rerun changes nothing and posts the stream never saw, or saw
   across a restart, are added);
2. finds every co-action of the window with the batch core (:func:`~flockwatch.graph.coordination.rows_for`
   and :func:`~flockwatch.graph.coordination.window_pairs` on the table :func:`build_table` makes; the
   stream's :func:`~flockwatch.stages.graph.post_objects` uses the same definitions) plus ``co_similar_tweet``,
   which only the batch computes, and merges them into the edge documents: this is how co-actions the
   stream missed (restart, lateness, several workers) are recovered;
3. tests each edge against the time-shuffle null model with FDR control
   (:func:`~flockwatch.graph.significance.add_significance`) and records the p/q values on its document;
4. finds clusters (Louvain) on the multi-layer graph (layers summed) of the significant edges (or of all
   edges of weight ``>= min_weight``) and gives them ids that stay stable across successive windows
   (:func:`~flockwatch.graph.clusters.stable_ids` against the previous window's clusters, read back from
   the store); each window writes one cluster snapshot per cluster (id ``<cluster id>@<window end>``), so
   the clusters index keeps the history and rerunning any window reads the same predecessor;
5. sets each member account's ``cluster_id``/``cluster_ids`` and refreshes the window's cascades (their
   coordinated share counts accounts with coordination evidence).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from flockwatch.graph.clusters import PostScores, find_clusters, label_edges, score_shares, stable_ids, summaries
from flockwatch.graph.coordination import (
    EdgeTable,
    Options,
    coordination_network,
    rows_for,
    similar_pairs,
    window_pairs,
)
from flockwatch.graph.export import FORMATS, write_edges
from flockwatch.graph.significance import add_significance
from flockwatch.graph.streaming import CoAction
from flockwatch.graph.toolkit_csv import Table, TableBuilder
from flockwatch.graph.urls import canonicalize_url
from flockwatch.stages.graph import (
    STREAM_KINDS,
    CascadeLookup,
    GraphDocuments,
    GraphPost,
    GraphSettings,
    GraphState,
    GraphStore,
    edge_evidence,
    load_cascade_scoring,
)
from flockwatch.store.documents import BulkResult, IndexKind, Upsert

log = logging.getLogger(__name__)

BATCH_KINDS: tuple[str, ...] = (*STREAM_KINDS, "co_similar_tweet")
# Evidence columns of exported edges, after source, target, weight (the CLI's, plus the layer and p/q).
EXPORT_COLUMNS = (
    "layer", "n_coactions", "n_objects", "first_time", "last_time", "min_dt_s", "median_dt_s",
    "source_first_share", "examples", "p_value", "q_value", "significant",
)  # fmt: skip


class JobDocuments(GraphDocuments, Protocol):
    def refresh(self, kind: IndexKind | None = None) -> None: ...

    def delete(self, kind: IndexKind, doc_id: str) -> bool: ...


class JobGraph(CascadeLookup, Protocol):
    def previous_clusters(self, before: datetime) -> tuple[datetime | None, dict[str, dict[str, Any]]]: ...

    def window_clusters(self, end: datetime) -> dict[str, dict[str, Any]]: ...

    def clusters_holding(self, accounts: Sequence[str], chunk: int = 500) -> dict[str, list[dict[str, Any]]]: ...


class PostScan(Protocol):
    def scan(self, start: datetime, end: datetime, page: int = 2000) -> Iterable[dict[str, Any]]: ...


class JobStore(GraphStore, Protocol):
    """What the windowed job needs of the store (:class:`flockwatch.store.Store`): the stream's (``GraphStore``),
    a refresh, the previous window's clusters and the stored posts."""

    @property
    def engine(self) -> JobDocuments: ...

    @property
    def graph(self) -> JobGraph: ...

    @property
    def posts(self) -> PostScan: ...


@dataclass(frozen=True)
class WindowOptions:
    window_s: float = 60.0  # co-action window
    kinds: tuple[str, ...] = BATCH_KINDS
    min_hashtags: int = 3
    similarity: float = 0.8  # co_similar_tweet Jaccard threshold
    permutations: int = 100  # null-model shuffles per kind
    fdr: float = 0.05
    cluster_on: str = "significant"  # or "all": every edge of weight >= min_weight
    min_weight: int = 2
    min_jaccard: float = 0.3  # a cluster keeps its predecessor's id at this member overlap
    seed: int = 0


@dataclass
class WindowReport:
    start: str
    end: str
    posts: int = 0
    invalid_posts: int = 0
    coactions: dict[str, int] = field(default_factory=dict)
    edges: dict[str, int] = field(default_factory=dict)
    significant_edges: int = 0
    clusters: int = 0
    clusters_inherited: int = 0
    clusters_removed: int = 0  # snapshots of this window an earlier computation wrote and this one did not find
    cascades_written: int = 0
    accounts_written: int = 0
    edges_written: int = 0
    rejected: int = 0
    elapsed_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------------------
# Posts → the batch core's table and co-actions


def placeholder_message(key: str) -> str:
    """The message of a post whose normalised text is empty: unique, so it co-acts with nothing (the
    toolkit would link every empty post to every other; the stream gives them no co_tweet object)."""
    return "\x00" + hashlib.sha1(key.encode("utf-8")).hexdigest()


def build_table(posts: Sequence[GraphPost]) -> Table:
    """The toolkit-style table of ``posts`` (users are account keys, URLs already canonical)."""
    from flockwatch.graph.text import normalize_message

    builder = TableBuilder()
    for p in posts:
        message = p.text if normalize_message(p.text) else placeholder_message(p.key)
        urls = [u for u in dict.fromkeys(canonicalize_url(u) for u in p.urls) if u]
        builder.add(p.key, p.account, p.handle, p.reshare or "", p.reply or "", message, p.time, urls, p.media)
    table = builder.table
    table.has_media_column = True
    return table


def _options(options: WindowOptions) -> Options:
    return Options(window=options.window_s, min_weight=1, similarity=options.similarity,
                   min_hashtags=options.min_hashtags)  # fmt: skip


def window_coactions(table: Table, kind: str, options: WindowOptions) -> list[CoAction]:
    """Every co-action of ``kind`` in ``table`` (pairs of posts by different accounts), as the stream
    reports them; ``co_similar_tweet`` objects are ``jaccard=...``."""
    opts = _options(options)
    users = table.users
    out: list[CoAction] = []
    if kind == "co_similar_tweet":
        sim = similar_pairs(table, opts)
        for a, b, j in zip(sim.a.tolist(), sim.b.tolist(), sim.jaccard.tolist(), strict=True):
            ua, ub = table.user[a], table.user[b]
            if ua != ub:
                out.append(CoAction(f"jaccard={j:.3f}", table.message_id[a], users[ua], table.time[a],
                                    table.message_id[b], users[ub], table.time[b]))  # fmt: skip
        return out
    rows = rows_for(table, kind, opts)
    for ra, rb in window_pairs(rows.obj, rows.time, opts.window):
        keep = rows.user[ra] != rows.user[rb]
        for a, b in zip(ra[keep].tolist(), rb[keep].tolist(), strict=True):
            pa, pb = int(rows.post[a]), int(rows.post[b])
            out.append(CoAction(rows.obj_label[int(rows.obj[a])], table.message_id[pa], users[int(rows.user[a])],
                                float(rows.time[a]), table.message_id[pb], users[int(rows.user[b])],
                                float(rows.time[b])))  # fmt: skip
    return out


def merge_layers(tables: Sequence[EdgeTable], min_weight: int = 1) -> EdgeTable:
    """One multi-layer network: per account pair, weights summed over layers, ``significant`` if any layer's
    edge is, first/last time over layers, examples of the heaviest layer; ``kinds`` lists the layers."""
    acc: dict[tuple[str, str], dict[str, Any]] = {}
    usernames: dict[str, str] = {}
    for t in tables:
        usernames.update(t.usernames)
        ev = t.evidence
        for i in range(len(t)):
            key = (t.users[int(t.source[i])], t.users[int(t.target[i])])
            w = int(t.weight[i])
            row = acc.setdefault(key, {"weight": 0, "kinds": {}, "significant": 0, "first_time": math.inf,
                                       "last_time": -math.inf, "examples": ("", -1)})  # fmt: skip
            row["weight"] += w
            row["kinds"][t.kind] = w
            if "significant" in ev:
                flag = ev["significant"][i]
                row["significant"] = max(row["significant"], int(flag in (1, True, "1", "true")))
            for name, pick in (("first_time", min), ("last_time", max)):
                if name in ev and not math.isnan(float(ev[name][i])):
                    row[name] = pick(row[name], float(ev[name][i]))
            if "examples" in ev and w > row["examples"][1]:
                row["examples"] = (str(ev["examples"][i]), w)
    kept = sorted((k, v) for k, v in acc.items() if v["weight"] >= min_weight)
    users = sorted({u for (s, t), _ in kept for u in (s, t)})
    index = {u: i for i, u in enumerate(users)}

    def finite(x: float) -> float:
        return x if math.isfinite(x) else math.nan

    return EdgeTable(
        kind="multi",
        users=users,
        usernames={u: usernames.get(u, "") for u in users},
        source=np.asarray([index[s] for (s, _), _ in kept], dtype=np.int64),
        target=np.asarray([index[t] for (_, t), _ in kept], dtype=np.int64),
        weight=np.asarray([v["weight"] for _, v in kept], dtype=np.int64),
        evidence={
            "kinds": [" ".join(f"{k}:{w}" for k, w in sorted(v["kinds"].items())) for _, v in kept],
            "significant": [v["significant"] for _, v in kept],
            "first_time": [finite(v["first_time"]) for _, v in kept],
            "last_time": [finite(v["last_time"]) for _, v in kept],
            "examples": [v["examples"][0] for _, v in kept],
        },
    )


# --------------------------------------------------------------------------------------------------------
# One window


def snapshot_id(cluster_id: str, end: datetime) -> str:
    """The document id of a cluster's snapshot in the window ending at ``end``."""
    return f"{cluster_id}@{end.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def _iso(ts: float | None) -> str | None:
    return None if ts is None or not math.isfinite(ts) else datetime.fromtimestamp(ts, UTC).isoformat()


def recompute_window(
    store: JobStore,
    start: datetime,
    end: datetime,
    options: WindowOptions | None = None,
    settings: GraphSettings | None = None,
) -> WindowReport:
    """Recompute ``[start, end)`` from the stored posts (see the module docstring); idempotent."""
    options = options or WindowOptions()
    started = time.perf_counter()
    report = WindowReport(start.isoformat(), end.isoformat())
    posts: dict[str, GraphPost] = {}
    for doc in store.posts.scan(start, end):
        try:
            gp = GraphPost.from_doc(doc)
        except ValueError as exc:
            report.invalid_posts += 1
            log.warning("skipping stored post %s: %s", doc.get("key"), exc)
            continue
        posts.setdefault(gp.key, gp)
    ordered = sorted(posts.values(), key=lambda p: (p.time, p.key))
    report.posts = len(ordered)
    settings = settings or GraphSettings(window_s=options.window_s)
    state = GraphState(store, settings, *load_cascade_scoring(settings))
    state.add_posts(ordered)
    if not ordered:
        report.elapsed_s = round(time.perf_counter() - started, 3)
        return report
    table = build_table(ordered)
    opts = _options(options)
    layers: list[EdgeTable] = []
    coaction_objects: list[tuple[str, CoAction]] = []
    for kind in options.kinds:
        found = window_coactions(table, kind, options)
        report.coactions[kind] = len(found)
        tagged = [(kind, c) for c in found]
        state.add_coactions(tagged)
        coaction_objects.extend(tagged)
        if not found:
            continue
        edges = coordination_network(table, kind, opts)
        report.edges[kind] = len(edges)
        if kind != "co_similar_tweet" and options.permutations > 0:
            add_significance(edges, table, kind, opts, permutations=options.permutations, fdr=options.fdr,
                             seed=options.seed)  # fmt: skip
            ev = edges.evidence
            window = {"start": start.isoformat(), "end": end.isoformat(), "permutations": options.permutations}
            for i, row in enumerate(edges.rows()):
                values = {
                    "p_value": float(ev["p_value"][i]),
                    "q_value": float(ev["q_value"][i]),
                    "p_perm": float(ev["p_perm"][i]),
                    "null_mean": float(ev["null_mean"][i]),
                    "significant": bool(ev["significant"][i]),
                    "significance_window": window,
                }
                report.significant_edges += bool(ev["significant"][i])
                state.set_significance(kind, str(row["source"]), str(row["target"]), values)
        layers.append(edges)
    # clusters, with ids carried over from the previous window's snapshots
    merged = merge_layers(layers, 1 if options.cluster_on == "significant" else options.min_weight)
    found_clusters = find_clusters(merged, significant_only=options.cluster_on == "significant", seed=options.seed)
    _, previous = store.graph.previous_clusters(end)
    ids = stable_ids(found_clusters, {cid: d.get("accounts") or [] for cid, d in previous.items()},
                     options.min_jaccard)  # fmt: skip
    label_edges(merged, ids)
    report.clusters = len(ids)
    report.clusters_inherited = sum(1 for cid in ids if cid in previous)
    cluster_docs = _cluster_documents(merged, ids, previous, ordered, coaction_objects, start, end)
    state.set_clusters({u: cid for cid, members in ids.items() for u in members}, end)
    # cascades of the window: refresh their coordinated share now that clusters are known
    state.touch_cascades({c for c in (state.cascade_of(p.key) for p in ordered) if c})
    # A window computed again (posts that came late) may find other clusters: the ones it no longer has go, and
    # the cluster fields of every account that left one of its clusters are rebuilt from the snapshots left.
    # Deleted last, so a run that fails before finds them again when retried.
    before = store.graph.window_clusters(end)
    gone = {cid: doc for cid, doc in before.items() if cid not in ids}
    left = {str(a) for cid, doc in before.items() for a in doc.get("accounts") or [] if a not in ids.get(cid, ())}
    result = store.engine.bulk_upsert(cluster_docs) if cluster_docs else BulkResult()
    # searchable now: the next window looks up these clusters (and cascade members) by search
    store.engine.refresh(IndexKind.clusters)
    if left:
        members = sorted(left)
        kept = {
            account: [d for d in docs if not (d.get("cluster_id") in gone and d.get("window_end") == end.isoformat())]
            for account, docs in store.graph.clusters_holding(members).items()
        }
        state.rebuild_clusters(kept)
    flushed = state.flush()
    for cid in gone:
        store.engine.delete(IndexKind.clusters, snapshot_id(cid, end))
    report.clusters_removed = len(gone)
    store.engine.refresh(IndexKind.cascades)
    report.cascades_written, report.accounts_written, report.edges_written = (
        flushed.cascades, flushed.accounts, flushed.edges)  # fmt: skip
    report.rejected = len(flushed.rejected) + len(result.rejected)
    for doc_id, reason in [*((u.doc_id, r) for u, r in flushed.rejected), *result.rejected]:
        log.error("store rejected graph document %s: %s", doc_id, reason)
    report.elapsed_s = round(time.perf_counter() - started, 3)
    return report


def _cluster_documents(
    merged: EdgeTable,
    ids: Mapping[str, set[str]],
    previous: Mapping[str, Mapping[str, Any]],
    posts: Sequence[GraphPost],
    coactions: Sequence[tuple[str, CoAction]],
    start: datetime,
    end: datetime,
) -> list[Upsert]:
    """One snapshot per cluster of the window: the core's summary plus layers, top content, and the shares of
    the members' posts of the window with machine-like text and manipulated media, with their counts
    (:func:`~flockwatch.graph.clusters.score_shares`; None when nothing was scored)."""
    of = {u: cid for cid, members in ids.items() for u in members}
    content: dict[str, Counter[tuple[str, str]]] = {cid: Counter() for cid in ids}
    for kind, c in coactions:
        cid = of.get(c.user_a)
        if cid is not None and cid == of.get(c.user_b):
            content[cid][(kind, c.obj)] += 1
    shares = score_shares(ids, (PostScores(p.account, p.machine, p.media_scored, p.media_manipulated) for p in posts))
    kinds_col = merged.evidence["kinds"]
    upserts = []
    for summary in summaries(merged, ids):
        cid = str(summary["cluster_id"])
        members = ids[cid]
        layers = sorted(
            {
                part.split(":", 1)[0]
                for i in range(len(merged))
                if merged.users[int(merged.source[i])] in members and merged.users[int(merged.target[i])] in members
                for part in str(kinds_col[i]).split()
            }
        )
        prev = previous.get(cid) or {}
        doc = {
            **summary,
            "kind": "multi",
            "kinds": layers,
            "layers": layers,
            "first_seen": _iso(summary["first_seen"]),
            "last_seen": _iso(summary["last_seen"]),
            "window_start": start.isoformat(),
            "window_end": end.isoformat(),
            "first_window_start": prev.get("first_window_start") or start.isoformat(),
            "previous_window_end": prev.get("window_end"),
            "top_content": [
                {"kind": k, "object": o[:200], "coactions": n} for (k, o), n in content[cid].most_common(5)
            ],
            **shares[cid],
        }
        upserts.append(Upsert(IndexKind.clusters, snapshot_id(cid, end), doc))
    return upserts


def windows(end: datetime, length: timedelta, count: int) -> list[tuple[datetime, datetime]]:
    """``count`` successive windows of ``length`` ending at ``end``, oldest first."""
    if count < 1 or length <= timedelta(0):
        raise ValueError("need at least one window of positive length")
    return [(end - (count - i) * length, end - (count - i - 1) * length) for i in range(count)]


def recompute_windows(
    store: JobStore, end: datetime, length: timedelta, count: int = 1, options: WindowOptions | None = None
) -> list[WindowReport]:
    """Successive windows in time order, each inheriting the cluster ids of the one before (history)."""
    return [recompute_window(store, s, e, options) for s, e in windows(end, length, count)]


def run_windows(store: JobStore, params: Mapping[str, Any], default_end: datetime) -> list[dict[str, Any]]:
    """The ``graph_windows`` DAG's task: its params (``end``, ``window_hours``, ``windows``, ``permutations``,
    ``cluster_on``, ``min_weight``) → :func:`recompute_windows`; naive times are UTC."""
    end = datetime.fromisoformat(params["end"]) if params.get("end") else default_end
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    defaults = WindowOptions()
    options = WindowOptions(
        permutations=int(params.get("permutations", defaults.permutations)),
        cluster_on=str(params.get("cluster_on", defaults.cluster_on)),
        min_weight=int(params.get("min_weight", defaults.min_weight)),
    )
    length = timedelta(hours=float(params.get("window_hours", 6.0)))
    reports = recompute_windows(store, end, length, int(params.get("windows", 1)), options)
    return [r.as_dict() for r in reports]


# --------------------------------------------------------------------------------------------------------
# Export


class EdgeReads(Protocol):
    def edges(
        self, start: datetime | None = None, end: datetime | None = None, kinds: Sequence[str] = ()
    ) -> Iterable[dict[str, Any]]: ...


class AccountReads(Protocol):
    def get_many(self, kind: IndexKind, ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...


class ExportStore(Protocol):
    """What an export needs of the store: the coordination edges, and the accounts by id from the engine."""

    @property
    def engine(self) -> AccountReads: ...

    @property
    def graph(self) -> EdgeReads: ...


def edges_from_docs(
    docs: Iterable[Mapping[str, Any]],
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[dict[str, Any]]:
    """Rows ``(kind, source, target)`` with weight and evidence recomputed from the stored co-actions whose
    earlier post falls in ``[start, end)``, so an exported period has that period's weights."""
    lo = start.timestamp() if start else -math.inf
    hi = end.timestamp() if end else math.inf
    rows = []
    for doc in docs:
        coactions = {
            (str(r[0]), str(r[1]), str(r[2])): (float(r[3]), float(r[4]))
            for r in doc.get("coactions") or []
            if lo <= min(float(r[3]), float(r[4])) < hi
        }
        if not coactions:
            continue
        ev = edge_evidence(coactions)
        sig = doc.get("significant")
        rows.append(
            {
                "layer": str(doc["kind"]),
                "source": str(doc["source"]),
                "target": str(doc["target"]),
                **ev,
                "p_value": doc.get("p_value"),
                "q_value": doc.get("q_value"),
                "significant": "" if sig is None else str(bool(sig)).lower(),
            }
        )
    return rows


def _nan(value: Any) -> float:
    return math.nan if value is None else float(value)


def rows_to_table(rows: Sequence[Mapping[str, Any]], accounts: Mapping[str, Mapping[str, Any]],
                  merge: bool) -> EdgeTable:  # fmt: skip
    """An :class:`EdgeTable` for the core's writers; ``merge`` folds the layers of a pair into one edge
    (GEXF/GraphML hold one edge per pair): weights summed, ``layer`` lists ``kind:weight``."""
    if merge:
        folded: dict[tuple[str, str], dict[str, Any]] = {}
        for r in sorted(rows, key=lambda r: (r["source"], r["target"], r["layer"])):
            f = folded.get((r["source"], r["target"]))
            if f is None:
                folded[(r["source"], r["target"])] = {**r, "layer": f"{r['layer']}:{r['weight']}"}
                continue
            f["layer"] += f" {r['layer']}:{r['weight']}"
            f["weight"] += r["weight"]
            f["n_coactions"] += r["n_coactions"]
            f["n_objects"] += r["n_objects"]
            f["first_time"] = min(f["first_time"], r["first_time"])
            f["last_time"] = max(f["last_time"], r["last_time"])
            f["min_dt_s"] = min(f["min_dt_s"], r["min_dt_s"])
            f["examples"] = " | ".join(x for x in (f["examples"], r["examples"]) if x)
            for name in ("median_dt_s", "source_first_share", "p_value", "q_value"):
                f[name] = None  # not defined across layers
            f["significant"] = "true" if "true" in (f["significant"], r["significant"]) else f["significant"]
        rows = list(folded.values())
    rows = sorted(rows, key=lambda r: (r["layer"], r["source"], r["target"]))
    users = sorted({u for r in rows for u in (r["source"], r["target"])})
    index = {u: i for i, u in enumerate(users)}
    kinds = {r["layer"].split(":", 1)[0] for r in rows}
    table = EdgeTable(
        kind=next(iter(kinds)) if len(kinds) == 1 and not merge else "multi",
        users=users,
        usernames={u: str((accounts.get(u) or {}).get("handle") or "") for u in users},
        source=np.asarray([index[r["source"]] for r in rows], dtype=np.int64),
        target=np.asarray([index[r["target"]] for r in rows], dtype=np.int64),
        weight=np.asarray([int(r["weight"]) for r in rows], dtype=np.int64),
    )
    for name in EXPORT_COLUMNS:
        values = [r.get(name) for r in rows]
        if name in ("layer", "examples", "significant"):
            table.evidence[name] = [str(v or "") for v in values]
        elif name in ("n_coactions", "n_objects"):
            table.evidence[name] = [int(v or 0) for v in values]
        else:
            table.evidence[name] = [_nan(v) for v in values]
    table.node_cluster = {u: str((accounts.get(u) or {}).get("cluster_id") or "") for u in users}
    if not any(table.node_cluster.values()):
        table.node_cluster = {}
    return table


def export_graph(
    store: ExportStore,
    output: Path,
    fmt: str = "graphml",
    start: datetime | None = None,
    end: datetime | None = None,
    kinds: Sequence[str] = (),
) -> dict[str, Any]:
    """Write the stored coordination graph of ``[start, end)`` to ``output`` (csv, jsonl, gexf, graphml)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    rows = edges_from_docs(store.graph.edges(start, end, kinds), start, end)
    users = sorted({u for r in rows for u in (r["source"], r["target"])})
    accounts = store.engine.get_many(IndexKind.accounts, users) if users else {}
    merge = fmt in ("gexf", "graphml") and len({r["layer"] for r in rows}) > 1
    table = rows_to_table(rows, accounts, merge)
    write_edges(table, output, fmt)
    return {"edges": len(table), "accounts": len(users), "layers": sorted({r["layer"] for r in rows}),
            "output": str(output), "format": fmt}  # fmt: skip
