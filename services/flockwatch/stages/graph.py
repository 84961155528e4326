"""The graph stage: normalised posts → coordination edges, cascades and accounts in the store.

Wires the pure graph core (:mod:`flockwatch.graph`) into the running pipeline.  The same
:class:`GraphState` serves the streaming stage (:class:`GraphStage`, ``flockwatch worker graph``, its own
consumer group on ``posts.normalized``) and the windowed recomputation (:mod:`flockwatch.stages.graph_windows`, DAG
``graph_windows``), so both write the same documents by the same rules.

Documents (deterministic ids, so every write is an idempotent upsert):

* **cascades** ``<prefix>-cascades``, id = the cascade's root post key: the metrics of
  :func:`~flockwatch.graph.cascade_metrics.cascade_metrics`, ``risk_score``, ``early_warning_score`` (the
  first hour only; with ``GraphSettings.account_history`` both also weigh who reshared, and the document keeps
  ``spread_*`` scores and ``resharer_history`` evidence: :mod:`flockwatch.graph.account_history`; a rewritten
  history file is picked up at the next flush, within ``history_check_s``), first/last
  seen, and the tree itself (``events``: ``[post key, parent key, epoch s, account]``, stored, not indexed;
  ``members``: the post keys, indexed, so a reply to any member finds its cascade after a restart).
* **accounts** ``<prefix>-accounts``, id = ``platform:author_id`` (what the alerts stage looks up):
  handle, ``post_count``, first/last seen, coordination ``partners`` and their layers; ``cluster_ids``
  come from the windowed job only.  ``post_keys`` (stored, not indexed) makes ``post_count`` exact.
* **coordination edges** ``<prefix>-coordination_edges``, id = ``kind|source|target`` (directed, as in
  the toolkit): ``weight`` = number of the source's posts with a co-acting post by the target, evidence
  as in :mod:`flockwatch.graph.coordination` (:func:`edge_evidence`), the co-actions themselves
  (``coactions``, stored), and significance from the last window that saw the edge.

**Idempotence: the store holds the state, memory is a cache.**  Every document is a *set* keyed by post
key (events of a cascade, posts of an account, co-actions of an edge) plus fields derived from that set.
Before a batch changes an entity, its document is read back (``get_many``) unless cached; the batch is
merged in with set semantics (a post seen twice counts once) and only documents whose set grew are
written, in full.  So a batch redelivered after a crash, a store outage or a whole dataset replayed again
changes no count, and a restart loses no document state.

**What lives only in memory, and is lost on restart** (all bounded):

* the sliding-window buffers of :class:`~flockwatch.graph.streaming.StreamingCoordination` (one per kind):
  rebuilt on start (:mod:`flockwatch.adapters.graph_warm`) from the posts before the group's committed offsets that
  are within ``2 window + lateness`` of the watermark, so a restart finds the co-actions an uninterrupted
  run finds (what they had already produced was flushed before the commit, so the re-read posts only
  refill the buffers);
* the post → cascade map of recent posts (a reply to an older non-root member falls back to the store's
  ``members`` lookup, a search: it sees cascades written more than the index refresh interval, 1 s, ago)
  and recent parentless posts (a later reshare adds the real root; otherwise the root is a placeholder
  timed at its first reshare);
* the document cache (read back on demand).

The ``graph_windows`` DAG recomputes a window from the stored posts in batch (:mod:`flockwatch.stages.graph_windows`)
and merges into the same documents: co-actions the stream missed (restart, events later than the
lateness, several graph workers) are added, roots are filled in, and significance and clusters are set.

**One graph worker.**  Co-actions join posts of every partition, so the stage must see the whole topic: it is
single-writer, and a second worker in the group refuses to start (:mod:`flockwatch.adapters.single_writer`).
Partitions are read at different speeds (a backlog arrives thousands of records of one partition at a
time), and normalize re-keys posts, so each input partition interleaves the ``posts.raw`` partitions in
the chunks normalize read them in.  Buffers therefore expire behind the *minimum*, over (input partition,
raw partition of origin) sub-streams, of their latest event time (a sub-stream silent for
``partition_idle_s`` of wall time stops holding it back); each sub-stream is in the order the replayer
sent it, so ``lateness_s`` (``FLOCKWATCH_GRAPH_LATENESS_S``) only has to cover disorder inside the source
and a full-speed replay of old data finds every co-action with the default hour.

Chains without ``root_id`` arriving child first: the child opens a cascade at its parent; when the parent
arrives and belongs to another cascade, the two are merged and the fragment's document is kept with
``merged_into`` and size 0.
"""

from __future__ import annotations

import hashlib
import logging
import math
import statistics
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic_settings import BaseSettings, SettingsConfigDict

from flockwatch.config import REPO_ROOT
from flockwatch.graph.account_history import AccountHistory, resharers
from flockwatch.graph.cascade_metrics import cascade_metrics, repairs_dict
from flockwatch.graph.cascade_risk import RiskModel
from flockwatch.graph.cascades import Event, Tree, build_tree
from flockwatch.graph.clusters import media_flags
from flockwatch.graph.streaming import CoAction, StreamingCoordination
from flockwatch.graph.text import hashtags, normalize_message
from flockwatch.graph.urls import canonicalize_url
from flockwatch.graph.verdicts import combined_flag, teaching_flags
from flockwatch.messages import InMessage, StageOutcome, describe_error, parse
from flockwatch.schema import Post, post_key
from flockwatch.store.documents import BulkResult, IndexKind, Upsert, rejected_upserts
from flockwatch.store.graph import MERGE_HOPS, GraphRepository
from flockwatch.topics import Topic, topic_name

log = logging.getLogger(__name__)

STAGE = "graph"
INPUTS: tuple[Topic, ...] = (Topic.normalized,)

# Layers computed on the stream: each is a shared key, so a new post is compared with a small buffer.
# co_similar_tweet (pairwise similarity) and co_post (every pair) run in the windowed job only.
STREAM_KINDS: tuple[str, ...] = ("co_tweet", "co_retweet", "co_reply", "co_link", "co_hashtag", "co_media")
N_EXAMPLES = 3
MAX_LABEL = 80
_MAX_ID = 500  # OpenSearch ids are at most 512 bytes


