"""The alert engine: posts and scores in, alerts out. Shared by the streaming stage and the DAG sweep.

State, all in memory and bounded:

- a :class:`~flockwatch.alerts.bursts.BurstTracker` over every entity a post carries (hashtags,
  canonical URLs, media, narratives, author clusters, watched entities);
- a join cache of recent posts and their scores by post key (scores may arrive before or after the
  post), so a rule sees a post's text score, media scores, watchlist hits and cluster together; it keeps
  what the rules read of a post (:class:`PostFacts`), not the post with its text, author and source;
- the alert book: the latest alert per (rule, entity), for dedupe and suppression; past ``max_book``
  entries, or past ``max_book_post_keys`` post keys over all its alerts (an alert keeps up to
  ``max_post_keys`` of them, most of what a full one weighs), the least recently active settled ones go until
  both are under nine tenths (a later match on one of them raises a new alert).

Times: bursts, dedupe and suppression windows run on *event time* (the posts' ``created_at``), so a
replay of 2016 behaves as the live stream did; ``created_at``/``updated_at`` of an alert are wall-clock
(when it was raised), ``first_seen``/``last_seen`` are event time.

**Batching does not change the result.** :meth:`AlertEngine.process` takes items in the order given (the
streaming stage gives one reproducible order: :mod:`flockwatch.stages.ordered_merge`) and judges bursts at
event-time checkpoints (each time event time passes a multiple of the detector's ``check_every``), never at
the end of a batch. A post's rules are judged before the next checkpoint with the bursts of the last one, so
the same sequence cut into other batches raises the same alerts (a hypothesis test checks this).

Alert ids are deterministic (rule, entity, first post), so a batch processed twice yields the same
alerts, and the store's upsert absorbs the repeat.
"""

from __future__ import annotations

import hashlib
import math
import unicodedata
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from flockwatch.alerts.bursts import Burst, BurstTracker, entity_type
from flockwatch.alerts.rules import AlertsConfig, Rule, severity_rank
from flockwatch.alerts.watchlist import WatchEntity
from flockwatch.graph.urls import canonicalize_url
from flockwatch.media.labels import is_known_fake_match
from flockwatch.schema import Alert, AlertStatus, Evidence, MediaScore, Post, TextScore, post_key

Item = Post | TextScore | MediaScore
MAX_EVIDENCE = 20
MAX_MEDIA = 20
# How far ahead of the wall clock an item may be stamped (clocks differ a little), and how far ahead of the event
# clock before it must be confirmed: one post with a wrong clock must not carry the event clock (and so every
# checkpoint) into the future, where every later post would be late and no burst judged.
FUTURE_SKEW = timedelta(minutes=5)
EARLY_LEAD = timedelta(minutes=15)
# Items in a row that far ahead which move the event clock after all (a replay's gap, a partition read late).
EARLY_CONFIRM = 20


def utcnow() -> datetime:
    return datetime.now(UTC)


def hashtag_entity(tag: str) -> str:
    """One entity per tag however it is written: NFKC folds composed and decomposed accents and fullwidth forms
    (``＃ＭＡＧＡ``), then case is folded."""
    return "hashtag:#" + unicodedata.normalize("NFKC", tag).lstrip("#").casefold()


def post_entities(post: Post) -> list[str]:
    """Entity keys a post contributes to: hashtags, canonical URLs and media (hash, else URL)."""
    out = [hashtag_entity(h) for h in post.hashtags]
    for url in post.urls:
        canon = canonicalize_url(url)
        if canon:
            out.append("url:" + canon)
    out.extend(media_entity(m.sha256, m.url) for m in post.media)
    return list(dict.fromkeys(out))


def media_entity(sha256: str | None, url: str) -> str:
    return f"media:sha256:{sha256}" if sha256 else f"media:{url}"


def when_of(item: Item) -> datetime:
    """An item's event time: a post's ``created_at``, a score's ``post_created_at``."""
    return item.created_at if isinstance(item, Post) else item.post_created_at


def cascade_of(post: Post) -> str | None:
    if post.root_id:
        return post_key(post.platform, post.root_id)
    return post.parent_key()


def alert_id(rule: str, entity: str, first: str) -> str:
    return "al-" + hashlib.sha1(f"{rule}\x1f{entity}\x1f{first}".encode()).hexdigest()[:20]


