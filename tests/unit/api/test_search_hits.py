"""The one post search the API's search route, the posts export and ``flockwatch query`` share
(:func:`flockwatch.api.lookups.search_hits`): pages of ``PAGE`` by ``search_after``, newest first, no read past a
short page, clusters looked up once however many pages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import pytest

from flockwatch.api import lookups
from flockwatch.api.export_views import matching_posts
from flockwatch.api.lookups import search_hits
from flockwatch.api.post_query import PostSearch, post_query
from flockwatch.store import Store
from flockwatch.store.documents import IndexKind
from tests.fakes.api_store import PagingEngine, post
from tests.fakes.store import InMemoryStore


class CountingEngine(PagingEngine):
    """Also counts the cluster reads (``search`` over clusters)."""

    def __init__(self) -> None:
        super().__init__()
        self.cluster_reads = 0

    def search(
        self,
        kind: IndexKind,
        query: Mapping[str, Any],
        size: int = 10,
        sort: Sequence[Any] | None = None,
        fields: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        self.cluster_reads += kind is IndexKind.clusters
        return super().search(kind, query, size, sort, fields)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setattr(lookups, "PAGE", 3)
    found = InMemoryStore(engine=CountingEngine())
    found.__post_init__()
    for n in range(10):  # with the account key the index stage writes (clusters filter on it)
        found.engine.docs[IndexKind.posts][f"twitter:{n}"] = post(n) | {"account_key": "twitter:u1"}
    found.engine.docs[IndexKind.clusters]["c1@w"] = {"cluster_id": "c1", "accounts": ["twitter:u1", "twitter:u2"]}
    return cast(Store, found)  # the in-memory store stands in for the real one


def keys(hits: Sequence[Any]) -> list[str]:
    return [h.source["key"] for h in hits]


def test_pages_of_page_posts_newest_first_and_no_read_past_a_short_page(store: Store) -> None:
    engine = cast(CountingEngine, store.engine)
    assert keys(search_hits(store, PostSearch(), 7)) == [f"twitter:{n}" for n in range(9, 2, -1)]
    assert len(engine.queries) == 3  # 3 + 3 + 1
    engine.queries.clear()
    assert len(search_hits(store, PostSearch(), 100)) == 10
    assert len(engine.queries) == 4  # 3 + 3 + 3 + 1: the short page is the last read, no empty one after it


def test_after_continues_where_the_cursor_left_off(store: Store) -> None:
    first = search_hits(store, PostSearch(), 4)
    rest = search_hits(store, PostSearch(), 100, after=first[-1].sort)
    assert keys(first) + keys(rest) == [f"twitter:{n}" for n in range(9, -1, -1)]


def test_clusters_are_looked_up_once_and_filter_on_their_members(store: Store) -> None:
    engine = cast(CountingEngine, store.engine)
    search_hits(store, PostSearch(clusters=["c1"]), 9)
    assert engine.cluster_reads == 1 and len(engine.queries) == 3
    expected = post_query(PostSearch(clusters=["c1"]), ["twitter:u1", "twitter:u2"])
    assert engine.queries == [expected] * 3


def test_matching_posts_is_the_sources_of_the_same_search(store: Store) -> None:
    search = PostSearch(q="post")
    assert matching_posts(store, search, 5) == [h.source for h in search_hits(store, search, 5)]
