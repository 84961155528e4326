"""Index mappings, per kind: pure data, the same for every engine (OpenSearch and Elasticsearch share the format).

``MAPPINGS`` is what a fresh index gets. ``GRAPH_FIELDS`` and ``TEXT_FIELDS`` are the fields the graph stage
(issue 5) and the text rollups (issue 3) added later; they are in ``MAPPINGS`` too, and are added on their own
to indices created before they existed (``Engine.ensure_fields``: adding fields is compatible).
"""

from __future__ import annotations

from typing import Any

from flockwatch.store.documents import IndexKind

KEYWORD = {"type": "keyword"}
DATE = {"type": "date"}
LONG = {"type": "long"}
FLOAT = {"type": "float"}
# Evidence lists vary by signal; keep them retrievable but out of the mapping.
STORED_ONLY = {"type": "object", "enabled": False}

_SCORE_MAPPINGS: dict[str, Any] = {
    "text_score": {
        "properties": {
            "machine_score": FLOAT,
            "label": KEYWORD,
            "model": KEYWORD,
            "narrative_id": KEYWORD,
            "evidence": STORED_ONLY,
        }
    },
    # One entry per media URL (keyed by a hash of it), merged by partial updates.
    "media_by_url": STORED_ONLY,
    "media_risk": FLOAT,
    "narrative_id": KEYWORD,
    "narrative_how": KEYWORD,
}

MAPPINGS: dict[IndexKind, dict[str, Any]] = {
    IndexKind.posts: {
        "dynamic": False,
        "properties": {
            "key": KEYWORD,
            "platform": KEYWORD,
            "platform_id": KEYWORD,
            "author": {
                "properties": {
                    "id": KEYWORD,
                    "handle": {"type": "keyword", "normalizer": "lowercase"},
                    "display_name": {"type": "text"},
                    "followers": LONG,
                    "following": LONG,
                    "category": KEYWORD,
                }
            },
            "text": {"type": "text"},
            "language": KEYWORD,
            "created_at": DATE,
            "ingested_at": DATE,
            "urls": KEYWORD,
            "hashtags": {"type": "keyword", "normalizer": "lowercase"},
            "mentions": {"type": "keyword", "normalizer": "lowercase"},
            "media": {"properties": {"url": KEYWORD, "kind": KEYWORD, "mime_type": KEYWORD, "sha256": KEYWORD}},
            "reply_to": KEYWORD,
            "reshare_of": KEYWORD,
            "quote_of": KEYWORD,
            "root_id": KEYWORD,
            "parent_key": KEYWORD,
            "engagement": {"properties": {k: LONG for k in ("likes", "reshares", "replies", "quotes", "views")}},
            "source": {"properties": {"format": KEYWORD, "uri": KEYWORD, "position": KEYWORD}},
            **_SCORE_MAPPINGS,
        },
    },
    IndexKind.accounts: {
        "dynamic": False,
        "properties": {
            "key": KEYWORD,
            "platform": KEYWORD,
            "handle": KEYWORD,
            "first_seen": DATE,
            "last_seen": DATE,
            "post_count": LONG,
            "machine_score": FLOAT,
            "cluster_ids": KEYWORD,
        },
    },
    IndexKind.cascades: {
        "dynamic": False,
        "properties": {
            "cascade_id": KEYWORD,
            "root_key": KEYWORD,
            "size": LONG,
            "depth": LONG,
            "structural_virality": FLOAT,
            "risk_score": FLOAT,
            "early_warning_score": FLOAT,
            "first_seen": DATE,
            "last_seen": DATE,
        },
    },
    IndexKind.narratives: {
        "dynamic": False,
        "properties": {
            "narrative_id": KEYWORD,
            "representative_text": {"type": "text"},
            "first_seen": DATE,
            "last_seen": DATE,
            "post_count": LONG,
            "machine_share": FLOAT,
        },
    },
    IndexKind.clusters: {
        "dynamic": False,
        "properties": {
            "cluster_id": KEYWORD,
            "accounts": KEYWORD,
            "layers": KEYWORD,
            "first_seen": DATE,
            "last_seen": DATE,
        },
    },
    IndexKind.alerts: {
        "dynamic": False,
        "properties": {
            "alert_id": KEYWORD,
            "rule": KEYWORD,
            "severity": KEYWORD,
            "entity": KEYWORD,
            "status": KEYWORD,
            "created_at": DATE,
            "last_seen": DATE,  # the latest post's time: what restoring the alert book looks for
            "summary": {"type": "text"},
            "post_keys": KEYWORD,
            "evidence": STORED_ONLY,
            "outbox": KEYWORD,  # sinks that still owe a delivery (flockwatch.alerts.outbox)
        },
    },
    # One document per banked media item (id = bank name + sha256); hashes are stored, not searched.
    IndexKind.media_bank: {
        "dynamic": False,
        "properties": {
            "bank": KEYWORD,
            "item": KEYWORD,
            "sha256": KEYWORD,
            "kind": KEYWORD,
            "label": KEYWORD,
            "note": {"type": "text"},
            "added_at": DATE,
            "hashes": STORED_ONLY,
        },
    },
    # Watched entities as percolator queries. The fields the queries look at are mapped exactly as in
    # the posts index (same analyzer and normalizers), so a post matches here as it would be found there.
    IndexKind.cases: {
        "dynamic": False,
        "properties": {
            "case_id": KEYWORD,
            "name": {"type": "text"},
            "status": KEYWORD,
            "created_by": KEYWORD,
            "created_at": DATE,
            "updated_at": DATE,
            "items": STORED_ONLY,
            "notes": STORED_ONLY,
        },
    },
    IndexKind.verdicts: {
        "dynamic": False,
        "properties": {
            "cascade_id": KEYWORD,
            "verdict": KEYWORD,
            "by": KEYWORD,
            "at": DATE,
            "note": {"type": "text"},
        },
    },
    IndexKind.watchlists: {
        "dynamic": False,
        "properties": {
            "query": {"type": "percolator"},
            "entity_id": KEYWORD,
            "kind": KEYWORD,
            "entity": STORED_ONLY,
            "updated_at": DATE,
            "text": {"type": "text"},
            "mentions": {"type": "keyword", "normalizer": "lowercase"},
            "author": {"properties": {"handle": {"type": "keyword", "normalizer": "lowercase"}}},
            "language": KEYWORD,
        },
    },
}

