"""The alert engine and the streaming stage over a fake store: rules, dedupe, suppression, links, retries."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flockwatch.alerts.engine import AlertEngine, post_entities
from flockwatch.alerts.rules import AlertsConfig, parse_config
from flockwatch.alerts.watchlist import WatchEntity
from flockwatch.messages import InMessage
from flockwatch.schema import Alert, Author, DeadLetter, MediaItem, MediaScore, Post, SourceRef, TextScore
from flockwatch.stages.alerts import AlertStage, ScoresNotStored, build_alert_stage
from flockwatch.stages.index import to_upsert
from flockwatch.store.documents import StoreUnavailable
from flockwatch.topics import Topic
from tests.fakes.store import InMemoryStore

T0 = datetime(2016, 10, 9, 20, 0, tzinfo=UTC)
CLOCK = datetime(2030, 1, 1, tzinfo=UTC)
HILLARY = WatchEntity(id="hillary", kind="candidate", name="Hillary Clinton", aliases=["Hillary"])

CONFIG = """\
detector: {bin: 5m, warmup: 30m, min_posts: 10, min_weight: 5}
rules:
  - name: burst
    scope: burst
    entity_types: [hashtag]
    when: {signal: burst_weight, gte: 5}
    severity: medium
    escalate: [{posts: 100, severity: high}]
    dedupe_window: 1h
    suppress_for: 3h
  - name: watched-machine
    scope: post
    group_by: watch
    when:
      all:
        - {signal: watchlist}
        - {signal: machine_text, gte: 0.8}
    severity: high
    dedupe_window: 30m
  - name: fake-media
    scope: post
    group_by: media
    when: {signal: known_fake_media}
    severity: critical
  - name: coordinated-narrative
    scope: post
    group_by: narrative
    when:
      all: [{signal: coordinated}, {signal: narrative}]
