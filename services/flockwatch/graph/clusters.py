"""Campaign clusters on a coordination network, with ids that stay stable across successive windows.

* :func:`find_clusters`: Louvain communities (Blondel et al., 2008; ``networkx.community.louvain_communities``
  with a fixed seed) of the undirected graph whose edge weight is ``w(u, v) + w(v, u)``, optionally on
  significant edges only; clusters of one account are dropped.
* :func:`stable_ids`: a cluster inherits the id of the previous window's cluster it overlaps most
  (Jaccard of member sets >= ``min_jaccard``; greedy, best overlap first, one-to-one).  A cluster with no
  such predecessor gets ``c-`` + the first 10 hex digits of the SHA-1 of its sorted members, so the same
  membership always gets the same id, whatever the run.
* :func:`summaries`: members, edges, total weight, first/last co-action time and a few example co-actions.
* :func:`score_shares`: what the members posted in the window, by the text and media scorers'
  verdicts: ``machine_text_share = machine / (machine + human)`` over text-scored posts (``unscored`` posts
  are in neither count) and ``manipulated_media_share = manipulated / media-scored`` over posts with scored
  media, where a post is manipulated when one of its media has ``manipulation_score >= threshold`` (0.5) or
  a match in a known-fake bank (:func:`media_flags`); each share comes with the counts it rests on and is
  None when nothing was scored (no evidence is not "0 %").
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx  # type: ignore[import-untyped, unused-ignore]

from flockwatch.graph.coordination import EdgeTable


def find_clusters(edges: EdgeTable, significant_only: bool = False, seed: int = 0) -> list[set[str]]:
    graph: nx.Graph[Any] = nx.Graph()
    sig = edges.evidence.get("significant")
    for i in range(len(edges)):
        if significant_only and sig is not None and not sig[i]:
            continue
        u, v = edges.users[int(edges.source[i])], edges.users[int(edges.target[i])]
        if u == v:
            continue
        w = int(edges.weight[i])
        if graph.has_edge(u, v):
            graph[u][v]["weight"] += w
        else:
            graph.add_edge(u, v, weight=w)
    if graph.number_of_edges() == 0:
        return []
    communities = nx.community.louvain_communities(graph, weight="weight", seed=seed)
    return sorted((set(c) for c in communities if len(c) > 1), key=lambda c: (-len(c), sorted(c)))


def content_id(members: Collection[str]) -> str:
    return "c-" + hashlib.sha1("\n".join(sorted(members)).encode("utf-8")).hexdigest()[:10]


def stable_ids(
    clusters: list[set[str]], previous: Mapping[str, Collection[str]] | None = None, min_jaccard: float = 0.3
) -> dict[str, set[str]]:
    """Ids for ``clusters`` (see the module docstring); returns ``id -> members``."""
    prev = {k: set(v) for k, v in (previous or {}).items()}
    candidates: list[tuple[float, int, str]] = []
    for i, members in enumerate(clusters):
        for pid, old in prev.items():
            inter = len(members & old)
            if inter:
                candidates.append((inter / len(members | old), i, pid))
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    assigned: dict[int, str] = {}
    used: set[str] = set()
    for jac, i, pid in candidates:
        if jac >= min_jaccard and i not in assigned and pid not in used:
            assigned[i] = pid
            used.add(pid)
    out: dict[str, set[str]] = {}
    for i, members in enumerate(clusters):
        cid = assigned.get(i) or content_id(members)
        while cid in out:  # identical member sets cannot occur twice; guard anyway
            cid += "'"
        out[cid] = members
    return out


def label_edges(edges: EdgeTable, clusters: Mapping[str, Collection[str]]) -> None:
    """Add a ``cluster_id`` column: the cluster holding both ends of the edge, else empty."""
    of: dict[str, str] = {u: cid for cid, members in clusters.items() for u in members}
    column = []
    for i in range(len(edges)):
        a = of.get(edges.users[int(edges.source[i])], "")
        b = of.get(edges.users[int(edges.target[i])], "")
        column.append(a if a == b else "")
    edges.evidence["cluster_id"] = column
    edges.node_cluster = of


def summaries(edges: EdgeTable, clusters: Mapping[str, Collection[str]]) -> list[dict[str, Any]]:
    out = []
    ev = edges.evidence
    for cid, members in clusters.items():
        mset = set(members)
        idx = [
            i
            for i in range(len(edges))
            if edges.users[int(edges.source[i])] in mset and edges.users[int(edges.target[i])] in mset
        ]
        firsts = [float(ev["first_time"][i]) for i in idx if "first_time" in ev]
        lasts = [float(ev["last_time"][i]) for i in idx if "last_time" in ev]
        firsts = [t for t in firsts if not math.isnan(t)]
        lasts = [t for t in lasts if not math.isnan(t)]
        top = sorted(idx, key=lambda i: -int(edges.weight[i]))[:3]
        out.append(
            {
                "cluster_id": cid,
                "kind": edges.kind,
                "accounts": sorted(mset),
                "n_accounts": len(mset),
                "n_edges": len(idx),
                "total_weight": int(sum(int(edges.weight[i]) for i in idx)),
                "first_seen": min(firsts) if firsts else None,
                "last_seen": max(lasts) if lasts else None,
                "examples": [str(ev["examples"][i]) for i in top] if "examples" in ev else [],
            }
        )
    return out


@dataclass(frozen=True, slots=True)
class PostScores:
    """One post's scores, as :func:`score_shares` counts them."""

    account: str
    machine: bool | None = None  # text labelled machine (True) / human (False); None: unscored
    media_scored: bool = False  # a media item of the post was scored or looked up in a bank
    media_manipulated: bool = False  # ... and one scored >= the threshold or matched a known fake


def media_flags(scores: Iterable[Mapping[str, Any]], threshold: float = 0.5) -> tuple[bool, bool]:
    """``(scored, manipulated)`` for a post's media scores (``MediaScore`` fields): scored when an item has a
    ``manipulation_score`` or bank ``matches``; manipulated when a score is ``>= threshold`` or an item
    matched (the alerts' ``known_fake_media`` reads a match the same way)."""
    scored = manipulated = False
    for item in scores:
        value = item.get("manipulation_score")
        matched = bool(item.get("matches"))
        if isinstance(value, int | float) or matched:
            scored = True
        if matched or (isinstance(value, int | float) and value >= threshold):
            manipulated = True
    return scored, manipulated


def score_shares(clusters: Mapping[str, Collection[str]], posts: Iterable[PostScores]) -> dict[str, dict[str, Any]]:
    """Per cluster id: machine-text and manipulated-media shares of its members' ``posts`` with their counts
    (see the module docstring)."""
    of = {u: cid for cid, members in clusters.items() for u in members}
    counts = {cid: [0, 0, 0, 0] for cid in clusters}  # machine, text scored, manipulated, media scored
    for p in posts:
        cid = of.get(p.account)
        if cid is None:
            continue
        c = counts[cid]
        if p.machine is not None:
            c[0] += p.machine
            c[1] += 1
        if p.media_scored:
            c[2] += p.media_manipulated
            c[3] += 1
    return {
        cid: {
            "machine_text_share": machine / text if text else None,
            "machine_text_posts": machine,
            "text_scored_posts": text,
            "manipulated_media_share": manipulated / media if media else None,
            "manipulated_media_posts": manipulated,
            "media_scored_posts": media,
        }
        for cid, (machine, text, manipulated, media) in counts.items()
    }
