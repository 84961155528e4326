"""From an analyst's post search (words and filters) to a store query, and page cursors (pure).

Nothing typed reaches the engine as query syntax: words go through ``simple_query_string`` on the text fields
only (it never raises on odd input, and cannot name other fields or run regular expressions), every filter is a
``term``/``range`` clause on a fixed field, and sizes and lengths are bounded. Pages are ``search_after`` on
(``created_at``, ``key``) newest first; the cursor handed out as ``next`` is those two values, base64url JSON,
checked when it comes back.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

MAX_LIMIT = 200
MAX_QUERY_CHARS = 500
MAX_VALUES = 20
SORT: list[dict[str, Any]] = [
    {"created_at": {"order": "desc", "unmapped_type": "date"}},
    {"key": {"order": "desc", "unmapped_type": "keyword"}},
]
# The operators simple_query_string may use: no fuzzy, slop or regex-like NEAR features (costly on big indices).
_FLAGS = "AND|OR|NOT|PHRASE|PREFIX|PRECEDENCE|WHITESPACE|ESCAPE"


class BadQuery(ValueError):
    """A search the API refuses, with the reason (a 400 answer)."""


@dataclass(frozen=True)
class PostSearch:
    q: str = ""
    platforms: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)  # account keys, platform:author_id
    hashtags: list[str] = field(default_factory=list)
    narratives: list[str] = field(default_factory=list)
    clusters: list[str] = field(default_factory=list)  # coordination cluster ids (via their members)
    since: datetime | None = None
    until: datetime | None = None
    min_machine_score: float | None = None
    min_media_risk: float | None = None

    def check(self) -> PostSearch:
        if len(self.q) > MAX_QUERY_CHARS:
            raise BadQuery(f"q is longer than {MAX_QUERY_CHARS} characters")
        for name in ("platforms", "languages", "authors", "hashtags", "narratives", "clusters"):
            values = getattr(self, name)
            if len(values) > MAX_VALUES:
                raise BadQuery(f"at most {MAX_VALUES} values of {name}")
            if any(not v or len(v) > 300 for v in values):
                raise BadQuery(f"{name} values are 1 to 300 characters")
        for name in ("min_machine_score", "min_media_risk"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise BadQuery(f"{name} is between 0 and 1")
        if self.since and self.until and self.since >= self.until:
            raise BadQuery("since must be before until")
        return self


def post_query(search: PostSearch, cluster_members: list[str] | None = None) -> dict[str, Any]:
    """The bool query of ``search``; ``cluster_members``: the account keys of the asked clusters (the caller
    looked them up), so cluster filtering stays a terms filter on authors."""
    must: list[dict[str, Any]] = []
    if search.q.strip():
        must.append(
            {
                "simple_query_string": {
                    "query": search.q,
                    "fields": ["text", "author.display_name"],
                    "default_operator": "and",
                    "flags": _FLAGS,
                    "lenient": True,
                }
            }
        )
    filters: list[dict[str, Any]] = []
    for field_name, values in (
        ("platform", search.platforms),
        ("language", search.languages),
        ("hashtags", [h.lstrip("#").lower() for h in search.hashtags]),
        ("narrative_id", search.narratives),
    ):
        if values:
            filters.append({"terms": {field_name: values}})
    authors = list(search.authors) + (cluster_members or [])
    if search.clusters and not cluster_members:
        authors.append("\x00no member")  # asked clusters with no members match nothing, not everything
    if authors:
        filters.append({"bool": {"should": [_author(a) for a in authors], "minimum_should_match": 1}})
    span = {k: v.isoformat() for k, v in (("gte", search.since), ("lt", search.until)) if v is not None}
    if span:
        filters.append({"range": {"created_at": span}})
    if search.min_machine_score is not None:
        filters.append({"range": {"text_score.machine_score": {"gte": search.min_machine_score}}})
    if search.min_media_risk is not None:
        filters.append({"range": {"media_risk": {"gte": search.min_media_risk}}})
    if not must and not filters:
        return {"match_all": {}}
    return {"bool": {"must": must, "filter": filters}}


def _author(account_key: str) -> dict[str, Any]:
    platform, sep, author_id = account_key.partition(":")
    if not sep:
        return {"term": {"author.id": account_key}}
    return {"bool": {"filter": [{"term": {"platform": platform}}, {"term": {"author.id": author_id}}]}}


def encode_cursor(sort_values: list[Any] | tuple[Any, ...]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(sort_values)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    """The sort values a ``next`` cursor holds; :class:`BadQuery` for anything we did not hand out."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error):
        raise BadQuery("next is not a cursor this API handed out") from None
    if (
        not isinstance(values, list)
        or len(values) != len(SORT)
        or not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in values)
        or len(cursor) > 1000
    ):
        raise BadQuery("next is not a cursor this API handed out")
    return values
