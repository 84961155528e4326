"""The streaming alerts stage: normalised posts in, each judged with its stored scores; alerts out.

**One post at a time, complete, in one order.** The stage reads the normalised posts through the ordered merge
(:mod:`flockwatch.stages.ordered_merge`: event time, then post key), and judges each post together with the text
and media scores the index stage stored on it (read by id, as of the last refresh). A batch waits
(``ScoresNotStored``, a transient error: the loop takes it again after a backoff) until each of its posts is stored
with the scores the rules read (:meth:`~flockwatch.alerts.rules.AlertsConfig.scores_read`: a rule set without
machine-text, narrative or media signals waits for nothing); a post still incomplete after ``max_wait_s`` of wall
time (its scoring stage is not running, or dead-lettered it) is judged with what is stored and counted as
``alerts_incomplete_posts``. So the alerts depend on the replay alone, not on how fast the scoring stages ran or how
many workers they had; the engine judges bursts at event-time checkpoints, so not on batch boundaries either.

Coordinated clusters are reference data, like the watchlists: the windowed graph job (``graph_windows`` DAG)
writes them, and a post is judged with its author's clusters as stored when it is judged.

Per batch: parse (bad messages → dead-letter), join the stored scores, percolate the posts against the
watchlists, look up authors' coordinated clusters, run the :class:`~flockwatch.alerts.engine.AlertEngine`,
upsert the alerts that changed into the store, emit them on the alerts topic, and hand new or escalated ones to
the sink :class:`~flockwatch.adapters.alert_sinks.Dispatcher` (a background thread: a slow or failing sink
never holds the batch up; its outcome is recorded on the alert). Notifications are delivered at
least once: a new or escalated alert is upserted with its outbox (:mod:`flockwatch.alerts.outbox`)
before the batch's offsets are committed, and an entry leaves the outbox only once its sink
acknowledged; the dispatcher reloads the outbox at start and every ``retry.outbox_rescan`` (30 s).

The store is any object with the repositories of :class:`AlertStore` (:class:`flockwatch.store.Store` in
production, ``tests.fakes.store.InMemoryStore`` in unit tests); its ``StoreUnavailable`` is a ``TransientError``,
so the Kafka loop retries the batch, and the engine keeps unsaved alerts pending until a write succeeds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol

from pydantic import ValidationError

from flockwatch.alerts import outbox
from flockwatch.alerts.delivery import Delivery, Dispatcher, Sink
from flockwatch.alerts.engine import AlertEngine, EngineResult, Item
from flockwatch.alerts.rules import AlertsConfig, load_config
from flockwatch.alerts.watchlist import WatchEntity
from flockwatch.messages import (
    InMessage,
    OutMessage,
    StageOutcome,
    UpstreamBehind,
    describe_error,
    parse,
    still_waiting,
)
from flockwatch.schema import Alert, Post, post_key
from flockwatch.stages.index import SCORE_FIELDS, stored_scores
from flockwatch.stages.media import MAX_ITEMS_PER_POST
from flockwatch.stages.ordered_merge import event_order
from flockwatch.store.documents import BulkResult
from flockwatch.topics import Topic

log = logging.getLogger(__name__)
# Alert ids per status read (a search by ids, within the store's 10,000-hit window).
STATUS_CHUNK = 5000

STAGE = "alerts"
INPUTS: tuple[Topic, ...] = (Topic.normalized,)
MAX_WAIT_S = 120.0  # media scoring (fetch, video) is the slow one


class AlertWrites(Protocol):
    """The alerts repository (``Store.alerts``), as far as the stage uses it."""

    def upsert(self, alerts: Sequence[Mapping[str, Any]]) -> BulkResult: ...

    def statuses(self, alert_ids: Sequence[str]) -> dict[str, str]: ...

    def ack_delivery(self, alert_id: str, delivery: Mapping[str, Any], settled: Sequence[str]) -> None: ...

    def pending(self, size: int = 500) -> list[dict[str, Any]]: ...

    def claim(self, alert_id: str, sinks: Sequence[str], lease: timedelta) -> list[str]: ...


class Percolator(Protocol):
    def percolate(self, posts: Sequence[Post]) -> dict[str, list[dict[str, Any]]]: ...


class ClusterLookup(Protocol):
    def account_clusters(self, author_keys: Sequence[str]) -> dict[str, list[str]]: ...


class PostFields(Protocol):
    def fields_of(self, posts: Mapping[str, datetime], fields: Sequence[str]) -> dict[str, dict[str, Any]]: ...


class ScoresNotStored(UpstreamBehind):
    """Some posts are not yet stored with the scores the rules read: the scoring or index stages are behind."""


class AlertStore(Protocol):
    """What the stage needs of the store (:class:`flockwatch.store.Store`): alerts, watchlist percolation, the
    authors' clusters and the posts' stored scores."""

    @property
    def alerts(self) -> AlertWrites: ...

    @property
    def watchlists(self) -> Percolator: ...

    @property
    def graph(self) -> ClusterLookup: ...

    @property
    def posts(self) -> PostFields: ...


def alert_doc(alert: Alert) -> dict[str, Any]:
    return alert.model_dump(mode="json", exclude_none=True, exclude={"schema_version", "kind"})


def scores_complete(post: Post, doc: Mapping[str, Any] | None, text: bool, media: bool) -> bool:
    """Whether ``post``'s stored document holds its text score (if ``text``) and a score, or the reason there is
    none, for each media item the media stage scores (if ``media``)."""
    if doc is None:
        return not (text or media)
    stored_text, stored_media = stored_scores(post, doc)
    if text and stored_text is None:
        return False
    return not media or all(m.url in stored_media for m in post.media[:MAX_ITEMS_PER_POST])


def watch_entities(raw: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, list[WatchEntity]]:
    out: dict[str, list[WatchEntity]] = {}
    for key, docs in raw.items():
        for doc in docs:
            try:
                out.setdefault(key, []).append(WatchEntity.model_validate(doc))
            except ValidationError:
                log.warning("skipping a malformed watch entity in the store: %s", doc)
    return out


@dataclass
class AlertStage:
    store: AlertStore
    engine: AlertEngine
    dispatcher: Dispatcher | None = None
    single_writer: ClassVar[bool] = True  # the burst detector's bins count posts of every partition
    order_key: ClassVar[Callable[[InMessage], tuple[Any, ...]]] = staticmethod(event_order)
    name: str = STAGE
    inputs: tuple[Topic, ...] = INPUTS
    use_clusters: bool = True
    status_sync_s: float = 5.0
    max_wait_s: float = MAX_WAIT_S
    clock: Callable[[], float] = time.monotonic
    _last_sync: float = field(default=0.0, init=False)
    _missing_since: dict[str, float] = field(default_factory=dict, init=False, repr=False)
    _complete: dict[str, dict[str, Any]] = field(default_factory=dict, init=False, repr=False)

    def process(self, messages: Sequence[InMessage]) -> StageOutcome:
        outcome = StageOutcome()
        posts: list[Post] = []
        for msg in messages:
            try:
                posts.append(parse(msg.value, Post))
            except Exception as exc:  # a bad message costs itself, never the batch
                outcome.dead_letter(self.name, msg, describe_error(exc))
        # Reads first: if the store is away, nothing has changed yet and the retry starts clean.
        items = self._joined(posts, outcome)
        watch = watch_entities(self.store.watchlists.percolate(posts)) if posts else {}
        clusters: dict[str, list[str]] = {}
        if self.use_clusters and posts:
            clusters = self.store.graph.account_clusters([post_key(p.platform, p.author.id) for p in posts])
        self._sync_statuses()
        result = self.engine.process(items, watch, clusters)
        self._store(result, outcome)
        outcome.counts.update(result.counts)
        outcome.counts["watch_matches"] += sum(len(v) for v in watch.values())
        outcome.counts["bursts"] += len(result.bursts)
        return outcome

    def _joined(self, posts: Sequence[Post], outcome: StageOutcome) -> list[Item]:
        """Each post preceded by its stored scores, once every post has those the rules read (or waited
        ``max_wait_s`` for them); raises ``ScoresNotStored`` meanwhile."""
        text, media = self.engine.config.scores_read()
        if not (text or media) or not posts:
            return list(posts)
        # A batch taken again after a wait reads only the posts that were incomplete.
        unread = {p.key: p.created_at for p in posts if p.key not in self._complete}
        docs = {**self._complete, **self.store.posts.fields_of(unread, SCORE_FIELDS)}
        missing = [p.key for p in posts if not scores_complete(p, docs.get(p.key), text, media)]
        incomplete = set(missing)
        self._complete = {k: d for k, d in docs.items() if k not in incomplete}
        waiting = still_waiting(self._missing_since, missing, self.clock(), self.max_wait_s)
        if waiting:
            raise ScoresNotStored(
                f"{len(waiting)} of {len(posts)} posts not stored with their scores yet: {waiting[0]}"
            )
        self._complete = {}
        for p in posts:
            self._missing_since.pop(p.key, None)
        outcome.counts["alerts_incomplete_posts"] += len(missing)
        items: list[Item] = []
        for post in posts:
            stored_text, stored_media = stored_scores(post, docs.get(post.key) or {})
            # Scores first: the post is then counted for bursts with its narrative and media at once.
            items.extend([stored_text] if stored_text is not None else [])
            items.extend(stored_media.values())
            items.append(post)
        return items

    def _store(self, result: EngineResult, outcome: StageOutcome) -> None:
        # Who must hear of each new or escalated alert goes into the same upsert as the alert (the
        # outbox), so a crash after the offsets are committed cannot lose the notification.
        targets = {a.alert_id: self.dispatcher.targets(a) for a in result.notify} if self.dispatcher else {}
        changed = {a.alert_id: a for a in [*result.changed, *result.notify]}
        if changed:
            docs = {
                aid: outbox.with_outbox(alert_doc(a), a.severity, targets.get(aid, [])) for aid, a in changed.items()
            }
            written = self.store.alerts.upsert(list(docs.values()))
            rejected = dict(written.rejected)
            for aid, reason in rejected.items():
                # For good (retrying cannot fix it): the dead-letter topic keeps the document and the reason.
                log.error("store rejected alert %s: %s", aid, reason)
                outcome.dead_letter_document(self.name, "alerts", aid, docs[aid], reason)
            self.engine.stored(changed)
            for alert in result.changed:
                if alert.alert_id not in rejected:
                    outcome.out.append(OutMessage(Topic.alerts, alert.alert_id.encode(), alert.to_bytes()))
        for alert in result.notify:
            if self.dispatcher is not None and targets[alert.alert_id]:
                # the fast path; if the queue is full or this worker dies, the outbox still has it
                self.dispatcher.submit(alert, targets[alert.alert_id])
        self.engine.notified(a.alert_id for a in result.notify)

    def _sync_statuses(self) -> None:
        now = time.monotonic()
        if now - self._last_sync < self.status_sync_s:
            return
        self._last_sync = now
        ids = self.engine.open_alert_ids()
        for start in range(0, len(ids), STATUS_CHUNK):  # every open alert: one left out would never close
            self.engine.sync_statuses(self.store.alerts.statuses(ids[start : start + STATUS_CHUNK]))

    def flush(self) -> StageOutcome:
        """Judge bursts as of now (the last checkpoint's interval included) and store the alerts that result."""
        outcome = StageOutcome()
        self._store(self.engine.flush(), outcome)
        return outcome

    def final_flush(self) -> StageOutcome:
        """What a worker's loop runs as it stops, while it can still publish (``run_stage``'s ``flush_on_stop``)."""
        return self.flush()

    def close(self, timeout_s: float = 30.0) -> None:
        """On shutdown, after the loop's final :meth:`flush`: let sink deliveries finish."""
        if self.dispatcher is not None:
            self.dispatcher.close(timeout_s)


def alerts_from_docs(docs: Iterable[Mapping[str, Any]]) -> list[Alert]:
    out = []
    for doc in docs:
        try:
            out.append(outbox.stored_alert(doc))
        except ValidationError:
            log.warning("skipping a malformed stored alert: %s", doc.get("alert_id"))
    return out


def recorder(store: AlertStore) -> Callable[[Alert, list[Delivery]], None]:
    """Record each delivery on its alert; one the sink acknowledged (or refused for good) leaves the outbox."""

    def record(alert: Alert, deliveries: list[Delivery]) -> None:
        for d in deliveries:
            settled = outbox.settled_by(alert.severity, d.sink) if d.ok or d.permanent else []
            store.alerts.ack_delivery(alert.alert_id, {**d.as_dict(), "severity": alert.severity}, settled)

    return record


def outbox_reader(store: AlertStore, size: int = 500) -> Callable[[], list[tuple[Alert, list[str]]]]:
    return lambda: outbox.waiting(store.alerts.pending(size))


def build_alert_stage(
    store: AlertStore,
    config: AlertsConfig | None = None,
    sinks: Sequence[Sink] = (),
    restore: Sequence[Mapping[str, Any]] = (),
    outbox_rescan_s: float | None = None,
    max_wait_s: float = MAX_WAIT_S,
) -> AlertStage:
    """The stage with its engine, sinks (built from the config's ``sinks`` by the caller:
    :func:`flockwatch.adapters.alert_sinks.build_sinks`) and dedupe state restored."""
    config = config or load_config()
    engine = AlertEngine(config)
    engine.restore(alerts_from_docs(restore))
    dispatcher = (
        Dispatcher(
            sinks,
            config.retry,
            recorder(store),
            pending=outbox_reader(store),
            rescan_s=config.retry.outbox_rescan.total_seconds() if outbox_rescan_s is None else outbox_rescan_s,
            claim=lambda alert, names, lease: store.alerts.claim(alert.alert_id, names, lease),
        )
        if sinks
        else None
    )
    return AlertStage(store, engine, dispatcher, max_wait_s=max_wait_s)
