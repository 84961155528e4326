"""A case's evidence, read from the store, for the API's case routes and ``flockwatch case export``: its items'
documents (with their evidence), plots of its cascades, clusters and narratives, and the evidence bundle or STIX
report of :mod:`flockwatch.exports` made from them."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flockwatch import plots
from flockwatch.api.lookups import cascade_of, cluster_parts, narrative_volume, posts_by_key
from flockwatch.cases import refs_of
from flockwatch.exports import bundle, stix
from flockwatch.store import Store
from flockwatch.store.documents import IndexKind

Names = Callable[[str], str] | None
MAX_EDGES = 2000
MAX_PLOTS = 10


def case_items(store: Store, case: dict[str, Any]) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """(kind → documents of the case's items, ``kind:ref`` of the items the store no longer has)."""
    missing: list[str] = []

    def found(kind: str, docs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        missing.extend(f"{kind}:{r}" for r in refs_of(case, kind) if r not in docs)
        return [docs[r] for r in refs_of(case, kind) if r in docs]

    posts = {str(p.get("key")): p for p in posts_by_key(store, refs_of(case, "post"))}
    clusters, edges = [], []
    for cid in refs_of(case, "cluster"):
        try:
            snapshot, between = cluster_parts(store, cid, MAX_EDGES)
        except LookupError:
            missing.append(f"cluster:{cid}")
            continue
        clusters.append(snapshot)
        edges += between
    cascades = {key: c for key in refs_of(case, "cascade") if (c := cascade_of(store, key)) is not None}
    alerts = {a: doc for a in refs_of(case, "alert") if (doc := store.alerts.get(a)) is not None}
    items = {
        "posts": found("post", posts),
        "accounts": found("account", store.engine.get_many(IndexKind.accounts, refs_of(case, "account"))),
        "clusters": clusters,
        "edges": edges,
        "narratives": found("narrative", store.engine.get_many(IndexKind.narratives, refs_of(case, "narrative"))),
        "cascades": found("cascade", cascades),
        "alerts": found("alert", alerts),
        "notes": list(case.get("notes") or []),
    }
    return items, missing


def case_plots(store: Store, items: dict[str, list[dict[str, Any]]], names: Names = None) -> dict[str, bytes]:
    """PNG plots of the case's cascades, clusters and narratives (at most ``MAX_PLOTS`` of each kind)."""
    out: dict[str, bytes] = {}
    for n, cascade in enumerate(items["cascades"][:MAX_PLOTS], 1):
        members = [str(r[0]) for r in cascade.get("events") or []]
        out[f"cascade-{n}.png"] = plots.cascade_tree(cascade, posts_by_key(store, members), "png", pseudonymise=names)
    for n, cluster in enumerate(items["clusters"][:MAX_PLOTS], 1):
        mine = [e for e in items["edges"] if e.get("source") in cluster["accounts"]]
        out[f"cluster-{n}.png"] = plots.cluster_graph(cluster, mine, "png", pseudonymise=names)
    narratives = items["narratives"][:MAX_PLOTS]
    if narratives:
        volumes = [{**n, "timeline": narrative_volume(store, str(n.get("narrative_id")), "day")} for n in narratives]
        if any(v["timeline"] for v in volumes):
            out["narratives.png"] = plots.narrative_volume([v for v in volumes if v["timeline"]], "png")
    return out


def case_view(case: dict[str, Any], names: Names) -> dict[str, Any]:
    """The case as ``names`` may see it: account items (and notes' references to them) by pseudonym."""
    if names is None:
        return case

    def ref(kind: str, value: str) -> str:
        return names(value) if kind == "account" else value

    def note_ref(value: str) -> str:
        kind, _, rest = value.partition(":")
        return f"{kind}:{ref(kind, rest)}"

    items = [{**i, "ref": ref(str(i.get("kind")), str(i.get("ref")))} for i in case.get("items") or []]
    notes = [{**n, "refs": [note_ref(str(r)) for r in n.get("refs") or []]} for n in case.get("notes") or []]
    return {**case, "items": items, "notes": notes}


def case_bundle(store: Store, case: dict[str, Any], names: Names = None) -> bytes:
    """The case's evidence bundle as a zip (items, media hashes, STIX report, plots, sha256 manifest)."""
    items, missing = case_items(store, case)
    view = case_view(case, names)
    if missing:
        view["missing"] = [
            m if not m.startswith("account:") or names is None else f"account:{names(m[8:])}" for m in missing
        ]
    files = case_plots(store, items, names)
    return bundle.zip_bytes(bundle.bundle_files(view, items, files, pseudonymise=names))


def case_stix(store: Store, case: dict[str, Any], names: Names = None) -> bytes:
    """The case as a STIX 2.1 bundle (a report referring to everything in it), validated before it is handed out."""
    items, _ = case_items(store, case)
    report = stix.case_bundle(case_view(case, names), items, pseudonymise=names)
    errors, _ = stix.validate(report)
    if errors:
        raise RuntimeError(f"the STIX bundle of {case.get('case_id')} does not validate: {errors[:3]}")
    return json.dumps(report, indent=1, sort_keys=True).encode()
