"""The store's alerts and watchlists section against the real OpenSearch: percolator, upserts, lifecycle."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flockwatch.alerts.lifecycle import TransitionError, transition
from flockwatch.alerts.outbox import CLAIMS, with_outbox
from flockwatch.alerts.watchlist import WatchEntity, match_all, parse_watchlist
from flockwatch.config import Settings
from flockwatch.replay import normalize_record, read_dataset
from flockwatch.schema import Alert, AlertStatus, Evidence, Post
from flockwatch.stages.alerts import alert_doc
from flockwatch.stages.index import to_upsert
from flockwatch.store import open_store
from flockwatch.store.documents import IndexKind

pytestmark = [pytest.mark.integration, pytest.mark.store]

WATCHLIST = """\
entities:
  - {id: hillary, kind: candidate, name: Hillary Clinton, aliases: [Hillary, Crooked Hillary],
     handles: [HillaryClinton]}
  - {id: trump, kind: candidate, name: Donald Trump, aliases: [Trump], handles: ["@realDonaldTrump"], languages: [en]}
  - {id: obama, kind: person, name: Barack Obama, aliases: [Obama, POTUS]}
  - {id: putin, kind: person, name: Vladimir Putin, aliases: [Putin, Путин]}
  - {id: wikileaks, kind: organisation, name: WikiLeaks, handles: [wikileaks]}