@dataclass
class MediaSighting:
    """A media item seen in the stream, with what its score said (not a detector: see ``media.signal``)."""

    url: str
    entity: str
    manipulation: float | None = None
    known_fake: bool = False
    detail: str = ""


class MediaRef(NamedTuple):
    sha256: str | None
    url: str


@dataclass(frozen=True, slots=True)
class PostFacts:
    """What the rules, their evidence and an alert's links read of a post: the join cache holds this for each of
    its (up to ``max_contexts``) posts, not the post."""

    key: str
    created_at: datetime
    platform: str
    author_id: str
    author_handle: str | None
    language: str | None
    media: tuple[MediaRef, ...]
    entities: tuple[str, ...]  # post_entities less media (media_entities reads `media`, with the item's score)
    cascade: str | None  # cascade_of

    @classmethod
    def of(cls, post: Post) -> PostFacts:
        return cls(
            post.key,
            post.created_at,
            post.platform,
            post.author.id,
            post.author.handle,
            post.language,
            tuple(MediaRef(m.sha256, m.url) for m in post.media),
            tuple(e for e in post_entities(post) if not e.startswith("media:")),
            cascade_of(post),
        )


@dataclass(slots=True)
class PostContext:
    """A post and everything known about it so far (scores may arrive before the post)."""

    key: str
    created_at: datetime
    post: PostFacts | None = None
    machine_score: float | None = None
    text_model: str | None = None
    narrative_id: str | None = None
    media: dict[str, MediaSighting] = field(default_factory=dict)
    watch: list[WatchEntity] = field(default_factory=list)
    clusters: list[str] = field(default_factory=list)
    counted_narrative: bool = False

    def media_entities(self) -> list[str]:
        """One entity per media item: its score's when scored (by content hash: normalised posts carry none),
        else the post's (hash, else URL); an item is never counted under both."""
        out = [m.entity for m in self.media.values()]
        if self.post is not None:
            out += [media_entity(m.sha256, m.url) for m in self.post.media if m.url not in self.media]
        return list(dict.fromkeys(out))

    def entities(self) -> list[str]:
        out = list(self.post.entities) if self.post is not None else []
        out += self.media_entities()
        if self.narrative_id:
            out.append("narrative:" + self.narrative_id)
        out += ["cluster:" + c for c in self.clusters]
        out += [w.key for w in self.watch]
        return list(dict.fromkeys(out))


@dataclass
class Match:
    rule: Rule
    entity: str
    when: datetime  # event time
    post_keys: list[str]
    evidence: list[Evidence]
    summary: str
    contexts: list[PostContext] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    watch: WatchEntity | None = None
    first: str = ""  # what makes the alert unique besides rule and entity
    first_seen: datetime | None = None
    post_count: int | None = None  # when more posts than post_keys lists (bursts)


@dataclass
class BookEntry:
    alert: Alert
    first_event: datetime
    last_event: datetime
    narratives: Counter[str] = field(default_factory=Counter)
    clusters: Counter[str] = field(default_factory=Counter)
    cascades: Counter[str] = field(default_factory=Counter)
    suppressed: int = 0
    # Burst alerts: each burst run merged in (start, end, its post count); the alert counts their sum.
    runs: list[tuple[datetime, datetime, int]] = field(default_factory=list)

    def burst_count(self, start: datetime, end: datetime, posts: int) -> int:
        """The alert's post count once the run ``[start, end]`` counts ``posts``. A run overlapping or touching
        one already in is the same burst seen again (the online Viterbi may move a run's start as it grows): the
        larger count stands. A separate run (a second burst within the dedupe window) adds to the count."""
        if not self.runs and self.alert.post_count:  # restored from the store: its count is its run's
            first = self.alert.metrics.get("burst_start_ts")
            if not isinstance(first, int | float):
                return max(posts, self.alert.post_count)  # nothing says where its run was: the larger count
            self.runs.append((datetime.fromtimestamp(first, UTC), self.last_event, self.alert.post_count))
        same = [r for r in self.runs if r[0] <= end and start <= r[1]]
        merged = (
            min([start, *(r[0] for r in same)]),
            max([end, *(r[1] for r in same)]),
            max([posts, *(r[2] for r in same)]),
        )
        self.runs = [r for r in self.runs if r not in same] + [merged]
        return sum(r[2] for r in self.runs)


