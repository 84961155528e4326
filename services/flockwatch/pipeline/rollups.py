"""After each index batch: recompute the narrative and account documents the batch touched.

A thin adapter: the store reads (which posts, which narratives and accounts, their aggregates) and the
pure document builders of :mod:`flockwatch.text.rollup`. Every document is recomputed from the stored post
documents (keyed by post key), so a redelivered batch or a whole replay leaves every count unchanged.

Whichever of a post and its text score reaches the store second completes the post document; the batch
that carries it touches the post's narrative and account, so both end up recomputed over complete posts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from flockwatch.store import BulkResult, IndexKind, StoreUnavailable, Upsert
from flockwatch.text.rollup import AccountPosts, NarrativeSummary, account_document, narrative_document


class RollupStore(Protocol):
    def refresh(self, kind: IndexKind | None = None) -> None: ...
    def post_refs(self, keys: Sequence[str]) -> list[dict[str, Any]]: ...
    def narrative_summaries(self, narrative_ids: Sequence[str]) -> dict[str, NarrativeSummary]: ...
    def recent_account_posts(self, accounts: Sequence[tuple[str, str]]) -> dict[str, list[dict[str, Any]]]: ...
    def bulk_upsert(self, upserts: Sequence[Upsert]) -> BulkResult: ...


@dataclass
class TextRollups:
    store: RollupStore
    threshold: float  # the detector's post-level threshold (what a post's "machine" label used)

    def update(self, post_keys: Sequence[str]) -> Counter[str]:
        """Recompute the documents of every narrative and account among ``post_keys``' stored posts."""
        counts: Counter[str] = Counter()
        if not post_keys:
            return counts
        # The batch's own writes must be visible to the searches below.
        self.store.refresh(IndexKind.posts)
        refs = self.store.post_refs(post_keys)
        narratives = sorted({str(r["narrative_id"]) for r in refs if r.get("narrative_id")})
        handles: dict[tuple[str, str], str | None] = {}
        for r in refs:
            author = r.get("author") or {}
            if r.get("platform") and author.get("id"):
                handles[(str(r["platform"]), str(author["id"]))] = author.get("handle")
        upserts = [
            Upsert(IndexKind.narratives, nid, narrative_document(summary))
            for nid, summary in sorted(self.store.narrative_summaries(narratives).items())
        ]
        recent = self.store.recent_account_posts(sorted(handles))
        for (platform, author_id), handle in sorted(handles.items()):
            key = f"{platform}:{author_id}"
            doc = account_document(AccountPosts(key, platform, handle, recent.get(key, [])), self.threshold)
            upserts.append(Upsert(IndexKind.accounts, key, doc))
        result = self.store.bulk_upsert(upserts)
        if result.rejected:
            # Derived documents: a rejection is our bug (a mapping), not a bad input message to dead-letter.
            raise StoreUnavailable(f"store rejected rollup documents, e.g. {result.rejected[0]}")
        counts["narratives_updated"] += len(narratives)
        counts["accounts_updated"] += len(handles)
        return counts