"""


def ira_posts(n: int) -> list[Post]:
    posts = (normalize_record(r) for r in itertools.islice(read_dataset("ira_2016", None, Settings().data_dir), n))
    return [p for p in posts if p is not None]


def test_percolator_agrees_with_the_python_matcher_on_real_posts(settings: Settings) -> None:
    store = open_store(settings)
    entities = parse_watchlist(WATCHLIST)
    assert store.watchlists.put([e.model_dump() for e in entities]) == 5
    assert [e["id"] for e in store.watchlists.entities()] == ["hillary", "obama", "putin", "trump", "wikileaks"]
    posts = ira_posts(8000)
    found: dict[str, list[str]] = {}
    for i in range(0, len(posts), 1000):
        for key, docs in store.watchlists.percolate(posts[i : i + 1000]).items():
            found[key] = sorted(d["id"] for d in docs)
    expected = {k: sorted(e.id for e in v) for k, v in match_all(entities, posts).items()}
    assert len(expected) > 300  # real mentions: the IRA tweeted about the candidates all the time
    assert found == expected
    assert {e for ids in found.values() for e in ids} >= {"hillary", "trump", "obama"}
    # what real posts rarely hold: a regional language tag, a fediverse handle, a Turkish dotted capital I
    edge = [WatchEntity(id="tr", name="Ekrem İmamoğlu", languages=["tr"]),
            WatchEntity(id="fedi", name="Alice Example", handles=["@alice@mastodon.social"])]  # fmt: skip
    store.watchlists.put([e.model_dump() for e in edge])
    base = posts[0].model_copy(update={"mentions": [], "author": posts[0].author.model_copy(update={"handle": "x"})})
    odd = [
        base.model_copy(update={"platform_id": "e1", "text": "EKREM IMAMOĞLU konuştu", "language": "tr-TR"}),
        base.model_copy(update={"platform_id": "e2", "text": "Ekrem İmamoğlu", "language": "tr"}),
        base.model_copy(update={"platform_id": "e3", "text": "hi", "mentions": ["Alice@Mastodon.social"]}),
        base.model_copy(update={"platform_id": "e4", "text": "ekrem imamoğlu", "language": "en"}),
    ]
    got = {k: sorted(d["id"] for d in v) for k, v in store.watchlists.percolate(odd).items()}
    want = {k: sorted(e.id for e in v) for k, v in match_all(edge, odd).items()}
    assert got == want and set(got) == {odd[0].key, odd[1].key, odd[2].key}
    # removing an entity removes its matches
    assert store.watchlists.delete("trump") and not store.watchlists.delete("trump")
    again = store.watchlists.percolate(posts[:1000])
    assert all("trump" not in [d["id"] for d in v] for v in again.values())


def alert(i: int, **kw: Any) -> Alert:
    base: dict[str, Any] = {
        "alert_id": f"al-{i}",
        "rule": "r",
        "severity": "medium",
        "entity": f"hashtag:#t{i}",
        "created_at": datetime(2030, 1, 1, tzinfo=UTC) + timedelta(minutes=i),
        "summary": f"alert {i}",
        "evidence": [Evidence(signal="burst.kleinberg", score=0.9, on=f"hashtag:#t{i}", detail="d")],
        "post_keys": [f"twitter:{i}"],
        "metrics": {"burst_weight": 12.5},
    }
    return Alert(**(base | kw))


def test_alert_upserts_keep_the_lifecycle(settings: Settings) -> None:
    store = open_store(settings)
    result = store.alerts.upsert([alert_doc(alert(i)) for i in range(3)])
    assert result.written == 3 and not result.rejected
    store.engine.refresh(IndexKind.alerts)
    now = datetime(2030, 1, 2, tzinfo=UTC)
    doc = store.alerts.update("al-1", lambda d: transition(d, AlertStatus.acknowledged, now, "ana", "on it"))
    assert doc["status"] == "acknowledged"
    # the engine keeps updating the alert: posts and metrics change, status and history stay
    store.alerts.upsert([alert_doc(alert(1, post_keys=["twitter:1", "twitter:9"], post_count=2, status="new"))])
    got = store.alerts.get("al-1")
    assert got is not None
    assert got["status"] == "acknowledged" and got["history"][0]["by"] == "ana"
    assert got["post_keys"] == ["twitter:1", "twitter:9"] and got["created_at"].startswith("2030-01-01T00:01")
    with pytest.raises(TransitionError, match="cannot go from resolved"):
        store.alerts.update("al-1", lambda d: transition(d, AlertStatus.resolved, now, None, None))
        store.alerts.update("al-1", lambda d: transition(d, AlertStatus.new, now, None, None))
    with pytest.raises(KeyError):
        store.alerts.update("al-missing", lambda d: {})
    store.alerts.record_delivery("al-0", {"sink": "slack", "ok": False, "attempts": 4, "error": "HTTP 500"})
    store.alerts.record_delivery("al-0", {"sink": "slack", "ok": True, "attempts": 1})
    got0 = store.alerts.get("al-0")
    assert got0 is not None and [d["ok"] for d in got0["deliveries"]] == [False, True]
    store.engine.refresh(IndexKind.alerts)
    assert [a["alert_id"] for a in store.alerts.find()] == ["al-2", "al-1", "al-0"]
    assert [a["alert_id"] for a in store.alerts.find(status="resolved")] == ["al-1"]
    assert [a["alert_id"] for a in store.alerts.find(status="new", entity="hashtag:#t2")] == ["al-2"]
    assert store.alerts.statuses(["al-0", "al-1", "nope"]) == {"al-0": "new", "al-1": "resolved"}
    restored = [Alert.model_validate(d) for d in store.alerts.recent(datetime(2029, 1, 1, tzinfo=UTC))]
    assert {a.alert_id for a in restored} == {"al-0", "al-1", "al-2"}
    # raised long before, its latest post recent: still restored (a burst that goes on for more than a week)
    ongoing = alert(9, created_at=datetime(2029, 6, 1, tzinfo=UTC), last_seen=datetime(2030, 1, 1, tzinfo=UTC))
    store.alerts.upsert([alert_doc(ongoing)])
    store.engine.refresh(IndexKind.alerts)
    recent = {d["alert_id"] for d in store.alerts.recent(datetime(2029, 12, 1, tzinfo=UTC))}
    assert recent == {"al-0", "al-1", "al-2", "al-9"}


def test_the_outbox_is_found_claimed_once_and_settled(settings: Settings) -> None:
    """The store calls behind at-least-once delivery (``test_alerts_outbox`` drives them through a killed worker,
    on OpenSearch only in `make test`): an owed alert is found, a held claim keeps a second caller off a sink
    until its lease runs out, an ack settles it."""
    store = open_store(settings)
    owing = [with_outbox(alert_doc(alert(i, alert_id=f"ob-{i}")), "high", ["hook", "slack"]) for i in (1, 2)]
    store.alerts.upsert(owing)
    store.alerts.upsert([alert_doc(alert(3, alert_id="ob-3"))])  # owes nothing
    store.engine.refresh(IndexKind.alerts)
    owed = {d["alert_id"]: d["outbox"] for d in store.alerts.pending() if d["alert_id"].startswith("ob-")}
    assert owed == {"ob-1": ["high:hook", "high:slack"], "ob-2": ["high:hook", "high:slack"]}
    lease = timedelta(minutes=5)
    assert store.alerts.claim("ob-1", ["hook"], lease) == ["hook"]
    assert store.alerts.claim("ob-1", ["hook", "slack"], lease) == ["slack"]  # the hook's claim still holds
    assert store.alerts.claim("ob-1", ["hook"], lease) == []
    store.alerts.ack_delivery("ob-1", {"sink": "hook", "ok": True, "attempts": 1, "severity": "high"}, ["high:hook"])
    got = store.alerts.get("ob-1")
    assert got is not None and got["outbox"] == ["high:slack"] and list(got[CLAIMS]) == ["high:slack"]
    store.alerts.ack_delivery("ob-1", {"sink": "slack", "ok": True, "attempts": 1, "severity": "high"}, ["high:slack"])
    got = store.alerts.get("ob-1")
    assert got is not None and "outbox" not in got and CLAIMS not in got
    assert [d["sink"] for d in got["deliveries"]] == ["hook", "slack"]
    # a lease that ran out (a killed worker's) lets the next caller claim the sink
    assert store.alerts.claim("ob-2", ["hook"], timedelta(0)) == ["hook"]
    assert store.alerts.claim("ob-2", ["hook"], lease) == ["hook"]
    assert store.alerts.claim("ob-2", ["hook"], lease) == []
    # a later write of the same alert at the same severity owes nothing again: the deliveries settled it
    store.alerts.upsert([with_outbox(alert_doc(alert(1, alert_id="ob-1", post_count=2)), "high", ["hook"])])
    store.engine.refresh(IndexKind.alerts)
    assert {d["alert_id"] for d in store.alerts.pending() if d["alert_id"].startswith("ob-")} == {"ob-2"}


def test_scan_posts_in_time_order(settings: Settings) -> None:
    store = open_store(settings)
    posts = ira_posts(3000)
    store.engine.bulk_upsert([to_upsert(p) for p in posts])
    store.engine.refresh(IndexKind.posts)
    start, end = posts[100].created_at, posts[2500].created_at
    scanned = list(store.posts.scan(start, end, page=500))
    want = sorted({p.key for p in posts if start <= p.created_at < end})
    assert sorted(d["key"] for d in scanned) == want
    times = [d["created_at"] for d in scanned]
    assert times == sorted(times)
