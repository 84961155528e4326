"""The store's alerts and watchlists section against the real OpenSearch: percolator, upserts, lifecycle."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flockwatch.alerts.lifecycle import TransitionError, transition
from flockwatch.alerts.watchlist import WatchEntity, match_all, parse_watchlist
from flockwatch.config import Settings
from flockwatch.replay import normalize_record, read_dataset
from flockwatch.schema import Alert, AlertStatus, Evidence, Post
from flockwatch.stages.alerts import alert_doc
from flockwatch.stages.index import to_upsert
from flockwatch.store.opensearch import IndexKind, OpenSearchStore, compile_watch_query

pytestmark = pytest.mark.integration

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
    store = OpenSearchStore(settings)
    entities = parse_watchlist(WATCHLIST)
    assert store.put_watch_entities([e.model_dump() for e in entities]) == 5
    assert [e["id"] for e in store.list_watch_entities()] == ["hillary", "obama", "putin", "trump", "wikileaks"]
    posts = ira_posts(8000)
    found: dict[str, list[str]] = {}
    for i in range(0, len(posts), 1000):
        for key, docs in store.percolate(posts[i : i + 1000]).items():
            found[key] = sorted(d["id"] for d in docs)
    expected = {k: sorted(e.id for e in v) for k, v in match_all(entities, posts).items()}
    assert len(expected) > 300  # real mentions: the IRA tweeted about the candidates all the time
    assert found == expected
    assert {e for ids in found.values() for e in ids} >= {"hillary", "trump", "obama"}
    # removing an entity removes its matches
    assert store.delete_watch_entity("trump") and not store.delete_watch_entity("trump")
    again = store.percolate(posts[:1000])
    assert all("trump" not in [d["id"] for d in v] for v in again.values())


def test_compiled_query_shape() -> None:
    e = WatchEntity(id="t", name="Donald Trump", aliases=["Trump"], handles=["@RealDonaldTrump"], languages=["en"])
    q = compile_watch_query(e.model_dump())["bool"]
    assert {"match_phrase": {"text": "Donald Trump"}} in q["should"]
    assert {"terms": {"mentions": ["realdonaldtrump"]}} in q["should"]
    assert {"terms": {"author.handle": ["realdonaldtrump"]}} in q["should"]
    assert q["filter"] == [{"terms": {"language": ["en"]}}] and q["minimum_should_match"] == 1


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
    store = OpenSearchStore(settings)
    result = store.upsert_alerts([alert_doc(alert(i)) for i in range(3)])
    assert result.written == 3 and not result.rejected
    store.refresh(IndexKind.alerts)
    now = datetime(2030, 1, 2, tzinfo=UTC)
    doc = store.update_alert("al-1", lambda d: transition(d, AlertStatus.acknowledged, now, "ana", "on it"))
    assert doc["status"] == "acknowledged"
    # the engine keeps updating the alert: posts and metrics change, status and history stay
    store.upsert_alerts([alert_doc(alert(1, post_keys=["twitter:1", "twitter:9"], post_count=2, status="new"))])
    got = store.get_alert("al-1")
    assert got is not None
    assert got["status"] == "acknowledged" and got["history"][0]["by"] == "ana"
    assert got["post_keys"] == ["twitter:1", "twitter:9"] and got["created_at"].startswith("2030-01-01T00:01")
    with pytest.raises(TransitionError, match="cannot go from resolved"):
        store.update_alert("al-1", lambda d: transition(d, AlertStatus.resolved, now, None, None))
        store.update_alert("al-1", lambda d: transition(d, AlertStatus.new, now, None, None))
    with pytest.raises(KeyError):
        store.update_alert("al-missing", lambda d: {})
    store.record_delivery("al-0", {"sink": "slack", "ok": False, "attempts": 4, "error": "HTTP 500"})
    store.record_delivery("al-0", {"sink": "slack", "ok": True, "attempts": 1})
    got0 = store.get_alert("al-0")
    assert got0 is not None and [d["ok"] for d in got0["deliveries"]] == [False, True]
    store.refresh(IndexKind.alerts)
    assert [a["alert_id"] for a in store.list_alerts()] == ["al-2", "al-1", "al-0"]
    assert [a["alert_id"] for a in store.list_alerts(status="resolved")] == ["al-1"]
    assert [a["alert_id"] for a in store.list_alerts(status="new", entity="hashtag:#t2")] == ["al-2"]
    assert store.alert_statuses(["al-0", "al-1", "nope"]) == {"al-0": "new", "al-1": "resolved"}
    restored = [Alert.model_validate(d) for d in store.recent_alerts(datetime(2029, 1, 1, tzinfo=UTC))]
    assert {a.alert_id for a in restored} == {"al-0", "al-1", "al-2"}


def test_scan_posts_in_time_order(settings: Settings) -> None:
    store = OpenSearchStore(settings)
    posts = ira_posts(3000)
    store.bulk_upsert([to_upsert(p) for p in posts])
    store.refresh(IndexKind.posts)
    start, end = posts[100].created_at, posts[2500].created_at
    scanned = list(store.scan_posts(start, end, page=500))
    want = sorted({p.key for p in posts if start <= p.created_at < end})
    assert sorted(d["key"] for d in scanned) == want
    times = [d["created_at"] for d in scanned]
    assert times == sorted(times)
