"""An in-memory store for the query API's tests (unit routes, the dashboard in a browser): an engine that pages
posts newest first with ``search_after`` and knows the few queries the API's lookups send, and a small seeded
world of posts, one cascade, a narrative, a coordination cluster, a case and an alert."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from flockwatch.graph.account_history import history_evidence, learn
from flockwatch.store.documents import Hit, IndexKind
from tests.fakes.store import InMemoryEngine, InMemoryStore

T0 = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


class PagingEngine(InMemoryEngine):
    """``hits`` over posts newest first by (created_at, key), with ``after``; the queries it was asked."""

    def __init__(self) -> None:
        super().__init__()
        self.queries: list[Mapping[str, Any]] = []

    def hits(
        self,
        kind: IndexKind,
        query: Mapping[str, Any],
        size: int = 10,
        sort: Sequence[Any] | None = None,
        fields: Sequence[str] | None = None,
        after: Sequence[Any] | None = None,
    ) -> list[Hit]:
        self.check_read()
        self.queries.append(query)
        newest_first = not sort or next(iter(sort[0].values()))["order"] == "desc"
        docs = sorted(
            ((i, d) for i, d in self.docs[kind].items() if matches(d, query)),
            key=lambda kv: (kv[1]["created_at"], kv[1]["key"]),
            reverse=newest_first,
        )
        rows = [(d["created_at"], d["key"], i, d) for i, d in docs]
        if after is not None:
            rows = [r for r in rows if ((r[0], r[1]) < (after[0], after[1])) == newest_first]
        return [Hit(i, dict(d), sort=(c, k)) for c, k, i, d in rows[:size]]

    def search(
        self,
        kind: IndexKind,
        query: Mapping[str, Any],
        size: int = 10,
        sort: Sequence[Any] | None = None,
        fields: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        self.check_read()
        return [d | {"_id": i} for i, d in sorted(self.docs[kind].items()) if matches(d, query)][:size]

    def aggregate(
        self, kind: IndexKind, aggs: Mapping[str, Any], query: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Daily counts for a date histogram (the only aggregation the API asks for)."""
        days: dict[str, int] = {}
        for d in self.docs[kind].values():
            if query is None or matches(d, query):
                day = d["created_at"][:10] + "T00:00:00.000Z"
                days[day] = days.get(day, 0) + 1
        return {"volume": {"buckets": [{"key_as_string": k, "doc_count": n} for k, n in sorted(days.items())]}}


def matches(doc: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    """``term``, ``terms`` and ``bool.filter`` over dotted fields: what the API's lookups use (words, in
    ``bool.must``, are the real engines' business: tests/integration/api)."""
    [(kind, body)] = query.items()
    if kind == "match_all":
        return True
    if kind == "bool":
        return all(matches(doc, q) for q in body.get("filter", []))
    [(name, wanted)] = body.items()
    value: Any = doc
    for part in name.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    values = value if isinstance(value, list) else [value]
    return any(v in (wanted if kind == "terms" else [wanted]) for v in values)


def post(n: int, author: str = "u1") -> dict[str, Any]:
    when = (T0 + timedelta(minutes=n)).isoformat()
    return {
        "key": f"twitter:{n}",
        "platform": "twitter",
        "platform_id": str(n),
        "author": {"id": author, "handle": f"handle_{author}", "display_name": f"Name {author}"},
        "text": f"post {n} @friend",
        "mentions": ["friend"],
        "created_at": when,
    }


def analyst_store() -> InMemoryStore:
    """Seven posts by two accounts, the cascade twitter:0 → 1 → 2 (with a merged one), narrative n-1, cluster c1 over
    two windows with a url edge, case case-abc123 and alert a1."""
    store = InMemoryStore(engine=PagingEngine())
    store.__post_init__()
    for n in range(7):
        store.engine.docs[IndexKind.posts][f"twitter:{n}"] = post(n, author="u1" if n % 2 else "u2")
    t = T0.timestamp()
    events = [["twitter:0", None, t, "twitter:u2"], ["twitter:1", "twitter:0", t + 60, "twitter:u1"],
              ["twitter:2", "twitter:1", t + 3600, "twitter:u2"]]  # fmt: skip
    old = {"cascade_id": "twitter:old", "merged_into": "twitter:0", "members": ["twitter:5"]}
    store.engine.docs[IndexKind.cascades]["twitter:old"] = old
    store.engine.docs[IndexKind.cascades]["twitter:0"] = {
        "cascade_id": "twitter:0", "root_key": "twitter:0", "platform": "twitter", "size": 3, "depth": 2,
        "members": ["twitter:0", "twitter:1", "twitter:2"], "events": events,
        "resharer_history": history_evidence(learn([("twitter:9", True, ["twitter:u1"])], "judged"),
                                             ["twitter:u1", "twitter:u2"]).to_dict(),
    }  # fmt: skip
    for n in (0, 1):
        store.engine.docs[IndexKind.posts][f"twitter:{n}"]["narrative_id"] = "n-1"
    store.engine.docs[IndexKind.narratives]["n-1"] = {
        "narrative_id": "n-1", "representative_text": "post 0", "accounts": ["twitter:u2", "twitter:u1"],
    }  # fmt: skip
    store.engine.docs[IndexKind.accounts]["twitter:u1"] = {"key": "twitter:u1", "cluster_ids": ["c1"]}
    for end in ("2026-11-03T12:00:00+00:00", "2026-11-03T18:00:00+00:00"):
        store.engine.docs[IndexKind.clusters][f"c1@{end}"] = {
            "cluster_id": "c1", "window_end": end, "accounts": ["twitter:u1", "twitter:u2"], "kinds": ["url"],
        }  # fmt: skip
    store.engine.docs[IndexKind.coordination_edges]["e1"] = {
        "edge_id": "e1", "kind": "url", "source": "twitter:u1", "target": "twitter:u2",
        "coactions": [["twitter:1", "twitter:2", "https://x.example", 1.0, 5.0]],
    }  # fmt: skip
    store.engine.docs[IndexKind.cases]["case-abc123"] = {
        "case_id": "case-abc123", "name": "Known", "description": "", "status": "open", "created_by": "admin person",
        "created_at": T0.isoformat(), "updated_at": T0.isoformat(), "items": [], "notes": [],
    }  # fmt: skip
    store.engine.docs[IndexKind.alerts]["a1"] = {
        "alert_id": "a1",
        "status": "new",
        "rule": "burst",
        "created_at": T0.isoformat(),
    }
    return store
