"""The ``rollups`` stage: text scores → the narrative and account documents of their posts.

A thin adapter: the store reads (which posts, which narratives and accounts, their aggregates) and the
pure document builders of :mod:`flockwatch.text.rollup`. Every document is derived from the stored post
documents (keyed by post key), so a redelivered batch or a whole replay leaves every count unchanged.

Its own consumer group on the text-scores topic, off the index stage's critical path. A post and its text
score reach the store in either order (both through the index stage): a batch waits until each of its posts
is stored *with* its text score (``PostsNotStored``, a transient error: the at-least-once loop replays the
batch after a backoff), so the documents it writes count complete posts. A post still missing after
``max_wait_s`` (its post was dead-lettered or never came) stops holding the stream: the batch is computed over
what exists and the post counted as ``rollup_missing_posts``. A document the store rejects (a refusal retrying
cannot fix) is dead-lettered, its JSON as the original, and counted as ``rejected``.

**Several workers** (the stage scales out) recompute the same narrative or account concurrently, each from the posts
stored when it read them; a plain write would let a slower worker's older view overwrite a newer one. So each
document is written conditionally: its version is read *before* the posts are, and the write succeeds only if
nobody wrote it since. A writer that read the version after another's write also read the posts after it, so it
saw at least what that writer saw; a lost write is recomputed (:data:`CONFLICT_ROUNDS` times, then the batch is
retried). The written document is the stored one with the rollup's fields replaced, so the graph stage's fields
of an account (merged in by its own upserts, which make this write conflict) are kept.

**Accounts are incremental.** Recomputing an account searched its newest posts, one search per account of every
batch (~200 per batch, most of the stage's time). An account's document now keeps that list
(``machine_recent``), and a batch merges its own posts of the account into the stored list
(:func:`~flockwatch.text.rollup.merge_recent`, a top-k of a union by post key). It stays exact: every scored post
passes through some batch, the conditional write makes each write start from the latest list (a conflict re-reads
it and merges again), and the merge does not depend on batch boundaries, order or redeliveries. Only an account
whose document has no list yet (new, written only by the graph stage, or from before the list) is searched.
One difference: a post not yet stored with its score when its score was consumed (given up after ``max_wait_s``)
never joins its account's list with that score; a later recomputation used to pick it up.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from flockwatch.messages import (
    InMessage,
    StageOutcome,
    TransientError,
    UpstreamBehind,
    parse,
    still_waiting,
)
from flockwatch.schema import TextScore
from flockwatch.store.documents import BulkResult, IndexKind, Upsert, Version, VersionedPut, rejected_upserts
from flockwatch.text.rollup import (
    AccountPosts,
    NarrativeSummary,
    account_document,
    account_key,
    merge_recent,
    narrative_document,
)
from flockwatch.topics import Topic

STAGE = "rollups"
INPUTS: tuple[Topic, ...] = (Topic.text_scores,)
# How long a batch waits for the index stage to store a scored post; the loop's backoff (0.5 s doubling to 10 s)
# retries it about six times within this.
MAX_WAIT_S = 30.0
# Rounds of recomputing the documents another worker wrote first, before the batch is handed back for a retry.
CONFLICT_ROUNDS = 5


class RollupWrites(Protocol):
    def refresh(self, kind: IndexKind | None = None) -> None: ...
    def get_many_versioned(self, kind: IndexKind, ids: Sequence[str]) -> dict[str, tuple[dict[str, Any], Version]]: ...
    def bulk_put_if(self, kind: IndexKind, puts: Sequence[VersionedPut]) -> BulkResult: ...


class PostReads(Protocol):
    def refs(self, keys: Sequence[str]) -> list[dict[str, Any]]: ...
    def recent_by_account(self, accounts: Sequence[tuple[str, str]]) -> dict[str, list[dict[str, Any]]]: ...


class NarrativeReads(Protocol):
    def narrative_summaries(self, narrative_ids: Sequence[str]) -> dict[str, NarrativeSummary]: ...


class RollupStore(Protocol):
    """What the rollups need of the store (:class:`flockwatch.store.Store`): the engine's refresh and
    conditional writes, the posts' refs and recent posts by account, and the narratives' summaries."""

    @property
    def engine(self) -> RollupWrites: ...
    @property
    def posts(self) -> PostReads: ...
    @property
    def rollups(self) -> NarrativeReads: ...


class PostsNotStored(UpstreamBehind):
    """Some scored posts are not yet stored with their text score: the index stage has not caught up."""


@dataclass
class TextRollups:
    store: RollupStore
    threshold: float  # the detector's post-level threshold (what a post's "machine" label used)

    def read(self, post_keys: Sequence[str]) -> list[dict[str, Any]]:
        """The stored posts among ``post_keys`` (post fields written: they have a ``key``), as of now."""
        if not post_keys:
            return []
        # What the index stage acknowledged must be visible to the searches.
        self.store.engine.refresh(IndexKind.posts)
        return self.store.posts.refs(post_keys)

    def compute(self, refs: Sequence[dict[str, Any]]) -> tuple[Counter[str], list[tuple[Upsert, str]]]:
        """Recompute the document of every narrative, and update that of every account, among the stored posts
        ``refs``; return the counts and the documents the store rejected for good, with its reason."""
        counts: Counter[str] = Counter()
        narratives = sorted({str(r["narrative_id"]) for r in refs if r.get("narrative_id")})
        handles: dict[tuple[str, str], str | None] = {}
        batch: dict[str, list[dict[str, Any]]] = {}  # account key -> its posts in this batch
        for r in refs:
            author = r.get("author") or {}
            if key := account_key(r):
                handles[(str(r["platform"]), str(author["id"]))] = author.get("handle")
                if r.get("key"):
                    batch.setdefault(key, []).append(r)
        if narratives or handles:
            counts["narratives_updated"] += len(narratives)
            counts["accounts_updated"] += len(handles)
        rejected: list[tuple[Upsert, str]] = []
        for _ in range(CONFLICT_ROUNDS):
            if not narratives and not handles:
                break
            narratives, handles, lost = self._write(narratives, handles, batch, rejected)
            if lost:
                counts["rollup_conflicts"] += lost
        if narratives or handles:
            raise TransientError(f"rollups: {len(narratives) + len(handles)} documents kept changing while recomputed")
        return counts, rejected

    def _write(
        self,
        narratives: Sequence[str],
        handles: dict[tuple[str, str], str | None],
        batch: dict[str, list[dict[str, Any]]],
        rejected: list[tuple[Upsert, str]],
    ) -> tuple[list[str], dict[tuple[str, str], str | None], int]:
        """One conditional round (see the module doc); returns the narratives and accounts to do again."""
        account_ids = {f"{p}:{a}": (p, a) for p, a in handles}
        # Versions first, posts second: that order is what makes the conditional write exact.
        stored = {
            IndexKind.narratives: self.store.engine.get_many_versioned(IndexKind.narratives, list(narratives)),
            IndexKind.accounts: self.store.engine.get_many_versioned(IndexKind.accounts, sorted(account_ids)),
        }
        fresh: list[Upsert] = [
            Upsert(IndexKind.narratives, nid, narrative_document(summary))
            for nid, summary in sorted(self.store.rollups.narrative_summaries(narratives).items())
        ]
        # The stored list where there is one (the version read above covers it); a search only where there is not.
        kept = {
            key: doc["machine_recent"]
            for key, (doc, _) in stored[IndexKind.accounts].items()
            if isinstance(doc.get("machine_recent"), list)
        }
        unknown = sorted(pa for pa in handles if f"{pa[0]}:{pa[1]}" not in kept)
        recent = self.store.posts.recent_by_account(unknown) if unknown else {}
        for (platform, author_id), handle in sorted(handles.items()):
            key = f"{platform}:{author_id}"
            posts = merge_recent(kept[key] if key in kept else recent.get(key, []), batch.get(key, []))
            doc = account_document(AccountPosts(key, platform, handle, posts), self.threshold)
            fresh.append(Upsert(IndexKind.accounts, key, doc))
        conflicts: set[str] = set()
        for kind in (IndexKind.narratives, IndexKind.accounts):
            mine = [u for u in fresh if u.kind is kind]
            if not mine:
                continue
            puts = []
            for u in mine:
                old, version = stored[kind].get(u.doc_id, ({}, None))
                puts.append(VersionedPut(u.doc_id, {**old, **u.doc}, version))
            result = self.store.engine.bulk_put_if(kind, puts)
            # A rejection is final (retrying the batch would loop forever): the caller dead-letters the document.
            rejected.extend(rejected_upserts(mine, result))
            conflicts.update(result.conflicts)
        again_narratives = [n for n in narratives if n in conflicts]
        again_handles = {pa: h for pa, h in handles.items() if f"{pa[0]}:{pa[1]}" in conflicts}
        return again_narratives, again_handles, len(conflicts)


def scored(ref: dict[str, Any]) -> bool:
    return bool((ref.get("text_score") or {}).get("label"))


@dataclass
class RollupsStage:
    """Text scores → narrative and account documents recomputed over their stored posts (see the module doc).

    The wait is per post key and in memory: a restart waits for a still-missing post once more, no longer."""

    rollups: TextRollups
    max_wait_s: float = MAX_WAIT_S
    clock: Callable[[], float] = time.monotonic
    name: str = STAGE
    inputs: tuple[Topic, ...] = INPUTS
    _missing_since: dict[str, float] = field(default_factory=dict, repr=False)

    def process(self, messages: Sequence[InMessage]) -> StageOutcome:
        outcome = StageOutcome()
        keys: dict[str, None] = {}
        for msg in messages:
            try:
                keys[parse(msg.value, TextScore).post_key] = None
            except ValueError:
                # The index stage dead-letters it; once is enough.
                outcome.counts["rollup_skipped"] += 1
        refs = self.rollups.read(list(keys))
        complete = {str(r["key"]) for r in refs if r.get("key") and scored(r)}
        missing = [k for k in keys if k not in complete]
        waiting = still_waiting(self._missing_since, missing, self.clock(), self.max_wait_s)
        if waiting:
            raise PostsNotStored(
                f"{len(waiting)} of {len(keys)} scored posts not yet stored with their text score, e.g. {waiting[0]}"
            )
        for k in keys:
            self._missing_since.pop(k, None)
        if missing:
            outcome.counts["rollup_missing_posts"] += len(missing)
        counts, rejected = self.rollups.compute(refs)
        outcome.counts.update(counts)
        for upsert, reason in rejected:
            outcome.dead_letter_document(self.name, upsert.kind.value, upsert.doc_id, upsert.doc, reason)
        return outcome