class GraphSettings(BaseSettings):
    """Stage knobs, from ``FLOCKWATCH_GRAPH_<NAME>`` (kept apart from the shared settings)."""

    model_config = SettingsConfigDict(env_prefix="FLOCKWATCH_GRAPH_", extra="ignore")

    window_s: float = 60.0  # co-action window (inclusive), the toolkit's usual 60 s
    # how far behind its own partition's latest post (event time) a post may be and still meet every partner
    lateness_s: float = 3600.0
    partition_idle_s: float = 30.0  # a partition silent this long (wall clock) stops holding the watermark
    warm_start: bool = True  # rebuild the window from the topic on start (see graph_warm)
    warm_max_messages: int = 2_000_000  # at most this many messages re-read on start
    min_hashtags: int = 3  # co_hashtag: sequences of at least this many hashtags
    cache_entries: int = 200_000  # documents kept in memory per kind (beyond that, read back)
    recent_posts: int = 1_000_000  # post → cascade entries and parentless posts remembered
    # a `flockwatch graph history` file: cascades' scores also weigh who reshared (read at start, and again
    # when the file changes: checked at most every history_check_s)
    account_history: Path | None = None
    history_check_s: float = 30.0


# --------------------------------------------------------------------------------------------------------
# Posts as the graph sees them


@dataclass(frozen=True, slots=True)
class GraphPost:
    """What the graph needs of a post; keys are platform-qualified (``platform:id``)."""

    key: str
    platform: str
    account: str  # platform:author_id
    handle: str
    time: float  # epoch seconds
    text: str
    reshare: str | None
    reply: str | None
    parent: str | None  # reshare, then quote, then reply (Post.parent_key)
    root: str | None
    urls: tuple[str, ...]
    media: tuple[str, ...]  # media hashes, when the media stage filled them
    machine: bool | None = None  # text labelled machine (True) / human (False); stored posts only
    media_scored: bool = False  # see flockwatch.graph.clusters.media_flags; stored posts only
    media_manipulated: bool = False

    @classmethod
    def from_post(cls, post: Post, machine: bool | None = None, media: tuple[bool, bool] = (False, False)) -> GraphPost:
        def qualify(pid: str | None) -> str | None:
            return post_key(post.platform, pid) if pid else None

        return cls(
            key=post.key,
            platform=post.platform,
            account=post_key(post.platform, post.author.id),
            handle=post.author.handle or post.author.id,
            time=post.created_at.timestamp(),
            text=post.text,
            reshare=qualify(post.reshare_of),
            reply=qualify(post.reply_to),
            parent=post.parent_key(),
            root=qualify(post.root_id),
            urls=tuple(post.urls),
            media=tuple(dict.fromkeys(m.sha256 for m in post.media if m.sha256)),
            machine=machine,
            media_scored=media[0],
            media_manipulated=media[1],
        )

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> GraphPost:
        """From a stored post document (the index stage's, with scores merged in)."""
        post = Post.model_validate({k: v for k, v in doc.items() if k in Post.model_fields})
        score = doc.get("text_score")
        machine = (
            score.get("label") == "machine" if isinstance(score, dict) and score.get("label") != "unscored" else None
        )
        entries = [e for e in (doc.get("media_by_url") or {}).values() if isinstance(e, dict)]
        if not entries and isinstance(doc.get("media_risk"), int | float):  # older documents: the latest score
            entries = [{"manipulation_score": doc["media_risk"]}]
        return cls.from_post(post, machine, media_flags(entries))


def post_objects(post: GraphPost, min_hashtags: int = 3) -> dict[str, list[str]]:
    """The objects a post shares, per coordination kind; the definitions of
    :func:`flockwatch.graph.coordination.rows_for` on the table :func:`flockwatch.stages.graph_windows.build_table`
    makes, so the stream and the windowed job find the same co-actions:

    reposts share only their ``co_retweet`` object (the reshared post); other posts share their normalised
    text (``co_tweet``; an empty text shares nothing), canonical URLs (``co_link``), their reply target
    (``co_reply``), their hashtag sequence of at least ``min_hashtags`` (``co_hashtag``) and media hashes.
    """
    out: dict[str, list[str]] = {}
    if post.reshare:
        out["co_retweet"] = [post.reshare]
        return out
    text = normalize_message(post.text)
    if text:
        out["co_tweet"] = [text]
    if post.reply:
        out["co_reply"] = [post.reply]
    links = [u for u in dict.fromkeys(canonicalize_url(u) for u in post.urls) if u]
    if links:
        out["co_link"] = links
    tags = hashtags(post.text)
    if len(tags) >= min_hashtags:
        out["co_hashtag"] = [" ".join("#" + h for h in tags)]
    if post.media:
        out["co_media"] = list(post.media)
    return out