@dataclass
class EngineResult:
    changed: list[Alert] = field(default_factory=list)  # new or updated: upsert these
    notify: list[Alert] = field(default_factory=list)  # new or escalated: send these to sinks
    bursts: list[Burst] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


class AlertEngine:
    def __init__(
        self,
        config: AlertsConfig,
        clock: Callable[[], datetime] = utcnow,
        max_contexts: int = 200_000,
        max_book: int = 20_000,
        max_book_post_keys: int | None = None,
    ) -> None:
        self.config = config
        self.rules = config.active_rules()
        self.post_rules = [r for r in self.rules if r.scope == "post"]
        self.burst_rules = [r for r in self.rules if r.scope == "burst"]
        self.clock = clock
        self.tracker = BurstTracker(config.detector)
        self.contexts: OrderedDict[str, PostContext] = OrderedDict()
        self.max_contexts = max_contexts
        self.book: dict[tuple[str, str], BookEntry] = {}
        self.by_id: dict[str, BookEntry] = {}  # the alerts in the book, by id
        self.max_book = max_book
        # Default: a million keys, or a hundred full alerts where alerts keep more than 10,000 keys each.
        self.max_book_post_keys = max_book_post_keys or max(1_000_000, 100 * config.max_post_keys)
        self.bursting_now: dict[str, Burst] = {}
        self.pending: dict[str, Alert] = {}  # changed but not yet confirmed stored
        self.pending_notify: dict[str, Alert] = {}
        self.event_clock: datetime | None = None
        self.check_s = config.detector.check_every.total_seconds()
        self._checkpoint: int | None = None  # the last event-time checkpoint bursts were judged at
        self._early_run = 0  # items in a row stamped far past the event clock (see _event_time)

    # --- state from outside -------------------------------------------------------------------------

    def restore(self, alerts: Iterable[Alert]) -> int:
        """Seed the alert book with stored alerts (after a restart), so dedupe spans restarts."""
        n = 0
        for alert in alerts:
            first = alert.first_seen or alert.created_at
            last = alert.last_seen or first
            key = (alert.rule, alert.entity)
            cur = self.book.get(key)
            if cur is not None and cur.last_event >= last:
                continue
            self._put(key, BookEntry(alert, first, last))
            n += 1
        self._prune_book()
        return n

    def _put(self, key: tuple[str, str], entry: BookEntry) -> None:
        old = self.book.get(key)
        if old is not None:  # superseded: only the latest alert per (rule, entity) is kept
            self.by_id.pop(old.alert.alert_id, None)
        self.book[key] = entry
        self.by_id[entry.alert.alert_id] = entry

    def _prune_book(self) -> None:
        """Keep the book bounded on long runs: past ``max_book`` entries or ``max_book_post_keys`` post keys, drop
        the least recently active entries until both are under nine tenths of their bound. The bounds apply to the
        settled entries: one waiting to be stored or notified is never dropped, and its keys do not push settled
        ones out (else a store outage would empty the book, and every alert after it would be raised again)."""
        keys = sum(len(e.alert.post_keys) for e in self.book.values())
        if len(self.book) <= self.max_book and keys <= self.max_book_post_keys:
            return
        busy = self.pending.keys() | self.pending_notify.keys()
        settled = sorted(
            ((k, e) for k, e in self.book.items() if e.alert.alert_id not in busy), key=lambda kv: kv[1].last_event
        )
        settled_keys = sum(len(e.alert.post_keys) for _, e in settled)
        if len(settled) <= self.max_book and settled_keys <= self.max_book_post_keys:
            return  # over only by what waits to be stored
        drop_entries = len(settled) - int(self.max_book * 0.9)
        drop_keys = settled_keys - int(self.max_book_post_keys * 0.9)
        for key, entry in settled:
            if drop_entries <= 0 and drop_keys <= 0:
                break
            del self.book[key]
            self.by_id.pop(entry.alert.alert_id, None)
            drop_entries -= 1
            drop_keys -= len(entry.alert.post_keys)

    def sync_statuses(self, statuses: Mapping[str, str]) -> None:
        """Apply lifecycle changes made elsewhere (CLI) so resolved alerts are not merged into."""
        for aid, status in statuses.items():
            entry = self.by_id.get(aid)
            if entry is not None:
                entry.alert.status = AlertStatus(status)

    def open_alert_ids(self) -> list[str]:
        return [e.alert.alert_id for e in self.book.values() if e.alert.status != AlertStatus.resolved]

    def stored(self, alert_ids: Iterable[str]) -> None:
        for aid in alert_ids:
            self.pending.pop(aid, None)
        self._prune_book()  # what was waiting is settled now, and counts against the bounds

    def notified(self, alert_ids: Iterable[str]) -> None:
        for aid in alert_ids:
            self.pending_notify.pop(aid, None)
        self._prune_book()

    # --- input --------------------------------------------------------------------------------------

    def _context(self, key: str, when: datetime) -> PostContext:
        ctx = self.contexts.get(key)
        if ctx is None:
            ctx = self.contexts[key] = PostContext(key, when)
            while len(self.contexts) > self.max_contexts:
                self.contexts.popitem(last=False)
        else:
            self.contexts.move_to_end(key)
        return ctx

    def _tick(self, when: datetime) -> None:
        if self.event_clock is None or when > self.event_clock:
            self.event_clock = when

    def process(
        self,
        items: Sequence[Item],
        watch: Mapping[str, Sequence[WatchEntity]] | None = None,
        clusters: Mapping[str, Sequence[str]] | None = None,
    ) -> EngineResult:
        """Ingest items in the order given; return the alerts that changed (plus those still pending from a
        failed batch).

        ``watch``: post key → watched entities it matches (the store's percolator); ``clusters``: author key
        (``platform:author_id``) → coordinated cluster ids. Posts are counted for bursts as they come. A post's
        rules are judged with what is known of it at the next checkpoint or the end of the batch, whichever
        comes first; a score arriving after that judges it again.
        """
        result = EngineResult()
        waiting: dict[str, PostContext] = {}
        for item in items:
            when = self._event_time(when_of(item), result.counts)
            if self._passes_checkpoint(when):
                # Judged with the bursts of the last checkpoint, whatever the batch around them.
                self._judge(waiting, result)
                self._apply_bursts(self.tracker.bursting(), result)
            ctx = self._remember_one(item, watch or {}, clusters or {}, result.counts, track=True, when=when)
            if ctx is not None:
                waiting.setdefault(ctx.key, ctx)
        self._judge(waiting, result)
        return self._finish(result)

    def _event_time(self, when: datetime, counts: Counter[str]) -> datetime:
        """The time an item counts at: its own, unless it is stamped past the wall clock, or far past the event
        clock without ``EARLY_CONFIRM`` items in a row like it; such an item (``early_items``) counts at the event
        clock. A live stream's item stamped near the wall clock is on time however long the stream was quiet."""
        horizon = self.clock() + FUTURE_SKEW
        clock = self.event_clock
        ahead = clock is not None and when - clock > EARLY_LEAD
        if when <= horizon and (not ahead or horizon - when <= EARLY_LEAD + FUTURE_SKEW):
            self._early_run = 0
            return when
        if when <= horizon:
            self._early_run += 1
            if self._early_run >= EARLY_CONFIRM:
                self._early_run = 0
                return when
        counts["early_items"] += 1
        return clock if clock is not None and clock <= horizon else min(when, horizon)

    def _passes_checkpoint(self, when: datetime) -> bool:
        """Whether ``when`` is past the next multiple of ``check_every`` (and it becomes the last checkpoint)."""
        mark = math.floor(when.timestamp() / self.check_s)
        if self._checkpoint is not None and mark <= self._checkpoint:
            return False
        first = self._checkpoint is None
        self._checkpoint = mark
        return not first

    def _judge(self, waiting: dict[str, PostContext], result: EngineResult) -> None:
        for ctx in waiting.values():
            if ctx.post is not None:
                for m in self.post_matches(ctx):
                    self._apply(m, result)
        waiting.clear()

    def apply_bursts(self, bursts: Sequence[Burst]) -> EngineResult:
        """Burst rules over bursts found elsewhere (a sweep's batch Viterbi), with dedupe as usual."""
        result = EngineResult()
        self._apply_bursts(bursts, result)
        return self._finish(result)

    def _apply_bursts(self, bursts: Sequence[Burst], result: EngineResult) -> None:
        for burst in bursts:
            self.bursting_now[burst.entity] = burst
        self._expire_bursts()
        result.bursts.extend(bursts)
        for m in self.burst_matches(bursts, self.event_clock or utcnow()):
            self._apply(m, result)

    def _finish(self, result: EngineResult) -> EngineResult:
        self._prune_book()
        result.changed = list(self.pending.values())
        result.notify = list(self.pending_notify.values())
        return result

    def remember(
        self,
        items: Sequence[Item],
        watch: Mapping[str, Sequence[WatchEntity]] | None = None,
        clusters: Mapping[str, Sequence[str]] | None = None,
    ) -> list[PostContext]:
        """Join posts and scores into the context cache without counting them for bursts (a sweep finds its
        bursts over the stored series); return the contexts they changed."""
        counts: Counter[str] = Counter()
        out = []
        for item in items:
            ctx = self._remember_one(item, watch or {}, clusters or {}, counts, track=False)
            if ctx is not None:
                out.append(ctx)
        return out

    def _remember_one(
        self,
        item: Item,
        watch: Mapping[str, Sequence[WatchEntity]],
        clusters: Mapping[str, Sequence[str]],
        counts: Counter[str],
        *,
        track: bool,
        when: datetime | None = None,
    ) -> PostContext | None:
        """Join one item into its post's context (None for a post, or a score that says nothing new, seen
        before: a redelivered batch judges nothing again); with ``track``, count it for bursts. A post arriving in a
        bin already closed is counted in the open one (``late_posts``). ``when``: the time it counts at (its own
        by default)."""
        when = when or when_of(item)
        if isinstance(item, Post):
            ctx = self._context(item.key, when)
            if ctx.post is not None:
                counts["duplicate_posts"] += 1
                return None
            ctx.post = PostFacts.of(item)
            ctx.created_at = item.created_at
            ctx.watch = list(watch.get(item.key, ()))
            ctx.clusters = list(clusters.get(post_key(item.platform, item.author.id), ()))
            self._tick(when)
            if track:
                ctx.counted_narrative = ctx.narrative_id is not None
                if not self.tracker.add(when, item.key, ctx.entities(), count_total=True):
                    counts["late_posts"] += 1
            counts["posts"] += 1
        elif isinstance(item, TextScore):
            ctx = self._context(item.post_key, when)
            known = ctx.text_model is not None and (ctx.machine_score, ctx.text_model) == (
                item.machine_score,
                item.model,
            )
            ctx.machine_score = item.machine_score
            ctx.text_model = item.model
            if item.narrative_id and not ctx.narrative_id:
                known = False
                ctx.narrative_id = item.narrative_id
                if track and ctx.post is not None and not ctx.counted_narrative:
                    ctx.counted_narrative = True
                    self.tracker.add(when, ctx.key, ["narrative:" + item.narrative_id], count_total=False)
            counts["text_scores"] += 1
            if known:
                counts["duplicate_scores"] += 1
                return None
        else:
            ctx = self._context(item.post_key, when)
            sha = item.sha256
            if sha is None and ctx.post is not None:
                sha = next((m.sha256 for m in ctx.post.media if m.url == item.media_url), None)
            known = any(is_known_fake_match(m) for m in item.matches)
            detail = "; ".join(s.detail for s in item.signals[:3]) or (
                f"matches {len(item.matches)} known item(s)" if known else ""
            )
            sighting = MediaSighting(
                item.media_url, media_entity(sha, item.media_url), item.manipulation_score, known, detail
            )
            counts["media_scores"] += 1
            if ctx.media.get(item.media_url) == sighting:
                counts["duplicate_scores"] += 1
                return None
            ctx.media[item.media_url] = sighting
        return ctx

    def flush(self) -> EngineResult:
        """Judge bursts as of now (on shutdown or at the end of a run: the last checkpoint's interval is not
        judged until event time passes the next one)."""
        result = EngineResult()
        self._apply_bursts(self.tracker.bursting(), result)
        return self._finish(result)

    def _expire_bursts(self) -> None:
        clock = self.event_clock
        if clock is None:
            return
        for name in [n for n, b in self.bursting_now.items() if b.end < clock - self.config.detector.bin]:
            del self.bursting_now[name]

    # --- rules --------------------------------------------------------------------------------------

    def burst_matches(self, bursts: Iterable[Burst], when: datetime) -> list[Match]:
        """Burst rules over detected bursts (streaming or from a sweep's batch Viterbi)."""
        out = []
        for burst in bursts:
            etype = entity_type(burst.entity)
            values: dict[str, Any] = {
                "burst_weight": burst.weight,
                "burst_posts": burst.posts,
                "burst_ratio": burst.observed_share / burst.baseline_share if burst.baseline_share else 0.0,
                "burst_z": burst.z,
                "observed_rate": burst.observed_rate,
                "baseline_rate": burst.baseline_rate,
                "entity_type": etype,
                "watchlist": etype == "watch",
            }
            for rule in self.burst_rules:
                if rule.entity_types is not None and etype not in rule.entity_types:
                    continue
                if not rule.when.evaluate(values):
                    continue
                ev = Evidence(
                    signal="burst.kleinberg",
                    score=_squash(burst.weight, 20.0),
                    on=burst.entity,
                    detail=burst.describe(),
                )
                contexts = [self.contexts[k] for k in burst.post_keys if k in self.contexts]
                out.append(
                    Match(
                        rule=rule,
                        entity=burst.entity,
                        when=min(when, burst.end),
                        post_keys=list(burst.post_keys),
                        evidence=[ev],
                        summary=f"{burst.entity} is bursting: {burst.describe()}",
                        contexts=contexts,
                        metrics=burst.metrics(),
                        first=burst.start.isoformat(),
                        first_seen=burst.start,
                        post_count=burst.posts,
                    )
                )
        return out

    def post_values(self, ctx: PostContext) -> dict[str, Any]:
        post = ctx.post
        assert post is not None
        manip = [m.manipulation for m in ctx.media.values() if m.manipulation is not None]
        bursting = [self.bursting_now[e] for e in ctx.entities() if e in self.bursting_now]
        strongest = max(bursting, key=lambda b: b.weight) if bursting else None
        values: dict[str, Any] = {
            "machine_text": ctx.machine_score,
            "media_manipulation": max(manip) if manip else None,
            "known_fake_media": any(m.known_fake for m in ctx.media.values()),
            "has_media": bool(post.media or ctx.media),
            "coordinated": bool(ctx.clusters),
            "watchlist": bool(ctx.watch),
            "watch_kind": ctx.watch[0].kind if ctx.watch else None,
            "narrative": ctx.narrative_id is not None,
            "bursting": strongest is not None,
            "language": post.language,
            "platform": post.platform,
        }
        if strongest is not None:
            values.update(
                burst_weight=strongest.weight,
                burst_posts=strongest.posts,
                burst_ratio=strongest.observed_share / strongest.baseline_share if strongest.baseline_share else 0.0,
                burst_z=strongest.z,
            )
            values["_burst"] = strongest
        return values

    def post_matches(self, ctx: PostContext) -> list[Match]:
        post = ctx.post
        if post is None or not self.post_rules:
            return []
        base = self.post_values(ctx)
        out = []
        for rule in self.post_rules:
            for entity, values, watched in self._groups(rule, ctx, base):
                if not rule.when.evaluate(values):
                    continue
                evidence = self._post_evidence(rule, ctx, values, watched)
                fired = ", ".join(e.signal for e in evidence if e.signal != "watchlist") or "its signals"
                label = f"{watched.kind} {watched.name}" if watched else entity
                out.append(
                    Match(
                        rule=rule,
                        entity=entity,
                        when=post.created_at,
                        post_keys=[post.key],
                        evidence=evidence,
                        summary=f"{rule.name}: {label}: post {post.key} by @{post.author_handle or post.author_id} "
                        f"({fired})",
                        contexts=[ctx],
                        watch=watched,
                        first=post.key,
                    )
                )
        return out

    def _groups(
        self, rule: Rule, ctx: PostContext, base: dict[str, Any]
    ) -> list[tuple[str, dict[str, Any], WatchEntity | None]]:
        post = ctx.post
        assert post is not None
        g = rule.group_by
        if g == "watch":
            return [(w.key, base | {"watchlist": True, "watch_kind": w.kind}, w) for w in ctx.watch]
        keys: list[str]
        if g == "narrative":
            keys = ["narrative:" + ctx.narrative_id] if ctx.narrative_id else []
        elif g == "cluster":
            keys = ["cluster:" + c for c in ctx.clusters]
        elif g == "author":
            keys = [f"author:{post.platform}:{post.author_id}"]
        elif g == "media":
            # Each item judged on its own score: a post's other, unmatched picture is not a known fake too.
            scored = {m.entity: m for m in ctx.media.values()}
            return [
                (k, base | {"media_manipulation": getattr(scored.get(k), "manipulation", None),
                            "known_fake_media": getattr(scored.get(k), "known_fake", False)}, None)
                for k in ctx.media_entities()
            ]  # fmt: skip
        elif g == "cascade":
            keys = ["cascade:" + post.cascade] if post.cascade else []
        elif g == "hashtag":
            keys = [e for e in post.entities if e.startswith("hashtag:")]
        elif g == "url":
            keys = [e for e in post.entities if e.startswith("url:")]
        else:
            keys = ["rule:" + rule.name]
        return [(k, base, None) for k in keys]

    def _post_evidence(
        self, rule: Rule, ctx: PostContext, values: dict[str, Any], watched: WatchEntity | None
    ) -> list[Evidence]:
        post = ctx.post
        assert post is not None
        used = rule.when.signals()
        ev: list[Evidence] = []
        if watched is not None or "watchlist" in used:
            for w in [watched] if watched else ctx.watch:
                ev.append(Evidence(signal="watchlist", score=1.0, on=w.key, detail=f"{post.key} mentions {w.name}"))
        if "machine_text" in used and ctx.machine_score is not None:
            ev.append(
                Evidence(
                    signal="machine_text",
                    score=ctx.machine_score,
                    on="text",
                    detail=f"{post.key}: machine-text score {ctx.machine_score:.2f} ({ctx.text_model or 'model ?'})",
                )
            )
        if used & {"media_manipulation", "known_fake_media", "has_media"}:
            for m in ctx.media.values():
                if m.manipulation is None and not m.known_fake:
                    continue
                score = max(m.manipulation or 0.0, 1.0 if m.known_fake else 0.0)
                what = "known fake" if m.known_fake else f"manipulation {m.manipulation:.2f}"
                ev.append(Evidence(signal="media", score=score, on=m.url, detail=f"{what}; {m.detail}".strip("; ")))
        if "coordinated" in used and ctx.clusters:
            ev.append(
                Evidence(
                    signal="coordinated",
                    score=1.0,
                    on=f"author:{post.platform}:{post.author_id}",
                    detail=f"author in coordinated cluster(s) {', '.join(ctx.clusters[:5])}",
                )
            )
        burst = values.get("_burst")
        if isinstance(burst, Burst) and used & {"bursting", "burst_weight", "burst_posts", "burst_ratio", "burst_z"}:
            ev.append(
                Evidence(
                    signal="burst.kleinberg",
                    score=_squash(burst.weight, 20.0),
                    on=burst.entity,
                    detail=burst.describe(),
                )
            )
        return ev

    # --- dedupe, suppression, escalation ------------------------------------------------------------

    def _apply(self, m: Match, result: EngineResult) -> None:
        rule = m.rule
        key = (rule.name, m.entity)
        entry = self.book.get(key)
        now = self.clock()
        if entry is not None and m.when < entry.first_event - rule.dedupe_window:
            # Older than the alert the book holds by more than the dedupe window (a sweep's earlier burst, the book
            # restored with later alerts only): another alert's matter, not this one's to grow or replace.
            result.counts["alerts_older_than_book"] += 1
            return
        if (
            entry is not None
            and entry.alert.status != AlertStatus.resolved
            and m.when - entry.last_event <= rule.dedupe_window
        ):
            if self._merge(entry, m, now):
                result.counts["alerts_updated"] += 1
            return
        new_id = alert_id(rule.name, m.entity, m.first or m.when.isoformat())
        if (
            entry is not None
            and entry.alert.status == AlertStatus.resolved
            and (entry.alert.alert_id == new_id or m.when <= entry.last_event)
        ):
            # Resolved while its burst goes on (the same run, so the same id), or nothing newer than what it
            # covered (a redelivered post): an analyst has judged it already; raised again, it would be delivered
            # again at every checkpoint.
            result.counts["alerts_already_resolved"] += 1
            return
        if entry is not None and m.when - entry.first_event < rule.suppress_for:
            entry.suppressed += 1
            entry.alert.metrics["suppressed"] = float(entry.suppressed)
            entry.alert.updated_at = now
            self.pending[entry.alert.alert_id] = entry.alert
            result.counts["alerts_suppressed"] += 1
            return
        alert = Alert(
            alert_id=new_id,
            rule=rule.name,
            severity=rule.severity,
            entity=m.entity,
            created_at=now,
            updated_at=now,
            summary=m.summary,
            evidence=m.evidence[:MAX_EVIDENCE],
            post_keys=m.post_keys[: self.config.max_post_keys],
            post_count=m.post_count if m.post_count is not None else len(m.post_keys),
            first_seen=m.first_seen or min([m.when, *(c.created_at for c in m.contexts)]),
            last_seen=m.when,
            metrics=dict(m.metrics),
            watch_entity=m.watch.id if m.watch else None,
        )
        entry = BookEntry(alert, alert.first_seen or m.when, m.when)
        if m.post_count is not None:
            entry.runs.append((m.first_seen or m.when, m.when, m.post_count))
        self._link(entry, m)
        alert.severity = rule.severity_for(alert.post_count or 0)
        self._put(key, entry)
        self.pending[alert.alert_id] = alert
        self.pending_notify[alert.alert_id] = alert
        result.counts["alerts_new"] += 1

    def _merge(self, entry: BookEntry, m: Match, now: datetime) -> bool:
        alert = entry.alert
        known = set(alert.post_keys)
        fresh = [k for k in m.post_keys if k not in known]
        # An older match (a sweep's earlier burst) adds its posts but does not overwrite the latest one's metrics.
        newer = m.when >= entry.last_event
        grew = bool(fresh) or (newer and m.metrics != {k: alert.metrics.get(k) for k in m.metrics})
        if not grew:
            return False
        if m.post_count is not None:
            count = entry.burst_count(m.first_seen or m.when, m.when, m.post_count)
        else:
            count = (alert.post_count or 0) + len(fresh)
        room = self.config.max_post_keys - len(alert.post_keys)
        alert.post_keys.extend(fresh[: max(room, 0)])
        alert.post_count = max(count, len(alert.post_keys))
        if newer:
            alert.metrics.update(m.metrics)
            alert.summary = m.summary if m.rule.scope == "burst" else alert.summary
        for ev in m.evidence:
            if ev not in alert.evidence:
                alert.evidence.append(ev)
        if len(alert.evidence) > MAX_EVIDENCE:
            alert.evidence = alert.evidence[:5] + alert.evidence[-(MAX_EVIDENCE - 5) :]
        entry.last_event = max(entry.last_event, m.when)
        entry.first_event = min([entry.first_event, m.first_seen or m.when, *(c.created_at for c in m.contexts)])
        alert.first_seen, alert.last_seen = entry.first_event, entry.last_event
        alert.updated_at = now
        self._link(entry, m)
        severity = m.rule.severity_for(alert.post_count)
        if severity_rank(severity) > severity_rank(alert.severity):
            alert.severity = severity
            self.pending_notify[alert.alert_id] = alert
        self.pending[alert.alert_id] = alert
        return True

    def _link(self, entry: BookEntry, m: Match) -> None:
        """Narrative, cluster, cascade and media links: the most common among the alert's posts."""
        alert = entry.alert
        etype = entity_type(m.entity)
        ident = m.entity.split(":", 1)[1] if ":" in m.entity else m.entity
        for ctx in m.contexts:
            if ctx.narrative_id:
                entry.narratives[ctx.narrative_id] += 1
            for c in ctx.clusters:
                entry.clusters[c] += 1
            if ctx.post is not None and ctx.post.cascade:
                entry.cascades[ctx.post.cascade] += 1
            for media in ctx.media.values():
                if media.entity not in alert.media and len(alert.media) < MAX_MEDIA:
                    alert.media.append(media.entity)
        if etype == "narrative":
            alert.narrative_id = ident
        elif entry.narratives:
            alert.narrative_id = entry.narratives.most_common(1)[0][0]
        if etype == "cluster":
            alert.cluster_id = ident
        elif entry.clusters:
            alert.cluster_id = entry.clusters.most_common(1)[0][0]
        if etype == "cascade":
            alert.cascade_id = ident
        elif entry.cascades:
            alert.cascade_id = entry.cascades.most_common(1)[0][0]
        if etype == "media" and m.entity not in alert.media:
            alert.media.insert(0, m.entity)
            del alert.media[MAX_MEDIA:]


def _squash(x: float, scale: float) -> float:
    """Map a non-negative strength onto [0, 1) for Evidence.score."""
    return round(1.0 - math.exp(-max(x, 0.0) / scale), 4)
