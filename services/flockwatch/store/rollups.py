"""Reads behind the text rollups (issue 3): narrative summaries by aggregation, and the top rollup documents."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flockwatch.store.documents import IndexKind
from flockwatch.store.engine import Engine
from flockwatch.text.rollup import ACCOUNT_SAMPLE, TOP_ENTITIES, NarrativeSummary


class RollupsRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def narrative_texts(self, narrative_ids: Sequence[str]) -> dict[str, str]:
        """Each stored narrative's representative text (what alerts about it show), one read for all."""
        found = self.engine.get_many(IndexKind.narratives, sorted(set(narrative_ids))) if narrative_ids else {}
        return {k: str(v.get("representative_text") or "") for k, v in found.items()}

    def narrative_summaries(self, narrative_ids: Sequence[str], chunk: int = 500) -> dict[str, NarrativeSummary]:
        """Each narrative's summary over its post documents, by aggregation (same rules as ``summarize_posts``)."""
        out: dict[str, NarrativeSummary] = {}
        ids = sorted(set(narrative_ids))
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            top = {"order": [{"_count": "desc"}, {"_key": "asc"}]}
            aggs = {
                "first": {"min": {"field": "created_at"}},
                "last": {"max": {"field": "created_at"}},
                "platforms": {"terms": {"field": "platform", "size": 100}},
                # account_key is platform:author id (as the accounts index spells it), so accounts never merge
                # across platforms. Exact below the precision threshold (40,000 distinct accounts), approximate above.
                "n_accounts": {"cardinality": {"field": "account_key", "precision_threshold": 40_000}},
                "accounts": {"terms": {"field": "account_key", "size": ACCOUNT_SAMPLE, **top}},
                "labels": {"terms": {"field": "text_score.label", "size": 10, "missing": "pending"}},
                "how": {"terms": {"field": "narrative_how", "size": 10}},
                "hashtags": {"terms": {"field": "hashtags", "size": TOP_ENTITIES, **top}},
                "urls": {"terms": {"field": "urls", "size": TOP_ENTITIES, **top}},
                "earliest": {
                    "top_hits": {
                        "size": 1,
                        "sort": [{"created_at": {"order": "asc"}}, {"key": {"order": "asc"}}],
                        "_source": ["text", "key"],
                    }
                },
            }
            aggregations = self.engine.aggregate(
                IndexKind.posts,
                {"by": {"terms": {"field": "narrative_id", "size": len(part)}, "aggs": aggs}},
                {"terms": {"narrative_id": part}},
            )
            for b in aggregations.get("by", {}).get("buckets", []):
                hits = b["earliest"]["hits"]["hits"]
                out[str(b["key"])] = NarrativeSummary(
                    narrative_id=str(b["key"]),
                    post_count=int(b["doc_count"]),
                    first_seen=b["first"].get("value_as_string"),
                    last_seen=b["last"].get("value_as_string"),
                    platforms={str(x["key"]): int(x["doc_count"]) for x in b["platforms"]["buckets"]},
                    account_count=int(b["n_accounts"]["value"]),
                    accounts=[str(x["key"]) for x in b["accounts"]["buckets"]],
                    labels={str(x["key"]): int(x["doc_count"]) for x in b["labels"]["buckets"]},
                    how={str(x["key"]): int(x["doc_count"]) for x in b["how"]["buckets"]},
                    hashtags=[str(x["key"]) for x in b["hashtags"]["buckets"]],
                    urls=[str(x["key"]) for x in b["urls"]["buckets"]],
                    representative_text=str(hits[0]["_source"].get("text", "")) if hits else "",
                    representative_key=str(hits[0]["_source"].get("key")) if hits else None,
                )
        return out

    def top(
        self, kind: IndexKind, sort_field: str, size: int, query: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The ``size`` documents of ``kind`` with the largest ``sort_field`` (what `flockwatch top narratives` and
        `flockwatch top accounts` list), each with its ``_id``."""
        return self.engine.search(
            kind,
            query or {"match_all": {}},
            size=size,
            sort=[{sort_field: {"order": "desc", "unmapped_type": "float", "missing": "_last"}}],
        )