# --------------------------------------------------------------------------------------------------------
# Pure document logic


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf become None (the store rejects them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def doc_id(*parts: str) -> str:
    """A readable id, hashed only when it would exceed the store's limit."""
    text = "|".join(parts)
    if len(text.encode("utf-8")) <= _MAX_ID:
        return text
    return "h-" + hashlib.sha1(text.encode("utf-8")).hexdigest()


# (source post, target post, object) -> (source time, target time)
Coactions = dict[tuple[str, str, str], tuple[float, float]]


def edge_evidence(coactions: Coactions) -> dict[str, Any]:
    """Weight and evidence of one directed edge from its co-actions, as :mod:`flockwatch.graph.coordination`
    defines them: ``weight`` = distinct source posts; ``n_coactions`` = distinct (source, target) post
    pairs; ``n_objects`` = distinct shared objects; ``first_time``/``last_time`` = the earlier post's time
    over co-actions; ``min_dt_s``/``median_dt_s`` of ``|Δt|``; ``source_first_share`` = share of co-actions
    where the source posted strictly first (leader vs follower); ``examples``: the first co-actions in time.
    """
    if not coactions:
        return {"weight": 0, "n_coactions": 0, "n_objects": 0, "first_time": None, "last_time": None,
                "min_dt_s": None, "median_dt_s": None, "source_first_share": None, "examples": ""}  # fmt: skip
    pairs: dict[tuple[str, str], tuple[float, float, str]] = {}
    for (src, tgt, obj), (ts, tt) in sorted(coactions.items(), key=lambda kv: (min(kv[1]), kv[0])):
        pairs.setdefault((src, tgt), (ts, tt, obj))
    t0 = [min(ts, tt) for ts, tt, _ in pairs.values()]
    dts = [tt - ts for ts, tt, _ in pairs.values()]
    examples = []
    for (src, tgt), (ts, tt, obj) in list(pairs.items())[:N_EXAMPLES]:
        label = obj if len(obj) <= MAX_LABEL else obj[: MAX_LABEL - 3] + "..."
        examples.append(f"{src}>{tgt} dt={tt - ts:+g}s {label}")
    return {
        "weight": len({src for src, _, _ in coactions}),
        "n_coactions": len(pairs),
        "n_objects": len({obj for _, _, obj in coactions}),
        "first_time": min(t0),
        "last_time": max(t0),
        "min_dt_s": min(abs(d) for d in dts),
        "median_dt_s": float(statistics.median(abs(d) for d in dts)),
        "source_first_share": sum(1 for d in dts if d > 0) / len(dts),
        "examples": " | ".join(examples),
    }


@dataclass
class EdgeEntry:
    kind: str
    source: str
    target: str
    coactions: Coactions = field(default_factory=dict)
    # p/q values and the window they come from (windowed job); kept as read otherwise
    significance: dict[str, Any] = field(default_factory=dict)
    # Whether this state set them: only then are they written (the stream never computes them, and writing back
    # what it read could undo a window run's).
    significance_set: bool = False

    @property
    def id(self) -> str:
        return doc_id(self.kind, self.source, self.target)

    def add(self, src_post: str, tgt_post: str, obj: str, src_time: float, tgt_time: float) -> bool:
        key = (src_post, tgt_post, obj)
        if key in self.coactions:
            return False
        self.coactions[key] = (src_time, tgt_time)
        return True

    def document(self) -> dict[str, Any]:
        ev = edge_evidence(self.coactions)
        doc = {
            "edge_id": self.id,
            "kind": self.kind,
            "source": self.source,
            "target": self.target,
            **ev,
            "first_seen": iso(ev["first_time"]),
            "last_seen": iso(ev["last_time"]),
            "coactions": [[s, t, o, a, b] for (s, t, o), (a, b) in sorted(self.coactions.items())],
            **(self.significance if self.significance_set else {}),
        }
        return _clean(doc)  # type: ignore[no-any-return]

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> EdgeEntry:
        entry = cls(str(doc["kind"]), str(doc["source"]), str(doc["target"]))
        for row in doc.get("coactions") or []:
            entry.coactions[(str(row[0]), str(row[1]), str(row[2]))] = (float(row[3]), float(row[4]))
        entry.significance = {k: doc[k] for k in SIGNIFICANCE_FIELDS if k in doc}
        return entry

    def absorb(self, stored: EdgeEntry) -> None:
        """Fold in the edge as stored now: another writer's co-actions, and its significance unless this state
        set one (a window run reads the edge just before it sets it)."""
        for key, times in stored.coactions.items():
            self.coactions.setdefault(key, times)
        if not self.significance_set:
            self.significance = dict(stored.significance)


SIGNIFICANCE_FIELDS = ("p_value", "q_value", "p_perm", "null_mean", "significant", "significance_window")
# A cascade's score fields that only scoring with an account history fills.
HISTORY_FIELDS = ("spread_risk_score", "spread_early_warning_score", "resharer_history", "early_resharer_history")


@dataclass
class AccountEntry:
    key: str
    platform: str
    handle: str = ""
    posts: set[str] = field(default_factory=set)
    first: float | None = None
    last: float | None = None
    partners: dict[str, set[str]] = field(default_factory=dict)  # partner account -> kinds
    cluster_ids: set[str] = field(default_factory=set)  # every cluster it was in (windowed job)
    cluster_id: str | None = None  # its cluster in the latest window that placed it
    cluster_window_end: str | None = None  # that window's end (ISO)
    # Whether this state set the three cluster fields: only then are they written (as for edge significance).
    clusters_set: bool = False

    def add_post(self, post: GraphPost) -> bool:
        changed = False
        if post.handle and post.handle != self.handle:
            self.handle, changed = post.handle, True
        if post.key not in self.posts:
            self.posts.add(post.key)
            changed = True
        if self.first is None or post.time < self.first:
            self.first, changed = post.time, True
        if self.last is None or post.time > self.last:
            self.last, changed = post.time, True
        return changed

    def add_partner(self, partner: str, kind: str) -> bool:
        kinds = self.partners.setdefault(partner, set())
        if kind in kinds:
            return False
        kinds.add(kind)
        return True

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "key": self.key,
            "platform": self.platform,
            "handle": self.handle,
            "post_count": len(self.posts),
            "first_seen": iso(self.first),
            "last_seen": iso(self.last),
            "partners": sorted(self.partners),
            "n_partners": len(self.partners),
            "coordination_kinds": sorted({k for kinds in self.partners.values() for k in kinds}),
            "partner_kinds": {p: sorted(k) for p, k in sorted(self.partners.items())},
            "post_keys": sorted(self.posts),
        }
        if self.clusters_set:  # nulls included: a window recomputed without the account's cluster takes it away
            doc["cluster_ids"] = sorted(self.cluster_ids)
            doc["cluster_id"] = self.cluster_id
            doc["cluster_window_end"] = self.cluster_window_end
        return doc

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> AccountEntry:
        entry = cls(str(doc.get("key") or doc["_id"]), str(doc.get("platform") or ""), str(doc.get("handle") or ""))
        entry.posts = {str(k) for k in doc.get("post_keys") or []}
        entry.first = _epoch(doc.get("first_seen"))
        entry.last = _epoch(doc.get("last_seen"))
        for partner, kinds in (doc.get("partner_kinds") or {}).items():
            entry.partners[str(partner)] = {str(k) for k in kinds}
        ids = doc.get("cluster_ids") or []
        entry.cluster_ids = {str(c) for c in (ids if isinstance(ids, list) else [ids])}
        entry.cluster_id = doc.get("cluster_id")
        entry.cluster_window_end = doc.get("cluster_window_end")
        return entry

    def absorb(self, stored: AccountEntry) -> None:
        """Fold in the account as stored now: another writer's posts and partners (the windowed job finds kinds
        the stream does not), and its clusters unless this state set them."""
        self.handle = self.handle or stored.handle
        self.posts |= stored.posts
        firsts = [t for t in (self.first, stored.first) if t is not None]
        lasts = [t for t in (self.last, stored.last) if t is not None]
        self.first, self.last = (min(firsts) if firsts else None), (max(lasts) if lasts else None)
        for partner, kinds in stored.partners.items():
            self.partners.setdefault(partner, set()).update(kinds)
        if not self.clusters_set:
            self.cluster_ids = set(stored.cluster_ids)
            self.cluster_id, self.cluster_window_end = stored.cluster_id, stored.cluster_window_end

    @property
    def coordinated(self) -> bool:
        return bool(self.partners or self.cluster_ids)


