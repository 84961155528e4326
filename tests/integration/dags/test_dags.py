"""Both Airflow DAGs run with dag.test() against the real broker and store; each task's promise is checked.

`ingest_replay` puts an IRA prefix on the raw topic. The IRA records carry no media, so a few posts with media
(served over loopback, allowed only through ``media_allow_networks``) join the normalised topic before
`index_stream` runs normalize, score_text, score_media, index and rollups. Then: every stored post has its text
score, every post with media its media scores, and the narrative and account documents are what the stored posts
and the in-process normalisation of the same input say.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from flockwatch.adapters.kafka_bus import make_producer, produce_all
from flockwatch.config import Settings
from flockwatch.messages import OutMessage
from flockwatch.schema import Author, MediaItem, Post, SourceRef
from flockwatch.store import Store, open_store
from flockwatch.store.documents import IndexKind
from flockwatch.text.aggregate import MIN_POSTS, RECENT_POSTS
from flockwatch.text.detector import stored_threshold
from flockwatch.text.rollup import AccountPosts, account_document, narrative_document, summarize_posts
from flockwatch.topics import Topic
from tests.dag_runner import dag_test
from tests.expected import expected_normalize_counts, expected_posts
from tests.local_http import serve_directory

pytestmark = [pytest.mark.integration, pytest.mark.store, pytest.mark.store_long]

N = 2_000
MEDIA = Settings().data_dir / "media" / "images"


@pytest.fixture
def media_server(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "www"
    root.mkdir()
    shutil.copy(MEDIA / "c2pa_examples" / "ChatGPT_Image.png", root / "ai.png")
    shutil.copy(MEDIA / "cnndetection" / "236_gaugan_real.jpg", root / "photo.jpg")
    with serve_directory(root) as url:
        yield url


def media_posts(base: str) -> dict[str, Post]:
    """Two fetchable images and one address the fetcher must refuse, one post each (own authors)."""
    urls = {"ai": f"{base}/ai.png", "photo": f"{base}/photo.jpg", "private": "http://10.0.0.7/x.jpg"}
    return {
        name: Post(
            platform="test",
            platform_id=f"dag-media-{i}",
            author=Author(id=f"media-author-{i}"),
            text=f"look at this picture of the river {i}",
            created_at=datetime(2016, 10, 1, 12, i, tzinfo=UTC),
            media=[MediaItem(url=url)],
            source=SourceRef(format="test", uri="test_dags"),
        )
        for i, (name, url) in enumerate(urls.items())
    }


def task_results(airflow_home: Path, dag_id: str) -> dict[str, dict[str, int]]:
    """Each task's return value (its XCom) in the latest run of ``dag_id``, from Airflow's metadata database."""
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        rows = db.execute(
            "SELECT task_id, value FROM xcom WHERE key = 'return_value' AND dag_run_id ="
            " (SELECT max(id) FROM dag_run WHERE dag_id = ?)",
            (dag_id,),
        ).fetchall()
    out = {}
    for task_id, raw in rows:
        value = json.loads(raw)
        out[str(task_id)] = json.loads(value) if isinstance(value, str) else value  # stored JSON-encoded once more
    return out


def stored(store: Store, kind: IndexKind, sort: str) -> dict[str, dict[str, Any]]:
    return {
        d["_id"]: {k: v for k, v in d.items() if k != "_id"}
        for d in store.engine.scan(kind, {"match_all": {}}, [{sort: "asc"}])
    }


def same_time(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a == b
    return datetime.fromisoformat(a) == datetime.fromisoformat(b)


def account(doc: dict[str, Any]) -> str:
    return f"{doc['platform']}:{doc['author']['id']}"


def test_ingest_then_index_dags(
    settings: Settings, airflow_home: Path, media_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = dag_test(airflow_home, settings, "ingest_replay.py", "ingest_replay_dag", {"limit": N})
    assert state.endswith("success"), state
    assert task_results(airflow_home, "ingest_replay")["replay_dataset"]["produced"] == N

    with_media = media_posts(media_server)
    producer = make_producer(settings)
    produce_all(
        producer,
        settings.topic_prefix,
        [OutMessage(Topic.normalized, p.key.encode(), p.to_bytes()) for p in with_media.values()],
    )
    producer.close()
    # The DAG's interpreter reads its settings from the environment (dag_test passes ours on).
    monkeypatch.setenv("FLOCKWATCH_MEDIA_ALLOW_NETWORKS", "127.0.0.1/32")
    monkeypatch.setenv("FLOCKWATCH_MEDIA_CACHE_DIR", str(tmp_path / "cache"))
    state = dag_test(airflow_home, settings, "index_stream.py", "index_stream_dag", {})
    assert state.endswith("success"), state

    # What each task counted, exactly, for this input.
    expected = expected_posts("ira_2016", N)
    n_normalized = N + len(with_media)  # every IRA record normalises (checked next), plus the posts with media
    results = task_results(airflow_home, "index_stream")
    normalize = results["normalize"]
    for name, n in expected_normalize_counts("ira_2016", N).items():
        assert normalize.get(name, 0) == n, (name, normalize)
    assert normalize["normalized"] == N
    text = results["score_text"]
    assert text["text_scored"] == n_normalized and text.get("dead_lettered", 0) == 0, text
    media = results["score_media"]
    assert (media.get("media_none"), media.get("media_scored"), media.get("media_refused")) == (N, 2, 1), media
    assert media.get("dead_lettered", 0) == 0, media
    # Posts, their text scores and the three media scores, each written once.
    assert results["index"]["indexed"] == 2 * n_normalized + len(with_media), results["index"]
    rollups = results["rollups"]
    assert rollups["consumed"] == n_normalized and "rollup_missing_posts" not in rollups, rollups

    store = open_store(settings)
    store.engine.refresh()
    posts = stored(store, IndexKind.posts, "key")
    assert set(posts) == set(expected) | {p.key for p in with_media.values()}

    # score_text: every stored post carries its text score.
    for key, doc in posts.items():
        ts = doc.get("text_score")
        assert ts is not None and ts["model"].startswith("text_detector@") and ts["evidence"], key
        assert ts["label"] in ("machine", "human", "unscored"), key
        assert (ts.get("machine_score") is not None) == (ts["label"] != "unscored"), key

    # score_media: every post with media carries one score per item; the others carry none.
    for key, doc in posts.items():
        if key in expected:
            assert "media_by_url" not in doc and "media_risk" not in doc, key
    items = {}
    for name, p in with_media.items():
        (item,) = posts[p.key]["media_by_url"].values()
        assert item["media_url"] == p.media[0].url, name
        items[name] = item
    for name in ("ai", "photo"):
        assert "error" not in items[name] and 0.0 <= items[name]["manipulation_score"] <= 1.0, items[name]
        assert posts[with_media[name].key]["media_risk"] == items[name]["manipulation_score"]
    assert items["ai"]["manipulation_score"] >= 0.9  # its C2PA manifest says a generator made it
    assert items["private"]["error"] and "manipulation_score" not in items["private"], items["private"]
    assert posts[with_media["private"].key]["media_risk"] is None  # written as null: nothing of the post scored

    # rollups, narratives: one document per narrative id among the stored posts, as the posts say.
    narratives = stored(store, IndexKind.narratives, "narrative_id")
    per_narrative = Counter(d["narrative_id"] for d in posts.values() if d.get("narrative_id"))
    assert per_narrative, "no stored post has a narrative id"
    assert {nid: d["post_count"] for nid, d in narratives.items()} == dict(per_narrative)
    assert sum(d["post_count"] for d in narratives.values()) == per_narrative.total()
    want = {nid: narrative_document(s) for nid, s in summarize_posts(posts.values()).items()}
    for nid, doc in narratives.items():
        doc, ref = dict(doc), dict(want[nid])
        for name in ("first_seen", "last_seen"):
            assert same_time(doc.pop(name), ref.pop(name)), nid
        assert doc == ref, nid

    # rollups, accounts: one document per author of the input, over that author's posts.
    accounts = stored(store, IndexKind.accounts, "key")
    authored = Counter(f"{p.platform}:{p.author.id}" for p in [*expected.values(), *with_media.values()])
    assert set(accounts) == set(authored)
    assert max(authored.values()) <= RECENT_POSTS  # so every post of an account counts
    threshold = stored_threshold()
    for key, doc in accounts.items():
        mine = sorted((d for d in posts.values() if account(d) == key),
                      key=lambda d: (d["created_at"], d["key"]), reverse=True)  # fmt: skip
        n_scored = sum(d["text_score"].get("machine_score") is not None for d in mine)
        assert (doc["machine_n_posts"], doc["machine_n_scored"]) == (authored[key], n_scored), key
        assert (doc["machine_label"] == "insufficient") == (n_scored < MIN_POSTS), key
        ref = account_document(AccountPosts(key, doc["platform"], doc.get("handle"), mine), threshold)
        doc = dict(doc)
        assert same_time(doc.pop("machine_last_seen"), ref.pop("machine_last_seen")), key
        assert doc == ref, key
    assert any(d["machine_label"] != "insufficient" for d in accounts.values())
