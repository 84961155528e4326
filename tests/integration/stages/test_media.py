"""Posts with media through real Kafka and OpenSearch: normalised posts → media scores → post documents.

The media is served over loopback (allowed only through ``media_allow_networks``, as in no deployment);
internal addresses, markup posing as an image and a known-fake re-upload each get their recorded result.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from flockwatch.adapters.kafka_bus import make_producer, produce_all
from flockwatch.config import Settings
from flockwatch.media.bank import Bank, bank_records
from flockwatch.messages import OutMessage
from flockwatch.schema import Author, MediaItem, Post, SourceRef
from flockwatch.store import open_store
from flockwatch.store.documents import IndexKind
from flockwatch.topics import Topic
from flockwatch.workers import run_until_caught_up
from tests.local_http import serve_directory

pytestmark = [pytest.mark.integration, pytest.mark.store]

MEDIA = Settings().data_dir / "media" / "images"


@pytest.fixture
def media_server(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "www"
    root.mkdir()
    shutil.copy(MEDIA / "c2pa_examples" / "ChatGPT_Image.png", root / "ai.png")
    shutil.copy(MEDIA / "pdq_variants" / "bridge-5-flipx.jpg", root / "reupload.jpg")
    shutil.copy(MEDIA / "cnndetection" / "236_gaugan_real.jpg", root / "photo.jpg")
    (root / "logo.jpg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    with serve_directory(root) as url:
        yield url


def post(n: int, url: str) -> Post:
    return Post(
        platform="test",
        platform_id=f"m{n}",
        author=Author(id=f"a{n}"),
        text=f"look at this {n}",
        created_at=datetime(2026, 11, 1, 12, n, tzinfo=UTC),
        media=[MediaItem(url=url)],
        source=SourceRef(format="test", uri="test_media_stage"),
    )


def test_media_scores_land_in_post_documents(settings: Settings, media_server: str, tmp_path: Path) -> None:
    bank = Bank(tmp_path / "bank")
    bank.add([MEDIA / "pdq_variants" / "bridge-1-original.jpg"], label="known_fake", note="debunked 2026-10")
    store = open_store(settings)
    store.banks.put("fact-checks", bank_records(bank))
    settings = settings.model_copy(
        update={"media_allow_networks": "127.0.0.1/32", "media_cache_dir": tmp_path / "cache"}
    )
    urls = {
        "ai": f"{media_server}/ai.png",
        "reupload": f"{media_server}/reupload.jpg",
        "photo": f"{media_server}/photo.jpg",
        "svg": f"{media_server}/logo.jpg",
        "metadata": "http://169.254.169.254/latest/meta-data/iam.jpg",
        "private": "http://10.0.0.7/x.jpg",
        "file": "file:///etc/passwd",
    }
    posts = {name: post(i, url) for i, (name, url) in enumerate(urls.items())}

    def deliver() -> None:
        producer = make_producer(settings)
        produce_all(
            producer,
            settings.topic_prefix,
            [OutMessage(Topic.normalized, p.key.encode(), p.to_bytes()) for p in posts.values()],
        )
        producer.close()

    deliver()

    scored = run_until_caught_up("media", settings)
    assert scored["media_scored"] == 3, scored
    assert scored["media_refused"] == 4, scored
    indexed = run_until_caught_up("index", settings)
    assert indexed["indexed"] == 7 + 7

    store.engine.refresh()
    docs = {name: store.posts.get(p.key) for name, p in posts.items()}

    def media(name: str) -> dict[str, Any]:
        doc = docs[name]
        assert doc is not None, name
        (item,) = doc["media_by_url"].values()
        assert item["media_url"] == urls[name]
        return dict(item)

    ai = media("ai")
    assert ai["manipulation_score"] >= 0.9
    assert ai["signals"][0]["signal"].startswith("c2pa"), ai["signals"]
    assert "trainedAlgorithmicMedia" in str(ai["provenance"])
    reupload = media("reupload")
    assert reupload["manipulation_score"] >= 0.9
    assert reupload["matches"][0]["item"].endswith("bridge-1-original.jpg")
    photo = media("photo")
    # A real photo: scored, and near nothing in the bank (the stage always writes the list, empty or not).
    assert "error" not in photo and 0.0 <= photo["manipulation_score"] <= 1.0, photo
    assert photo["matches"] == [], photo["matches"]
    assert photo["signals"] and all(s["signal"] for s in photo["signals"])
    assert "markup" in media("svg")["error"]
    for name in ("metadata", "private", "file"):
        item = media(name)
        assert "manipulation_score" not in item and item["error"], item
    assert docs["ai"] is not None and docs["ai"]["media_risk"] >= 0.9

    # At-least-once: the same posts delivered again (a replay) rewrite the same documents, nothing more;
    # the second fetch of each URL lands on the same content-addressed cache file.
    cached = sorted(p.name for p in (tmp_path / "cache").rglob("*") if p.is_file())
    deliver()
    again = run_until_caught_up("media", settings)
    assert (again["media_scored"], again["media_refused"]) == (3, 4)
    run_until_caught_up("index", settings)
    store.engine.refresh()
    assert store.engine.count(IndexKind.posts) == 7
    for name, p in posts.items():
        doc = store.posts.get(p.key)
        assert doc is not None and len(doc["media_by_url"]) == 1, name
    assert sorted(p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()) == cached