def _window_end(significance: Mapping[str, Any]) -> float:
    window = significance.get("significance_window")
    end = _epoch(window.get("end")) if isinstance(window, dict) else None
    return -math.inf if end is None else end


def _epoch(value: Any) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


EventRow = tuple[str | None, float, str | None]  # parent key, epoch seconds, account


@dataclass
class CascadeEntry:
    cascade_id: str
    events: dict[str, EventRow] = field(default_factory=dict)
    merged_into: str | None = None

    @property
    def exists(self) -> bool:
        return bool(self.events) or self.merged_into is not None

    def add(self, key: str, row: EventRow) -> bool:
        seen = self.events.get(key)
        if seen is not None and seen[1] <= row[1]:
            return False  # duplicates keep the earliest time, as build_tree does
        self.events[key] = row
        return True

    def tree(self) -> Tree:
        events = [Event(k, p, t, u) for k, (p, t, u) in self.events.items()]
        return build_tree(self.cascade_id, events, root_id=self.cascade_id)

    def document(
        self, coordinated: Iterable[str] | None, risk: RiskModel | None, history: AccountHistory | None = None
    ) -> dict[str, Any]:
        platform = self.cascade_id.split(":", 1)[0]
        if self.merged_into is not None:
            return {"cascade_id": self.cascade_id, "root_key": self.cascade_id, "platform": platform,
                    "merged_into": self.merged_into, "size": 0, "members": [], "events": []}  # fmt: skip
        tree = self.tree()
        users = {u for _, _, u in self.events.values() if u}
        coordinated_users = None if coordinated is None else users & set(coordinated)
        metrics = cascade_metrics(tree, coordinated_users)
        if history is not None and risk is not None:
            scores = risk.scores_with_history(tree, history).fields()
        else:
            # The history's fields are written as nulls, so a cascade scored with a history before keeps none of
            # its evidence beside scores that no longer use it (the store merges what is left out).
            spread = (None, None) if risk is None else risk.scores(tree)
            scores = dict(zip(("risk_score", "early_warning_score"), spread, strict=True))
            scores |= dict.fromkeys(HISTORY_FIELDS)
        times = [t for _, t, _ in self.events.values()]
        doc = {
            "cascade_id": self.cascade_id,
            "root_key": self.cascade_id,
            "platform": platform,
            **metrics,
            **scores,
            "first_seen": iso(min(times)),
            "last_seen": iso(max(times)),
            "n_accounts": len(users),
            "placeholder_root": tree.repairs.placeholder_root,
            "repairs": dict(repairs_dict(tree)),
            "members": sorted(self.events),
            "events": [[k, p, t, u] for k, (p, t, u) in sorted(self.events.items())],
        }
        return _clean(doc)  # type: ignore[no-any-return]

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> CascadeEntry:
        entry = cls(str(doc.get("cascade_id") or doc["_id"]), merged_into=doc.get("merged_into"))
        for row in doc.get("events") or []:
            entry.events[str(row[0])] = (None if row[1] is None else str(row[1]), float(row[2]),
                                         None if row[3] is None else str(row[3]))  # fmt: skip
        return entry


# --------------------------------------------------------------------------------------------------------
# Store-backed state


T = TypeVar("T")
V = TypeVar("V")