"""


def config(text: str = CONFIG) -> AlertsConfig:
    return parse_config(text)


def mkpost(i: int, when: datetime, text: str = "hello", tags: list[str] | None = None, **kw: Any) -> Post:
    return Post(
        platform="twitter",
        platform_id=f"p{i}",
        author=Author(id=kw.pop("author", f"u{i % 7}"), handle=f"u{i % 7}"),
        text=text,
        hashtags=tags or [],
        created_at=when,
        source=SourceRef(format="test", uri="mem://"),
        **kw,
    )


def background(n_minutes: int, start: datetime = T0, per_min: int = 5, offset: int = 0) -> list[Post]:
    return [
        mkpost(offset + m * per_min + j, start + timedelta(minutes=m, seconds=j))
        for m in range(n_minutes)
        for j in range(per_min)
    ]


def machine_score(p: Post, score: float, narrative: str | None = None) -> TextScore:
    return TextScore(
        post_key=p.key,
        post_created_at=p.created_at,
        machine_score=score,
        label="machine" if score > 0.5 else "human",
        model="test-model",
        narrative_id=narrative,
    )


def test_post_entities() -> None:
    p = mkpost(
        1,
        T0,
        tags=["MAGA", "maga", "ＭＡＧＡ", "cafe\u0301", "café"],
        urls=["HTTP://Example.com/a/?utm_source=x"],
        media=[MediaItem(url="http://i/1.jpg", sha256="ab"), MediaItem(url="http://i/2.jpg")],
    )
    assert post_entities(p) == [
        "hashtag:#maga",
        "hashtag:#café",
        "url:https://example.com/a",
        "media:sha256:ab",
        "media:http://i/2.jpg",
    ]


def test_burst_alert_dedupe_escalation_and_suppression() -> None:
    engine = AlertEngine(config(), clock=lambda: CLOCK)
    alerts: dict[str, Alert] = {}
    notified: list[tuple[str, str]] = []

    def run(items: Sequence[Post]) -> None:
        for i in range(0, len(items), 50):
            res = engine.process(items[i : i + 50])
            alerts.update({a.alert_id: a.model_copy(deep=True) for a in res.changed})
            notified.extend((a.alert_id, a.severity) for a in res.notify)
            engine.stored(a.alert_id for a in res.changed)
            engine.notified(a.alert_id for a in res.notify)

    posts = background(120)
    # 150 #game posts over 15 minutes starting an hour in
    game = [mkpost(10_000 + k, T0 + timedelta(minutes=60, seconds=6 * k), tags=["Game"]) for k in range(150)]
    run(sorted(posts + game, key=lambda p: p.created_at))
    burst_alerts = [a for a in alerts.values() if a.rule == "burst"]
    assert len(burst_alerts) == 1, [a.entity for a in burst_alerts]
    alert = burst_alerts[0]
    assert alert.entity == "hashtag:#game"
    assert alert.first_seen is not None and T0 + timedelta(minutes=55) <= alert.first_seen <= T0 + timedelta(minutes=65)
    assert alert.post_count is not None and alert.post_count >= 140
    assert alert.severity == "high"  # escalated at 100 posts
    assert [s for aid, s in notified if aid == alert.alert_id] == ["medium", "high"]  # new, then escalation
    assert {"burst_weight", "baseline_rate_per_h", "observed_rate_per_h", "baseline_share"} <= set(alert.metrics)
    assert alert.evidence[0].signal == "burst.kleinberg" and "weight" in alert.evidence[0].detail
    assert alert.created_at == CLOCK
    # a second burst 2 hours later is within suppress_for (3h from the first): suppressed, not a new alert
    later = background(60, start=T0 + timedelta(minutes=120), offset=50_000)
    game2 = [mkpost(20_000 + k, T0 + timedelta(minutes=150, seconds=6 * k), tags=["game"]) for k in range(150)]
    run(sorted(later + game2, key=lambda p: p.created_at))
    burst_alerts = [a for a in alerts.values() if a.rule == "burst"]
    assert len(burst_alerts) == 1
    assert burst_alerts[0].metrics.get("suppressed", 0) >= 1
    # ...and 4 hours after the first, a third burst opens a new alert
    after = background(60, start=T0 + timedelta(minutes=230), offset=90_000)
    game3 = [mkpost(30_000 + k, T0 + timedelta(minutes=270, seconds=6 * k), tags=["game"]) for k in range(150)]
    run(sorted(after + game3, key=lambda p: p.created_at))
    assert len([a for a in alerts.values() if a.rule == "burst"]) == 2


def test_watchlist_rule_needs_both_signals_and_dedupes_per_entity() -> None:
    engine = AlertEngine(config(), clock=lambda: CLOCK)
    p1 = mkpost(1, T0, "Crooked Hillary again")
    p2 = mkpost(2, T0 + timedelta(minutes=5), "Hillary news")
    p3 = mkpost(3, T0 + timedelta(hours=2), "Hillary later")
    watch = {p.key: [HILLARY] for p in (p1, p2, p3)}
    res = engine.process([p1], watch)
    assert not [a for a in res.changed if a.rule == "watched-machine"]  # no text score yet
    res = engine.process([machine_score(p1, 0.95)])  # the score arrives later: joined by post key
    (alert,) = [a for a in res.changed if a.rule == "watched-machine"]
    assert alert.entity == "watch:hillary" and alert.watch_entity == "hillary"
    assert alert.post_keys == [p1.key]
    assert {e.signal for e in alert.evidence} == {"watchlist", "machine_text"}
    assert "candidate Hillary Clinton" in alert.summary
    engine.stored([alert.alert_id])
    engine.notified([alert.alert_id])
    # score before post, within the dedupe window: merged into the same alert
    res = engine.process([machine_score(p2, 0.9), p2], watch)
    (merged,) = [a for a in res.changed if a.rule == "watched-machine"]
    assert merged.alert_id == alert.alert_id and merged.post_keys == [p1.key, p2.key]
    assert not res.notify  # an update, not a new alert
    engine.stored([merged.alert_id])
    # low score: no match; two hours later (beyond 30m dedupe): a new alert
    res = engine.process([p3, machine_score(p3, 0.1)], watch)
    assert not res.changed
    res = engine.process([machine_score(p3, 0.99)], watch)
    (third,) = res.changed
    assert third.alert_id != alert.alert_id


def test_resolved_alerts_are_not_reopened() -> None:
    engine = AlertEngine(config(), clock=lambda: CLOCK)
    p1, p2 = mkpost(1, T0, "Hillary"), mkpost(2, T0 + timedelta(minutes=1), "Hillary")
    watch = {p.key: [HILLARY] for p in (p1, p2)}
    (first,) = engine.process([p1, machine_score(p1, 0.9)], watch).changed
    engine.stored([first.alert_id])
    engine.sync_statuses({first.alert_id: "resolved"})
    res = engine.process([p2, machine_score(p2, 0.9)], watch)
    (second,) = res.changed
    assert second.alert_id != first.alert_id and second.status == "new"


def test_a_burst_resolved_while_it_goes_on_is_not_raised_again() -> None:
    """Resolving an alert whose burst continues: the next checkpoints find the same run (the same alert id) and
    must not raise it again, which would deliver it to the sinks at every checkpoint."""
    engine = AlertEngine(config(), clock=lambda: CLOCK)
    game = [mkpost(10_000 + k, T0 + timedelta(minutes=60, seconds=6 * k), tags=["Game"]) for k in range(150)]
    stream = sorted(background(120) + game, key=lambda p: p.created_at)
    notified: list[str] = []
    resolved: str | None = None
    for i in range(0, len(stream), 20):
        res = engine.process(stream[i : i + 20])
        notified += [a.alert_id for a in res.notify]
        engine.stored(a.alert_id for a in res.changed)
        engine.notified(a.alert_id for a in res.notify)
        burst = [a.alert_id for a in res.changed if a.rule == "burst"]
        resolved = resolved or (burst[0] if burst else None)
        if resolved:
            engine.sync_statuses({resolved: "resolved"})  # the analyst resolves it at once
    assert resolved is not None and notified == [resolved]


def test_two_bursts_in_one_alert_count_both() -> None:
    """Two separate runs of 300 posts each, 3 h apart, within a 6 h dedupe window: one alert counting both (no
    single run can reach 301), escalated at 500."""
    text = CONFIG.replace("dedupe_window: 1h\n    suppress_for: 3h", "dedupe_window: 6h\n    suppress_for: 6h")
    engine = AlertEngine(config(text.replace("posts: 100", "posts: 500")), clock=lambda: CLOCK)
    runs = [
        mkpost(base + k, T0 + timedelta(minutes=start, seconds=3 * k), tags=["Game"])
        for base, start in ((10_000, 60), (20_000, 240))
        for k in range(300)
    ]
    stream = sorted(background(330) + runs, key=lambda p: p.created_at)
    alerts: dict[str, Alert] = {}
    for i in range(0, len(stream), 20):
        res = engine.process(stream[i : i + 20])
        alerts.update({a.alert_id: a for a in res.changed})
        engine.stored(a.alert_id for a in res.changed)
    alerts.update({a.alert_id: a for a in engine.flush().changed})
    (alert,) = [a for a in alerts.values() if a.rule == "burst"]
    assert alert.post_count is not None and 300 < alert.post_count <= 600 and alert.severity == "high"


def test_a_sweeps_older_burst_does_not_grow_the_newer_alert_in_the_book() -> None:
    """The book holds the latest alert per (rule, entity); a burst that ended hours before it began (a sweep
    applying its bursts oldest first) is another alert's matter, not this one's to grow or escalate."""
    from flockwatch.alerts.bursts import Burst

    def burst(start: datetime, posts: int) -> Burst:
        return Burst("hashtag:#game", start, start + timedelta(hours=1), posts, 4 * posts, 40.0, 0.01, 0.25,
                     5.0, float(posts))  # fmt: skip

    engine = AlertEngine(config(), clock=lambda: CLOCK)
    (newer,) = engine.apply_bursts([burst(T0 + timedelta(hours=3), 60)]).changed
    engine.stored([newer.alert_id])
    assert not engine.apply_bursts([burst(T0, 90)]).changed  # 3 h before it began: dedupe_window is 1 h
    (again,) = engine.apply_bursts([burst(T0 + timedelta(hours=3), 80)]).changed
    assert again.alert_id == newer.alert_id and again.post_count == 80 and again.first_seen == newer.first_seen


def test_a_redelivered_batch_judges_nothing_again() -> None:
    engine = AlertEngine(config(), clock=lambda: CLOCK)
    posts = [mkpost(i, T0 + timedelta(minutes=i), "Hillary") for i in range(3)]
    watch = {p.key: [HILLARY] for p in posts}
    batch = [item for p in posts for item in (machine_score(p, 0.9), p)]  # scores first, as the stage joins them
    (alert,) = engine.process(batch, watch).changed
    assert alert.post_count == 3
    engine.stored([alert.alert_id])
    again = engine.process(batch, watch)
    assert not again.changed and again.counts["duplicate_scores"] == 3 and again.counts["duplicate_posts"] == 3
    # resolved meanwhile: a redelivery does not raise it again either
    engine.sync_statuses({alert.alert_id: "resolved"})
    assert not engine.process(batch, watch).changed


def test_an_alert_starts_at_its_earliest_post_whatever_order_they_come_in() -> None:
    engine = AlertEngine(config(), clock=lambda: CLOCK)
    late, early = mkpost(2, T0 + timedelta(minutes=10), "Hillary"), mkpost(1, T0, "Hillary")
    watch = {p.key: [HILLARY] for p in (late, early)}
    (alert,) = engine.process([late, machine_score(late, 0.9)], watch).changed
    engine.stored([alert.alert_id])
    (merged,) = engine.process([early, machine_score(early, 0.9)], watch).changed
    assert (merged.first_seen, merged.last_seen) == (T0, T0 + timedelta(minutes=10))


def test_one_post_with_a_clock_hours_ahead_does_not_stop_burst_alerts() -> None:
    game = [mkpost(10_000 + k, T0 + timedelta(minutes=60, seconds=6 * k), tags=["Game"]) for k in range(150)]
    stream = sorted(background(120) + game, key=lambda p: p.created_at)
    stream.insert(100, mkpost(99_999, T0 + timedelta(hours=3), "wrong clock"))
    engine = AlertEngine(config(), clock=lambda: CLOCK)
    raised, early = [], 0
    for i in range(0, len(stream), 20):
        res = engine.process(stream[i : i + 20])
        raised += [a.entity for a in res.changed if a.rule == "burst"]
        early += res.counts["early_items"]
        engine.stored(a.alert_id for a in res.changed)
    assert "hashtag:#game" in raised and early == 1
    # past the wall clock: never moves the event clock, however many come
    live = AlertEngine(config(), clock=lambda: T0 + timedelta(hours=1))
    future = [mkpost(i, T0 + timedelta(hours=1, minutes=30), "ahead") for i in range(30)]
    res = live.process([mkpost(0, T0 + timedelta(minutes=59), "now"), *future])
    assert res.counts["early_items"] == 30 and live.event_clock == T0 + timedelta(minutes=59)
    # far past the event clock but in a row (a replay's gap): the clock follows after EARLY_CONFIRM of them
    gap = [mkpost(200_000 + i, T0 + timedelta(hours=5, seconds=i), "after a gap") for i in range(25)]
    res = engine.process(gap)
    assert res.counts["early_items"] == 19 and engine.event_clock == gap[-1].created_at


def test_media_and_narrative_rules_link_their_evidence() -> None:
    engine = AlertEngine(config(), clock=lambda: CLOCK)
    p = mkpost(
        1,
        T0,
        "look",
        media=[MediaItem(url="http://img/1.jpg", sha256="f00d")],
        reshare_of="root1",
        author="bot1",
    )
    media = MediaScore(
        post_key=p.key,
        post_created_at=p.created_at,
        media_url="http://img/1.jpg",
        manipulation_score=0.97,
        matches=[{"known": "fake-123"}],
    )
    res = engine.process([p, media, machine_score(p, 0.2, narrative="n-7")], clusters={"twitter:bot1": ["c-42"]})
    by_rule = {a.rule: a for a in res.changed}
    fake = by_rule["fake-media"]
    assert fake.entity == "media:sha256:f00d" and fake.media == ["media:sha256:f00d"]
    assert fake.severity == "critical" and fake.cascade_id == "twitter:root1"
    assert fake.evidence[0].on == "http://img/1.jpg" and fake.evidence[0].score == 1.0
    narrative = by_rule["coordinated-narrative"]
    assert narrative.entity == "narrative:n-7" and narrative.narrative_id == "n-7" and narrative.cluster_id == "c-42"


def test_restore_makes_dedupe_survive_a_restart() -> None:
    engine = AlertEngine(config(), clock=lambda: CLOCK)
    p1, p2 = mkpost(1, T0, "Hillary"), mkpost(2, T0 + timedelta(minutes=3), "Hillary")
    watch = {p.key: [HILLARY] for p in (p1, p2)}
    (first,) = engine.process([p1, machine_score(p1, 0.9)], watch).changed
    fresh = AlertEngine(config(), clock=lambda: CLOCK)
    assert fresh.restore([first]) == 1
    (again,) = fresh.process([p2, machine_score(p2, 0.9)], watch).changed
    assert again.alert_id == first.alert_id and again.post_keys == [p1.key, p2.key]


# --- the stage --------------------------------------------------------------------------------------------


def fake_store(*watch: WatchEntity) -> InMemoryStore:
    """The shared in-memory store, watching ``watch``."""
    store = InMemoryStore()
    store.watchlists.put([e.model_dump() for e in watch])
    return store


def msg(i: int, item: Post) -> InMessage:
    return InMessage("t.posts.normalized", 0, i, None, item.to_bytes())


def stored(store: InMemoryStore, *items: Post | TextScore | MediaScore) -> None:
    """What the index stage would have written for ``items``."""
    store.engine.bulk_upsert([to_upsert(item) for item in items])


def test_stage_dead_letters_bad_input_and_emits_alerts() -> None:
    store = fake_store(HILLARY)
    stage = build_alert_stage(store, config(), sinks=[])
    assert isinstance(stage, AlertStage) and stage.dispatcher is None
    p = mkpost(1, T0, "Hillary")
    stored(store, p, machine_score(p, 0.9))
    batch = [msg(0, p), InMessage("t", 0, 2, None, b"{not json")]
    out = stage.process(batch)
    assert out.counts["dead_lettered"] == 1
    letter = DeadLetter.model_validate_json(next(m.value for m in out.out if m.topic == Topic.dead_letter))
    assert letter.stage == "alerts" and letter.original() == b"{not json"
    alerts = [Alert.model_validate_json(m.value) for m in out.out if m.topic == Topic.alerts]
    assert [a.rule for a in alerts] == ["watched-machine"]
    assert list(store.alerts.docs) == [alerts[0].alert_id]
    assert out.counts["watch_matches"] == 1
    # the same batch again (a redelivery) changes nothing
    again = stage.process(batch)
    assert not [m for m in again.out if m.topic == Topic.alerts]


def test_an_alert_the_store_rejects_is_dead_lettered_with_its_document_not_only_logged() -> None:
    p = mkpost(1, T0, "Hillary")
    stores = fake_store(HILLARY), fake_store(HILLARY)
    for store in stores:
        stored(store, p, machine_score(p, 0.9))
    probe = build_alert_stage(stores[0], config(), sinks=[]).process([msg(0, p)])  # finds the alert's id
    [alert] = [Alert.model_validate_json(m.value) for m in probe.out if m.topic == Topic.alerts]
    store = stores[1]
    store.engine.reject = {alert.alert_id}
    out = build_alert_stage(store, config(), sinks=[]).process([msg(0, p)])
    [letter] = [DeadLetter.model_validate_json(m.value) for m in out.out if m.topic == Topic.dead_letter]
    assert letter.stage == "alerts" and f"alerts document {alert.alert_id!r}" in letter.reason
    assert json.loads(letter.original())["alert_id"] == alert.alert_id and out.counts["rejected"] == 1
    assert not [m for m in out.out if m.topic == Topic.alerts] and not store.alerts.docs


def test_stage_waits_for_the_scores_its_rules_read() -> None:
    """A post is judged once it is stored with its text score and every media item's score; after max_wait_s
    it is judged with what is stored, and counted."""
    store = fake_store(HILLARY)
    now = [0.0]
    stage = build_alert_stage(store, config(), sinks=[], max_wait_s=60.0)
    stage.clock = lambda: now[0]
    p = mkpost(1, T0, "Hillary", media=[MediaItem(url="http://img/1.jpg")])
    stored(store, p)
    with pytest.raises(ScoresNotStored):
        stage.process([msg(0, p)])  # no text score yet
    stored(store, machine_score(p, 0.9))
    with pytest.raises(ScoresNotStored):
        stage.process([msg(0, p)])  # the media item's score is still missing
    now[0] = 61.0
    out = stage.process([msg(0, p)])  # given up waiting for it: judged with the text score
    assert out.counts["alerts_incomplete_posts"] == 1
    assert [Alert.model_validate_json(m.value).rule for m in out.out if m.topic == Topic.alerts] == ["watched-machine"]
    q = mkpost(2, T0 + timedelta(minutes=1), "Hillary", media=[MediaItem(url="http://img/2.jpg")])
    failed = MediaScore(post_key=q.key, post_created_at=q.created_at, media_url="http://img/2.jpg", error="HTTP 404")
    stored(store, q, machine_score(q, 0.9), failed)
    assert stage.process([msg(1, q)]).counts["alerts_incomplete_posts"] == 0  # a failure is an answer too


def test_a_rule_set_without_score_signals_waits_for_nothing() -> None:
    watch_only = parse_config(
        "rules: [{name: w, scope: post, group_by: watch, when: {signal: watchlist}, severity: high}]"
    )
    assert watch_only.scores_read() == (False, False)
    assert config().scores_read() == (True, True)
    bursts_only = parse_config(
        "rules: [{name: b, scope: burst, entity_types: [hashtag], when: {signal: burst_weight, gte: 5}}]"
    )
    assert bursts_only.scores_read() == (False, False)
    store = fake_store(HILLARY)
    stage = build_alert_stage(store, watch_only, sinks=[])
    out = stage.process([msg(0, mkpost(1, T0, "Hillary"))])  # nothing stored: not waited for
    assert out.counts["alerts_new"] == 1


def test_stage_keeps_alerts_pending_through_a_store_outage() -> None:
    store = fake_store(HILLARY)
    stage = build_alert_stage(store, config(), sinks=[])
    p = mkpost(1, T0, "Hillary")
    stored(store, p, machine_score(p, 0.9))
    batch = [msg(0, p)]
    store.engine.down = True
    with pytest.raises(StoreUnavailable):
        stage.process(batch)  # the Kafka loop retries the batch
    store.engine.down, store.engine.writes_down = False, True
    with pytest.raises(StoreUnavailable):
        stage.process(batch)  # the engine saw the batch, but its alert could not be written
    assert not store.alerts.docs
    store.engine.writes_down = False
    out = stage.process(batch)  # the redelivered batch is a duplicate; the pending alert is written now
    assert len([m for m in out.out if m.topic == Topic.alerts]) == 1
    assert len(store.alerts.docs) == 1


def test_every_open_alert_learns_it_was_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    """Statuses are read in chunks (5000 ids each): an alert past the first chunk still learns it was resolved."""
    monkeypatch.setattr("flockwatch.stages.alerts.STATUS_CHUNK", 1)
    watched = [WatchEntity(id=f"w{i}", kind="candidate", name=f"Name{i}") for i in range(3)]
    store = fake_store(*watched)
    stage = build_alert_stage(store, config(), sinks=[])
    stage.status_sync_s = 0.0
    posts = [mkpost(i, T0 + timedelta(minutes=i), f"Name{i}") for i in range(3)]
    stored(store, *posts, *(machine_score(p, 0.9) for p in posts))
    stage.process([msg(i, p) for i, p in enumerate(posts)])
    assert len(store.alerts.docs) == 3
    for alert_id in store.alerts.docs:
        store.alerts.docs[alert_id]["status"] = "resolved"
    stage.process([])
    assert stage.engine.open_alert_ids() == []


def test_a_scored_media_item_is_one_entity() -> None:
    """Normalised posts carry no media hash; the score does: the item is its score's entity, not also its URL's."""
    engine = AlertEngine(config(), clock=lambda: CLOCK)
    p = mkpost(1, T0, "look", media=[MediaItem(url="http://img/1.jpg"), MediaItem(url="http://img/2.jpg")])
    media = MediaScore(post_key=p.key, post_created_at=p.created_at, media_url="http://img/1.jpg", sha256="f00d",
                       manipulation_score=0.97, matches=[{"known": "fake-123"}])  # fmt: skip
    (alert,) = engine.process([media, p]).changed  # stored scores come before their post
    assert alert.entity == "media:sha256:f00d"
    assert sorted(e for e in engine.tracker.entities if e.startswith("media:")) == [
        "media:http://img/2.jpg",
        "media:sha256:f00d",
    ]


def final_alerts(batches: Sequence[Sequence[Post | TextScore]], watch: dict[str, list[WatchEntity]]) -> list[Any]:
    engine = AlertEngine(config(), clock=lambda: CLOCK)
    for batch in batches:
        res = engine.process(batch, watch)
        engine.stored(a.alert_id for a in res.changed)
    engine.flush()
    return sorted((e.alert.model_dump() for e in engine.book.values()), key=lambda a: a["alert_id"])


# The burst test's stream, with watched posts and machine scores among it: every rule has something to say.
STREAM: list[Post | TextScore] = []
for _p in sorted(
    background(90)
    + [mkpost(10_000 + k, T0 + timedelta(minutes=40, seconds=6 * k), tags=["Game"]) for k in range(150)]
    + [mkpost(20_000 + k, T0 + timedelta(minutes=3 * k, seconds=30), "Hillary") for k in range(25)],
    key=lambda p: p.created_at,
):
    STREAM += [machine_score(_p, 0.95), _p] if _p.text == "Hillary" else [_p]
WATCHED = {p.key: [HILLARY] for p in STREAM if isinstance(p, Post) and p.text == "Hillary"}


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(STREAM) - 1), max_size=40, unique=True))
def test_how_the_stream_is_batched_does_not_change_the_alerts(cuts: list[int]) -> None:
    """Bursts are judged at event-time checkpoints, not at the end of a batch: any cut of the same sequence into
    batches ends with the same alerts (the streaming stage's batches depend on timing)."""
    bounds = [0, *sorted(cuts), len(STREAM)]
    batches = [STREAM[a:b] for a, b in itertools.pairwise(bounds)]
    assert final_alerts(batches, WATCHED) == WHOLE


WHOLE = final_alerts([STREAM], WATCHED)


def test_the_batching_test_sees_every_kind_of_alert() -> None:
    assert {a["rule"] for a in WHOLE} == {"burst", "watched-machine"}
    assert final_alerts([[x] for x in STREAM], WATCHED) == WHOLE  # one item per batch


def test_late_posts_count_in_the_open_bin() -> None:
    engine = AlertEngine(config(), clock=lambda: CLOCK)
    engine.process(background(10, start=T0 + timedelta(minutes=30)))
    res = engine.process(background(1, offset=1000))  # half an hour behind: its bin has closed
    assert res.counts["late_posts"] == 5 and engine.tracker.late == 5


def test_the_join_cache_holds_what_rules_read_not_the_posts() -> None:
    """A long-running alerts worker keeps up to ``max_contexts`` posts' contexts: each must cost well under the
    post itself (its text, author, source, engagement), or the worker grows by a GiB per 200,000 posts. Posts of
    280 characters of their own, two hashtags of a small pool, one link and one picture each; joined without
    counting them for bursts (``remember``), so only the cache is measured."""
    import tracemalloc

    engine = AlertEngine(config(), clock=lambda: CLOCK)

    def posts(start: int, n: int) -> list[Post]:
        return [
            mkpost(
                i, T0 + timedelta(seconds=i), f"{i:08d} " + "x" * 271, tags=[f"tag{i % 50}", f"tag{i % 7}"],
                urls=[f"https://t.co/{i:08d}"], media=[MediaItem(url=f"https://pbs.twimg.com/{i}.jpg")],
            )
            for i in range(start, start + n)
        ]  # fmt: skip

    engine.remember(posts(0, 500))
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for start in range(500, 4500, 500):
        engine.remember(posts(start, 500))
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(engine.contexts) == 4500
    # 4.8 KB a post when the cache held the posts (commit 15223de).
    assert grown / 4000 < 2000, f"{grown / 4000:.0f} bytes per post"
