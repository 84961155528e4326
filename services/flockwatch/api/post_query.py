"""From an analyst's post search (words and filters) to a store query, and page cursors (pure).

Nothing typed reaches the engine as query syntax: words go through ``simple_query_string`` on the text fields
only (it never raises on odd input, and cannot name other fields or run regular expressions), every filter is a
``term``/``terms``/``range`` clause on a fixed field, and sizes and lengths are bounded. Pages are ``search_after``
on (``created_at``, ``key``) newest first; the cursor handed out as ``next`` is those two values, base64url JSON,
checked when it comes back.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
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
    # Words match display names too; off for researchers, whose search would otherwise tie a pseudonym to a name.
    match_display_names: bool = True

    def check(self) -> PostSearch:
        """The search with ``since``/``until`` made timezone-aware (a naive time is UTC); :class:`BadQuery` for one
        out of bounds."""
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
        checked = replace(self, since=_utc(self.since), until=_utc(self.until))
        if checked.since and checked.until and checked.since >= checked.until:
            raise BadQuery("since must be before until")
        return checked

    def described(self) -> dict[str, Any]:
        """What differs from the empty search, JSON-ready (the audit log's record of a search or export)."""
        return {
            f.name: v.isoformat() if isinstance(v, datetime) else v
            for f in fields(self)
            if (v := getattr(self, f.name)) != getattr(_EVERYTHING, f.name)
        }


_EVERYTHING = PostSearch()


def _utc(when: datetime | None) -> datetime | None:
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


def post_query(search: PostSearch, cluster_members: list[str] | None = None) -> dict[str, Any]:
    """The bool query of ``search``; ``cluster_members``: the account keys of the asked clusters (the caller
    looked them up), so cluster filtering stays a terms filter on authors."""
    must: list[dict[str, Any]] = []
    if search.q.strip():
        must.append(
            {
                "simple_query_string": {
                    "query": search.q,
                    "fields": ["text", "author.display_name"] if search.match_display_names else ["text"],
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
        filters.append(_authors(authors))
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


def _authors(keys: list[str]) -> dict[str, Any]:
    """Posts by any of ``keys``: one ``terms`` on the posts' ``account_key`` (``platform:author_id``, written by the
    index stage), so a cluster of thousands of accounts stays one clause (a clause per account would pass the
    engine's max_clause_count). A bare author id (no platform) matches that id on any platform."""
    keyed = [k for k in keys if ":" in k]
    bare = [k for k in keys if ":" not in k]
    clauses = ([{"terms": {"account_key": keyed}}] if keyed else []) + (
        [{"terms": {"author.id": bare}}] if bare else []
    )
    return clauses[0] if len(clauses) == 1 else {"bool": {"should": clauses, "minimum_should_match": 1}}


def encode_cursor(sort_values: list[Any] | tuple[Any, ...]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(sort_values)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    """The sort values a ``next`` cursor holds, ``[created_at, key]``; :class:`BadQuery` for anything we did not
    hand out. ``created_at`` is what the engine sorts a date by (epoch milliseconds) or an ISO time, ``key`` a
    string: anything else (NaN, a word where the time goes) would reach the engine and fail there."""
    not_ours = BadQuery("next is not a cursor this API handed out")
    if len(cursor) > 1000:
        raise not_ours
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error):
        raise not_ours from None
    if not isinstance(values, list) or len(values) != len(SORT) or not isinstance(values[1], str):
        raise not_ours
    created = _sort_time(values[0])
    if created is None:
        raise not_ours
    return [created, values[1]]


def _sort_time(value: Any) -> int | str | None:
    """A cursor's ``created_at``: epoch milliseconds (an int the engine's long holds), or an ISO time (normalised,
    UTC when naive); ``None`` for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if -(2**63) <= value < 2**63 else None
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).isoformat()
