"""The media worker, through real Kafka, refuses what a stream message may not make it do.

Normalised posts name local files (absolute, ``file://``, relative to the worker's directory) and video
platform pages that redirect or hand off to a loopback server and to 169.254.169.254. The worker (the
same stage the DAG runs) must record a refusal with its reason for each, read no file, and send no request
to the target; only the platform (127.0.0.2, the one allowed address) is contacted.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from flockwatch.adapters.kafka_bus import make_producer, produce_all, read_topic
from flockwatch.config import Settings
from flockwatch.messages import OutMessage
from flockwatch.schema import Author, MediaItem, MediaScore, Post, SourceRef
from flockwatch.topics import Topic
from flockwatch.workers import run_until_caught_up
from tests.unit.adapters.test_media_fetch_hardening import JPEG, PLATFORM_IP, TARGET_IP, Site, _platform_routes, _serve

pytestmark = pytest.mark.integration


@pytest.fixture
def sites(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Site, Site, list[str]]]:
    """Platform and target servers, DNS for the platform names, and a fence recording every connect."""
    servers = [_serve(PLATFORM_IP), _serve(TARGET_IP)]
    platform, target = servers[0][1], servers[1][1]
    _platform_routes(platform, target)
    table = {"vimeo.com": PLATFORM_IP, "www.youtube.com": "169.254.169.254", "youtube.com": "169.254.169.254"}
    real_resolve, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host in table:
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (table[host], port))]
        return real_resolve(host, port, *args, **kwargs)  # Kafka and the store: real names, loopback

    connects: list[str] = []

    def connect(self: socket.socket, address: Any) -> None:
        host = str(address[0]) if isinstance(address, tuple) else str(address)
        connects.append(host)
        if not host.startswith("127.") and host != "::1":
            raise ConnectionRefusedError(f"test fence: no connection to {host}")
        real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    yield platform, target, connects
    for httpd, _ in servers:
        httpd.shutdown()
        httpd.server_close()


def test_media_worker_refuses_local_files_and_guarded_redirects(
    settings: Settings,
    sites: tuple[Site, Site, list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    platform, target, connects = sites
    (tmp_path / "photo.jpg").write_bytes(JPEG)
    monkeypatch.chdir(tmp_path)  # the relative reference names a real, readable image
    settings = settings.model_copy(
        update={"media_allow_networks": f"{PLATFORM_IP}/32", "media_cache_dir": tmp_path / "cache"}
    )
    page = f"http://vimeo.com:{platform.port}"
    refs = {
        "/etc/passwd": "local files are only read from the command line",
        "file:///etc/passwd": "refused media reference scheme 'file'",
        "photo.jpg": "local files are only read from the command line",
        str(tmp_path / "photo.jpg"): "local files are only read from the command line",
        f"{page}/redirect-local": "refused address 127.0.0.1: loopback",
        f"{page}/redirect-metadata": "refused address 169.254.169.254: cloud metadata endpoint",
        f"{page}/handoff-local": "refused address 127.0.0.1: loopback",
        f"{page}/handoff-embed": "refused address 169.254.169.254: cloud metadata endpoint",
    }
    posts = [
        Post(
            platform="test",
            platform_id=f"guard-{i}",
            author=Author(id=f"a{i}"),
            text="look",
            created_at=datetime(2026, 11, 1, 12, i, tzinfo=UTC),
            media=[MediaItem(url=ref)],
            source=SourceRef(format="test", uri="test_media_fetch_guard"),
        )
        for i, ref in enumerate(refs)
    ]
    producer = make_producer(settings)
    produce_all(
        producer, settings.topic_prefix, [OutMessage(Topic.normalized, p.key.encode(), p.to_bytes()) for p in posts]
    )
    producer.close()

    counts = run_until_caught_up("media", settings, max_seconds=120)
    assert counts["media_refused"] == len(refs) and counts.get("media_scored", 0) == 0, counts
    assert counts.get("dead_lettered", 0) == 0, counts
    scores = [MediaScore.model_validate_json(v) for v in read_topic(settings, Topic.media_scores, len(refs) + 1)]
    assert sorted(s.media_url for s in scores) == sorted(refs)
    for s in scores:
        assert s.manipulation_score is None and s.error and refs[s.media_url] in s.error, (s.media_url, s.error)
    assert target.seen == []  # the redirects and hand-offs never reached it
    assert not [c for c in connects if not c.startswith("127.") and c != "::1"], connects  # no 169.254.169.254
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.json"))  # nothing cached