# One document per (post, time a connector saw it): a post's growth over time, and the trending pass's velocity.
MAPPINGS[IndexKind.engagement] = {
    "dynamic": False,
    "properties": {
        "post_key": KEYWORD,
        "platform": KEYWORD,
        "account_key": KEYWORD,
        "hashtags": {"type": "keyword", "normalizer": "lowercase"},
        "source_uri": KEYWORD,
        "created_at": DATE,
        "collected_at": DATE,
        **{k: LONG for k in ("likes", "reshares", "replies", "quotes", "views")},
    },
}

# --- graph (issue 5): fields of the graph stage's documents (flockwatch.stages.graph) ----------------
# Only added fields: what analysts filter on is mapped, the state behind it (co-actions, cascade events,
# post keys) is stored without being indexed.
GRAPH_FIELDS: dict[IndexKind, dict[str, Any]] = {
    IndexKind.accounts: {
        "partners": KEYWORD,
        "n_partners": LONG,
        "coordination_kinds": KEYWORD,
        "cluster_id": KEYWORD,
        "cluster_window_end": DATE,
        "partner_kinds": STORED_ONLY,
        "post_keys": STORED_ONLY,
    },
    IndexKind.cascades: {
        "platform": KEYWORD,
        "max_breadth": LONG,
        "n_accounts": LONG,
        "branching_factor": FLOAT,
        "root_share": FLOAT,
        "lifetime": FLOAT,
        "spreader_gini": FLOAT,
        "coordinated_share": FLOAT,
        "time_to_10": FLOAT,
        "delay_median": FLOAT,
        "placeholder_root": {"type": "boolean"},
        "merged_into": KEYWORD,
        "members": KEYWORD,
        "events": STORED_ONLY,
        "repairs": STORED_ONLY,
        # with an account history (FLOCKWATCH_GRAPH_ACCOUNT_HISTORY): the scores before the fusion, its evidence
        "spread_risk_score": FLOAT,
        "spread_early_warning_score": FLOAT,
        "resharer_history": STORED_ONLY,
        "early_resharer_history": STORED_ONLY,
    },
    IndexKind.clusters: {
        "kinds": KEYWORD,
        "n_accounts": LONG,
        "n_edges": LONG,
        "total_weight": LONG,
        "window_start": DATE,
        "window_end": DATE,
        "first_window_start": DATE,
        "machine_text_share": FLOAT,
        "machine_text_posts": LONG,
        "text_scored_posts": LONG,
        "manipulated_media_share": FLOAT,
        "manipulated_media_posts": LONG,
        "media_scored_posts": LONG,
        "top_content": STORED_ONLY,
        "examples": STORED_ONLY,
    },
}
MAPPINGS[IndexKind.coordination_edges] = {
    "dynamic": False,
    "properties": {
        "edge_id": KEYWORD,
        "kind": KEYWORD,
        "source": KEYWORD,
        "target": KEYWORD,
        "weight": LONG,
        "n_coactions": LONG,
        "n_objects": LONG,
        "first_seen": DATE,
        "last_seen": DATE,
        "min_dt_s": FLOAT,
        "median_dt_s": FLOAT,
        "source_first_share": FLOAT,
        "p_value": FLOAT,
        "q_value": FLOAT,
        "significant": {"type": "boolean"},
        "coactions": STORED_ONLY,
        "significance_window": STORED_ONLY,
    },
}
for _kind, _fields in GRAPH_FIELDS.items():
    MAPPINGS[_kind]["properties"].update(_fields)
# --- end graph (issue 5) ----------------------------------------------------------------------------

# --- text rollups (issue 3): narrative documents and the accounts' machine-likeness ------------------
TEXT_FIELDS: dict[IndexKind, dict[str, Any]] = {
    # platform:author id, what narrative rollups count and list accounts by.
    IndexKind.posts: {"account_key": KEYWORD},
    IndexKind.narratives: {
        "representative_key": KEYWORD,
        "platforms": STORED_ONLY,
        "account_count": LONG,
        "accounts": KEYWORD,
        "scored_posts": LONG,
        "machine_posts": LONG,
        "joined_by": STORED_ONLY,
        "hashtags": KEYWORD,
        "urls": KEYWORD,
    },
    IndexKind.accounts: {
        "machine_share": FLOAT,
        "machine_label": KEYWORD,
        "machine_n_posts": LONG,
        "machine_n_scored": LONG,
        "machine_last_seen": DATE,
        "machine_threshold": FLOAT,
        "machine_evidence": STORED_ONLY,
        # The newest posts the fields rest on (flockwatch.text.rollup.merge_recent): state, not searched.
        "machine_recent": STORED_ONLY,
    },
}
for _kind, _fields in TEXT_FIELDS.items():
    MAPPINGS[_kind]["properties"].update(_fields)
# --- end text rollups (issue 3) ---------------------------------------------------------------------