class GraphDocuments(Protocol):
    """The engine's reads by id and bulk upsert (``Store.engine``)."""

    def get_many(self, kind: IndexKind, ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...

    def bulk_upsert(self, upserts: Sequence[Upsert]) -> BulkResult: ...


class CascadeLookup(Protocol):
    def cascades_by_member(self, keys: Sequence[str]) -> dict[str, str]: ...


class GraphStore(Protocol):
    """What the state needs of the store (:class:`flockwatch.store.Store`; ``tests.fakes.store.InMemoryStore``
    in unit tests): documents by id and bulk upserts from the engine, cascades by member from the graph."""

    @property
    def engine(self) -> GraphDocuments: ...

    @property
    def graph(self) -> CascadeLookup: ...


class _Cache(Generic[T]):
    """Least-recently-used documents of one kind; dirty ones stay until written."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: OrderedDict[str, T] = OrderedDict()
        self.dirty: set[str] = set()

    def get(self, key: str) -> T | None:
        item = self.items.get(key)
        if item is not None:
            self.items.move_to_end(key)
        return item

    def put(self, key: str, item: T) -> None:
        self.items[key] = item
        self.items.move_to_end(key)

    def trim(self) -> None:
        """Drop the least recently used clean documents beyond the limit (they are in the store)."""
        excess = len(self.items) - self.limit
        for key in list(self.items):
            if excess <= 0:
                break
            if key not in self.dirty:
                del self.items[key]
                excess -= 1


class _Recent(Generic[V]):
    """A bounded insertion-ordered map (oldest entries dropped first)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: OrderedDict[str, V] = OrderedDict()

    def put(self, key: str, value: V) -> None:
        self.items[key] = value
        self.items.move_to_end(key)
        while len(self.items) > self.limit:
            self.items.popitem(last=False)


@dataclass
class FlushReport:
    cascades: int = 0
    accounts: int = 0
    edges: int = 0
    rejected: list[tuple[Upsert, str]] = field(default_factory=list)  # refused for good, with the reason


class GraphState:
    """Cascades, accounts and coordination edges, merged post by post; see the module docstring.

    Use: :meth:`add_posts` (reads what it needs, then merges), :meth:`add_coactions`, then :meth:`flush`.
    A store error in any of them leaves the state consistent: merges are idempotent and dirty documents
    stay dirty until a write succeeds, so the caller simply retries the batch.
    """

    def __init__(self, store: GraphStore, settings: GraphSettings | None = None, risk: RiskModel | None = None,
                 history: AccountHistory | None = None) -> None:  # fmt: skip
        self.store = store
        self.settings = settings or GraphSettings()
        self.risk = risk
        self.history = history
        path = self.settings.account_history
        self._history_stamp = _file_stamp(path) if history is not None and path is not None else None
        self._history_checked = time.monotonic()
        limit = self.settings.cache_entries
        self.cascades: _Cache[CascadeEntry] = _Cache(limit)
        self.accounts: _Cache[AccountEntry] = _Cache(limit)
        self.edges: _Cache[EdgeEntry] = _Cache(limit)
        self._member: _Recent[str] = _Recent(self.settings.recent_posts)  # post -> cascade
        self._roots: _Recent[tuple[float, str]] = _Recent(self.settings.recent_posts)  # parentless posts
        # Accounts known to coordinate (from cached documents): fills cascades' coordinated_share.
        self.coordinated: set[str] = set()

    # --- loading -----------------------------------------------------------------------------------

    def _load_accounts(self, keys: Iterable[str]) -> None:
        missing = sorted({k for k in keys if self.accounts.get(k) is None})
        found = self.store.engine.get_many(IndexKind.accounts, missing) if missing else {}
        for key in missing:
            doc = found.get(key)
            entry = AccountEntry.from_doc(doc | {"_id": key}) if doc else AccountEntry(key, key.split(":", 1)[0])
            self.accounts.put(key, entry)
            if entry.coordinated:
                self.coordinated.add(key)

    def _load_cascades(self, ids: Iterable[str]) -> None:
        missing = sorted({c for c in ids if self.cascades.get(c) is None})
        while missing:
            found = self.store.engine.get_many(IndexKind.cascades, missing)
            redirects = []
            for cid in missing:
                doc = found.get(cid)
                entry = CascadeEntry.from_doc(doc | {"_id": cid}) if doc else CascadeEntry(cid)
                self.cascades.put(cid, entry)
                if entry.merged_into and self.cascades.get(entry.merged_into) is None:
                    redirects.append(entry.merged_into)
            missing = sorted(set(redirects))

    def _load_edges(self, ids: Mapping[str, tuple[str, str, str]]) -> None:
        missing = sorted(i for i in ids if self.edges.get(i) is None)
        found = self.store.engine.get_many(IndexKind.coordination_edges, missing) if missing else {}
        for eid in missing:
            doc = found.get(eid)
            self.edges.put(eid, EdgeEntry.from_doc(doc) if doc else EdgeEntry(*ids[eid]))

    def _cascade(self, cid: str) -> CascadeEntry:
        entry = self.cascades.get(cid)
        if entry is None:  # add_posts read back every cascade a post can resolve to
            raise RuntimeError(f"cascade {cid!r} was not read back before being changed")
        return entry

    def _follow(self, cid: str) -> str:
        for _ in range(MERGE_HOPS):
            entry = self.cascades.get(cid)
            if entry is None or entry.merged_into is None:
                return cid
            cid = entry.merged_into
        return cid

    def _exists(self, cid: str) -> bool:
        entry = self.cascades.get(cid)
        return entry is not None and entry.exists

    # --- posts -------------------------------------------------------------------------------------

    def add_posts(self, posts: Sequence[GraphPost]) -> int:
        """Merge posts into their accounts and cascades; returns how many documents changed."""
        if not posts:
            return 0
        # Reads first: if the store is away nothing has changed yet.
        self._load_accounts(p.account for p in posts)
        # every cascade a post may join must be read back first: a cascade written in full from an empty
        # entry would lose its stored events
        wanted = set()
        for p in posts:
            wanted.add(p.key)
            if p.root:
                wanted.add(p.root)
            if p.parent:
                wanted.add(p.parent)
                owner = self._member.items.get(p.parent)
                if owner is not None:
                    wanted.add(owner)
        self._load_cascades(wanted)
        unresolved = sorted(
            {
                p.parent
                for p in posts
                if p.parent and not p.root and not self._exists(p.parent) and p.parent not in self._member.items
            }
        )
        if unresolved:
            owners = self.store.graph.cascades_by_member(unresolved)
            self._load_cascades(owners.values())
            for member, cid in owners.items():
                self._member.put(member, cid)
        changed = 0
        for p in sorted(posts, key=lambda p: (p.time, p.key)):
            account = self.accounts.get(p.account)
            assert account is not None
            if account.add_post(p):
                self.accounts.dirty.add(p.account)
                changed += 1
            changed += self._add_to_cascade(p)
        return changed

    def _resolve(self, p: GraphPost) -> str | None:
        if p.root:
            return self._follow(p.root)
        if p.parent:
            if self._exists(p.parent):
                return self._follow(p.parent)
            owner = self._member.items.get(p.parent)
            return self._follow(owner) if owner else p.parent
        if self._exists(p.key):
            return self._follow(p.key)
        return None

    def _add_to_cascade(self, p: GraphPost) -> int:
        cid = self._resolve(p)
        if cid is None:  # an original nobody spread (yet): remember it for a later reshare
            self._roots.put(p.key, (p.time, p.account))
            return 0
        changed = 0
        entry = self._cascade(cid)
        own = self.cascades.get(p.key)
        if own is not None and own.exists and own.merged_into is None and p.key != cid:
            # children arrived first and opened a cascade at this post: fold it into the real one
            for key, row in own.events.items():
                entry.add(key, row)
                self._member.put(key, cid)
            own.events.clear()
            own.merged_into = cid
            self.cascades.dirty.update((p.key, cid))
            changed += 1
        if entry.add(p.key, (p.parent if p.parent != p.key else None, p.time, p.account)):
            self.cascades.dirty.add(cid)
            changed += 1
        if cid not in entry.events:
            root = self._roots.items.get(cid)
            if root is not None and entry.add(cid, (None, root[0], root[1])):
                self.cascades.dirty.add(cid)
        self._member.put(p.key, cid)
        return changed

    # --- co-actions --------------------------------------------------------------------------------

    def add_coactions(self, coactions: Sequence[tuple[str, CoAction]]) -> int:
        """Merge ``(kind, co-action)`` pairs into both directed edges and both accounts' partners."""
        if not coactions:
            return 0
        ids: dict[str, tuple[str, str, str]] = {}
        for kind, c in coactions:
            ids[doc_id(kind, c.user_a, c.user_b)] = (kind, c.user_a, c.user_b)
            ids[doc_id(kind, c.user_b, c.user_a)] = (kind, c.user_b, c.user_a)
        self._load_edges(ids)
        self._load_accounts({u for _, c in coactions for u in (c.user_a, c.user_b)})
        changed = 0
        partners: set[str] = set()
        for kind, c in coactions:
            for src, tgt, sp, tp, st, tt in ((c.user_a, c.user_b, c.post_a, c.post_b, c.time_a, c.time_b),
                                             (c.user_b, c.user_a, c.post_b, c.post_a, c.time_b, c.time_a)):  # fmt: skip
                eid = doc_id(kind, src, tgt)
                edge = self.edges.get(eid)
                assert edge is not None
                if edge.add(sp, tp, c.obj, st, tt):
                    self.edges.dirty.add(eid)
                    changed += 1
                account = self.accounts.get(src)
                assert account is not None
                if account.add_partner(tgt, kind):
                    self.accounts.dirty.add(src)
                    partners.add(src)
                    changed += 1
        self._now_coordinated(partners)
        return changed

    def _now_coordinated(self, keys: set[str]) -> None:
        """Add accounts to the coordinated set, and mark for rewriting every cached cascade one of the new ones
        spread: its coordinated share changed. Without this, a cascade written before its spreader's first co-action
        kept the older share, and the stored share depended on the order posts arrived in (how many workers fed the
        stage). A cascade already evicted from the cache keeps its share until it changes again."""
        new = keys - self.coordinated
        if not new:
            return
        self.coordinated |= new
        for cid, entry in self.cascades.items.items():
            if entry.exists and any(user in new for _, _, user in entry.events.values()):
                self.cascades.dirty.add(cid)

    def set_significance(self, kind: str, source: str, target: str, values: Mapping[str, Any]) -> None:
        """Record an edge's significance (windowed job); the edge must have been loaded or created."""
        eid = doc_id(kind, source, target)
        edge = self.edges.get(eid)
        if edge is None:
            self._load_edges({eid: (kind, source, target)})
            edge = self.edges.get(eid)
            assert edge is not None
        if not edge.coactions or {k: edge.significance.get(k) for k in values} == dict(values):
            return
        # the latest window wins, whatever order windows are (re)computed in
        if _window_end(edge.significance) > _window_end(values):
            return
        edge.significance.update(values)
        edge.significance_set = True
        self.edges.dirty.add(eid)

    def set_clusters(self, members: Mapping[str, str], window_end: datetime) -> None:
        """Account → its cluster in the window ending at ``window_end`` (windowed job): every cluster is kept
        in ``cluster_ids``; ``cluster_id`` is the latest window's, whatever order windows are computed in."""
        self._load_accounts(members)
        end = window_end.astimezone(UTC)
        self._now_coordinated(set(members))
        for key, cid in members.items():
            account = self.accounts.get(key)
            assert account is not None
            changed = cid not in account.cluster_ids
            account.cluster_ids.add(cid)
            seen = account.cluster_window_end
            if seen is None or datetime.fromisoformat(seen) <= end:
                changed |= (account.cluster_id, seen) != (cid, end.isoformat())
                account.cluster_id, account.cluster_window_end = cid, end.isoformat()
            if changed:
                account.clusters_set = True
                self.accounts.dirty.add(key)

    def rebuild_clusters(self, snapshots: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        """Account → every stored cluster snapshot that holds it (windowed job, after it removed snapshots a
        recomputed window no longer has): its cluster fields are rebuilt from them, emptied when there are none."""
        self._load_accounts(snapshots)
        for key, docs in snapshots.items():
            account = self.accounts.get(key)
            assert account is not None
            latest = max(docs, key=lambda d: _epoch(d.get("window_end")) or -math.inf, default=None)
            ids = {str(d["cluster_id"]) for d in docs}
            cid = None if latest is None else str(latest["cluster_id"])
            end = None if latest is None else str(latest["window_end"])
            if (account.cluster_ids, account.cluster_id, account.cluster_window_end) != (ids, cid, end):
                account.cluster_ids, account.cluster_id, account.cluster_window_end = ids, cid, end
                account.clusters_set = True
                self.accounts.dirty.add(key)

    def touch_cascades(self, ids: Iterable[str]) -> None:
        """Mark cascades for rewriting (their coordinated share may have changed)."""
        for cid in ids:
            entry = self.cascades.get(cid)
            if entry is not None and entry.exists:
                self.cascades.dirty.add(cid)

    def cascade_of(self, post: str) -> str | None:
        return self._member.items.get(post)

    # --- writing -----------------------------------------------------------------------------------

    def pending(self) -> int:
        return len(self.cascades.dirty) + len(self.accounts.dirty) + len(self.edges.dirty)

    def flush(self) -> FlushReport:
        """Write every changed document in full (raises StoreUnavailable: retry, nothing is lost)."""
        report = FlushReport()
        upserts: list[Upsert] = []
        self._reload_history()
        self._absorb_stored()
        # every spreader's account, so the coordinated share does not depend on what happens to be cached
        spreaders: set[str] = set()
        for cid in self.cascades.dirty:
            cascade = self.cascades.get(cid)
            if cascade is not None:
                spreaders.update(u for _, _, u in cascade.events.values() if u)
        self._load_accounts(spreaders)
        for cid in sorted(self.cascades.dirty):
            cascade = self.cascades.get(cid)
            if cascade is not None and cascade.exists:
                doc = cascade.document(self.coordinated, self.risk, self.history)
                upserts.append(Upsert(IndexKind.cascades, cid, doc))
        for key in sorted(self.accounts.dirty):
            account = self.accounts.get(key)
            if account is not None:
                upserts.append(Upsert(IndexKind.accounts, key, account.document()))
        for eid in sorted(self.edges.dirty):
            edge = self.edges.get(eid)
            if edge is not None and edge.coactions:
                upserts.append(Upsert(IndexKind.coordination_edges, eid, edge.document()))
        for start in range(0, len(upserts), 500):
            batch = upserts[start : start + 500]
            report.rejected.extend(rejected_upserts(batch, self.store.engine.bulk_upsert(batch)))
        for u in upserts:
            if u.kind == IndexKind.cascades:
                report.cascades += 1
            elif u.kind == IndexKind.accounts:
                report.accounts += 1
            else:
                report.edges += 1
        for cache in (self.cascades, self.accounts, self.edges):
            cache.dirty.clear()
            cache.trim()
        return report

    def _absorb_stored(self) -> None:
        """Fold into each changed account and edge what the store holds now. The windowed job writes the same
        documents (partners, clusters, significance) while this state lives on: written from what it read
        earlier, they would lose the job's work. (A job run between this read and the write below still can;
        runs are hourly and this takes milliseconds.)"""
        accounts = sorted(self.accounts.dirty)
        for key, doc in (self.store.engine.get_many(IndexKind.accounts, accounts) if accounts else {}).items():
            account = self.accounts.get(key)
            if account is not None:
                account.absorb(AccountEntry.from_doc(doc | {"_id": key}))
        self._now_coordinated({key for key in accounts if (a := self.accounts.get(key)) is not None and a.coordinated})
        edges = sorted(self.edges.dirty)
        for eid, doc in (self.store.engine.get_many(IndexKind.coordination_edges, edges) if edges else {}).items():
            edge = self.edges.get(eid)
            if edge is not None:
                edge.absorb(EdgeEntry.from_doc(doc))

    def _reload_history(self) -> None:
        """Pick up a rewritten history file (analysts judged more cascades) without a restart. A file that cannot
        be used now is logged and the history in use kept: a running stage does not stop for it."""
        path = self.settings.account_history
        now = time.monotonic()
        if path is None or self.history is None or now - self._history_checked < self.settings.history_check_s:
            return
        self._history_checked = now
        stamp = _file_stamp(path)
        if stamp is None or stamp == self._history_stamp:
            return
        try:
            self.history = load_account_history(path, self.risk)
        except ValueError as exc:
            log.error("graph: keeping the account history in use: %s", exc)
        self._history_stamp = stamp


def _file_stamp(path: Path) -> tuple[int, int] | None:
    """(modification time in ns, size), or None when the file is gone."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def load_risk_model(path: Path | None = None) -> RiskModel | None:
    model = path or REPO_ROOT / "models" / "cascade_risk" / "model.json"
    if not model.exists():
        log.warning("no cascade risk model at %s: risk_score and early_warning_score are null", model)
        return None
    return RiskModel.load(model)


def load_account_history(path: Path | None, risk: RiskModel | None) -> AccountHistory | None:
    """The history the cascades' scores fuse (``GraphSettings.account_history``); None when not configured.
    A configured file that cannot be used is an error at start, not a silently spread-only stage."""
    if path is None:
        return None
    if risk is None or risk.history_fusion is None:
        raise ValueError(f"FLOCKWATCH_GRAPH_ACCOUNT_HISTORY={path} needs a cascade risk model with history weights")
    try:
        history = AccountHistory.load(path)
    except OSError as exc:
        raise ValueError(f"FLOCKWATCH_GRAPH_ACCOUNT_HISTORY: cannot read {path}: {exc.strerror or exc}") from exc
    log.info("graph: account history %s, %d judged cascades, %d accounts", path, len(history.judged),
             len(history.records))  # fmt: skip
    return history


def load_cascade_scoring(settings: GraphSettings) -> tuple[RiskModel | None, AccountHistory | None]:
    """The risk model and the configured account history: the stream and the windowed job score alike."""
    risk = load_risk_model()
    return risk, load_account_history(settings.account_history, risk)


def judged_cascades(
    engine: Any, verdicts: Mapping[str, bool | None]
) -> tuple[list[tuple[str, bool, set[str]]], list[str], list[str]]:
    """``(cascade id, flagged, resharers)`` of the stored cascades analysts judged (``verdicts``: cascade id ->
    flagged, or ``None`` for a verdict that teaches nothing such as unverified), following merges: a cascade is
    learnt once, under the id it is scored by now, with its own verdict (an unverified one teaches nothing, parts
    included) or else the agreeing verdicts of the cascades that merged into it (:func:`combined_flag`). Also the
    judged ids the store does not hold, and the cascades whose merged parts were judged both ways (learnt from
    nothing). Accounts are ``platform:author_id``, the keys the stage looks them up by."""
    missing: list[str] = []
    docs: dict[str, dict[str, Any]] = {}  # id now -> its document
    own: dict[str, bool | None] = {}  # id now -> its own verdict
    merged: dict[str, list[bool | None]] = {}  # id now -> the verdicts of cascades merged into it
    graph = GraphRepository(engine)
    ids = sorted(verdicts)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found = engine.get_many(IndexKind.cascades, chunk)
        for cid in chunk:
            doc = found.get(cid)
            if doc is not None and doc.get("merged_into"):  # a merged cascade's events moved
                doc = graph.current_cascade(cid)
            if doc is None or not doc.get("events"):
                missing.append(cid)
                continue
            where = str(doc.get("cascade_id") or cid)
            docs[where] = doc
            if where == cid:
                own[where] = verdicts[cid]
            else:
                merged.setdefault(where, []).append(verdicts[cid])
    judged: list[tuple[str, bool, set[str]]] = []
    conflicting: list[str] = []
    for where, doc in sorted(docs.items()):
        parts = merged.get(where, [])
        flag = combined_flag(own.get(where), parts, own_judged=where in own)
        if flag is not None:
            judged.append((where, flag, resharers(CascadeEntry.from_doc(doc | {"_id": where}).tree())))
        elif where not in own and len(teaching_flags(parts)) > 1:
            conflicting.append(where)
    return judged, missing, conflicting


# --------------------------------------------------------------------------------------------------------
# The streaming stage


def input_partitions(topic_prefix: str, partitions: int) -> tuple[str, ...]:
    """The watermark sources of the stage: ``topic:partition/origin`` for each partition of the input topic
    and each ``posts.raw`` partition its posts come from.

    Why the origin: normalize re-keys posts, so a ``posts.normalized`` partition interleaves the raw
    partitions in the chunks normalize consumed them in (84 h of disorder inside each partition on a
    full-speed IRA replay), while the posts of one raw partition stay in order inside it.
    """
    return tuple(
        f"{topic_name(topic_prefix, s)}:{p}/{o}" for s in INPUTS for p in range(partitions) for o in range(partitions)
    )


def parse_message(msg: InMessage, origins: int) -> tuple[GraphPost, str]:
    """The post and its watermark source (``topic:partition``, and ``/<raw partition>`` when ``origins`` and
    the message carries its origin: a message without one, written before the stamp existed, counts for its
    input partition alone)."""
    post = parse(msg.value, Post)
    source = f"{msg.topic}:{msg.partition}"
    if origins and msg.raw_partition is not None:
        source += f"/{msg.raw_partition}"
    return GraphPost.from_post(post), source


@dataclass
class GraphStage:
    """Consumes normalised posts; see the module docstring for state, idempotence and restarts."""

    state: GraphState
    settings: GraphSettings = field(default_factory=GraphSettings)
    single_writer: ClassVar[bool] = True  # the co-action windows need every partition
    name: str = STAGE
    inputs: tuple[Topic, ...] = INPUTS
    coordination: dict[str, StreamingCoordination] = field(default_factory=dict)
    # sources the watermark waits for (:func:`input_partitions`); empty: only those that delivered
    sources: tuple[str, ...] = ()
    origins: int = 0  # posts.raw partitions: split each input partition by origin (0: don't)
    clock: Callable[[], float] = time.monotonic
    # co-actions found but not yet merged (a store error between finding and merging must not lose them:
    # the sliding window will not find them again)
    _pending: list[tuple[str, CoAction]] = field(default_factory=list, init=False)
    _last_delivery: dict[str, float] = field(default_factory=dict, init=False)  # source -> clock()

    def __post_init__(self) -> None:
        for kind in STREAM_KINDS:
            window = StreamingCoordination(
                window=self.settings.window_s,
                lateness=self.settings.lateness_s,
                sources=self.sources,
                track_weights=False,  # the stage uses the co-actions; weights would grow without bound
            )
            self.coordination.setdefault(kind, window)
        now = self.clock()
        self._last_delivery = dict.fromkeys(self.sources, now)

    def _feed(self, ordered: Sequence[tuple[GraphPost, str]]) -> list[tuple[str, CoAction]]:
        found: list[tuple[str, CoAction]] = []
        for p, source in ordered:
            objects = post_objects(p, self.settings.min_hashtags)
            # every kind sees every post, so each kind's watermark moves with the whole stream
            for kind, sc in self.coordination.items():
                found.extend((kind, c) for c in sc.add(p.key, p.account, p.time, objects.get(kind, ()), source))
        return found

    def warm(self, messages: Iterable[InMessage]) -> int:
        """Refill the window with posts read before a restart (:mod:`flockwatch.adapters.graph_warm`); their
        co-actions were stored before their offsets were committed, so they are not reported again."""
        posts: dict[str, tuple[GraphPost, str]] = {}
        for msg in messages:
            try:
                gp, source = parse_message(msg, self.origins)
            except Exception:  # dead-lettered when it was first read
                continue
            posts.setdefault(gp.key, (gp, source))
        self._feed(sorted(posts.values(), key=lambda ps: (ps[0].time, ps[0].key)))
        return len(posts)

    def _mark_idle(self, delivered: Iterable[str]) -> None:
        now = self.clock()
        for source in delivered:
            self._last_delivery[source] = now
        for source, seen in self._last_delivery.items():
            if now - seen > self.settings.partition_idle_s:
                for sc in self.coordination.values():
                    sc.idle(source)

    def process(self, messages: Sequence[InMessage]) -> StageOutcome:
        outcome = StageOutcome()
        posts: dict[str, tuple[GraphPost, str]] = {}
        delivered: set[str] = set()
        for msg in messages:
            try:
                gp, source = parse_message(msg, self.origins)
            except Exception as exc:  # a bad message costs itself, never the batch
                outcome.dead_letter(self.name, msg, describe_error(exc))
                continue
            delivered.add(source)
            posts.setdefault(gp.key, (gp, source))
        ordered = sorted(posts.values(), key=lambda ps: (ps[0].time, ps[0].key))
        outcome.counts["posts"] += len(ordered)
        changed = self.state.add_posts([p for p, _ in ordered])
        self._mark_idle(delivered)
        late_before = sum(sc.late for sc in self.coordination.values())
        self._pending.extend(self._feed(ordered))
        outcome.counts["late"] += sum(sc.late for sc in self.coordination.values()) - late_before
        outcome.counts["coactions"] += len(self._pending)
        changed += self.state.add_coactions(self._pending)
        self._pending.clear()
        report = self.state.flush()
        outcome.counts["changes"] += changed
        outcome.counts["cascades_written"] += report.cascades
        outcome.counts["accounts_written"] += report.accounts
        outcome.counts["edges_written"] += report.edges
        for upsert, reason in report.rejected:
            log.error("store rejected graph document %s: %s", upsert.doc_id, reason)
            outcome.dead_letter_document(self.name, upsert.kind.value, upsert.doc_id, upsert.doc, reason)
        return outcome

    def buffered_posts(self) -> int:
        return sum(sc.buffered_posts() for sc in self.coordination.values())


def build_graph_stage(
    store: GraphStore,
    settings: GraphSettings | None = None,
    sources: Sequence[str] = (),
    history: Iterable[InMessage] = (),
    origins: int = 0,
) -> GraphStage:
    """The stage, its watermark waiting for ``sources``, its window refilled from ``history``."""
    settings = settings or GraphSettings()
    state = GraphState(store, settings, *load_cascade_scoring(settings))
    stage = GraphStage(state, settings, sources=tuple(sources), origins=origins)
    warmed = stage.warm(history)
    if warmed:
        log.info("graph: window refilled with %d posts read before the restart", warmed)
    return stage
