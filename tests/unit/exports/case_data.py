"""A small case in the shapes the stages store: four coordinating twitter accounts, a narrative, synthetic media."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from flockwatch.graph.account_history import history_evidence, learn

# Distinctive raw ids and handles, so a leak is found by a plain substring search.
RAW_IDS = ["rawid7001", "rawid7002", "rawid7003", "rawid7004"]
HANDLES = ["handle_alpha", "handle_bravo", "handle_charlie", "handle_delta"]
ACCOUNTS = [f"twitter:{i}" for i in RAW_IDS]
SHA_FAKE = hashlib.sha256(b"fake picture").hexdigest()
SHA_OTHER = hashlib.sha256(b"another picture").hexdigest()
T0 = 1_600_000_000.0


def iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat()


def post(i: int, n: int, **extra: Any) -> dict[str, Any]:
    key = f"twitter:p{i}{n}"
    doc: dict[str, Any] = {
        "_id": key,
        "key": key,
        "platform": "twitter",
        "platform_id": f"p{i}{n}",
        "author": {"id": RAW_IDS[i], "handle": HANDLES[i], "display_name": f"Name {HANDLES[i]}", "followers": 10 * i},
        "account_key": ACCOUNTS[i],
        "text": f"Vote early! #a #b #c https://ex.example/x post {n}" + (f" cc @{HANDLES[1]}" if i == 2 else ""),
        "language": "en",
        "created_at": iso(T0 + 10 * n + i),
        "urls": ["https://ex.example/x"],
        "hashtags": ["a", "b", "c"],
        "mentions": [RAW_IDS[(i + 1) % 4]],
        "media": [{"url": f"https://img.example/{i}{n}.jpg", "kind": "image", "sha256": SHA_FAKE}],
        "engagement": {"likes": n, "reshares": 0},
        "source": {"format": "test", "uri": "mem://"},
        "text_score": {
            "machine_score": 0.9,
            "label": "machine",
            "interval": [0.85, 0.93],
            "model": "m1",
            "evidence": [],
        },
        "narrative_id": "n-1",
        "narrative_how": "exact" if n else "new",
        "media_risk": 0.8,
        "media_by_url": {
            "h1": {
                "media_url": f"https://img.example/{i}{n}.jpg",
                "sha256": SHA_FAKE,
                "media_kind": "image",
                "manipulation_score": 0.8,
                "signals": [{"signal": "synthetic_image", "score": 0.91, "on": "x", "detail": "diffusion traces"}],
                "matches": [
                    {
                        "item": "bank/f.jpg",
                        "distance": 0.02,
                        "kind": "image",
                        "label": "known_fake",
                        "how": "pdq",
                        "sha256": SHA_OTHER,
                    }
                ],
                "pdq": "f" * 64,
            }
        },
    }
    doc.update(extra)
    return doc


def edge(kind: str, a: int, b: int, weight: int = 3) -> dict[str, Any]:
    src, tgt = ACCOUNTS[a], ACCOUNTS[b]
    return {
        "_id": f"{kind}|{src}|{tgt}",
        "edge_id": f"{kind}|{src}|{tgt}",
        "kind": kind,
        "source": src,
        "target": tgt,
        "weight": weight,
        "n_coactions": weight,
        "n_objects": 1,
        "first_time": T0,
        "last_time": T0 + 30,
        "first_seen": iso(T0),
        "last_seen": iso(T0 + 30),
        "min_dt_s": 1.0,
        "median_dt_s": 2.5,
        "source_first_share": 0.5,
        "examples": f"twitter:p{a}0>twitter:p{b}0 dt=+1s https://ex.example/x",
        "coactions": [[f"twitter:p{a}0", f"twitter:p{b}0", "https://ex.example/x", T0, T0 + 1]],
        "p_value": 0.001,
        "q_value": 0.01,
        "significant": True,
        "significance_window": {"start": iso(T0 - 3600), "end": iso(T0 + 3600), "permutations": 100},
    }


def case_items() -> dict[str, list[dict[str, Any]]]:
    posts = [post(i, n) for i in range(4) for n in range(2)]
    edges = [edge("co_link", a, b) for a in range(3) for b in range(3) if a != b]
    edges += [edge("co_hashtag", 0, 1, 2), edge("co_hashtag", 1, 0, 2), edge("co_hashtag", 1, 2, 1)]
    accounts = [
        {
            "_id": ACCOUNTS[i],
            "key": ACCOUNTS[i],
            "platform": "twitter",
            "handle": HANDLES[i],
            "post_count": 2,
            "first_seen": iso(T0),
            "last_seen": iso(T0 + 20),
            "partners": [a for a in ACCOUNTS[:3] if a != ACCOUNTS[i]],
            "n_partners": 2,
            "coordination_kinds": ["co_hashtag", "co_link"],
            "partner_kinds": {a: ["co_link"] for a in ACCOUNTS[:3] if a != ACCOUNTS[i]},
            "post_keys": [f"twitter:p{i}0", f"twitter:p{i}1"],
            "cluster_ids": ["c-1"],
            "cluster_id": "c-1",
            "cluster_window_end": iso(T0 + 3600),
            "machine_score": 0.85,
            "machine_share": 1.0,
            "machine_label": "machine",
            "machine_n_posts": 2,
            "machine_n_scored": 2,
        }
        for i in range(4)
    ]
    cluster = {
        "_id": "c-1@x",
        "cluster_id": "c-1",
        "kind": "multi",
        "accounts": ACCOUNTS[:3],
        "n_accounts": 3,
        "n_edges": 6,
        "total_weight": 18,
        "layers": ["co_hashtag", "co_link"],
        "window_start": iso(T0 - 3600),
        "window_end": iso(T0 + 3600),
        "first_seen": iso(T0),
        "last_seen": iso(T0 + 30),
        "examples": ["twitter:p00>twitter:p10 dt=+1s https://ex.example/x"],
        "machine_text_share": 1.0,
        "text_scored_posts": 6,
        "manipulated_media_share": 1.0,
        "media_scored_posts": 6,
    }
    narrative = {
        "_id": "n-1",
        "narrative_id": "n-1",
        "representative_text": "Vote early! #a #b #c",
        "representative_key": "twitter:p00",
        "first_seen": iso(T0),
        "last_seen": iso(T0 + 20),
        "post_count": 8,
        "platforms": {"twitter": 6, "reddit": 2},
        "account_count": 4,
        "accounts": ACCOUNTS,
        "scored_posts": 8,
        "machine_posts": 7,
        "machine_share": 0.875,
        "joined_by": {"exact": 4, "new": 1, "near_copy": 3},
        "hashtags": ["a"],
        "urls": ["https://ex.example/x"],
    }
    events = [["twitter:p00", None, T0, ACCOUNTS[0]]]
    events += [[f"twitter:p{i}1", "twitter:p00", T0 + 5 * i, ACCOUNTS[i]] for i in range(1, 4)]
    cascade = {
        "cascade_id": "twitter:p00",
        "root_key": "twitter:p00",
        "platform": "twitter",
        "size": 4,
        "depth": 1,
        "max_breadth": 3,
        "structural_virality": 1.5,
        "risk_score": None,
        "first_seen": iso(T0),
        "last_seen": iso(T0 + 15),
        "n_accounts": 4,
        "placeholder_root": False,
        "members": [e[0] for e in events],
        "events": events,
        "resharer_history": history_evidence(
            learn([("twitter:old", True, ACCOUNTS[1:3])], "judged"), ACCOUNTS[1:4]
        ).to_dict(),
    }
    alert = {
        "alert_id": "a-1",
        "rule": "machine_text",
        "severity": "high",
        "entity": f"account:{ACCOUNTS[0]}",
        "created_at": iso(T0 + 40),
        "status": "new",
        "summary": f"machine_text: post twitter:p00 by @{HANDLES[0]} (machine)",
        "evidence": [{"signal": "machine", "score": 0.9, "on": ACCOUNTS[0], "detail": f"@{RAW_IDS[0]} posted"}],
        "post_keys": ["twitter:p00"],
        "narrative_id": "n-1",
        "cluster_id": "c-1",
        "media": [SHA_FAKE],
    }
    notes = [
        {
            "note_id": "1",
            "title": "Why",
            "text": f"{ACCOUNTS[1]} leads",
            "author": "analyst1",
            "refs": ["cluster:c-1", "post:twitter:p00"],
        }
    ]
    return {
        "posts": posts,
        "accounts": accounts,
        "edges": edges,
        "clusters": [cluster],
        "narratives": [narrative],
        "cascades": [cascade],
        "alerts": [alert],
        "notes": notes,
    }


def items_copy() -> dict[str, list[dict[str, Any]]]:
    return copy.deepcopy(case_items())


def fake_pseudonym(key: str) -> str:
    return "anon:" + hashlib.sha256(b"s" + key.encode()).hexdigest()[:12]
