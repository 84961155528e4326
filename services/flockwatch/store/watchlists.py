"""Watched entities (candidates...) as percolator queries: one stored query per entity, posts matched against
them in one request. The query mirrors ``flockwatch.alerts.watchlist.matches``."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from flockwatch.schema import Post, primary_language
from flockwatch.store.documents import IndexKind
from flockwatch.store.engine import Engine

_WORD = re.compile(r"\w+")


def compile_watch_query(entity: Mapping[str, Any]) -> dict[str, Any]:
    """A watched entity as a percolator query: names and aliases as phrases on ``text``, handles on
    ``mentions`` and ``author.handle``, languages as a filter. Mirrors ``flockwatch.alerts.watchlist.matches``."""
    should: list[dict[str, Any]] = []
    for phrase in dict.fromkeys([entity.get("name"), *(entity.get("aliases") or [])]):
        if phrase:
            should.append({"match_phrase": {"text": phrase}})
    handles = [str(h).lstrip("@").lower() for h in entity.get("handles") or []]
    if handles:
        should.append({"terms": {"mentions": handles}})
        should.append({"terms": {"author.handle": handles}})
    query: dict[str, Any] = {"bool": {"should": should, "minimum_should_match": 1}}
    languages = entity.get("languages") or []
    if languages:
        query["bool"]["filter"] = [{"terms": {"language": list(languages)}}]
    return query


def percolated_document(post: Post) -> dict[str, Any]:
    """What of a post the watch queries look at, as the watchlists index maps it."""
    return {
        # Words only: "Trump's" and "#Hillary’s" must match as the words they contain, as
        # flockwatch.alerts.watchlist.tokens splits them (the standard analyzer would not).
        "text": " ".join(_WORD.findall(unicodedata.normalize("NFKC", post.text))),
        "mentions": post.mentions,
        "author": {"handle": post.author.handle or post.author.id},
        **({"language": primary_language(post.language)} if post.language else {}),
    }


class WatchlistsRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def put(self, entities: Sequence[Mapping[str, Any]]) -> int:
        """Create or replace watched entities (``WatchEntity.model_dump()`` dicts); visible on return."""
        now = datetime.now(UTC).isoformat()
        docs = [
            (
                str(e["id"]),
                {
                    "query": compile_watch_query(e),
                    "entity_id": e["id"],
                    "kind": e.get("kind", "entity"),
                    "entity": dict(e),
                    "updated_at": now,
                },
            )
            for e in entities
        ]
        result = self.engine.bulk_put(IndexKind.watchlists, docs)
        if result.rejected:
            entity_id, reason = result.rejected[0]
            raise ValueError(f"store rejected watch entity {entity_id}: {reason}")
        return result.written

    def entities(self, size: int = 10_000) -> list[dict[str, Any]]:
        """Every watched entity (as put), by id."""
        hits = self.engine.search(IndexKind.watchlists, {"match_all": {}}, size=size, sort=[{"entity_id": "asc"}])
        return [h["entity"] for h in hits if isinstance(h.get("entity"), dict)]

    def delete(self, entity_id: str) -> bool:
        """Stop watching the entity; False if it was not watched."""
        return self.engine.delete(IndexKind.watchlists, entity_id)

    def percolate(self, posts: Sequence[Post]) -> dict[str, list[dict[str, Any]]]:
        """Post key → the watched entities (as stored dicts) whose query matches the post."""
        if not posts:
            return {}
        query = {"percolate": {"field": "query", "documents": [percolated_document(p) for p in posts]}}
        hits = self.engine.hits(IndexKind.watchlists, query, size=10_000, fields=["entity"])
        out: dict[str, dict[str, Any]] = {}
        for hit in hits:
            entity = hit.source.get("entity")
            slots = hit.fields.get("_percolator_document_slot", [0] if len(posts) == 1 else [])
            for slot in slots:
                # a batch may carry the same post twice (redelivery): list each entity once
                out.setdefault(posts[int(slot)].key, {})[hit.id] = entity
        return {key: list(found.values()) for key, found in out.items()}
